"""Sections of how an LLG run proceeds: ``[time]``, ``[relax]``, ``[solver]``, ``[output]``."""

from __future__ import annotations

from typing import Any

from femhomog import ConfigError
from femhomog.io.schema import (
    REQUIRED,
    Validator,
    boolean,
    choice,
    integer,
    option,
    real,
    section,
)
from femhomog.micromag.config.values import (
    CHECKPOINT_WALL_DEFAULT,
    PROGRESS_DEFAULT,
    convert_checkpoint_every,
    convert_checkpoint_wall,
    convert_progress,
)

__all__ = [
    "INTEGRATORS",
    "LlgOutputSection",
    "LlgSolverSection",
    "RelaxSection",
    "TimeSection",
]

INTEGRATORS = ("tangent_plane", "tangent_plane_bdf2", "midpoint")


def _check_time(values: dict[str, Any]) -> dict[str, Any]:
    if values["adaptive"] and values["integrator"] != "midpoint":
        raise ConfigError("time.adaptive = true needs time.integrator = 'midpoint' "
                          "(step-doubling error control of the second-order scheme)")
    # theta belongs to the first-order scheme only: silently ignoring it would run
    # another scheme than the one asked for
    if values["theta"] is None:
        if values["integrator"] == "tangent_plane":
            values["theta"] = 1.0
    elif values["integrator"] != "tangent_plane":
        raise ConfigError(f"time.theta is only used with time.integrator = 'tangent_plane' "
                          f"(time.integrator is '{values['integrator']}')")
    return values


def _check_llg_output(values: dict[str, Any]) -> dict[str, Any]:
    if values["every"] is not None and values["dt_out"] is not None:
        raise ConfigError("give either output.every (steps) or output.dt_out (time), not both")
    if values["every"] is None and values["dt_out"] is None:
        values["every"] = 1
    return values


def _check_relax(values: dict[str, Any]) -> dict[str, Any]:
    if values["enabled"] and values["dt"] is None:
        raise ConfigError("relax.dt is required with relax.enabled = true (time step of the "
                          "relaxation, run's time unit)")
    if values["adaptive"] and values["integrator"] != "midpoint":
        raise ConfigError("relax.adaptive = true needs relax.integrator = 'midpoint'")
    if values["dt_max"] is not None and values["dt"] is not None \
            and values["dt_max"] < values["dt"]:
        raise ConfigError(f"relax.dt_max = {values['dt_max']:g} must be >= relax.dt = "
                          f"{values['dt']:g}")
    return values


@section(
    "time",
    help="Time integration from t = 0 to t_end (run's time unit: seconds for SI).",
    check=_check_time,
)
class TimeSection:
    """``[time]``: integrator and step control (run's time unit)."""

    integrator: str = option(
        choice(*INTEGRATORS), "tangent_plane",
        "tangent_plane (Alouges' theta-scheme: linear, first order, energy-decreasing "
        "for theta >= 1/2) | tangent_plane_bdf2 (BDF2 tangent plane with extrapolated "
        "explicit fields: linear, second order) | midpoint (implicit midpoint with "
        "Newton: second order).",
    )
    dt: float = option(
        real(0), REQUIRED, "Time step (the first trial step if adaptive).",
        example=0.01,
    )
    t_end: float = option(real(0), REQUIRED, "Final time.", example=1.0)
    adaptive: bool = option(
        boolean(), False,
        "Step-doubling error control (midpoint only).",
    )
    tol: float = option(real(0), 1e-6, "adaptive: tolerance of the local error (max over nodes).")
    theta: float | None = option(
        real(0, 1, open_min=False, open_max=False), None,
        "tangent_plane: implicitness of exchange/anisotropy in [0, 1] (default 1; an error "
        "with the other integrators).",
    )


