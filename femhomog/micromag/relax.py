"""Relaxation to equilibrium: damped dynamics until the torque vanishes.

An equilibrium of (3.1) (and of the LLG (1.7) of the Boltzmann-LLG paper)
is a state with ``m x H_eff = 0`` at every point.  :func:`relax` runs the
damped dynamics (typically with a large damping, e.g. ``alpha = 1``, which is
not the physical one: only the end state matters) and stops when the discrete
torque ``max_i |m_i x H_h(m)_i|`` (:class:`NodalEffectiveField`, in units of
``Ms``) falls below a tolerance.  The energy is monitored on the way: with
damping, no time-dependent input and an energy-stable integrator it must not
increase, which is reported (not asserted) since explicit terms can break it by
a round-off amount.

This is the "relaxation with a stopping criterion on the torque" of muMAG
standard problems 3 and 4 (the S-state of problem 4 is relaxed from
saturation along [1, 1, 1]).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from femhomog import ConfigError, SolverError
from femhomog.io.logging import get_logger
from femhomog.micromag.effective_field import NodalEffectiveField
from femhomog.micromag.problem import LLGProblem

__all__ = ["RelaxResult", "relax"]

log = get_logger(__name__)


class _Stepper(Protocol):
    problem: LLGProblem

    def advance(self, dt: float) -> Any: ...


@dataclass
class RelaxResult:
    """Outcome of :func:`relax`.

    Attributes
    ----------
    converged : bool
        The torque fell below the tolerance.
    steps : int
        Accepted steps.
    t : float
        Relaxation time (nondimensional, of the relaxation dynamics).
    torque : float
        Final ``max_i |m_i x H_i|``.
    energy : float
        Final total energy.
    energy_increases : int
        Checks at which the total energy had grown (by more than ``1e-12 sum_i |E_i|``).
    history : list of tuple
        ``(step, t, E_total, torque)`` at every check.
    wall : float
        Wall time in seconds.
    """

    converged: bool
    steps: int
    t: float
    torque: float
    energy: float
    energy_increases: int = 0
    history: list[tuple[int, float, float, float]] = field(default_factory=list)
    wall: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in ("converged", "steps", "t", "torque", "energy",
                                             "energy_increases", "wall")}
        return out


def relax(
    stepper: _Stepper,
    *,
    dt: float,
    torque_tol: float,
    max_steps: int = 100_000,
    check_every: int = 1,
    dt_max: float | None = None,
    callback: Callable[[int, float, dict[str, float], float], None] | None = None,
) -> RelaxResult:
    """Advance ``stepper.problem`` until ``max |m x H_h| < torque_tol``.

    Parameters
    ----------
    stepper
        An object with ``problem`` and ``advance(dt)`` returning a step result
        with attributes ``dt`` and ``dt_next`` (``dt_next`` None for fixed steps),
        e.g. :class:`femhomog.timestepping.FixedStepper` or ``AdaptiveStepper``.
    dt
        (Initial) step size.
    torque_tol
        Stop when the maximal nodal torque (units of Ms) is below this.
    max_steps
        Give up after this many steps (the result then has ``converged = False``).
    check_every
        Evaluate torque and energy every N steps.
    dt_max
        Upper bound of adaptive steps.  The implicit midpoint rule is
        A-stable but not L-stable: with steps far beyond the relaxation time
        its amplification factor tends to -1 and the torque stalls, while
        the step-doubling error estimate (absolute) keeps growing the step.
    callback
        ``callback(step, t, energies, torque)`` at every check (e.g. a table writer).

    Returns
    -------
    RelaxResult

    Raises
    ------
    ConfigError
        Invalid parameters.
    SolverError
        Non-finite torque (the dynamics blew up).
    """
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise ConfigError(f"relaxation: dt must be a positive number, got {dt!r}")
    if not (isinstance(torque_tol, (int, float)) and math.isfinite(torque_tol)
            and torque_tol > 0):
        raise ConfigError(f"relaxation: torque_tol must be a positive number, got {torque_tol!r}")
    if dt_max is not None and not (isinstance(dt_max, (int, float)) and dt_max >= dt):
        raise ConfigError(f"relaxation: dt_max must be a number >= dt, got {dt_max!r}")
    for name, value in (("max_steps", max_steps), ("check_every", check_every)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"relaxation: {name} must be an integer >= 1, got {value!r}")
    prob = stepper.problem
    field_h = NodalEffectiveField(prob)
    wall0 = time.perf_counter()
    t0 = prob.t
    result = RelaxResult(converged=False, steps=0, t=0.0, torque=math.inf, energy=math.nan)
    e_prev = math.inf

    def check(step: int) -> bool:
        nonlocal e_prev
        torque = field_h.max_torque()
        if not math.isfinite(torque):
            raise SolverError(f"relaxation: non-finite torque after {step} steps")
        energies = prob.energies()
        e = energies["total"]
        # round-off of the total is relative to its terms (which may cancel or vanish at
        # convergence, e.g. exchange alone relaxing to a uniform state), not to the total
        scale = sum(abs(v) for k, v in energies.items() if k != "total")
        if e > e_prev + 1e-12 * scale:
            result.energy_increases += 1
        e_prev = e
        result.history.append((step, prob.t - t0, e, torque))
        result.torque, result.energy, result.steps, result.t = torque, e, step, prob.t - t0
        if callback is not None:
            callback(step, prob.t - t0, energies, torque)
        return torque < torque_tol

    try:
        if check(0):
            result.converged = True
            return result
        step = 0
        while step < max_steps:
            res = stepper.advance(dt)
            step += 1
            if getattr(res, "dt_next", None) is not None:
                dt = res.dt_next if dt_max is None else min(res.dt_next, dt_max)
            if (step % check_every == 0 or step == max_steps) and check(step):
                result.converged = True
                break
        if not result.converged:
            log.warning("relaxation: torque %.3e above %.3e after %d steps",
                        result.torque, torque_tol, step)
        return result
    finally:
        result.wall = time.perf_counter() - wall0
        field_h.destroy()
