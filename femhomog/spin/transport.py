"""Spin drift-diffusion on a conductor (Boltzmann-LLG paper, Sect. 4, (4.4), (4.6)).

On a conductor ``C`` containing a magnet ``M`` (a set of cell tags of the conductor mesh):

    d_t s   - div(D (grad s_k + s_k grad phi)) = -(2/tau_ex) chi_M m x s - s/tau_sf   (4.6)

with ``chi_M`` the sharp indicator of the magnet cells (``m = 0`` outside ``M``), ``D`` a
number or an SPD matrix per region, and ``phi`` a given or computed potential
(:mod:`femhomog.spin.potential`).  The boundary condition is zero total flux
``J.n = 0``, ``J = -D (grad s + s grad phi)`` ((4.4); natural in the conservative weak
form below: the drift's boundary term is part of the flux, so with ``grad phi . n != 0``
this is the Robin condition it must be), or a Dirichlet value of ``s`` (spin injection)
on tagged facets.  Pinned magnetic layers (a spin valve's reference layer) add their
fixed magnetization to ``chi_M m`` cellwise; the charge density of (4.5) is
:mod:`femhomog.spin.charge`.

Discretization
--------------
``s``: continuous Lagrange elements (P1 or P2, three components), the conservative weak
form

    (d_t s, w) + (D (grad s + s (x) grad phi), grad w) + (2/tau_ex) (chi_M m x s, w)
        + (1/tau_sf) (s, w) = 0,

and an implicit step (backward Euler, Crank-Nicolson or BDF2): the spin time scales are
100-1000x shorter than the magnetization's, so an explicit step is not an option.  Each
step solves one non-symmetric linear system (:mod:`femhomog.spin.linear`): GMRES
(modified Gram-Schmidt, the previous ``s`` as initial guess, relative tolerance 1e-8 by
default: far below the step's time error) preconditioned by ILU / block Jacobi of the
m-independent operator (mass, diffusion, drift, spin flip), which is factorized once per
step size and scheme, not every time ``m`` changes; or MUMPS.  P1 without the
spin-anisotropic diffusion: that operator is ``K (x) I_3`` with ``K`` the scalar operator
of one component, and the operator and its preconditioner are applied component by
component (:mod:`femhomog.spin.componentwise`: 3-6x less matrix data per iteration).

The precession uses ``chi_M`` (a DG0 indicator) times ``m`` extended to the conductor
space: in a magnet cell every node of the cell is a magnet node, so ``chi_M m`` equals
``m`` there exactly, and it vanishes in every other cell.  Interpolating ``m`` alone onto
the conductor (without ``chi_M``) would smear it over the interface elements
(DESIGN.md).  P1: the precession term is integrated with the vertex rule
(:mod:`femhomog.spin.precession`), so its matrix is block diagonal; a new ``m`` then
costs an O(n) update of 9 values per node of the operator instead of an assembly.  P2:
the consistent form.  The right-hand side is matrix-vector products of matrices
assembled once (mass, the m-independent rest of ``L`` for Crank-Nicolson, the polarized
current's ``B`` with ``B m`` its term) plus the volume source's form
(benchmarks/README.md: the spin-valve demo mesh).  ``quasi_static`` solves the steady
problem for the current ``m``.

Nondimensional throughout (the seed's system); SI parameters are converted once in
:mod:`femhomog.spin.units`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from femhomog import (
    ConfigError,
    SolverError,
    _fenicsx,  # noqa: F401  (must precede dolfinx / petsc4py)
)

# isort: split
import basix.ufl
import dolfinx
import dolfinx.fem.petsc
import ufl
from mpi4py import MPI
from petsc4py import PETSc

from femhomog.coefficients import CellCoefficient
from femhomog.spin.componentwise import ComponentwiseOperator, ComponentwisePC
from femhomog.spin.data import (
    diffusion,
    dirichlet_conditions,
    flux,
    magnet_indicator,
    pinned_magnetization,
)
from femhomog.spin.linear import ImplicitLinear
from femhomog.spin.precession import VertexPrecession

__all__ = ["SCHEMES", "SpinTransport", "magnet_indicator"]

#: Implicit schemes and their order in time.
SCHEMES = {"backward_euler": 1, "crank_nicolson": 2, "bdf2": 2}


class SpinTransport:
    """The spin accumulation ``s`` of (4.6) on a conductor mesh.

    Parameters
    ----------
    mesh
        Conductor mesh.
    cell_tags, magnet_tags
        Regions: the magnet is the cells with these tags (``None``: the whole mesh).
    D
        Diffusion: a number, or a :class:`~femhomog.coefficients.CellCoefficient`
        (expression, matrix, or per-region materials with ``cell_tags``).
    tau_sf
        Spin-flip time (> 0; ``inf``: no spin flip).
    tau_ex
        Exchange precession time, signed (the seed's sign: ``-(2/tau_ex) m x s``;
        magnum.fe's ``+(J/hbar) m x s`` is ``tau_ex = -2 hbar/J``); ``inf``: none.
    potential
        ``phi``: a UFL expression on ``mesh`` (e.g. of ``ufl.SpatialCoordinate``), a
        :class:`dolfinx.fem.Function`, or None (no drift).
    current
        Polarized current ``j``: the spin current ``chi_M m (x) j`` is added to the flux
        (Zhang-Levy-Fert's ``(beta mu_B/e) m (x) j_e``, :mod:`femhomog.spin.units`), so
        ``d_t s`` gains ``-div(chi_M m (x) j)``; ``d`` numbers or a UFL vector; None: none.
    pinned
        ``{cell tag: m}``: conducting magnetic regions whose magnetization is fixed (the
        reference layer of a spin valve), not evolved by LLG: their precession and
        polarized source use the unit vector ``m`` (sharp, cellwise).  Must not overlap
        ``magnet_tags``; needs ``cell_tags``.
    anisotropy
        ``a = beta beta'`` of Zhang-Levy-Fert (:mod:`femhomog.spin.units`): the diffusive
        flux becomes ``D (grad s - a m (x) ((grad s)^T m))`` with ``m = chi_M m`` (plus
        the pinned layers), i.e. diffusion ``D (1 - a)`` of the component of ``s`` along
        ``m`` in magnetic cells (spin-anisotropic diffusion); ``a < 1``; 0: the seed's
        system.  Its term depends on ``m``, so it is assembled again when ``m`` changes.
    source
        ``f(x, t)``: a volume source added to the right-hand side, ``d_t s + ... = f``
        (e.g. a manufactured solution's forcing): a callable of ``x =
        ufl.SpatialCoordinate(mesh)`` and ``t`` (a :class:`dolfinx.fem.Constant`)
        returning a UFL 3-vector (integrated with a degree ``2 degree + 2`` rule).
        Evaluated at ``t_{n+1}`` (backward Euler, BDF2,
        quasi-static) or as the trapezoid ``(f(t_n) + f(t_{n+1}))/2`` (Crank-Nicolson).
    degree
        1 or 2.
    dirichlet
        ``{facet tag: value}``: ``s = value`` (3 numbers or a callable of ``x``) on
        those facets (spin injection); needs ``facet_tags``.
    scheme
        ``"backward_euler"``, ``"crank_nicolson"`` or ``"bdf2"``.
    solver, rtol
        ``"iterative"`` (GMRES + ILU / block Jacobi) or ``"direct"`` (MUMPS).
    """

    def __init__(
        self,
        mesh: dolfinx.mesh.Mesh,
        *,
        cell_tags: dolfinx.mesh.MeshTags | None = None,
        magnet_tags: Sequence[int] | None = None,
        facet_tags: dolfinx.mesh.MeshTags | None = None,
        D: CellCoefficient | float = 1.0,
        tau_sf: float = 1.0,
        tau_ex: float = 1.0,
        potential: Any = None,
        current: Any = None,
        pinned: Mapping[int, Sequence[float]] | None = None,
        source: Callable[[Any, Any], Any] | None = None,
        anisotropy: float = 0.0,
        degree: int = 1,
        dirichlet: Mapping[int, Sequence[float] | Callable[[np.ndarray], np.ndarray]] | None = None,
        scheme: str = "backward_euler",
        solver: str = "iterative",
        rtol: float = 1e-8,
    ) -> None:
        if scheme not in SCHEMES:
            raise ConfigError(f"spin scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
        if degree not in (1, 2):
            raise ConfigError(f"spin degree must be 1 or 2, got {degree!r}")
        if not (tau_sf > 0):
            raise ConfigError(f"spin tau_sf must be > 0 (inf: no spin flip), got {tau_sf!r}")
        if not (np.isfinite(tau_ex) or np.isinf(tau_ex)) or tau_ex == 0:
            raise ConfigError(f"spin tau_ex must be a non-zero number (inf: no precession), "
                              f"got {tau_ex!r}")
        if not (isinstance(anisotropy, int | float) and np.isfinite(anisotropy)
                and anisotropy < 1.0):
            raise ConfigError(f"spin anisotropy (beta beta') must be a number < 1, got "
                              f"{anisotropy!r}")
        self.anisotropy = float(anisotropy)
        self.mesh = mesh
        self.comm: MPI.Comm = mesh.comm
        self.scheme = scheme
        self.tau_sf = float(tau_sf)
        self.tau_ex = float(tau_ex)
        self.D, D_ufl = diffusion(D, mesh, cell_tags)
        self.chi = magnet_indicator(mesh, cell_tags, magnet_tags)
        self.m_pinned = pinned_magnetization(mesh, pinned or {}, cell_tags, magnet_tags)
        element = basix.ufl.element("Lagrange", mesh.basix_cell(), degree, shape=(3,))
        self.V = dolfinx.fem.functionspace(mesh, element)
        self.s = dolfinx.fem.Function(self.V, name="s")
        self.m = dolfinx.fem.Function(self.V, name="m_conductor")
        self._s_old = dolfinx.fem.Function(self.V)
        self._s_older = dolfinx.fem.Function(self.V)
        self._have_older = False
        self._last_dt: float | None = None
        self.t = 0.0
        self.steps = 0

        s, w = ufl.TrialFunction(self.V), ufl.TestFunction(self.V)
        grad_s = ufl.grad(s)
        if potential is not None:
            grad_s = grad_s + ufl.outer(s, ufl.grad(potential))
        self._potential = potential
        # L(s, w): everything but the time derivative
        inv_ex = 0.0 if np.isinf(self.tau_ex) else 2.0 / self.tau_ex
        inv_sf = 0.0 if np.isinf(self.tau_sf) else 1.0 / self.tau_sf
        L_form = ufl.inner(flux(D_ufl, grad_s), ufl.grad(w)) * ufl.dx
        if inv_sf:
            L_form += inv_sf * ufl.inner(s, w) * ufl.dx
        L_static = L_form  # the m-independent part: the preconditioner's operator
        if self.anisotropy:
            # ZLF's -2 D0 beta beta' m (x) ((grad s)^T m): the flux along m is reduced
            mm = self._magnetization()
            along = ufl.outer(mm, ufl.dot(ufl.transpose(ufl.grad(s)), mm))
            L_form -= self.anisotropy * ufl.inner(flux(D_ufl, along), ufl.grad(w)) * ufl.dx
        # P1: the precession with the vertex rule, a block-diagonal matrix updated from
        # the nodal m without assembly (see _precession); P2: the consistent form
        self._inv_ex = inv_ex
        self._lumped = degree == 1 and inv_ex != 0.0
        if inv_ex and not self._lumped:
            L_form += inv_ex * ufl.inner(ufl.cross(self._magnetization(), s), w) * ufl.dx
        # one bilinear and one linear form serve every scheme and the steady problem:
        #   (c_mass M + c_L L) s = c_old M s_old + c_older M s_older - c_Lold L s_old
        mass_form = ufl.inner(s, w) * ufl.dx
        self._c = {k: dolfinx.fem.Constant(mesh, np.float64(0.0))
                   for k in ("mass", "L", "old", "older", "Lold", "fnew", "fold")}
        c = self._c
        self._a = dolfinx.fem.form(c["mass"] * mass_form + c["L"] * L_form)
        # iterative solver: the preconditioner is built from the m-independent operator
        # c_mass M + c_L L_static (diffusion, drift, spin flip), set up again only when the
        # scheme's constants change, not when m does (see _operator); P1 isotropic: the
        # assembled rest of the lumped precession is that operator already
        self._iterative = solver == "iterative"
        self._a_pc = None
        if self._iterative and (self.anisotropy or not self._lumped):
            self._a_pc = dolfinx.fem.form(c["mass"] * mass_form + c["L"] * L_static)
        # P1, iterative, isotropic: the operator component by component
        # (femhomog.spin.componentwise) with the scalar form of one component
        self._a_scalar = None
        if self._iterative and self._lumped and not self.anisotropy:
            Q = dolfinx.fem.functionspace(mesh, ("Lagrange", 1))
            if np.array_equal(Q.dofmap.list, self.V.dofmap.list):  # the same node numbering
                self._Q = Q
                u, v = ufl.TrialFunction(Q), ufl.TestFunction(Q)
                grad_u = ufl.grad(u) if potential is None else (ufl.grad(u)
                                                                + u * ufl.grad(potential))
                L_scalar = ufl.inner(flux(D_ufl, grad_u), ufl.grad(v)) * ufl.dx
                if inv_sf:
                    L_scalar += inv_sf * u * v * ufl.dx
                self._a_scalar = dolfinx.fem.form(c["mass"] * u * v * ufl.dx
                                                  + c["L"] * L_scalar)
        # right-hand side: the mass terms and (P1, isotropic) L s_old by matrix-vector
        # products of matrices assembled once; forms only for the sources and for an
        # m-dependent L (P2 precession, anisotropy)
        self._M = dolfinx.fem.petsc.assemble_matrix(dolfinx.fem.form(mass_form))
        self._M.assemble()
        self._K: PETSc.Mat | None = None
        self._rhs_L = None
        if degree == 1 and not self.anisotropy:
            self._K = dolfinx.fem.petsc.assemble_matrix(dolfinx.fem.form(L_form))
            self._K.assemble()
        else:
            self._rhs_L = dolfinx.fem.form(-c["Lold"] * ufl.action(L_form, self._s_old))
        self._B, self._b_pinned = self._source(current, w)
        rhs = None
        # the volume source at t_{n+1} and t_n (weights of the scheme)
        self._t_new = dolfinx.fem.Constant(mesh, np.float64(0.0))
        self._t_old = dolfinx.fem.Constant(mesh, np.float64(0.0))
        if source is not None:
            if not callable(source):
                raise ConfigError(f"spin source must be a callable (x, t) -> UFL vector, "
                                  f"got {source!r}")
            x = ufl.SpatialCoordinate(mesh)
            # a fixed rule: UFL's estimate for products of sines runs to degree ~20
            dxs = ufl.Measure("dx", domain=mesh, metadata={"quadrature_degree": 2 * degree + 2})
            volume = (c["fnew"] * ufl.inner(source(x, self._t_new), w) * dxs
                      + c["fold"] * ufl.inner(source(x, self._t_old), w) * dxs)
            rhs = volume if rhs is None else rhs + volume
        self._rhs = None if rhs is None else dolfinx.fem.form(rhs)
        self._b = self.s.x.petsc_vec.duplicate()  # ghosted like s
        self._work = self.s.x.petsc_vec.duplicate()
        self._bcs = dirichlet_conditions(self.V, dirichlet or {}, facet_tags)
        self._ksp = ImplicitLinear(self.comm, solver, f"femhomog_spin_{id(self)}_", rtol,
                                    warm_start=True)
        self._A: PETSc.Mat | None = None
        self._A_key: tuple | None = None
        self._A_base: PETSc.Mat | None = None
        self._base_key: tuple | None = None
        self._A_pc: PETSc.Mat | None = None
        self._pc_key: tuple | None = None
        self._q = np.zeros((self.V.dofmap.index_map.size_local, 3))
        self._q_version = -1
        self._base_blocks = np.zeros((0, 3, 3))
        self._vertex: VertexPrecession | None = None
        if self._lumped:
            self._vertex = VertexPrecession(self.V, self.chi, self.m_pinned, self._bcs,
                                            self._inv_ex)
        self._shell: PETSc.Mat | None = None
        if self._a_scalar is not None:
            n = self.V.dofmap.index_map.size_local
            # the scalar Dirichlet rows: the nodes of the vector conditions
            nodes = [np.unique(bc.dof_indices()[0] // 3).astype(np.int32) for bc in self._bcs]
            self._bcs_scalar = [dolfinx.fem.dirichletbc(np.float64(0.0), d, self._Q)
                                for d in nodes]
            self._cw_op = ComponentwiseOperator(self.comm, n, self._nodal_precession)
            self._cw_pc = ComponentwisePC(self.comm, n)
            N = self.V.dofmap.index_map.size_global * 3
            self._shell = PETSc.Mat().createPython(((3 * n, N), (3 * n, N)), self._cw_op,
                                                   comm=self.comm)
            self._shell.setUp()
            pc = self._ksp.ksp.getPC()
            pc.setType("python")
            pc.setPythonContext(self._cw_pc)
            self._K_scalar: PETSc.Mat | None = None
            self._scalar_key: tuple | None = None
        self._m_version = 0

    # ------------------------------------------------------------------ setup
    def _source(self, current: Any, w: Any) -> tuple[PETSc.Mat | None, PETSc.Vec | None]:
        """``(chi_M m (x) j, grad w)``: the polarized spin current, integrated by parts with
        the rest of the flux (zero *total* flux on the boundary); with the transport's ``m``
        of the step (Crank-Nicolson: the midpoint ``m``) its weight is 1 in every scheme.

        Linear in ``m``: a matrix ``B`` assembled once (``B m`` each step, a matrix-vector
        product instead of a vector assembly) and the pinned layers' constant vector
        (owned entries complete).  None, None without a current."""
        if current is None:
            return None, None
        dim = self.mesh.geometry.dim
        if not isinstance(current, ufl.core.expr.Expr):
            vec = np.asarray(current, dtype=float).reshape(-1)
            if vec.shape != (dim,) or not np.all(np.isfinite(vec)):
                raise ConfigError(f"spin current must be {dim} finite numbers, got {current!r}")
            current = dolfinx.fem.Constant(self.mesh, vec)
        u = ufl.TrialFunction(self.V)
        B = dolfinx.fem.petsc.assemble_matrix(dolfinx.fem.form(
            ufl.inner(ufl.outer(self.chi * u, current), ufl.grad(w)) * ufl.dx))
        B.assemble()
        if self.m_pinned is None:
            return B, None
        b = dolfinx.fem.petsc.assemble_vector(dolfinx.fem.form(
            ufl.inner(ufl.outer(self.m_pinned, current), ufl.grad(w)) * ufl.dx))
        b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        return B, b

    def _magnetization(self) -> Any:
        """``chi_M m`` plus the pinned layers' fixed ``m`` (zero in every other cell)."""
        if self.m_pinned is None:
            return self.chi * self.m
        return self.chi * self.m + self.m_pinned

    def set_magnetization(self, m: Callable[[np.ndarray], np.ndarray] | Sequence[float]
                          | dolfinx.fem.Function) -> None:
        """``m`` on the conductor space: a callable of ``x``, a constant vector, or a
        Function of the same space.  Only its values in magnet cells matter (``chi_M``)."""
        if isinstance(m, dolfinx.fem.Function):
            self.m.x.array[:] = m.x.array
        elif callable(m):
            self.m.interpolate(m)
        else:
            vec = np.asarray(m, dtype=float)
            self.m.interpolate(lambda x: np.tile(vec[:, None], (1, x.shape[1])))
        self.m.x.scatter_forward()
        self._m_version += 1  # the precession matrix must be assembled again

    def set_state(self, s0: Callable[[np.ndarray], np.ndarray] | Sequence[float]) -> None:
        """Initial ``s`` (a callable of ``x`` or a constant vector); resets the time."""
        if callable(s0):
            self.s.interpolate(s0)
        else:
            vec = np.asarray(s0, dtype=float)
            self.s.interpolate(lambda x: np.tile(vec[:, None], (1, x.shape[1])))
        if not np.all(np.isfinite(self.s.x.array)):
            raise ConfigError("initial spin accumulation contains NaN or inf")
        self.t, self.steps, self._have_older, self._last_dt = 0.0, 0, False, None

    # ------------------------------------------------------------------ history
    @property
    def previous(self) -> dolfinx.fem.Function:
        """``s`` one step back (the BDF2 history; equals ``s`` before the first step)."""
        return self._s_old

    def snapshot(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
        """Everything :meth:`step` changes: ``s``, its history, counters (for repeating a step)."""
        return (self.s.x.array.copy(), self._s_old.x.array.copy(), self._s_older.x.array.copy(),
                (self.t, self.steps, self._have_older, self._last_dt))

    def restore(self, snap: tuple[np.ndarray, np.ndarray, np.ndarray, tuple]) -> None:
        """Undo the steps since :meth:`snapshot` returned ``snap``."""
        self.s.x.array[:], self._s_old.x.array[:], self._s_older.x.array[:] = snap[:3]
        self.t, self.steps, self._have_older, self._last_dt = snap[3]

    def resume_history(self, previous: np.ndarray | None, dt: float | None) -> None:
        """After ``s`` was set from a checkpoint: the previous ``s`` (all local values) and
        the step that led to ``s`` (BDF2 continues without a restart step); None: none."""
        if previous is None or dt is None:
            self._have_older, self._last_dt = False, None
            return
        self._s_old.x.array[:] = previous
        self._have_older, self._last_dt = True, float(dt)

    # ------------------------------------------------------------------ precession
    def _nodal_precession(self) -> np.ndarray:
        """``q_i = (2/tau_ex) (w_i m_i + p_i)`` per owned node (0 at Dirichlet nodes): node
        ``i``'s block of the precession matrix is ``[q_i]_x``, i.e. ``(P s)_i = q_i x s_i``;
        recomputed when ``m`` changed."""
        if self._q_version != self._m_version:
            assert self._vertex is not None
            self._q = self._vertex.nodal(self.m.x.array)
            self._q_version = self._m_version
        return self._q

    def _assemble_into(self, A: PETSc.Mat | None, form: Any) -> PETSc.Mat:
        """``form`` with the Dirichlet rows, into ``A`` (same sparsity) or a new matrix."""
        if A is None:
            A = dolfinx.fem.petsc.assemble_matrix(form, bcs=self._bcs)
        else:
            A.zeroEntries()
            dolfinx.fem.petsc.assemble_matrix(A, form, bcs=self._bcs)
        A.assemble()
        return A

    def _base(self, c_mass: float, c_L: float) -> PETSc.Mat:
        """P1 lumped precession: ``c_mass M + c_L L`` without the precession, assembled when
        the scheme's constants (or, with anisotropy, ``m``) changed."""
        key = (c_mass, c_L, self._m_version if self.anisotropy else 0)
        if self._A_base is None or self._base_key != key:
            self._A_base = self._assemble_into(self._A_base, self._a)
            self._base_key = key
        return self._A_base

    def _operator(self, c_mass: float, c_L: float) -> tuple[PETSc.Mat, PETSc.Mat | None]:
        """The operator ``c_mass M + c_L L`` with the Dirichlet rows, and the matrix of the
        preconditioner (None: the operator itself).

        P1, iterative, isotropic: a Python matrix applying the scalar ``K`` (assembled
        when the scheme's constants change) to each component plus the precession, with
        its own preconditioner (:mod:`femhomog.spin.componentwise`); else:

        P1: the assembled rest (:meth:`_base`) with its node-diagonal 3 x 3 blocks
        replaced by theirs plus ``c_L`` times the precession's, written into a copy of
        it when ``m`` changed (9 values per node, no assembly or matrix copy).  P2: the
        assembled form.  Iterative solver: the preconditioner's matrix is the
        m-independent operator (P1 isotropic: the assembled rest itself), so PETSc
        factorizes it (ILU) once per time step size instead of every step."""
        if self._shell is not None:  # component by component
            key = (c_mass, c_L)
            if self._K_scalar is None or self._scalar_key != key:
                if self._K_scalar is None:
                    self._K_scalar = dolfinx.fem.petsc.assemble_matrix(
                        self._a_scalar, bcs=self._bcs_scalar)
                else:
                    self._K_scalar.zeroEntries()
                    dolfinx.fem.petsc.assemble_matrix(self._K_scalar, self._a_scalar,
                                                      bcs=self._bcs_scalar)
                self._K_scalar.assemble()
                self._scalar_key = key
                self._cw_op.K = self._K_scalar
                self._cw_pc.set_base(self._K_scalar)
            self._cw_op.c = c_L
            return self._shell, self._shell
        pc = None
        if self._a_pc is not None:
            key = (c_mass, c_L)
            if self._A_pc is None or self._pc_key != key:
                self._A_pc = self._assemble_into(self._A_pc, self._a_pc)
                self._pc_key = key
            pc = self._A_pc
        key = (c_mass, c_L, self._m_version)
        if not self._lumped:
            if self._A is None or key != self._A_key:
                self._A = self._assemble_into(self._A, self._a)
                self._A_key = key
            return self._A, pc
        base_key = self._base_key
        base = self._base(c_mass, c_L)
        if self._iterative and pc is None:
            pc = base
        if self._A is not None and key == self._A_key:
            return self._A, pc
        if self._A is None or self._base_key != base_key:
            # a new rest: copy it, and keep its diagonal blocks (owned rows, global cols)
            if self._A is None:
                self._A = base.duplicate(copy=True)
            else:
                base.copy(self._A, structure=PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
            self._base_blocks = self._vertex.diagonal_blocks(base)
        self._vertex.write(self._A, self._base_blocks + c_L * self._vertex.blocks(
            self._nodal_precession()))
        self._A_key = key
        return self._A, pc

    # ------------------------------------------------------------------ assembly
    def _solve_system(self, coefficients: dict[str, float], what: str) -> None:
        """Set the form constants, assemble (the matrix only when ``m`` or the scheme's
        constants changed) and solve into ``s`` (the initial guess: ``s`` before)."""
        for key, value in coefficients.items():
            self._c[key].value = value
        A, P = self._operator(coefficients["mass"], coefficients["L"])
        b, work = self._b, self._work
        with b.localForm() as local:
            local.set(0.0)
        if self._rhs is not None:
            dolfinx.fem.petsc.assemble_vector(b, self._rhs)
        lold = coefficients["Lold"]
        if lold and self._rhs_L is not None:
            dolfinx.fem.petsc.assemble_vector(b, self._rhs_L)
        if self._bcs:
            dolfinx.fem.petsc.apply_lifting(b, [self._a], bcs=[self._bcs])
        b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        # c_old M s_old + c_older M s_older
        work.array[:] = (coefficients["old"] * self._s_old.x.petsc_vec.array
                         + coefficients["older"] * self._s_older.x.petsc_vec.array)
        self._M.multAdd(work, b, b)
        if self._B is not None:  # the polarized current: B m (+ the pinned layers')
            self._B.multAdd(self.m.x.petsc_vec, b, b)
            if self._b_pinned is not None:
                b.axpy(1.0, self._b_pinned)
        if lold and self._K is not None:
            # -c_Lold L s_old = -c_Lold (K + precession) s_old (the block-diagonal
            # precession couples no Dirichlet column to another row: the lifting is complete)
            self._K.mult(self._s_old.x.petsc_vec, work)
            if self._lumped:
                n = len(self._q)
                s_old = self._s_old.x.array[: 3 * n].reshape(n, 3)
                q = self._nodal_precession()  # (P s_old)_i = q_i x s_old_i
                work.array[: 3 * n] += np.cross(q, s_old).reshape(-1)
            b.axpy(-lold, work)
        dolfinx.fem.petsc.set_bc(b, self._bcs)
        self._ksp.solve(A, b, self.s.x.petsc_vec, what, P)
        self.s.x.scatter_forward()
        if not np.all(np.isfinite(self.s.x.array)):
            raise SolverError(f"{what}: the spin accumulation became non-finite")

    # ------------------------------------------------------------------ steps
    def step(self, dt: float) -> None:
        """Advance ``s`` by ``dt`` with the current ``m`` (collective)."""
        if not (np.isfinite(dt) and dt > 0):
            raise ConfigError(f"spin step must be > 0, got {dt!r}")
        same_step = self._advance_history(dt)
        scheme = self.scheme
        if scheme == "bdf2" and not same_step:
            # the start of BDF2, or a changed step (the formula is for constant steps):
            # one second-order one-step step
            scheme = "crank_nicolson"
        coefficients = {
            # (s - s_old)/dt + L s = f(t_new)
            "backward_euler": {"mass": 1 / dt, "L": 1.0, "old": 1 / dt, "older": 0.0,
                               "Lold": 0.0, "fnew": 1.0, "fold": 0.0},
            # (s - s_old)/dt + L (s + s_old)/2 = (f(t_new) + f(t_old))/2
            "crank_nicolson": {"mass": 1 / dt, "L": 0.5, "old": 1 / dt, "older": 0.0,
                               "Lold": 0.5, "fnew": 0.5, "fold": 0.5},
            # (3 s - 4 s_old + s_older)/(2 dt) + L s = f(t_new) (constant steps)
            "bdf2": {"mass": 1.5 / dt, "L": 1.0, "old": 2 / dt, "older": -0.5 / dt,
                     "Lold": 0.0, "fnew": 1.0, "fold": 0.0},
        }[scheme]
        self._t_old.value, self._t_new.value = self.t, self.t + dt
        self._solve_system(coefficients, f"spin step at t = {self.t:.6g}")
        self.steps += 1
        self.t += dt

    def _advance_history(self, dt: float) -> bool:
        """Shift the history (``s_older <- s_old <- s``) for a step ``dt``; with a previous
        step of the same size the initial guess of the solve is the linear extrapolation
        ``2 s_n - s_{n-1}`` (else ``s_n``): 11.3 -> 9.3 GMRES iterations per step on the
        spin-valve mesh.  True if the previous step had the same size (BDF2 applies)."""
        same = (self._have_older and self._last_dt is not None
                and abs(dt - self._last_dt) <= 1e-9 * dt)
        self._s_older.x.array[:] = self._s_old.x.array
        self._s_old.x.array[:] = self.s.x.array
        if same:
            self.s.x.array[:] = 2.0 * self._s_old.x.array - self._s_older.x.array
        self._have_older, self._last_dt = True, float(dt)
        return same

    def quasi_static(self, t: float | None = None) -> None:
        """The steady ``s`` for the current ``m`` (``L s = f(t)`` with the Dirichlet data);
        ``t``: the time of the source and the transport's new time (None: unchanged)."""
        if t is not None:
            if float(t) > self.t:  # a step in time: the extrapolated initial guess
                self._advance_history(float(t) - self.t)
            self.t = float(t)
        self._t_new.value = self.t
        self._solve_system({"mass": 0.0, "L": 1.0, "old": 0.0, "older": 0.0, "Lold": 0.0,
                            "fnew": 1.0, "fold": 0.0},
                           "quasi-static spin accumulation")

    # ------------------------------------------------------------------ outputs
    def _integral(self, expr: Any) -> float:
        return self.comm.allreduce(dolfinx.fem.assemble_scalar(dolfinx.fem.form(expr)),
                                   op=MPI.SUM)

    def volume(self) -> float:
        return self._integral(dolfinx.fem.Constant(self.mesh, 1.0) * ufl.dx)

    def average(self) -> np.ndarray:
        """Volume mean of ``s`` over the conductor."""
        vol = self.volume()
        return np.array([self._integral(self.s[i] * ufl.dx) for i in range(3)]) / vol

    def rms(self) -> float:
        """``sqrt(mean |s|^2)`` over the conductor."""
        return float(np.sqrt(self._integral(ufl.inner(self.s, self.s) * ufl.dx) / self.volume()))

    @property
    def linear_iterations(self) -> int:
        return self._ksp.iterations

    def destroy(self) -> None:
        self._ksp.destroy()
        if self._shell is not None:
            self._cw_op.release()
            self._cw_pc.release()
        for mat in (self._A, self._A_base, self._M, self._K, self._b, self._work, self._A_pc,
                    self._B, self._b_pinned, self._shell, getattr(self, "_K_scalar", None)):
            if mat is not None:
                mat.destroy()
