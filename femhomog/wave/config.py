"""The ``femhomog wave`` job configuration: its schema and loader.

A wave job compares the fine-scale solution ``u^eps`` of (13) with the effective
solutions ``u~^s`` of (14) on a box.  The cell problem is described by the sections of
the cell job, reused as they are (``[cell]``, ``[geometry]``, ``[homogenization]``,
``[solver]``: :mod:`femhomog.cell.config`); this module adds the wave's own sections:

``[wave]``       eps, the box, boundary, initial data u0, u1 and the source f
``[fine]``       the fine-scale solver (GLL degree, cells per period, propagator)
``[effective]``  the effective orders and the Fourier grid
``[time]``       final time and output times
``[output]``     cuts, fields, progress

Pure Python: importing it does not import dolfinx.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from femhomog import ConfigError
from femhomog.cell.config import (
    CellSection,
    GeometrySection,
    HomogenizationSection,
    SolverSection,
)
from femhomog.io.schema import (
    REQUIRED,
    Schema,
    Validator,
    boolean,
    choice,
    existing_file,
    integer,
    is_number,
    option,
    real,
    section,
    show,
)
from femhomog.io.values import parse_variable_expression

__all__ = [
    "BOUNDARIES",
    "PROPAGATORS",
    "WAVE_SCHEMA",
    "EffectiveSection",
    "FineSection",
    "WaveJobConfig",
    "WaveOutputSection",
    "WaveSection",
    "WaveTimeSection",
    "load_wave_config",
]

BOUNDARIES = ("periodic", "dirichlet", "neumann")
PROPAGATORS = ("chebyshev", "leapfrog4", "leapfrog")


def _finite_list(value: Any, key: str) -> list[float]:
    if not (isinstance(value, list) and 1 <= len(value) <= 3
            and all(is_number(v) and math.isfinite(v) for v in value)):
        raise ValueError
    return [float(v) for v in value]


_CORNER = Validator("a list of 1 to 3 finite numbers (one per axis)", _finite_list)


def _expression_text(value: Any, key: str) -> str | float:
    if isinstance(value, str) and value.strip():
        return value
    if is_number(value) and math.isfinite(value):
        return float(value)
    raise ValueError


_EXPRESSION = Validator("a number or an expression in x[0], x[1], x[2] (a string)",
                        _expression_text)


def _check_wave(values: dict[str, Any]) -> dict[str, Any]:
    lower, upper = values["lower"], values["upper"]
    if len(lower) != len(upper):
        raise ConfigError(f"wave.lower and wave.upper must have the same length, got "
                          f"{len(lower)} and {len(upper)}")
    for i, (lo, hi) in enumerate(zip(lower, upper, strict=True)):
        if not hi > lo:
            raise ConfigError(f"wave.upper[{i}] must be > wave.lower[{i}], got {hi} <= {lo}")
    dim = len(lower)
    for key in ("u0", "u1", "source"):
        parse_variable_expression(values[key], "x", dim, what=f"wave.{key}")
    return values


@section(
    "wave",
    help="The fine-scale problem (13): d_t^2 u - div(a(x/eps) grad u) = f on a box, "
    "u(0) = u0, d_t u(0) = u1.",
    check=_check_wave,
)
class WaveSection:
    """``[wave]``: period, box, boundary, data."""

    eps: float = option(real(0), REQUIRED, "Period eps of the coefficient a(x/eps).",
                        example=0.1)
    lower: list[float] = option(_CORNER, REQUIRED, "Lower corner of the box (one entry per "
                                "axis: its length is the dimension).", example=[-32.0, -32.0])
    upper: list[float] = option(_CORNER, REQUIRED, "Upper corner of the box.", example=[32.0, 32.0])
    boundary: str = option(
        choice(*BOUNDARIES), "periodic",
        "periodic | dirichlet (u = 0) | neumann. The effective Fourier solutions need a "
        "periodic box.",
    )
    u0: str | float = option(_EXPRESSION, REQUIRED, "Initial value u0(x).",
                             example="exp(-20*5**(2/3)*(x[0]**2 + x[1]**2))")
    u1: str | float = option(_EXPRESSION, 0.0, "Initial velocity u1(x).")
    source: str | float = option(_EXPRESSION, 0.0, "Source f(x), constant in time.")
    tensors_from: Path | None = option(
        existing_file(".json"), None,
        "tensors.json of a `femhomog cell` run (with homogenization.order >= the highest "
        "effective order) instead of solving the cell problems here.",
        example="results/cell/tensors.json", commented=True, is_path=True,
    )


@section("fine", help="The fine-scale solver of (13): GLL spectral elements, lumped mass.")
class FineSection:
    """``[fine]``: discretization of ``u^eps``."""

    enabled: bool = option(boolean(), True, "Solve the fine-scale problem (false: only the "
                           "effective solutions).")
    degree: int = option(integer(1, 12), 6, "Polynomial degree p on GLL points.")
    cells_per_period: int = option(integer(1), 2, "Elements per period eps along each axis.")
    propagator: str = option(
        choice(*PROPAGATORS), "chebyshev",
        "chebyshev (exact in time; f = 0 only) | leapfrog4 (order 4) | leapfrog (order 2).",
    )
    cfl_safety: float = option(real(0, 1, open_max=False), 0.9,
                               "Fraction of the leapfrog stability limit used as the step.")


def _convert_orders(value: Any, key: str) -> list[int]:
    if not (isinstance(value, list)
            and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 6
                    for v in value)):
        raise ValueError
    if len(set(value)) != len(value):
        raise ConfigError(f"{key} lists an order twice: {show(value)}")
    return sorted(int(v) for v in value)


@section("effective", help="The effective solutions u~^s of (14) (Fourier, exact in time).")
class EffectiveSection:
    """``[effective]``: which orders and the Fourier grid."""

    orders: list[int] | None = option(
        Validator("a list of integers in 0..6", _convert_orders), None,
        "Orders s to solve (default 0..homogenization.order; [] for none).", example=[0, 1, 2],
        commented=True,
    )
    points_per_period: int = option(integer(2), 16,
                                    "Fourier grid points per period eps along each axis.")


def _convert_times(value: Any, key: str) -> list[float]:
    if not (isinstance(value, list) and value
            and all(is_number(v) and math.isfinite(v) and v > 0 for v in value)):
        raise ValueError
    times = sorted(float(v) for v in value)
    if len(set(times)) != len(times):
        raise ConfigError(f"{key} lists a time twice: {show(value)}")
    return times


def _check_time(values: dict[str, Any]) -> dict[str, Any]:
    if values["outputs"] is not None and values["outputs"][-1] > values["t_end"]:
        raise ConfigError(f"time.outputs must not exceed time.t_end = {values['t_end']:g}, "
                          f"got {values['outputs'][-1]:g}")
    return values


@section("time", help="Final time and output times.", check=_check_time)
class WaveTimeSection:
    """``[time]``: when to stop and when to compare."""

    t_end: float = option(real(0), REQUIRED, "Final time.", example=20.0)
    outputs: list[float] | None = option(
        Validator("a non-empty list of times > 0", _convert_times), None,
        "Output times (errors, cuts); t_end is always one. Default: samples_per_decade "
        "log-spaced times.", example=[5.0, 10.0, 20.0], commented=True,
    )
    samples_per_decade: int = option(integer(1, 1000), 8,
                                     "Without time.outputs: log-spaced times per decade up "
                                     "to t_end, from t_end/10^4.")


def _convert_point(value: Any, key: str) -> list[float]:
    return _finite_list(value, key)


@section("output", help="What is written besides errors.csv and run.json.")
class WaveOutputSection:
    """``[output]``: cuts, fields, progress."""

    cut_axis: int = option(integer(0, 2), 0, "Cuts: the axis along which they run.")
    cut_through: list[float] | None = option(
        Validator("a list of 1 to 3 finite numbers", _convert_point), None,
        "Cuts: a point they pass through (default: the box centre).", example=[0.0, 0.0],
        commented=True,
    )
    fields: bool = option(boolean(), False, "Write u^eps to VTX (.bp) at the output times.")
    progress: float = option(real(0, open_min=False), 5.0,
                             "Seconds between progress lines (0: every output time).")
    checkpoint_every: int = option(integer(0), 0,
                                   "Checkpoint every N propagation pieces (0: off); "
                                   "`femhomog wave CONFIG --restart DIR` continues a run.")
    checkpoint_wall: float = option(real(0, open_min=False), 0.0,
                                    "Checkpoint after this many seconds of wall time since "
                                    "the last one (0: off).")


@dataclass(frozen=True, kw_only=True)
class WaveJobConfig:
    """A validated wave job (``raw``: the merged configuration, JSON-ready)."""

    wave: WaveSection
    cell: CellSection
    geometry: GeometrySection
    homogenization: HomogenizationSection
    solver: SolverSection
    fine: FineSection
    effective: EffectiveSection
    time: WaveTimeSection
    output: WaveOutputSection
    raw: dict


def _check_job(values: dict[str, dict[str, Any]], raw: dict[str, Any]) -> None:
    wave, cell, eff = values["wave"], values["cell"], values["effective"]
    dim = len(wave["lower"])
    if cell["dim"] != dim:
        raise ConfigError(f"cell.dim = {cell['dim']} does not match the {dim}D box of "
                          f"wave.lower/wave.upper")
    order = values["homogenization"]["order"]
    if eff["orders"] is None:
        eff["orders"] = list(range(order + 1))
        raw["effective"]["orders"] = list(eff["orders"])
    elif eff["orders"] and eff["orders"][-1] > order:
        raise ConfigError(f"effective.orders needs homogenization.order >= "
                          f"{eff['orders'][-1]}, got {order}")
    if wave["boundary"] != "periodic" and eff["orders"]:
        raise ConfigError("the effective Fourier solutions need wave.boundary = 'periodic'; "
                          "set effective.orders = [] to solve only the fine-scale problem")
    fine = values["fine"]
    if fine["enabled"] and cell["coefficient"] is None:
        raise ConfigError("the fine-scale solver needs cell.coefficient (an expression of y): "
                          "a(x/eps) of per-tag materials is not available; set "
                          "fine.enabled = false to compute only the effective solutions")
    if fine["propagator"] == "chebyshev" and wave["source"] != 0.0:
        raise ConfigError("fine.propagator = 'chebyshev' integrates f = 0 only: use "
                          "'leapfrog4' with wave.source")
    if wave["boundary"] == "periodic":
        for lo, hi in zip(wave["lower"], wave["upper"], strict=True):
            periods = (hi - lo) / wave["eps"]
            if round(periods) < 1 or abs(periods - round(periods)) > 1e-9 * max(1.0, periods):
                raise ConfigError(f"a periodic box must be a whole number of periods: "
                                  f"(wave.upper - wave.lower)/wave.eps = {periods:.10g} along "
                                  "an axis")
        if fine["enabled"] and eff["points_per_period"] % fine["cells_per_period"]:
            raise ConfigError(
                f"effective.points_per_period = {eff['points_per_period']} must be a multiple "
                f"of fine.cells_per_period = {fine['cells_per_period']} (the errors are "
                "computed on the Fourier grid, evaluated element by element)")
    through = values["output"]["cut_through"]
    if through is not None and len(through) != dim:
        raise ConfigError(f"output.cut_through must have {dim} entries, got {len(through)}")
    if values["output"]["cut_axis"] >= dim:
        raise ConfigError(f"output.cut_axis must be < {dim}, got {values['output']['cut_axis']}")


WAVE_SCHEMA = Schema.of(
    WaveJobConfig,
    job="wave",
    header=(
        "femhomog wave job: the fine-scale wave equation (13) against the effective\n"
        "equations (14) of orders s (wave paper, Sect. 4).\n"
        "Run: femhomog wave THIS.toml --out DIR [--set section.key=value ...]"
    ),
    checks=(_check_job,),
)


def load_wave_config(path: str | Path | None, overrides: Any = (), *,
                     text: str | None = None) -> WaveJobConfig:
    """Load and validate a wave job (see :meth:`femhomog.io.schema.Schema.load`)."""
    return WAVE_SCHEMA.load(path, overrides, text=text)