@section(
    "relax",
    help="Optional relaxation phase before the time integration: damped dynamics (damping "
    "relax.alpha, without the [zeeman] field) from [initial] until the largest nodal torque "
    "|m x H| (units of Ms) is below torque_tol. Writes DIR/relax.csv (step, t, <m>, energies, "
    "torque) and DIR/m_relaxed.npz (usable as initial.file); the field phase then starts from "
    "the relaxed state at t = 0 with material.alpha and the [zeeman] field, and averages.csv "
    "holds the field phase only. Not converging within max_steps is an error (run.json status "
    "'failed') unless allow_unconverged = true (then a warning).",
    check=_check_relax,
)
class RelaxSection:
    """``[relax]``: the optional relaxation phase (run's units)."""

    enabled: bool = option(boolean(), False, "Run the relaxation phase.")
    alpha: float = option(real(0), 1.0, "Damping of the relaxation (only the end state matters).")
    torque_tol: float = option(
        real(0), 1e-5, "Stop when max_i |m_i x H_i| < torque_tol (units "
        "of Ms).",
    )
    dt: float | None = option(
        real(0), None, "Time step of the relaxation (run's time unit: seconds for "
        "SI; relaxation time unit (1 + relax.alpha^2)/(gamma Ms)); first step if "
        "adaptive.", example=1e-12, commented=True,
    )
    max_steps: int = option(integer(1), 100_000, "Give up after this many steps.")
    check_every: int = option(
        integer(1), 10,
        "Check the torque and write a relax.csv row every this many steps.",
    )
    integrator: str = option(
        choice(*INTEGRATORS), "tangent_plane",
        "tangent_plane (theta = 1: unconditionally energy decreasing) | "
        "tangent_plane_bdf2 | midpoint.",
    )
    adaptive: bool = option(boolean(), False, "midpoint: step-doubling error control.")
    tol: float = option(real(0), 1e-4, "adaptive: local error tolerance.")
    dt_max: float | None = option(
        real(0), None, "adaptive: largest step (the midpoint rule is not "
        "L-stable: very large steps stall the torque).", commented=True,
    )
    allow_unconverged: bool = option(
        boolean(), False,
        "Continue with a warning if max_steps is reached (default: error).",
    )


@section(
    "solver",
    help="Linear solver of the integrators (PETSc options prefixes -femhomog_llg_tps_, "
    "-femhomog_llg_mid_).",
)
class LlgSolverSection:
    """``[solver]``: linear solver of the integrators."""

    type: str = option(
        choice("direct", "iterative", "reuse_lu"), "direct",
        "direct (MUMPS LU) | iterative (GMRES + ILU / block Jacobi) | reuse_lu (tangent_plane "
        "only: GMRES preconditioned by the MUMPS LU of an earlier step, refactorized when a "
        "solve needs more than refactor_its iterations).",
    )
    rtol: float = option(real(0, 1), 1e-10, "Relative residual tolerance of the iterative solver.")
    max_it: int = option(integer(1), 500, "Maximum iterations of the iterative solver.")
    refactor_its: int | None = option(
        integer(1), None, "reuse_lu: refactorize after a solve with more GMRES iterations "
        "(default 8).", example=8, commented=True,
    )
    max_retries: int = option(
        integer(0, 20), 3,
        "Halve a failed step up to this many times before giving up (fixed steps).",
    )


@section(
    "output",
    help="averages.csv gets a row at t = 0, at every output step and at t_end.",
    check=_check_llg_output,
)
class LlgOutputSection:
    """``[output]``: output schedule and optional files."""

    every: int | None = option(
        integer(1), None, "Write a row every N accepted steps (default 1).",
        example=1,
    )
    dt_out: float | None = option(
        real(0), None,
        "Or: write rows at multiples of dt_out (steps are shortened to hit them).",
        example=0.1, commented=True,
    )
    fields: bool = option(boolean(), False, "Write m at the output times to DIR/m.bp (VTX).")
    final: bool = option(
        boolean(), True,
        "Write the final state to DIR/m_final.npz (restart with initial.type = 'file').",
    )
    progress: float | None = option(
        Validator("true, false or a number of seconds >= 0", convert_progress), PROGRESS_DEFAULT,
        "Progress (rank 0): a progress bar if stderr is a terminal, else log lines "
        "every this many seconds; 0: every output step; false: none.",
    )
    checkpoint_every: int = option(
        Validator("false or an integer >= 0", convert_checkpoint_every), 0,
        "Write DIR/checkpoint/checkpoint.npz every N accepted steps (0 or false: not "
        "by steps). Restart with `femhomog llg CONFIG --restart DIR`.",
    )
    checkpoint_wall: float = option(
        Validator("false or a number of seconds >= 0", convert_checkpoint_wall),
        CHECKPOINT_WALL_DEFAULT,
        "Also checkpoint after this many seconds of wall time since the last one (0 or "
        "false: not by time). With either cadence on, checkpoints are also written at "
        "t = 0 and at the end; with both off, none.",
    )
