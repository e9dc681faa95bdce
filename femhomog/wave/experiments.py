"""The experiments of the wave paper's Sect. 4 as functions: configurations and checks.

Fig. 1: (13) in 1D with alpha = 4 (t up to eps^-4), effective orders s = 0..2 of (14);
Fig. 2: (13) in 2D with a layered a, orders s = 0..3, at t = 20.

The demos (``demos/wave_fig1.py``, ``demos/wave_fig2.py``), the CI-sized Fig. 1 test
and the benchmark import these; the job itself (:func:`femhomog.wave.job.run_wave_job`)
does the runs.

``fig1_config``          the 1D experiment (Fig. 1) as a wave job configuration
``fig2_config``          the 2D experiment (Fig. 2)
``refinement_study``     u^eps against a refined u^eps (space, and time) on the error grid
``read_errors``          errors.csv as arrays
``with_overrides``       a configuration with ``--set``-style changes
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from femhomog.wave.config import WaveJobConfig, load_wave_config

__all__ = ["fig1_config", "fig2_config", "log_times", "read_errors", "refinement_study",
           "with_overrides"]

#: The coefficient of Fig. 1, a(y) = sqrt(2) - cos(2 pi y).
FIG1_COEFFICIENT = "sqrt(2) - cos(2*pi*y[0])"
#: The coefficient of Fig. 2, a(y) = (1 - 0.5 cos(2 pi y_2)) I.
FIG2_COEFFICIENT = "1 - 0.5*cos(2*pi*y[1])"


def _toml(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()
                               if v is not None) + "}"
    if isinstance(value, Path):
        return _toml(str(value))
    return repr(value)


def _config(sections: dict[str, dict[str, Any]], overrides: Sequence[str]) -> WaveJobConfig:
    text = "\n".join(f"[{name}]\n" + "\n".join(f"{k} = {_toml(v)}" for k, v in body.items()
                                               if v is not None)
                     for name, body in sections.items())
    return load_wave_config(None, list(overrides), text=text)


def log_times(t_first: float, t_end: float, per_decade: int,
              also: Sequence[float] = ()) -> list[float]:
    """``per_decade`` log-spaced times from ``t_first`` to ``t_end``, plus ``also``."""
    n = round(per_decade * math.log10(t_end / t_first))
    times = {float(t_first * (t_end / t_first) ** (j / n)) for j in range(n + 1)} if n else set()
    times |= {float(t) for t in also} | {float(t_end)}
    # round to 12 significant digits: the times are written as CSV keys
    return sorted({float(f"{t:.12g}") for t in times})


def fig1_config(*, eps: float = 0.1, half_width: float = 84.0, degree: int = 8,
                cells_per_period: int = 2, points_per_period: int = 16,
                orders: Sequence[int] = (0, 1, 2), t_end: float = 1e4,
                outputs: Sequence[float] | None = None, tensors_from: str | None = None,
                overrides: Sequence[str] = ()) -> WaveJobConfig:
    """Fig. 1: u0 = exp(-4 x^2), u1 = f = 0, a(y) = sqrt(2) - cos(2 pi y), periodic
    ``(-half_width, half_width)``; outputs default to 8 per decade from ``t_end/10^4``
    with the powers of ten."""
    if outputs is None:
        decades = [10.0 ** k for k in range(-4, 5) if t_end / 1e4 <= 10.0 ** k <= t_end]
        outputs = log_times(t_end / 1e4, t_end, 8, decades)
    return _config({
        "wave": {"eps": eps, "lower": [-half_width], "upper": [half_width],
                 "u0": "exp(-4*x[0]**2)", "tensors_from": tensors_from},
        "cell": {"dim": 1, "coefficient": FIG1_COEFFICIENT, "cells_per_side": 64,
                 "degree": 4},
        "homogenization": {"order": max(orders, default=0)},
        "fine": {"degree": degree, "cells_per_period": cells_per_period},
        "effective": {"orders": list(orders), "points_per_period": points_per_period},
        "time": {"t_end": t_end, "outputs": list(outputs)},
        "output": {"progress": 30.0},
    }, overrides)


def fig2_config(*, eps: float = 0.1, half_width: float = 32.0, degree: int = 6,
                cells_per_period: int = 2, points_per_period: int = 8,
                orders: Sequence[int] = (0, 1, 2, 3), t_end: float = 20.0,
                outputs: Sequence[float] = (5.0, 10.0, 20.0),
                overrides: Sequence[str] = ()) -> WaveJobConfig:
    """Fig. 2: a(y) = (1 - 0.5 cos(2 pi y_2)) I, u0 = g(nu x), g = exp(-20 |x|^2),
    nu = 5^(1/3), u1 = f = 0 on the periodic square ``(-half_width, half_width)^2``;
    the cuts run along x_2 through x_1 = 0."""
    return _config({
        "wave": {"eps": eps, "lower": [-half_width] * 2, "upper": [half_width] * 2,
                 "u0": "exp(-20*5**(2/3)*(x[0]**2 + x[1]**2))"},
        "cell": {"dim": 2, "coefficient": FIG2_COEFFICIENT, "cells_per_side": 16,
                 "degree": 4},
        "homogenization": {"order": max(orders, default=0)},
        "fine": {"degree": degree, "cells_per_period": cells_per_period},
        "effective": {"orders": list(orders), "points_per_period": points_per_period},
        "time": {"t_end": t_end, "outputs": [t for t in outputs if t <= t_end]},
        "output": {"progress": 30.0, "cut_axis": 1, "cut_through": [0.0, 0.0]},
    }, overrides)


def read_errors(path: str | Path) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """``t`` and ``{s: err_s}`` of an errors.csv."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    data = np.array(rows[1:], dtype=float).reshape(-1, len(rows[0]))
    errs = {int(name[5:]): data[:, i] for i, name in enumerate(rows[0]) if name != "t"}
    return data[:, 0], errs


