"""Implicit midpoint rule for (3.1) with SNES: second order, nodal |m| preserved.

Semi-discretization.  With the lumped mass ``M`` (vertex quadrature) the
discrete effective field is the nodal vector

    H_h(m) = M^{-1} ( -K m + F(m, t) ),

``K`` the (periodic-reduced) matrix of the implicit bilinear forms and ``F`` the
assembled explicit field forms of :mod:`.terms`.  The semi-discrete LL
equation (3.1a) is then a system of ODEs at the (master) nodes ``i``:

    dm_i/dt = -m_i x H_i - alpha m_i x (m_i x H_i).

Implicit midpoint.  With ``mb = (m^{n+1} + m^n)/2`` and ``H = H_h(mb, t_n + k/2)``

    m^{n+1}_i - m^n_i + k [ mb_i x H_i + alpha mb_i x (mb_i x H_i) ] = 0.        (IMR)

Dotting (IMR) with ``mb_i`` gives ``|m^{n+1}_i|^2 = |m^n_i|^2`` exactly: the
nodal length is preserved by the scheme itself, up to the Newton tolerance
(the result is renormalized afterwards to remove that residue).  Dotting with
``M_ii H_i`` and summing gives ``E(m^{n+1}) - E(m^n) = -k alpha sum_i M_ii
|mb_i x H_i|^2`` for quadratic energies: exact conservation for
``alpha = 0`` and monotone decay for ``alpha > 0``.  The rule is symmetric,
hence second order.

Newton.  The Jacobian with respect to ``m^{n+1}`` is assembled exactly for the
implicit (linear) terms,

    J = I + k/2 [ D - N K ],   N = M^{-1} ([mb]_x + alpha [mb]_x [mb]_x),
    D = -[H]_x - alpha ([mb x H]_x + [mb]_x [H]_x),

``[a]_x`` the cross-product matrix; the dependence of explicit terms on ``m``
is left out (quasi-Newton for such terms).

Step-size control.  :meth:`MidpointIntegrator.adaptive_step` uses step
doubling: one step of ``k`` against two of ``k/2``; for a second-order method
the local error of the two half steps is ``|m_{k/2,k/2} - m_k| / 3``; the step is
accepted if its nodal maximum is below ``tol`` and the next step is
``k (0.9 tol/err)^(1/3)`` (limited to a factor in [0.2, 2]).  Newton starts the
big step from ``m^n`` and the half steps from the normalized ``(m^n + m_k)/2`` and
``m_k``, which are ``O(k^2)`` and ``O(k^3)`` away from their solutions.  When the
absolute (nodal) Newton tolerance decides the stop, as in the LL demo, that saves
17-30 % of the Newton iterations against starting each solve from its initial
value (``benchmarks/midpoint_adaptive.py``); under the relative tolerance alone the
counts are about equal and the half steps are solved more accurately.
Extrapolating the big step's guess from the previous step saved nothing measurable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from femhomog import (
    ConfigError,
    SolverError,
    _fenicsx,  # noqa: F401  (must precede dolfinx / petsc4py)
)

# isort: split
from mpi4py import MPI
from petsc4py import PETSc

from femhomog.io.logging import get_logger
from femhomog.micromag._solvers import (
    StepFailure,
    StepInfo,
    all_finite,
    check_linear_solver,
    configure_ksp,
    snes_reason,
)
from femhomog.micromag.effective_field import NodalEffectiveField
from femhomog.micromag.problem import LLGProblem, cross_matrices, nodal_norms, normalize_nodes

__all__ = ["AdaptiveStepInfo", "MidpointIntegrator"]

log = get_logger(__name__)

# Step-doubling controller: safety factor and limits of the step-size ratio.
_SAFETY = 0.9
_MAX_GROWTH = 2.0
_MIN_SHRINK = 0.2


@dataclass(frozen=True)
class AdaptiveStepInfo(StepInfo):
    """An accepted adaptive step.

    Attributes
    ----------
    error : float
        Estimated local error (nodal maximum) of the accepted step.
    dt_next : float
        Proposed size of the next step.
    rejected : int
        Rejected attempts before acceptance.
    """

    error: float = 0.0
    dt_next: float = 0.0
    rejected: int = 0


class MidpointIntegrator:
    """Implicit midpoint rule (IMR) for an :class:`LLGProblem`, Newton via PETSc SNES.

    Parameters
    ----------
    problem
        The LL problem; its ``m`` and ``t`` are advanced in place.
    solver
        Linear solver inside Newton: ``"direct"`` (MUMPS LU, default) or
        ``"iterative"`` (GMRES + ILU).
    snes_rtol, snes_atol, snes_max_it
        Newton tolerances (residual norms; ``atol`` is scaled by the square
        root of the number of nodes so that it is a nodal tolerance).
    max_retries
        :meth:`step` halves the step after a Newton failure up to this many times.
    options_prefix
        PETSc options prefix of the SNES (e.g. ``-femhomog_llg_mid_snes_monitor``).
    half_step_guesses
        Start the Newton iterations of :meth:`adaptive_step`'s half steps from the
        big step's solution (default); ``False`` starts each from its initial value
        (the baseline of ``benchmarks/midpoint_adaptive.py``).

    Raises
    ------
    ConfigError
        Invalid parameters.
    """

    def __init__(
        self,
        problem: LLGProblem,
        solver: str = "direct",
        snes_rtol: float = 1e-10,
        snes_atol: float = 1e-13,
        snes_max_it: int = 25,
        max_retries: int = 0,
        options_prefix: str = "femhomog_llg_mid_",
        half_step_guesses: bool = True,
    ) -> None:
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigError(f"max_retries must be an integer >= 0, got {max_retries!r}")
        self.problem = problem
        self.solver = check_linear_solver(solver, ("direct", "iterative"))
        self.max_retries = max_retries
        self.prefix = options_prefix
        comm = problem.comm
        self.field = NodalEffectiveField(problem)
        R = self.R = self.field.R
        self._mass_r = self.field.mass_r
        self._inv_mass = self.field.inv_mass
        self.K_r = self.field.K_r

        n_loc3 = self._mass_r.getLocalSize()
        self._n_nodes_global = self._mass_r.getSize() // 3
        rstart = self._mass_r.getOwnershipRange()[0]
        rows = rstart + np.arange(n_loc3, dtype=PETSc.IntType)
        self._blk_rows = rows[:, None]
        self._blk_cols = (rstart + 3 * (np.arange(n_loc3) // 3)[:, None] + np.arange(3)).astype(
            PETSc.IntType
        )

        def block_matrix() -> PETSc.Mat:
            Mb = PETSc.Mat().createAIJ(
                size=((n_loc3, 3 * self._n_nodes_global), (n_loc3, 3 * self._n_nodes_global)),
                nnz=(3, 0),
                comm=comm,
            )
            Mb.setUp()
            self._set_blocks(Mb, np.tile(np.eye(3), (n_loc3 // 3, 1, 1)))
            return Mb

        self._D = block_matrix()  # I + k/2 D
        self._N = block_matrix()  # M^{-1}([mb]x + alpha [mb]x^2)
        if self.K_r is not None:
            self._NK = self._N.matMult(self.K_r)
            self._J = self._NK.copy()
            # J's pattern: the union of N K and the diagonal blocks
            self._J.axpy(1.0, self._D, structure=PETSc.Mat.Structure.DIFFERENT_NONZERO_PATTERN)
            # Usually the diagonal blocks are in N K's pattern already (K has a
            # diagonal entry per node): then J is refilled by a copy of N K and
            # nodal block additions instead of two axpy's with pattern lookups
            # (1.4-2.3x faster; benchmarks/midpoint_jacobian.py).
            same = self._J.getInfo()["nz_used"] == self._NK.getInfo()["nz_used"]
            self._same_pattern = bool(comm.allreduce(int(same), op=MPI.MIN))
            if self._same_pattern:
                self._J.destroy()
                self._J = self._NK.copy()
        else:
            self._NK = None
            self._same_pattern = False
            self._J = self._D.copy()

        self._x = R.create_reduced_vector()
        self._f = R.create_reduced_vector()
        self._m_old = R.create_reduced_vector()
        self._t_mid = 0.0
        self._dt = 0.0

        self.snes = PETSc.SNES().create(comm)
        self.snes.setOptionsPrefix(options_prefix)
        self.snes.setType("newtonls")
        self.snes.getLineSearch().setType("basic")
        atol = snes_atol * math.sqrt(max(self._n_nodes_global, 1))
        self.snes.setTolerances(rtol=snes_rtol, atol=atol, stol=0.0, max_it=snes_max_it)
        self.snes.setFunction(self._residual, self._f)
        self.snes.setJacobian(self._jacobian, self._J)
        configure_ksp(self.snes.getKSP(), self.solver, options_prefix)
        self.snes.setFromOptions()
        self.steps = 0
        self.half_step_guesses = bool(half_step_guesses)
        #: Newton and linear iterations of all solves so far (rejected attempts included)
        self.newton_iterations = 0
        self.linear_iterations = 0

    # ------------------------------------------------------------------ nodal algebra
    def _set_blocks(self, Mb: PETSc.Mat, blocks: np.ndarray) -> None:
        vals = blocks.reshape(-1, 3)  # rows 3i + c of node i: block row c
        Mb.setValuesRCV(self._blk_rows, self._blk_cols, vals, addv=PETSc.InsertMode.INSERT)
        Mb.assemble()

    def _field(self, mb: np.ndarray) -> np.ndarray:
        """Nodal ``c H_h(mb)`` at the midpoint time (reduced layout, shape ``(n, 3)``;
        ``c`` the problem's precession factor)."""
        H = self.field.evaluate(mb, self._t_mid)
        c = self.problem.precession_factor
        return H if c == 1.0 else c * H

    def _midpoint(self, x: PETSc.Vec) -> np.ndarray:
        # x is locked read-only inside SNES callbacks
        return 0.5 * (x.array_r.reshape(-1, 3) + self._m_old.array_r.reshape(-1, 3))

    def _residual(self, snes: PETSc.SNES, x: PETSc.Vec, f: PETSc.Vec) -> None:
        mb = self._midpoint(x)
        H = self._field(mb)
        mxH = np.cross(mb, H)
        rhs = mxH + self.problem.alpha * np.cross(mb, mxH)
        f.array[:] = x.array_r - self._m_old.array_r + self._dt * rhs.reshape(-1)

    def _jacobian(self, snes: PETSc.SNES, x: PETSc.Vec, J: PETSc.Mat, P: PETSc.Mat) -> None:
        alpha, k = self.problem.alpha, self._dt
        mb = self._midpoint(x)
        H = self._field(mb)
        cm, cH, cmH = cross_matrices(mb), cross_matrices(H), cross_matrices(np.cross(mb, H))
        blocks = np.eye(3)[None] + 0.5 * k * (-cH - alpha * (cmH + cm @ cH))  # I + k/2 D
        if self.K_r is not None:
            N = ((cm + alpha * cm @ cm) * self._inv_mass[:, 0][:, None, None]
                 * self.problem.precession_factor)
            self._set_blocks(self._N, N)
            self._N.matMult(self.K_r, result=self._NK)
            if self._same_pattern:
                self._NK.copy(J, structure=PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
                J.scale(-0.5 * k)
                J.setValuesRCV(
                    self._blk_rows,
                    self._blk_cols,
                    blocks.reshape(-1, 3),
                    addv=PETSc.InsertMode.ADD,
                )
                J.assemble()
                return
            self._set_blocks(self._D, blocks)
            J.zeroEntries()
            J.axpy(-0.5 * k, self._NK, structure=PETSc.Mat.Structure.SUBSET_NONZERO_PATTERN)
        else:
            self._set_blocks(self._D, blocks)
            J.zeroEntries()
        J.axpy(1.0, self._D, structure=PETSc.Mat.Structure.SUBSET_NONZERO_PATTERN)
        J.assemble()

    # ------------------------------------------------------------------ one step
    def _solve(
        self,
        m_old: PETSc.Vec,
        t: float,
        dt: float,
        out: PETSc.Vec,
        guess: PETSc.Vec | None = None,
    ) -> int:
        """``out`` = IMR step of size ``dt`` from ``m_old`` at time ``t`` (normalized).

        Newton starts from ``guess`` if given, else from ``m_old``.
        """
        m_old.copy(self._m_old)
        self._t_mid = t + 0.5 * dt
        self._dt = dt
        (m_old if guess is None else guess).copy(self._x)
        try:
            self.snes.solve(None, self._x)
        except PETSc.Error as err:
            raise StepFailure(f"PETSc error {err.ierr} in the Newton solver") from None
        reason = self.snes.getConvergedReason()
        its = int(self.snes.getIterationNumber())
        self.newton_iterations += its
        self.linear_iterations += int(self.snes.getLinearSolveIterations())
        if reason < 0:
            raise StepFailure(
                f"Newton solver {snes_reason(reason)} after {its} iterations "
                f"(residual {self.snes.getFunctionNorm():.3e})"
            )
        if not all_finite(self.problem.comm, self._x.array):
            raise StepFailure("Newton solver returned non-finite values")
        self._x.copy(out)
        normalize_nodes(out.array.reshape(-1, 3))
        return its

    def _current(self) -> PETSc.Vec:
        return self.R.restrict(self.problem.m)

    def _commit(self, x: PETSc.Vec, dt: float) -> None:
        self.R.expand(x, self.problem.m)
        self.problem.t += dt
        self.steps += 1

    def step(self, dt: float) -> StepInfo:
        """Advance ``problem.m`` by one midpoint step (halved on Newton failure).

        Raises
        ------
        ConfigError
            Non-positive or non-finite ``dt``.
        SolverError
            Newton failed ``max_retries + 1`` times.
        """
        dt = dt0 = _check_dt(dt)
        m0 = self._current()
        out = m0.duplicate()
        try:
            for attempt in range(self.max_retries + 1):
                try:
                    its = self._solve(m0, self.problem.t, dt, out)
                except StepFailure as failure:
                    if attempt == self.max_retries:
                        msg = (
                            f"midpoint step at t = {self.problem.t:.6g} with dt = {dt0:.3g} "
                            f"failed: {failure}"
                        )
                        if self.max_retries:
                            msg += (
                                f" (after halving the step {self.max_retries} times, to {dt:.3g})"
                            )
                        raise SolverError(
                            f"{msg}; reduce the time step or tune the solver (PETSc options "
                            f"prefix -{self.prefix})"
                        ) from None
                    log.warning(
                        "midpoint step failed (%s); retrying with dt = %.3g", failure, dt / 2
                    )
                    dt /= 2
                    continue
                self._commit(out, dt)
                return StepInfo(t=self.problem.t, dt=dt, retries=attempt, iterations=its)
        finally:
            m0.destroy()
            out.destroy()
        raise AssertionError("unreachable")  # pragma: no cover

    def adaptive_step(self, dt: float, tol: float, dt_min: float | None = None) -> AdaptiveStepInfo:
        """One accepted step with step-doubling error control.

        Parameters
        ----------
        dt
            Trial step size.
        tol
            Tolerance for the local error (maximum over the nodes of the
            difference of unit vectors).
        dt_min
            Give up below this step size (default ``1e-12 * dt``).

        Returns
        -------
        AdaptiveStepInfo
            The accepted step, its error estimate and the proposed next step.

        Raises
        ------
        ConfigError
            Invalid ``dt`` or ``tol``.
        SolverError
            No acceptable step above ``dt_min``.
        """
        dt = _check_dt(dt)
        if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol > 0):
            raise ConfigError(f"error tolerance must be a positive number, got {tol!r}")
        dt_min = 1e-12 * dt if dt_min is None else float(dt_min)
        t = self.problem.t
        m0 = self._current()
        big, half, fine = m0.duplicate(), m0.duplicate(), m0.duplicate()
        rejected = 0
        try:
            while True:
                if dt < dt_min:
                    raise SolverError(
                        f"adaptive midpoint step at t = {t:.6g}: step size fell below "
                        f"{dt_min:.3g} without meeting the tolerance {tol:.3g}"
                    )
                try:
                    its = self._solve(m0, t, dt, big)
                    if self.half_step_guesses:
                        # guesses O(dt^2) and O(dt^3) away from the half-step solutions
                        half.array[:] = m0.array_r + big.array_r
                        normalize_nodes(half.array.reshape(-1, 3))
                        its += self._solve(m0, t, 0.5 * dt, half, guess=half)
                        its += self._solve(half, t + 0.5 * dt, 0.5 * dt, fine, guess=big)
                    else:
                        its += self._solve(m0, t, 0.5 * dt, half)
                        its += self._solve(half, t + 0.5 * dt, 0.5 * dt, fine)
                except StepFailure as failure:
                    log.debug("adaptive midpoint: %s; halving dt = %.3g", failure, dt)
                    rejected += 1
                    dt *= 0.5
                    continue
                diff = fine.array.reshape(-1, 3) - big.array.reshape(-1, 3)
                local = float(np.max(nodal_norms(diff), initial=0.0))
                err = self.problem.comm.allreduce(local, op=MPI.MAX) / 3.0
                factor = _SAFETY * (tol / err) ** (1.0 / 3.0) if err > 0 else _MAX_GROWTH
                if err <= tol:
                    self._commit(fine, dt)
                    return AdaptiveStepInfo(
                        t=self.problem.t,
                        dt=dt,
                        iterations=its,
                        error=err,
                        dt_next=dt * min(_MAX_GROWTH, max(_MIN_SHRINK, factor)),
                        rejected=rejected,
                    )
                rejected += 1
                dt *= min(_SAFETY, max(_MIN_SHRINK, factor))
        finally:
            for v in (m0, big, half, fine):
                v.destroy()

    def describe(self) -> dict[str, Any]:
        """Name and parameters (run.json; ``max_retries`` applies to :meth:`step`)."""
        return {"name": "midpoint", "linear_solver": self.solver, "max_retries": self.max_retries}

    def destroy(self) -> None:
        self.snes.destroy()
        for obj in (self._D, self._N, self._J, self._x, self._f, self._m_old):
            obj.destroy()
        if self._NK is not None:
            self._NK.destroy()
        self.field.destroy()


def _check_dt(dt: float) -> float:
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise ConfigError(f"time step must be a positive number, got {dt!r}")
    return float(dt)
