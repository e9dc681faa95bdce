"""The periodic cell operator: one operator, one factorization, many right-hand sides.

Every cell problem of the framework (first-order correctors (23a) of the wave paper,
(4.13) of the LL paper, and the high-order recursion (23b)) has the form

    find chi in W_per(Y), <chi> = 0:   (a grad chi, grad w)_Y = F(w)   for all w in W_per(Y),

with one bilinear form and many right-hand sides F.  :class:`CellSolver` assembles
the periodic operator K = P^T A P once, sets up one solver (MUMPS Cholesky or
CG + GAMG) and then solves for any number of right-hand sides.

Zero mean.  K is singular with the constants as null space; F(1) = 0 for every
well-posed cell problem (Lemma 1, (25) of the wave paper).
 - direct: one reduced dof is pinned to zero (row/column replaced by the identity),
   which yields the exact solution up to a constant because F is compatible; the
   mean is then removed.
 - iterative: CG with the constant null space attached to K (GAMG builds its
   coarse spaces on it); the mean is removed afterwards.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

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
from petsc4py import PETSc

from femhomog.io.logging import get_logger
from femhomog.periodic import LinearConstraint

log = get_logger(__name__)

#: Above this many reduced dofs ``type = "auto"`` switches from MUMPS to CG + GAMG.
#: 3D: MUMPS setup grows like N^2 (P1, 1 rank: 4 s at 33k, 39 s at 97k, 377 s and
#: 4.9 GB at 262k) while CG + GAMG needs 11-25 iterations at any size
#: (benchmarks/cell_first_order.py); 2D fill-in is mild.
AUTO_DIRECT_MAX_DOFS = {1: 10**7, 2: 400_000, 3: 50_000}


@dataclass
class SolverStats:
    """Timings and counts of a :class:`CellSolver` (seconds)."""

    assembly_s: float = 0.0
    setup_s: float = 0.0
    solve_s: list[float] = field(default_factory=list)
    iterations: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        n = len(self.solve_s)
        return {
            "assembly_s": self.assembly_s,
            "setup_s": self.setup_s,
            "solves": n,
            "solve_total_s": float(sum(self.solve_s)),
            "solve_mean_s": float(np.mean(self.solve_s)) if n else 0.0,
            "iterations": self.iterations,
        }


class CellSolver:
    """Solver for periodic zero-mean cell problems with coefficient ``a``.

    Parameters
    ----------
    V
        Scalar Lagrange space on the cell mesh.
    a
        UFL coefficient: scalar or d x d matrix.
    constraint
        Periodic constraint of ``V`` (:class:`femhomog.periodic.PeriodicConstraint`).
    solver_type
        ``"direct"`` (MUMPS Cholesky), ``"iterative"`` (CG + GAMG) or ``"auto"``.
    rtol, max_it
        Tolerance and iteration cap of the iterative solver.
    dx
        Integration measure (carries the quadrature degree); default ``ufl.dx``.
    """

    def __init__(
        self,
        V: dolfinx.fem.FunctionSpace,
        a: ufl.core.expr.Expr,
        constraint: LinearConstraint,
        solver_type: str = "auto",
        rtol: float = 1e-10,
        max_it: int = 2000,
        dx: ufl.Measure | None = None,
    ) -> None:
        self.V = V
        self.a = a
        self.constraint = constraint
        self.comm: MPI.Comm = V.mesh.comm
        self.dx = dx if dx is not None else ufl.dx(domain=V.mesh)
        self.stats = SolverStats()
        dim = V.mesh.topology.dim
        n_red = constraint.num_reduced_global
        if solver_type == "auto":
            solver_type = "direct" if n_red <= AUTO_DIRECT_MAX_DOFS[dim] else "iterative"
        if solver_type not in ("direct", "iterative"):
            raise SolverError(f"unknown cell solver type {solver_type!r}")
        self.solver_type = solver_type
        self.rtol = rtol

        t0 = time.perf_counter()
        u, w = ufl.TrialFunction(V), ufl.TestFunction(V)
        grad_u = ufl.grad(u)
        flux = a * grad_u if ufl.rank(a) == 0 else ufl.dot(a, grad_u)
        self.bilinear_form = dolfinx.fem.form(ufl.inner(flux, ufl.grad(w)) * self.dx)
        A = dolfinx.fem.petsc.assemble_matrix(self.bilinear_form)
        A.assemble()
        self.K = constraint.reduce_matrix(A)
        A.destroy()

        # Cell measure vector m_i = (1, phi_i)_Y, reduced: <chi> = m_r . x_r / |Y|.
        one_form = dolfinx.fem.form(ufl.TestFunction(V) * self.dx)
        self.mass_r = constraint.assemble_reduced_vector(one_form)
        self.volume = self.mass_r.sum()
        self.stats.assembly_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        self._pinned: int | None = None
        self.ksp = PETSc.KSP().create(self.comm)
        # A fixed prefix lets users tune the solver from the PETSc options database,
        # e.g. PETSC_OPTIONS="-femhomog_cell_pc_gamg_threshold 0.02 -femhomog_cell_ksp_monitor".
        self.ksp.setOptionsPrefix("femhomog_cell_")
        if solver_type == "direct":
            # Pin reduced dof 0 (owned by rank 0): K stays symmetric positive definite.
            self._owns_pinned = self.K.getOwnershipRange()[0] == 0 and self.K.getLocalSize()[0] > 0
            rows = [0] if self._owns_pinned else []
            self.K.zeroRowsColumns(np.asarray(rows, dtype=PETSc.IntType), diag=1.0)
            self._pinned = 0
            self.K.setOption(PETSc.Mat.Option.SPD, True)
            self.ksp.setOperators(self.K)
            self.ksp.setType("preonly")
            pc = self.ksp.getPC()
            pc.setType("cholesky")
            pc.setFactorSolverType("mumps")
        else:
            self.nullspace = PETSc.NullSpace().create(constant=True, comm=self.comm)
            self.K.setNullSpace(self.nullspace)
            self.K.setOption(PETSc.Mat.Option.SPD, True)
            self.ksp.setOperators(self.K)
            self.ksp.setType("cg")
            self.ksp.setTolerances(rtol=rtol, atol=0.0, max_it=max_it)
            self.ksp.setNormType(PETSc.KSP.NormType.UNPRECONDITIONED)
            pc = self.ksp.getPC()
            pc.setType("gamg")
        self.ksp.setFromOptions()
        try:
            self.ksp.setUp()
        except PETSc.Error as err:  # factorization failure (e.g. singular K)
            raise SolverError(f"cell solver setup failed ({solver_type}): PETSc error {err.ierr}")
        self.stats.setup_s = time.perf_counter() - t0
        self._x = self.K.createVecRight()
        self._work = dolfinx.fem.petsc.create_vector(V)
        log.debug(
            "cell operator: %d reduced dofs, solver %s, assembly %.3fs, setup %.3fs",
            n_red,
            solver_type,
            self.stats.assembly_s,
            self.stats.setup_s,
        )

    # ------------------------------------------------------------------ solves
    def solve_reduced(self, b_r: PETSc.Vec, x_r: PETSc.Vec | None = None) -> PETSc.Vec:
        """Solve K x = b for a reduced right-hand side; returns the zero-mean x (b is modified)."""
        if x_r is None:
            x_r = self.K.createVecRight()
        t0 = time.perf_counter()
        if self._pinned is not None:
            if self._owns_pinned:
                b_r.array[0] = 0.0
        else:
            self.nullspace.remove(b_r)
        self.ksp.solve(b_r, x_r)
        reason = self.ksp.getConvergedReason()
        if reason < 0:
            raise SolverError(
                f"cell solver diverged (KSP reason {reason}) after {self.ksp.getIterationNumber()}"
                f" iterations; residual {self.ksp.getResidualNorm():.3e}"
            )
        mean = self.mass_r.dot(x_r) / self.volume
        x_r.shift(-mean)
        self.stats.solve_s.append(time.perf_counter() - t0)
        self.stats.iterations.append(int(self.ksp.getIterationNumber()))
        return x_r

    def solve(self, L: dolfinx.fem.Form, out: dolfinx.fem.Function) -> dolfinx.fem.Function:
        """Solve the cell problem with right-hand side form ``L`` into ``out`` (zero mean)."""
        b_r = self.constraint.assemble_reduced_vector(L, work=self._work)
        self.solve_reduced(b_r, self._x)
        b_r.destroy()
        return self.constraint.expand(self._x, out)

    def destroy(self) -> None:
        self.ksp.destroy()
        self.K.destroy()
        self._x.destroy()
        self._work.destroy()
