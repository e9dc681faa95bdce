"""The protocol of a time-dependent problem, its steppers, and the counters of a loop.

A *problem* is anything with a time ``t`` (nondimensional, settable: the loop
snaps it onto output times) and an MPI communicator ``comm``.  An *integrator*
advances its ``problem`` in place:

``step(dt) -> info``
    one step of size ``info.dt <= dt`` (smaller only after solver failures),
    ``info`` with attributes ``dt`` and optionally ``retries``, ``iterations``;
``adaptive_step(dt, tol) -> info`` (optional)
    one step accepted by an error control at tolerance ``tol``, ``info`` with
    ``dt``, ``dt_next`` (the proposed next step) and optionally ``rejected``,
    ``iterations``;
``describe() -> dict`` (optional)
    JSON-ready parameters for run.json (``name`` first);
``history() -> dict`` and ``set_history(dict)`` (optional)
    JSON-ready scalars a multistep integrator carries from step to step (e.g. the
    previous step size of BDF2); saved with the loop state in checkpoints (its
    functions, e.g. the previous state, belong to the checkpointed state).

:class:`FixedStepper` and :class:`AdaptiveStepper` turn an integrator into the
one call the loop makes, ``advance(dt) -> StepResult``.  Nothing here knows the
physics: LLG, spin diffusion and waves plug in through these few attributes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "AdaptiveStepper",
    "FixedStepper",
    "Integrator",
    "LoopStats",
    "Problem",
    "StepResult",
    "Stepper",
    "make_stepper",
]


@runtime_checkable
class Problem(Protocol):
    """State of a time-dependent problem: the time ``t`` and the communicator ``comm``."""

    t: float
    comm: Any


@runtime_checkable
class Integrator(Protocol):
    """Advances ``problem`` in place by one step (see the module docstring)."""

    problem: Any

    def step(self, dt: float) -> Any: ...


@dataclass(frozen=True)
class StepResult:
    """One accepted step, whatever the integrator.

    Attributes
    ----------
    dt : float
        Step taken (smaller than requested after retries or rejections).
    retries : int
        Step halvings after solver failures (fixed steps).
    rejected : int
        Attempts rejected by the error control (adaptive steps).
    iterations : int
        Linear or Newton iterations of the accepted step.
    dt_next : float or None
        Step size proposed by the error control (adaptive steps).
    """

    dt: float
    retries: int = 0
    rejected: int = 0
    iterations: int = 0
    dt_next: float | None = None


class Stepper(Protocol):
    """What the loop drives: ``problem``, ``adaptive`` and ``advance(dt)``."""

    problem: Any
    adaptive: bool

    def advance(self, dt: float) -> StepResult: ...

    def describe(self) -> dict[str, Any]: ...


def _history(integrator: Any) -> dict[str, Any] | None:
    history = getattr(integrator, "history", None)
    return dict(history()) if callable(history) else None


def _set_history(integrator: Any, state: dict[str, Any] | None) -> None:
    set_history = getattr(integrator, "set_history", None)
    if callable(set_history) and state is not None:
        set_history(state)


def _describe(integrator: Any) -> dict[str, Any]:
    describe = getattr(integrator, "describe", None)
    info = dict(describe()) if callable(describe) else {}
    return {"name": info.pop("name", type(integrator).__name__), **info}


class FixedStepper:
    """Steps of the requested size with ``integrator.step`` (the integrator may shorten
    them after solver failures)."""

    adaptive = False

    def __init__(self, integrator: Any) -> None:
        self.integrator = integrator
        self.problem = integrator.problem

    def advance(self, dt: float) -> StepResult:
        info = self.integrator.step(dt)
        return StepResult(dt=info.dt, retries=getattr(info, "retries", 0),
                          iterations=getattr(info, "iterations", 0))

    def history(self) -> dict[str, Any] | None:
        """The integrator's :meth:`history` (None if it has none)."""
        return _history(self.integrator)

    def set_history(self, state: dict[str, Any] | None) -> None:
        _set_history(self.integrator, state)

    def describe(self) -> dict[str, Any]:
        info = _describe(self.integrator)
        return {"name": info.pop("name"), "adaptive": False, **info}


class AdaptiveStepper:
    """Error-controlled steps of ``integrator.adaptive_step(dt, tol)``."""

    adaptive = True

    def __init__(self, integrator: Any, tol: float) -> None:
        if not callable(getattr(integrator, "adaptive_step", None)):
            raise TypeError(f"{type(integrator).__name__} has no adaptive_step(dt, tol)")
        self.integrator = integrator
        self.problem = integrator.problem
        self.tol = float(tol)

    def advance(self, dt: float) -> StepResult:
        info = self.integrator.adaptive_step(dt, self.tol)
        return StepResult(dt=info.dt, rejected=getattr(info, "rejected", 0),
                          iterations=getattr(info, "iterations", 0), dt_next=info.dt_next)

    def history(self) -> dict[str, Any] | None:
        """The integrator's :meth:`history` (None if it has none)."""
        return _history(self.integrator)

    def set_history(self, state: dict[str, Any] | None) -> None:
        _set_history(self.integrator, state)

    def describe(self) -> dict[str, Any]:
        info = _describe(self.integrator)
        return {"name": info.pop("name"), "adaptive": True, "tol": self.tol, **info}


def make_stepper(integrator: Any, tol: float | None = None) -> Any:
    """A stepper as is; an integrator wrapped in :class:`FixedStepper` (``tol`` None) or
    :class:`AdaptiveStepper`."""
    if callable(getattr(integrator, "advance", None)):
        if tol is not None:
            raise ValueError("tol is for integrators; this is already a stepper")
        return integrator
    return FixedStepper(integrator) if tol is None else AdaptiveStepper(integrator, tol)


@dataclass
class LoopStats:
    """Counters of a time loop (JSON-serialisable with :meth:`as_dict`)."""

    steps: int = 0
    rejected_steps: int = 0
    retries: int = 0
    iterations: int = 0
    dt_min: float = math.inf
    dt_max: float = 0.0
    outputs: int = 0
    t: float = 0.0  # time reached (the problem's units)

    def add(self, res: StepResult) -> None:
        self.steps += 1
        self.rejected_steps += res.rejected
        self.retries += res.retries
        self.iterations += res.iterations
        self.dt_min = min(self.dt_min, res.dt)
        self.dt_max = max(self.dt_max, res.dt)

    def as_dict(self, time_scale: float = 1.0) -> dict[str, Any]:
        """Counters with times in output units (``time_scale * t``)."""
        out = asdict(self)
        out["t"] = self.t * time_scale
        out["dt_min"] = self.dt_min * time_scale if self.steps else None
        out["dt_max"] = self.dt_max * time_scale if self.steps else None
        return out

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LoopStats:
        """Inverse of ``dataclasses.asdict`` (times unscaled, as in checkpoints)."""
        return cls(**{k: state[k] for k in cls.__dataclass_fields__})
