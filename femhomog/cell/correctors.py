"""Cell correctors chi^k (23a)/(23b), a^0 = A^H (26), and the tensors g^{2r} (40)/(41).

Wave paper (``wave-effective-equations-arbitrary-timescales``), Sect. 2.1 and 3.

Correctors.  chi^k is a symmetric tensor-valued function; only its N(d,k) distinct
components (sorted multi-indices, Remark 1) are solved and stored.  With chi^0 = 1, the
symmetrized right-hand side of (23b) for the component I = (i_1..i_{k+1}) is

    F_I(w) = -(a U, grad w) + ( a : grad U + a : W - Z, w ),

    U_l    = (1/n) sum_{m: I_m = l} chi^k_{I \\ I_m}                  (n = k + 1)
    W_{ll'} = 1/(n(n-1)) sum_{m != m': I_m = l, I_m' = l'} chi^{k-1}_{I \\ {I_m, I_m'}}
    Z      = S^{k+1}{ sum_{j=0}^{k-1} p^{k-1-j} (x) chi^j }_I,

i.e. S^{k+1} applied to the three terms of (23b) (each permutation of I puts some
index first).  U, W, Z are linear combinations of corrector dof vectors, hence exact
in the corrector space: one compiled linear form with workspace functions U (vector),
W (tensor), Z (scalar) serves every component of every order, and one factorization of
the periodic operator serves every solve (:class:`femhomog.cell.solver.CellSolver`).

g^{2r}.  The naive formula (40), symmetrized, is  S(g^{2r})_I = < a : grad U + a : W >
with U from chi^{2r+1} and W from chi^{2r} (n = 2r + 2).  Theorem 3 (41)-(42) gives the
same symmetric tensor from chi^1..chi^{r+1} through cell integrals (stiffness and mass
Gram matrices of the correctors) and :func:`femhomog.tensors.theorem3.assemble_g_sym`.

a^0.  LL paper (``landau-lifshitz-homogenization``): the first-order problem is (4.13)
and A^H (Sect. 4.2) equals a^0.  :func:`homogenized_tensor` evaluates (26) in the
symmetric energy form ``<(e_i + grad chi_i)^T a (e_j + grad chi_j)>``, which equals (26)
for the Galerkin correctors (test (23a) with chi_i), is symmetric by construction,
converges as O(h^{2p}) and is insensitive to the linear-solver tolerance to first order.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence

import numpy as np

from femhomog import (
    SolverError,
    _fenicsx,  # noqa: F401
)

# isort: split
import dolfinx
import dolfinx.fem.petsc
import ufl
from mpi4py import MPI

from femhomog.cell.problem import PeriodicCell
from femhomog.io.logging import get_logger
from femhomog.tensors import multi_indices, symmetrize
from femhomog.tensors.theorem3 import assemble_g_sym, expand_pair_matrix, required_mass_pairs

log = get_logger(__name__)

Index = tuple[int, ...]

#: |F(1)| / (|Y| * scale) above this: the right-hand side violates the solvability
#: condition (25), i.e. the effective tensors used in p^k do not satisfy (28).
COMPATIBILITY_TOL = 1e-8


def _remove(index: Index, *values: int) -> Index:
    out = list(index)
    for v in values:
        out.remove(v)
    return tuple(out)


def _sub_multisets(index: Index, size: int) -> dict[Index, float]:
    """Sub-multisets J of I with |J| = size and weight (#position subsets giving J)/C(n, size)."""
    n = len(index)
    counts: dict[Index, int] = {}
    for pos in itertools.combinations(range(n), size):
        j = tuple(index[p] for p in pos)
        counts[j] = counts.get(j, 0) + 1
    total = math.comb(n, size)
    return {j: c / total for j, c in counts.items()}


class CellCorrectors:
    """The corrector hierarchy chi^0 = 1, chi^1, ..., chi^K of (23) on a periodic cell.

    Parameters
    ----------
    cell
        The periodic cell (mesh, coefficient, factorized operator).

    Attributes
    ----------
    chi
        ``chi[k][I]`` is the component I (sorted multi-index, 0-based) of chi^k.
    solves_per_order
        Number of scalar cell problems solved per order (N(d, k)).
    """

    def __init__(self, cell: PeriodicCell) -> None:
        self.cell = cell
        self.d = d = cell.dim
        V = cell.V
        mesh = cell.mesh
        one = dolfinx.fem.Function(V, name="chi0")
        one.x.array[:] = 1.0
        self.chi: list[dict[Index, dolfinx.fem.Function]] = [{(): one}]
        self.solves_per_order: list[int] = [0]
        self.solve_time_per_order: list[float] = [0.0]
        self.max_incompatibility = 0.0

        element = V.ufl_element()
        degree = element.embedded_superdegree
        family = "Lagrange"
        self._VU = dolfinx.fem.functionspace(mesh, (family, degree, (d,)))
        self._VW = dolfinx.fem.functionspace(mesh, (family, degree, (d, d)))
        self.U = dolfinx.fem.Function(self._VU)
        self.W = dolfinx.fem.Function(self._VW)
        self.Z = dolfinx.fem.Function(V)
        a = cell.a
        A = a * ufl.Identity(d) if ufl.rank(a) == 0 else a
        self._A = A
        w = ufl.TestFunction(V)
        dx = cell.dx
        source = ufl.inner(A, ufl.grad(self.U)) + ufl.inner(A, self.W)
        self._rhs = dolfinx.fem.form(
            -ufl.inner(ufl.dot(A, self.U), ufl.grad(w)) * dx + (source - self.Z) * w * dx
        )
        self._source_mean = dolfinx.fem.form(source * dx)
        self._compat = dolfinx.fem.form((source - self.Z) * dx)
        self._scale = dolfinx.fem.form(ufl.sqrt(ufl.inner(A, A)) * dx)
        self._a_norm = self._assemble_scalar(self._scale) / cell.volume
        self._gram_mats: dict[str, object] = {}

    # ------------------------------------------------------------ utilities
    @property
    def order(self) -> int:
        """Highest order K computed so far."""
        return len(self.chi) - 1

    @property
    def cell_problems_solved(self) -> int:
        return int(sum(self.solves_per_order))

    def _assemble_scalar(self, form) -> float:
        return self.cell.mesh.comm.allreduce(dolfinx.fem.assemble_scalar(form), op=MPI.SUM)

    def _fill(self, index: Index, p_sym: Sequence[np.ndarray] | None) -> None:
        """Workspaces U, W, Z for the right-hand side of chi^{n}_I, n = len(I) (module doc)."""
        d = self.d
        n = len(index)
        k = n - 1
        counts = [index.count(l) for l in range(d)]
        u = self.U.x.array.reshape(-1, d)
        u[:] = 0.0
        for l in range(d):
            if counts[l]:
                u[:, l] = (counts[l] / n) * self.chi[k][_remove(index, l)].x.array
        wt = self.W.x.array.reshape(-1, d, d)
        wt[:] = 0.0
        if n >= 2:
            for l in range(d):
                for lp in range(d):
                    pairs = counts[l] * (counts[lp] - (l == lp))
                    if pairs:
                        wt[:, l, lp] = (pairs / (n * (n - 1))) * self.chi[k - 1][
                            _remove(index, l, lp)
                        ].x.array
        z = self.Z.x.array
        z[:] = 0.0
        if p_sym is not None:
            for j in range(k):
                p = p_sym[k - 1 - j]
                if p is None or not np.any(p):
                    continue
                for sub, weight in _sub_multisets(index, j).items():
                    coeff = weight * p[_remove(index, *sub)]
                    if coeff != 0.0:
                        z += coeff * self.chi[j][sub].x.array

    # ------------------------------------------------------------ correctors
    def solve_next(self, p: Sequence[np.ndarray]) -> None:
        """Solve all N(d, K+1) components of chi^{K+1} by (23a)/(23b).

        Parameters
        ----------
        p
            The tensors p^0, p^1, ... of (21) (p^k of order k + 2); the even ones up
            to p^{K-1} are needed (odd ones vanish).  They enter symmetrized.
        """
        k = self.order  # we build chi^{k+1}
        # p^{2r+1} = 0 (21): only the even ones must be given.
        missing = [j for j in range(len(p), k) if j % 2 == 0]
        if missing:
            raise ValueError(f"chi^{k + 1} needs p^0..p^{k - 1}; p^{missing[0]} is missing")
        p_sym = [
            symmetrize(p[j]) if j < len(p) and j % 2 == 0 else None for j in range(k)
        ]
        t0 = time.perf_counter()
        new: dict[Index, dolfinx.fem.Function] = {}
        for row in multi_indices(self.d, k + 1):
            index = tuple(int(i) for i in row)
            self._fill(index, p_sym)
            compat = self._assemble_scalar(self._compat) / self.cell.volume
            rel = abs(compat) / max(self._a_norm, 1e-300)
            self.max_incompatibility = max(self.max_incompatibility, rel)
            if rel > COMPATIBILITY_TOL:
                raise SolverError(
                    f"cell problem chi^{k + 1}{list(index)} violates the solvability condition "
                    f"(25): <F, 1> = {compat:.3e}; the effective tensors do not satisfy (28)"
                )
            chi = dolfinx.fem.Function(self.cell.V, name=f"chi{k + 1}_" + "".join(map(str, index)))
            self.cell.solver.solve(self._rhs, chi)
            new[index] = chi
        self.chi.append(new)
        self.solves_per_order.append(len(new))
        self.solve_time_per_order.append(time.perf_counter() - t0)

    def ensure_order(self, K: int, p: Sequence[np.ndarray]) -> None:
        while self.order < K:
            self.solve_next(p)

    # ------------------------------------------------------------ tensors
    def homogenized_tensor(self) -> np.ndarray:
        """a^0 (26) from chi^1 (energy form, see :func:`homogenized_tensor`)."""
        return homogenized_tensor(self.cell, [self.chi[1][(i,)] for i in range(self.d)])

    def g_naive(self, r: int) -> np.ndarray:
        """S(g^{2r}) by the naive formula (40) (needs chi^{2r} and chi^{2r+1}).

        For r = 0 this is a^0 of (26) (chi^0 = 1).
        """
        n = 2 * r + 2
        if self.order < n - 1:
            raise ValueError(f"S(g^{2 * r}) by (40) needs chi^{n - 1}, have chi^{self.order}")
        d = self.d
        comps = {}
        for row in multi_indices(d, n):
            index = tuple(int(i) for i in row)
            self._fill(index, None)
            comps[index] = self._assemble_scalar(self._source_mean) / self.cell.volume
        out = np.empty((d,) * n)
        for full in itertools.product(range(d), repeat=n):
            out[full] = comps[tuple(sorted(full))]
        return out

    def _matrices(self) -> dict[str, object]:
        """Assembled stiffness (with a), mass and coefficient-weighted mass matrices."""
        if self._gram_mats:
            return self._gram_mats
        V = self.cell.V
        u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
        dx = self.cell.dx
        mats = {
            "K": dolfinx.fem.form(ufl.inner(ufl.dot(self._A, ufl.grad(u)), ufl.grad(v)) * dx),
            "M": dolfinx.fem.form(u * v * dx),
        }
        if ufl.rank(self.cell.a) == 0:
            mats["Ma"] = dolfinx.fem.form(self.cell.a * u * v * dx)
        else:
            for i in range(self.d):
                for j in range(i, self.d):
                    mats[f"M{i}{j}"] = dolfinx.fem.form(self._A[i, j] * u * v * dx)
        out = {}
        for key, form in mats.items():
            A = dolfinx.fem.petsc.assemble_matrix(form)
            A.assemble()
            out[key] = A
        self._gram_mats = out
        return out

    def _gram(self, mat, m: int, n: int) -> np.ndarray:
        """G[r, s] = <chi^m_{l(r)}, chi^n_{l(s)}>_mat / |Y| over distinct components."""
        rows = [tuple(int(i) for i in r) for r in multi_indices(self.d, m)]
        cols = [tuple(int(i) for i in r) for r in multi_indices(self.d, n)]
        y = mat.createVecLeft()
        G = np.empty((len(rows), len(cols)))
        for s, J in enumerate(cols):
            mat.mult(self.chi[n][J].x.petsc_vec, y)
            for r, I in enumerate(rows):
                G[r, s] = y.dot(self.chi[m][I].x.petsc_vec)
        y.destroy()
        return G / self.cell.volume

    def g_theorem3(self, s: int) -> list[np.ndarray]:
        """[S(g^2), ..., S(g^{2s})] by Theorem 3 (41)-(42): needs chi^1..chi^{s+1} only."""
        if self.order < s + 1:
            raise ValueError(f"Theorem 3 for s = {s} needs chi^{s + 1}, have chi^{self.order}")
        d = self.d
        mats = self._matrices()
        stiffness, cross = [], []
        for r in range(1, s + 1):
            stiffness.append(expand_pair_matrix(self._gram(mats["K"], r + 1, r + 1), d, r + 1, r + 1))
            n_r = len(multi_indices(d, r))
            E = np.zeros((d, d, n_r, n_r))
            if "Ma" in mats:  # scalar a: a_{ij} = a delta_ij
                G = self._gram(mats["Ma"], r, r)
                for i in range(d):
                    E[i, i] = G
            else:
                for i in range(d):
                    for j in range(i, d):
                        E[i, j] = E[j, i] = self._gram(mats[f"M{i}{j}"], r, r)
            cross.append(expand_pair_matrix(E, d, r, r))
        mass = {
            (m, n): expand_pair_matrix(self._gram(mats["M"], m, n), d, m, n)
            for (m, n) in required_mass_pairs(s)
        }
        a0 = self.homogenized_tensor()
        return assemble_g_sym(a0, stiffness, cross, mass)

    def destroy(self) -> None:
        for A in self._gram_mats.values():
            A.destroy()
        self._gram_mats = {}


def first_order_correctors(cell: PeriodicCell) -> list[dolfinx.fem.Function]:
    """chi^1_1 ... chi^1_d of (23a) (LL paper (4.13)) with one factorization."""
    correctors = CellCorrectors(cell)
    correctors.solve_next([])
    return [correctors.chi[1][(i,)] for i in range(cell.dim)]


def homogenized_tensor(cell: PeriodicCell, chis: list[dolfinx.fem.Function]) -> np.ndarray:
    """a^0 = A^H from the first-order correctors, wave paper (26) / LL paper Sect. 4.2.

    Returns a symmetric d x d array (identical on every rank).
    """
    d = cell.dim
    ei = dolfinx.fem.Constant(cell.mesh, np.zeros(d))
    ej = dolfinx.fem.Constant(cell.mesh, np.zeros(d))
    chi_i = dolfinx.fem.Function(cell.V)
    chi_j = dolfinx.fem.Function(cell.V)
    form = dolfinx.fem.form(
        ufl.inner(cell.flux(ej + ufl.grad(chi_j)), ei + ufl.grad(chi_i)) * cell.dx
    )
    a0 = np.zeros((d, d))
    for i in range(d):
        for j in range(i, d):
            ei.value[:] = cell.unit_vector(i)
            ej.value[:] = cell.unit_vector(j)
            chi_i.x.array[:] = chis[i].x.array
            chi_j.x.array[:] = chis[j].x.array
            local = dolfinx.fem.assemble_scalar(form)
            a0[i, j] = a0[j, i] = cell.mesh.comm.allreduce(local) / cell.volume
    return a0