def refinement_study(cfg: WaveJobConfig, refined: Sequence[str], times: Sequence[float],
                     comm: Any, *, time_refinement: bool = True) -> list[dict[str, float]]:
    """How far ``u^eps`` is from converged, measured by refinement, at ``times``.

    Three fine-scale runs share the error grid: the configuration itself, the one with
    the ``refined`` overrides (space), and, with ``time_refinement``, the first again
    with Chebyshev pieces of at most half the length and at most half of every output
    interval (other series: another truncation and round-off history), or with half
    the leapfrog step.  Rows: ``t``,
    ``space = ||u - u_space|| / ||u_space||``, ``time = ||u - u_time|| / ||u_time||``
    (grid l2 norms, as the errors of the job).  Collective.
    """
    from femhomog.wave.build import FineRun, build_wave, nodal_callable

    def start(c: WaveJobConfig, halve: bool = False) -> tuple[Any, FineRun]:
        setup = build_wave(c, comm)
        exprs = setup.expressions
        safety = c.fine.cfl_safety * (0.5 if halve else 1.0)
        run = FineRun(setup.wave, c.fine.propagator, nodal_callable(exprs["u0"]),
                      nodal_callable(exprs["u1"]), first_output=times[0], cfl_safety=safety)
        if halve and run.tau is None:  # every output interval in at least two pieces
            gaps = np.diff([0.0, *times])
            run.piece = 0.5 * min(run.piece, float(gaps.min()))
        return setup, run

    cfg = with_overrides(cfg, ["effective.orders=[]"])  # no tensors needed here
    runs = [start(cfg), start(with_overrides(cfg, refined))]
    if time_refinement:
        runs.append(start(cfg, halve=True))
    rows = []
    for t in times:
        samples = []
        for setup, run in runs:
            run.advance_to(run.reachable(t))
            samples.append(setup.sampler.sample(setup.wave.to_function(run.u, setup.wave.work)))
        sampler = runs[0][0].sampler
        row = {"t": runs[0][1].t,
               "space": sampler.relative_errors(samples[1], [_grid(sampler, samples[0])])[0]}
        if time_refinement:
            row["time"] = sampler.relative_errors(samples[2], [_grid(sampler, samples[0])])[0]
        rows.append(row)
    for setup, run in runs:
        run.destroy()
        setup.destroy()
    return rows


def _grid(sampler: Any, local: np.ndarray) -> np.ndarray:
    """Distributed grid values as a full grid array (every rank; for the comparison)."""
    from mpi4py import MPI

    full = np.zeros(int(np.prod(sampler.grid.points)))
    full[sampler.index] = local
    return sampler.comm.allreduce(full, op=MPI.SUM).reshape(sampler.grid.points)


def with_overrides(cfg: WaveJobConfig, overrides: Sequence[str]) -> WaveJobConfig:
    """``cfg`` with ``--set``-style overrides applied (through its raw form)."""
    return _config(cfg.raw, overrides)
