"""Bloch eigenvalues of -div(a grad) on the periodic cell: the dispersion check (issue 3).

Bloch waves.  For a wave vector k, the quasi-periodic eigenfunctions u = e^{i k.y} v with
v Y-periodic of the operator -div(a grad) satisfy

    -(div + i k) . (a (grad + i k)) v = lambda v   on Y, v Y-periodic,            (B1)

a Hermitian, non-negative problem with the sesquilinear form

    b_k(v, w) = (a (grad + i k) v, (grad + i k) w)_Y,   m(v, w) = (v, w)_Y        (B2)

(the second argument conjugated).  The first eigenvalue lambda_1(k) is analytic near
k = 0, even in k, and its Taylor series is the dispersion relation of the unregularized
effective model (DESIGN.md "Errata and conventions", :mod:`femhomog.tensors.effective`)

    lambda_1(k) = a^0:k^2 - S(g^2):k^4 + S(g^4):k^6 - ...                         (B3)

which is what :func:`bloch_taylor_coefficients` measures.

Real form.  PETSc here is real, so v = v_r + i v_i, w = w_r + i w_i are carried by a
blocked Lagrange space with two components (r, i).  For a Hermitian matrix H = A + iB
(A symmetric, B antisymmetric) Re(w^H H v) = [w_r; w_i]^T [[A, -B], [B, A]] [v_r; v_i],
and this 2N x 2N matrix is real symmetric with every eigenvalue of H twice (eigenvectors
(x_r, x_i) and J(x_r, x_i) = (-x_i, x_r)).  The real bilinear form is therefore
Re b_k(v, w).  With J the rotation (v_r, v_i) -> (-v_i, v_r) (multiplication by i),

    (grad + i k) v  ->  G_k(v) = grad v + (J v) (x) k     (2 x d: rows r, i)

i.e. row r is grad v_r - k v_i and row i is grad v_i + k v_r, and for symmetric a

    Re b_k(v, w) = (a G_k(v), G_k(w)) = K0(v, w) + sum_n k_n K1_n(v, w)
                   + sum_{n,m} k_n k_m K2_nm(v, w),                                  (B4)

    K0(v, w)    = (a grad v_r, grad w_r) + (a grad v_i, grad w_i)
    K1_n(v, w)  = (J v . (grad w) a e_n) + (J w . (grad v) a e_n)
                = ((a e_n).grad v_i, w_r) - ((a e_n).grad v_r, w_i)
                  + (v_r, (a e_n).grad w_i) - (v_i, (a e_n).grad w_r)
    K2_nm(v, w) = (a_nm (v_r w_r + v_i w_i))       (so sum k_n k_m K2_nm = ((a k.k) v, w))
    M(v, w)     = (v_r w_r + v_i w_i)

(the cross terms are the real part of (a grad v, i k w)^* + (a i k v, grad w) and are
symmetric under v <-> w).  Checks: k = 0 gives two copies of the periodic operator
(eigenvalue 0 for the constants); a = 1 gives lambda_1 = |k|^2 for |k_i| <= pi/L_i
(v = const is exact in every Lagrange space), both in the tests.

Implementation.  :class:`BlochSolver` assembles K0, K1_n, K2_nm and M once on the blocked
space ("Lagrange", p, (2,)), reduces them with the periodic prolongation P of that space
(P^T A P, :class:`femhomog.periodic.PeriodicConstraint`), and for each k forms
K(k) = K0 + k_n K1_n + k_n k_m K2_nm by sparse AXPYs (same sparsity pattern).  The
definition form (a G_k(v), G_k(w)) with k a :class:`dolfinx.fem.Constant` (compiled once)
is kept as an independent check of (B4) (:meth:`BlochSolver.assemble_definition`).

The generalized problem K(k) x = lambda M x is solved by SLEPc (GHEP, Krylov-Schur,
shift-and-invert around a negative shift sigma, MUMPS Cholesky of the SPD matrix
K - sigma M).  Because each eigenvalue is double and Krylov methods can return only one
vector of an (exactly) degenerate pair, the converged vectors X are completed to the
J-invariant space span{X, JX}; a Rayleigh-Ritz step on it gives Ritz values in exact
pairs, each pair counted once.  The returned eigenvalue is the Rayleigh quotient
b_k(u, u) / m(u, u) of the Ritz vector assembled as integrals of non-negative integrands:
exact to O(tol^2) and to ~1e-15 relative, whereas x^T K x carries ~1e-16 a p^2/h absolute
round-off (~1e-12 on fine meshes) that varies erratically with k and would dominate the
error of the Taylor fit (measured: c_6 to 1e-5 instead of 1e-8 relative).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import scipy.linalg

from femhomog import (
    ConfigError,
    SolverError,
    _fenicsx,  # noqa: F401
)

# isort: split
import dolfinx
import dolfinx.fem.petsc
import ufl
from mpi4py import MPI
from petsc4py import PETSc
from slepc4py import SLEPc

from femhomog.cell.problem import PeriodicCell
from femhomog.io.logging import get_logger
from femhomog.periodic import PeriodicConstraint

log = get_logger(__name__)

__all__ = ["BlochSolver", "bloch_eigenvalues", "bloch_taylor_coefficients"]

#: Default shift sigma = -SHIFT_FRACTION * <tr a>/d * (2 pi / L_max)^2: negative, so that
#: K - sigma M is SPD even at k = 0 (lambda = 0), and small against the second band
#: (~ (2 pi / L)^2 a) so that shift-and-invert separates the first eigenvalues strongly.
SHIFT_FRACTION = 1e-2

#: Ritz vectors whose M-Gram eigenvalue is below this fraction of the largest are
#: linearly dependent on the others (JX inside span X when the Krylov solver found both
#: vectors of a pair) and are dropped before the Rayleigh-Ritz step.
_GRAM_RTOL = 1e-10


def _as_vector(k: Sequence[float] | np.ndarray, d: int, name: str = "k") -> np.ndarray:
    """k as a finite float array of shape (d,); ConfigError otherwise."""
    try:
        arr = np.asarray(k, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{name}: expected {d} numbers, got {k!r}") from err
    if arr.shape != (d,) or not np.all(np.isfinite(arr)):
        raise ConfigError(f"{name}: expected {d} finite numbers, got {np.asarray(k).tolist()!r}")
    return arr


def _patterns_equal(comm: MPI.Comm, mats: Sequence[PETSc.Mat]) -> bool:
    """True on every rank iff all matrices have the same local CSR pattern on every rank."""
    ref_ptr, ref_idx, _ = mats[0].getValuesCSR()
    same = True
    for A in mats[1:]:
        ptr, idx, _ = A.getValuesCSR()
        same = same and np.array_equal(ptr, ref_ptr) and np.array_equal(idx, ref_idx)
    return bool(comm.allreduce(int(same), op=MPI.MIN))


class BlochSolver:
    """First Bloch eigenvalues lambda_j(k) of (B1) on a periodic cell, for many k.

    Set up once per cell (k-independent matrices of (B4), reduced by P^T . P, and the
    SLEPc solver); each :meth:`eigenvalues` call costs a few sparse AXPYs, one MUMPS
    Cholesky factorization of K(k) - sigma M and a Krylov-Schur solve.

    Parameters
    ----------
    cell
        The periodic cell (mesh, symmetric coefficient ``a``, degree, quadrature ``dx``).
        The Bloch space is ("Lagrange", cell.degree, (2,)) on the same mesh, with the
        same periodic box as ``cell.constraint``.
    tol
        SLEPc relative residual tolerance.  The returned eigenvalues are Rayleigh
        quotients of Ritz vectors, so their error is O(tol^2) plus a relative round-off
        of ~1e-15 (module docstring and :func:`bloch_taylor_coefficients`).
    shift
        Shift sigma < 0 of shift-and-invert; default ``-SHIFT_FRACTION * <tr a>/d *
        (2 pi / L_max)^2``.
    max_it
        Maximum number of Krylov-Schur restarts.

    Raises
    ------
    ConfigError
        ``shift >= 0`` or ``tol <= 0``.
    """

    def __init__(
        self,
        cell: PeriodicCell,
        tol: float = 1e-12,
        shift: float | None = None,
        max_it: int = 1000,
    ) -> None:
        if not tol > 0.0:
            raise ConfigError(f"Bloch eigensolver tolerance must be > 0, got {tol!r}")
        self.cell = cell
        self.comm: MPI.Comm = cell.mesh.comm
        self.tol = float(tol)
        self.max_it = int(max_it)
        mesh = cell.mesh
        d = self.d = cell.dim
        dx = cell.dx
        A = cell.a * ufl.Identity(d) if ufl.rank(cell.a) == 0 else cell.a
        self._A = A
        self._scalar = ufl.rank(cell.a) == 0

        self.W = dolfinx.fem.functionspace(mesh, ("Lagrange", cell.degree, (2,)))
        box = cell.constraint.box
        self.constraint = PeriodicConstraint(self.W, box, cell.constraint.tol)
        self.lengths = np.asarray(box.lengths, dtype=np.float64)

        v, w = ufl.TrialFunction(self.W), ufl.TestFunction(self.W)
        J = ufl.as_matrix([[0.0, -1.0], [1.0, 0.0]])  # multiplication by i on (r, i)
        Jv, Jw = ufl.dot(J, v), ufl.dot(J, w)
        gv, gw = ufl.grad(v), ufl.grad(w)  # 2 x d, rows r, i

        # (B4): K0, K1_n and K2_nm.  For a scalar coefficient all K2_nn are the same
        # matrix and K2_nm = 0 (n != m): one matrix with the factor |k|^2.
        forms: dict[str, ufl.Form] = {
            "K0": ufl.inner(ufl.dot(gv, A), gw) * dx,
            "M": ufl.inner(v, w) * dx,
        }
        for n in range(d):
            a_n = ufl.as_vector([A[m, n] for m in range(d)])  # a e_n
            forms[f"K1_{n}"] = (
                ufl.inner(Jv, ufl.dot(gw, a_n)) + ufl.inner(Jw, ufl.dot(gv, a_n))
            ) * dx
        self._quad_keys: list[tuple[str, int, int]] = []
        if self._scalar:
            forms["K2"] = cell.a * ufl.inner(v, w) * dx
            self._quad_keys.append(("K2", -1, -1))
        else:
            for n in range(d):
                for m in range(n, d):
                    # k_n k_m (a_nm + a_mn) for n < m: both orderings of the double sum
                    coeff = A[n, n] if n == m else A[n, m] + A[m, n]
                    forms[f"K2_{n}{m}"] = coeff * ufl.inner(v, w) * dx
                    self._quad_keys.append((f"K2_{n}{m}", n, m))

        self.mats: dict[str, PETSc.Mat] = {}
        for key, form in forms.items():
            full = dolfinx.fem.petsc.assemble_matrix(dolfinx.fem.form(form))
            full.assemble()
            self.mats[key] = self.constraint.reduce_matrix(full)
            full.destroy()
        self.M = self.mats["M"]
        self.K = self.mats["K0"].duplicate(copy=True)
        # Same pattern for all pieces (one blocked dofmap, explicit zeros kept by
        # assembly and PtAP) makes every AXPY and the ST's K - sigma M a plain value update.
        same = _patterns_equal(self.comm, list(self.mats.values()))
        self._structure = (
            PETSc.Mat.Structure.SAME_NONZERO_PATTERN
            if same
            else PETSc.Mat.Structure.DIFFERENT_NONZERO_PATTERN
        )

        # The definition form with k as a Constant (compiled once, lazily), for checks.
        self.k_const = dolfinx.fem.Constant(mesh, np.zeros(d, dtype=PETSc.ScalarType))
        self._J = J
        self._u = dolfinx.fem.Function(self.W)
        self._energy_form: dolfinx.fem.Form | None = None
        self._norm_form: dolfinx.fem.Form | None = None
        Gv = gv + ufl.outer(Jv, self.k_const)
        Gw = gw + ufl.outer(Jw, self.k_const)
        self._definition_ufl = ufl.inner(ufl.dot(Gv, A), Gw) * dx
        self._definition_form: dolfinx.fem.Form | None = None

        if shift is None:
            tr = dolfinx.fem.form(ufl.tr(A) / d * dx)
            mean_a = self.comm.allreduce(dolfinx.fem.assemble_scalar(tr), op=MPI.SUM) / cell.volume
            shift = -SHIFT_FRACTION * mean_a * (2.0 * math.pi / float(self.lengths.max())) ** 2
        if not shift < 0.0:
            raise ConfigError(f"Bloch shift must be negative (K - shift M SPD), got {shift!r}")
        self.shift = float(shift)
        self._eps: SLEPc.EPS | None = None
        self._nev = 0
        self.last_k: np.ndarray | None = None
        self.solves = 0
        log.debug(
            "Bloch solver: %d real reduced dofs, %d matrices, shift %.3g, pattern %s",
            self.num_real_dofs,
            len(self.mats),
            self.shift,
            "same" if same else "different",
        )

    # ------------------------------------------------------------------ matrices
    @property
    def num_real_dofs(self) -> int:
        """Global size 2N of the real reduced problem (N periodic dofs of the scalar space)."""
        return self.constraint.num_reduced_global

    def operator(self, k: Sequence[float]) -> PETSc.Mat:
        """The reduced K(k) of (B4) (an internal matrix, overwritten by the next call)."""
        kv = _as_vector(k, self.d)
        s = self._structure
        self.mats["K0"].copy(self.K, structure=s)
        for n in range(self.d):
            if kv[n] != 0.0:
                self.K.axpy(kv[n], self.mats[f"K1_{n}"], structure=s)
        for key, n, m in self._quad_keys:
            c = float(kv @ kv) if n < 0 else kv[n] * kv[m]
            if c != 0.0:
                self.K.axpy(c, self.mats[key], structure=s)
        return self.K

    def assemble_definition(self, k: Sequence[float]) -> PETSc.Mat:
        """P^T K(k) P assembled from the definition (a G_k(v), G_k(w)) (a new matrix).

        Independent of the expansion (B4); used to check it.
        """
        self.k_const.value[:] = _as_vector(k, self.d)
        if self._definition_form is None:
            self._definition_form = dolfinx.fem.form(self._definition_ufl)
        full = dolfinx.fem.petsc.assemble_matrix(self._definition_form)
        full.assemble()
        out = self.constraint.reduce_matrix(full)
        full.destroy()
        return out

    # ------------------------------------------------------------------ eigenvalues
    def _setup_eps(self, nev: int) -> SLEPc.EPS:
        if self._eps is not None and self._nev == nev:
            return self._eps
        if self._eps is not None:
            self._eps.destroy()
        eps = SLEPc.EPS().create(self.comm)
        eps.setOptionsPrefix(f"femhomog_bloch_{id(self)}_")
        eps.setOperators(self.K, self.M)
        eps.setProblemType(SLEPc.EPS.ProblemType.GHEP)
        eps.setType(SLEPc.EPS.Type.KRYLOVSCHUR)
        eps.setDimensions(nev=nev)
        eps.setTolerances(self.tol, self.max_it)
        eps.setTarget(self.shift)
        eps.setWhichEigenpairs(SLEPc.EPS.Which.TARGET_MAGNITUDE)
        st = eps.getST()
        st.setType(SLEPc.ST.Type.SINVERT)
        st.setShift(self.shift)
        st.setMatStructure(self._structure)
        ksp = st.getKSP()
        ksp.setType("preonly")
        pc = ksp.getPC()
        pc.setType("cholesky")  # K - sigma M is SPD for sigma < 0
        pc.setFactorSolverType("mumps")
        eps.setFromOptions()
        self._eps = eps
        self._nev = nev
        return eps

    def _apply_J(self, x: np.ndarray) -> np.ndarray:
        """J x on local reduced arrays: (x_r, x_i) -> (-x_i, x_r) per node.

        The reduced dofs of the blocked space are numbered node * 2 + component on the
        owning rank (:class:`PeriodicConstraint`), so J is local and exact.
        """
        y = np.empty_like(x)
        y[0::2] = -x[1::2]
        y[1::2] = x[0::2]
        return y

    def _rayleigh_ritz(self, X: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Ritz pairs of (K(k), M) on span{X, JX}: values (ascending, each double) and vectors.

        Vectors are local reduced arrays (columns), M-orthonormal.
        """
        Y = np.column_stack(X + [self._apply_J(x) for x in X])
        KY = np.empty_like(Y)
        MY = np.empty_like(Y)
        x = self.K.createVecRight()
        y = self.K.createVecLeft()
        for j in range(Y.shape[1]):
            x.array[:] = Y[:, j]
            self.K.mult(x, y)
            KY[:, j] = y.array
            self.M.mult(x, y)
            MY[:, j] = y.array
        x.destroy()
        y.destroy()
        Kg = self.comm.allreduce(Y.T @ KY, op=MPI.SUM)
        Mg = self.comm.allreduce(Y.T @ MY, op=MPI.SUM)
        Kg = 0.5 * (Kg + Kg.T)
        Mg = 0.5 * (Mg + Mg.T)
        # M-orthonormal basis of span Y, dropping dependent directions.
        mu, U = np.linalg.eigh(Mg)
        keep = mu > _GRAM_RTOL * mu.max()
        B = U[:, keep] / np.sqrt(mu[keep])
        vals, Z = scipy.linalg.eigh(B.T @ Kg @ B)
        return vals, Y @ (B @ Z)

    def _rayleigh_quotient(self, x: np.ndarray) -> float:
        """b_k(u, u) / m(u, u) for u = P x, assembled as integrals (B2).

        The integrand a|G_k(u)|^2 is pointwise non-negative, so the assembled energy has
        a relative round-off of ~1e-16, whereas x^T K x cancels entries of size
        ~ a p^2 / h and carries ~1e-16 a p^2 / h absolute noise (~1e-12 on fine meshes)
        that varies erratically with k.  At a Ritz vector with residual tol the quotient
        is the eigenvalue up to O(tol^2): this is what makes the Taylor fit accurate.
        """
        if self._energy_form is None:
            G = ufl.grad(self._u) + ufl.outer(ufl.dot(self._J, self._u), self.k_const)
            self._energy_form = dolfinx.fem.form(ufl.inner(ufl.dot(G, self._A), G) * self.cell.dx)
            self._norm_form = dolfinx.fem.form(ufl.inner(self._u, self._u) * self.cell.dx)
        xr = self.constraint.create_reduced_vector()
        xr.array[:] = x
        self.constraint.expand(xr, self._u)
        xr.destroy()
        energy = self.comm.allreduce(dolfinx.fem.assemble_scalar(self._energy_form), op=MPI.SUM)
        norm = self.comm.allreduce(dolfinx.fem.assemble_scalar(self._norm_form), op=MPI.SUM)
        return float(energy / norm)

    def eigenvalues(self, k: Sequence[float], n: int = 1) -> np.ndarray:
        """The n smallest eigenvalues lambda_1(k) <= ... <= lambda_n(k) of (B1).

        Eigenvalues of the Hermitian problem, counted with their multiplicity there
        (each double eigenvalue of the real form counted once).  A Hermitian eigenvalue
        of multiplicity > 1 (symmetric cells at symmetric k, e.g. k = 0 for n >= 2) is
        found with its full multiplicity as long as the Krylov solver returns a vector of
        each complex direction; nev is doubled (twice) when fewer than n pairs are found.

        Raises
        ------
        ConfigError
            ``n < 1`` or a bad ``k``.
        SolverError
            SLEPc did not converge to n eigenvalues.
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ConfigError(f"number of Bloch eigenvalues must be an integer >= 1, got {n!r}")
        n = int(n)
        kv = _as_vector(k, self.d)
        self.operator(kv)
        self.last_k = kv
        # 2n real eigenpairs hold n Hermitian ones even if the Krylov solver returns both
        # vectors of every pair; with one vector per pair the J-completion supplies the
        # partners.  (2n + 2 costs ~3x more restarts for the same values.)
        nev = 2 * n
        nconv = 0
        for _attempt in range(3):
            eps = self._setup_eps(nev)
            eps.setOperators(self.K, self.M)  # new values of K(k): refactorize
            try:
                eps.solve()
            except PETSc.Error as err:
                raise SolverError(
                    f"Bloch eigensolver failed at k = {kv.tolist()}: PETSc error {err.ierr}"
                ) from err
            self.solves += 1
            nconv = eps.getConverged()
            if nconv == 0:
                break
            X: list[np.ndarray] = []
            xr = self.K.createVecRight()
            for j in range(nconv):
                eps.getEigenvector(j, xr)
                X.append(xr.array.copy())
            xr.destroy()
            ritz, vecs = self._rayleigh_ritz(X)
            # Ritz values come in exact pairs on the J-invariant space: one vector each.
            if ritz.size // 2 >= n:
                self.k_const.value[:] = kv
                return np.array([self._rayleigh_quotient(vecs[:, 2 * j]) for j in range(n)])
            nev *= 2  # degenerate Hermitian eigenvalues used up the slots: ask for more
        raise SolverError(
            f"Bloch eigensolver: only {nconv} eigenpairs converged at k = {kv.tolist()} "
            f"(asked for {n} eigenvalues, tol {self.tol:.1e}, max_it {self.max_it})"
        )

    def lambda1(self, k: Sequence[float]) -> float:
        """The first Bloch eigenvalue lambda_1(k)."""
        return float(self.eigenvalues(k, 1)[0])

    def destroy(self) -> None:
        if self._eps is not None:
            self._eps.destroy()
            self._eps = None
        for A in self.mats.values():
            A.destroy()
        self.mats = {}
        self.K.destroy()
        self.constraint.destroy()


def bloch_eigenvalues(
    cell: PeriodicCell, k: Sequence[float], n: int = 1, tol: float = 1e-12
) -> np.ndarray:
    """The n smallest Bloch eigenvalues of (B1) at wave vector k (one-off convenience).

    Each double eigenvalue of the real 2N x 2N form counts once (the eigenvalues of the
    Hermitian problem, with multiplicity).  Sets up and destroys a :class:`BlochSolver`;
    use the class directly for many k.

    Parameters
    ----------
    cell
        Periodic cell.
    k
        Wave vector, d numbers (in the units of the cell coordinates y).
    n
        Number of eigenvalues.
    tol
        SLEPc relative residual tolerance.

    Returns
    -------
    numpy.ndarray
        ``[lambda_1(k), ..., lambda_n(k)]``, ascending.
    """
    solver = BlochSolver(cell, tol=tol)
    try:
        return solver.eigenvalues(k, n)
    finally:
        solver.destroy()


# ---------------------------------------------------------------------- Taylor
#: Defaults of the fit: t_max = DEFAULT_T_MAX / L_max and this many samples, fit degree.
DEFAULT_T_MAX = 1.0
DEFAULT_SAMPLES = 16
DEFAULT_FIT_DEGREE = 8


def bloch_taylor_coefficients(
    cell: PeriodicCell,
    direction: Sequence[float],
    orders: Sequence[int] = (2, 4, 6),
    h: float | None = None,
    *,
    solver: BlochSolver | None = None,
    samples: int = DEFAULT_SAMPLES,
    fit_degree: int = DEFAULT_FIT_DEGREE,
) -> dict[int, float]:
    """Taylor coefficients of t -> lambda_1(t theta) at t = 0 for a unit direction theta.

    lambda_1 is even and analytic in t near 0:
    ``lambda_1(t theta) = c_2 t^2 + c_4 t^4 + c_6 t^6 + ...`` with, by (B3),
    ``c_2 = a^0:theta^2``, ``c_4 = -S(g^2):theta^4``, ``c_6 = +S(g^4):theta^6``.

    Method.  lambda_1 is sampled at ``samples`` points t_j with s_j = t_j^2 at the
    Chebyshev-Gauss nodes of (0, h^2], and ``f(s) = lambda_1 / s`` is fitted by a
    polynomial of degree ``fit_degree`` in s by least squares (Chebyshev basis on
    [0, h^2], converted to monomials); ``c_{2r+2}`` is the coefficient of s^r.  The
    samples are Rayleigh quotients assembled as integrals (:class:`BlochSolver`), whose
    round-off is relative (~1e-15), so f has uniform noise and needs no weights.

    Accuracy (measured against the corrector tensors a^0, S(g^2) (40), S(g^4) (40) of the
    same discretization, defaults h = 1, 12 samples, degree 8, unit cell):

    * 1D, a = sqrt(2) - cos(2 pi y) (P4/64, P3/32, P2/128 cells): c_2 to 1e-13,
      c_4 to 1e-10, c_6 to 1e-8 relative;
    * 2D, a = 1 + sin(2 pi y_1) sin(2 pi y_2)/2 + cos(2 pi (y_1 + 2 y_2))/4 (P2 8x8 quads
      or triangles, P3 16x16 quads), 5 directions: c_2 to 1e-13, c_4 to 2e-8, c_6 to
      1e-6 .. 4e-5 relative (1e-11 absolute; S(g^4):theta^6 is only ~1e-6 .. 2e-5).

    The fitted coefficients are those of the discrete lambda_1, which agree with the
    discrete corrector tensors to these figures on coarse meshes too: the comparison
    checks the identity (B3), not the mesh.  Truncation is negligible because f is
    analytic in s in a disc of radius ~ (pi/L)^2 (the first band gap; the measured
    coefficients decay by ~0.08 per order in 1D); the error is round-off (~1e-15 relative
    in lambda thanks to the integral Rayleigh quotient), amplified by the extraction of
    the s^r coefficient roughly like (2/h^2)^r, so a much smaller h is worse, not
    better: h = 0.5 gives c_6 to ~1e-7, h = 1.2 to ~3e-8, h = 2 needs degree 12.

    Parameters
    ----------
    cell
        Periodic cell.
    direction
        theta (normalized here; not zero).
    orders
        Even orders 2, 4, ... to return; must be <= 2 (fit_degree + 1).
    h
        Largest sample t; default ``DEFAULT_T_MAX / L_max`` (1 on the unit cell, well
        inside the first Brillouin zone |t| <= pi / L).
    solver
        A :class:`BlochSolver` of the same cell to reuse (e.g. over several directions).
    samples, fit_degree
        Number of samples (>= fit_degree + 1) and polynomial degree in s.

    Returns
    -------
    dict
        ``{order: c_order}``.

    Raises
    ------
    ConfigError
        Zero direction, odd/non-positive orders, too few samples, bad h.
    """
    d = cell.dim
    theta = _as_vector(direction, d, name="direction")
    norm = float(np.linalg.norm(theta))
    if norm == 0.0:
        raise ConfigError("Bloch Taylor coefficients: direction must not be zero")
    theta = theta / norm
    orders = [int(o) for o in orders]
    if not orders or any(o < 2 or o % 2 for o in orders):
        raise ConfigError(f"Taylor orders must be even and >= 2, got {orders}")
    if fit_degree < 0 or samples < fit_degree + 1:
        raise ConfigError(f"need samples >= fit_degree + 1 >= 1, got {samples}, {fit_degree}")
    if max(orders) > 2 * (fit_degree + 1):
        raise ConfigError(f"order {max(orders)} needs fit_degree >= {max(orders) // 2 - 1}")
    l_max = float(np.max(cell.constraint.box.lengths))
    if h is None:
        h = DEFAULT_T_MAX / l_max
    if not (np.isfinite(h) and 0.0 < h < math.pi / l_max):
        raise ConfigError(f"h must lie in (0, pi / L_max) (first Brillouin zone), got {h!r}")
    own = solver is None
    bs = BlochSolver(cell) if own else solver
    try:
        j = np.arange(1, samples + 1)
        s = 0.5 * h * h * (1.0 - np.cos((2 * j - 1) * math.pi / (2 * samples)))
        lam = np.array([bs.lambda1(math.sqrt(sj) * theta) for sj in s])
    finally:
        if own:
            bs.destroy()
    # The Chebyshev basis on [0, h^2] keeps the least-squares problem well conditioned;
    # the monomial coefficients are only formed at the end.
    fit = np.polynomial.Chebyshev.fit(s, lam / s, fit_degree, domain=[0.0, h * h])
    mono = fit.convert(kind=np.polynomial.Polynomial, domain=[-1.0, 1.0], window=[-1.0, 1.0])
    coef = np.zeros(fit_degree + 1)
    coef[: mono.coef.size] = mono.coef
    return {o: float(coef[o // 2 - 1]) for o in orders}
