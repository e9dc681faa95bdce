"""PETSc solver helpers shared by the LLG integrators (private)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from femhomog import (
    ConfigError,
    _fenicsx,  # noqa: F401  (must precede dolfinx / petsc4py)
)

# isort: split
from mpi4py import MPI
from petsc4py import PETSc

#: Linear solvers of the integrators: "direct" = MUMPS LU, "iterative" = GMRES + ILU/block Jacobi,
#: "reuse_lu" = GMRES preconditioned by the MUMPS LU of an earlier step (tangent plane only).
LINEAR_SOLVERS = ("direct", "iterative", "reuse_lu")


def _reason_names(cls: type) -> dict[int, str]:
    return {int(v): k for k, v in vars(cls).items() if k.isupper() and isinstance(v, int)}


_KSP_REASONS = _reason_names(PETSc.KSP.ConvergedReason)
_SNES_REASONS = _reason_names(PETSc.SNES.ConvergedReason)


def ksp_reason(reason: int) -> str:
    """Name of a KSP converged/diverged reason, e.g. ``DIVERGED_ITS``."""
    return _KSP_REASONS.get(int(reason), str(reason))


def snes_reason(reason: int) -> str:
    """Name of a SNES converged/diverged reason, e.g. ``DIVERGED_MAX_IT``."""
    return _SNES_REASONS.get(int(reason), str(reason))


def check_linear_solver(solver: str, allowed: tuple[str, ...] = LINEAR_SOLVERS) -> str:
    if solver not in allowed:
        raise ConfigError(
            f"linear solver must be one of {', '.join(allowed)}, got {solver!r}"
        )
    return solver


def configure_ksp(
    ksp: PETSc.KSP, solver: str, prefix: str, rtol: float = 1e-10, max_it: int = 500
) -> None:
    """Set up a KSP for the nonsymmetric LLG systems.

    ``direct``: MUMPS LU.  The reduced systems are nonsymmetric (skew nodal
    cross products plus a symmetric stiffness), indefinite in no useful sense,
    and expressed in node-wise rotated tangent bases, which defeats the
    near-null-space assumptions of algebraic multigrid; for the sizes of the
    LL paper's experiments and HMM micro problems a sparse LU is the robust
    choice, and its symbolic analysis is reused because the sparsity pattern
    never changes.  ``iterative``: restarted GMRES with PETSc's default ILU(0)
    (block Jacobi in parallel), for large 3D meshes with moderate time steps
    (the mass and cross-product blocks dominate, so ILU is effective).
    ``reuse_lu``: GMRES with a MUMPS LU preconditioner that the caller keeps
    across operator changes (``PCSetReusePreconditioner``) and refreshes when
    the iterations grow (the step matrices of consecutive steps differ by
    ``O(dt)``).  All can be tuned through the PETSc options database with ``prefix``.
    """
    ksp.setOptionsPrefix(prefix)
    if solver in ("direct", "reuse_lu"):
        ksp.setType("preonly" if solver == "direct" else "gmres")
        pc = ksp.getPC()
        pc.setType("lu")
        pc.setFactorSolverType("mumps")
        if solver == "reuse_lu":
            ksp.setGMRESRestart(30)
            ksp.setTolerances(rtol=rtol, atol=0.0, max_it=max_it)
    else:
        ksp.setType("gmres")
        ksp.setGMRESRestart(100)
        ksp.setTolerances(rtol=rtol, atol=0.0, max_it=max_it)
    ksp.setFromOptions()


def all_finite(comm: MPI.Comm, *arrays: np.ndarray) -> bool:
    """True on every rank iff all entries on all ranks are finite."""
    local = all(bool(np.all(np.isfinite(a))) for a in arrays)
    return bool(comm.allreduce(int(local), op=MPI.MIN))


@dataclass(frozen=True)
class StepInfo:
    """Outcome of one accepted time step.

    Attributes
    ----------
    t : float
        Time after the step.
    dt : float
        Step actually taken (smaller than requested after retries).
    retries : int
        Step halvings after solver failures.
    iterations : int
        Linear (tangent plane) or Newton (midpoint) iterations of the accepted step
        (for an adaptive midpoint step: of its big step and both half steps).
    """

    t: float
    dt: float
    retries: int = 0
    iterations: int = 0


class StepFailure(Exception):
    """A solver failure inside one attempt of a step (turned into SolverError or a retry)."""
