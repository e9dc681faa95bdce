"""The linear solver of the implicit spin and charge steps (GMRES + ILU/block Jacobi, or MUMPS).

Shared by :class:`femhomog.spin.transport.SpinTransport` and
:class:`femhomog.spin.charge.ChargeTransport`: one KSP per transport, the operator and
the preconditioner's matrix given per solve (PETSc sets the preconditioner up again only
when the latter changed), iterations counted.
"""

from __future__ import annotations

from femhomog import (
    ConfigError,
    SolverError,
    _fenicsx,  # noqa: F401  (must precede petsc4py)
)

# isort: split
from mpi4py import MPI
from petsc4py import PETSc

__all__ = ["ImplicitLinear"]


class ImplicitLinear:
    """The KSP of an implicit linear step ``(M/dt_eff + L) x = rhs``.

    Parameters
    ----------
    comm
        Communicator of the problem.
    solver
        ``"iterative"``: GMRES (modified Gram-Schmidt) with ILU (1 rank) or block Jacobi;
        ``"direct"``: MUMPS.
    prefix
        PETSc options prefix.
    rtol
        Relative tolerance of the iterative solver.
    warm_start
        The solution vector's values are the initial guess (iterative solver).
    """

    def __init__(self, comm: MPI.Comm, solver: str, prefix: str, rtol: float, *,
                 warm_start: bool = False) -> None:
        self.ksp = PETSc.KSP().create(comm)
        self.ksp.setOptionsPrefix(prefix)
        self.direct = solver == "direct"
        if solver == "direct":
            self.ksp.setType("preonly")
            self.ksp.getPC().setType("lu")
            self.ksp.getPC().setFactorSolverType("mumps")
        elif solver == "iterative":
            self.ksp.setType("gmres")
            pc = self.ksp.getPC()
            pc.setType("bjacobi" if comm.size > 1 else "ilu")
            self.ksp.setTolerances(rtol=rtol, atol=0.0, max_it=2000)
            # the solution vector holds the previous step's s: the initial guess
            self.ksp.setInitialGuessNonzero(bool(warm_start))
        else:
            raise ConfigError(f"spin solver must be 'direct' or 'iterative', got {solver!r}")
        # GMRES with modified Gram-Schmidt: with the classical one (VecMDot) the last bits
        # of s differed between identical runs (2 in 10 runs of a 1D job with a reused
        # preconditioner; the bitwise restart test), with MGS 10 in 10 were identical
        options = PETSc.Options()
        mgs = f"{prefix}ksp_gmres_modifiedgramschmidt"
        if not self.direct:
            options.setValue(mgs, "")
        self.ksp.setFromOptions()
        if not self.direct:
            options.delValue(mgs)
        self.iterations = 0

    def solve(self, A: PETSc.Mat, b: PETSc.Vec, x: PETSc.Vec, what: str,
              P: PETSc.Mat | None = None) -> None:
        """Solve ``A x = b``; ``P``: the matrix the preconditioner is built from (default
        ``A``).  PETSc sets the preconditioner up again only when ``P`` changed."""
        self.ksp.setOperators(A, A if P is None else P)
        self.ksp.solve(b, x)
        reason = self.ksp.getConvergedReason()
        if reason < 0:
            raise SolverError(f"{what}: linear solver failed (KSP reason {reason})")
        self.iterations += self.ksp.getIterationNumber()

    def destroy(self) -> None:
        self.ksp.destroy()
