"""The experiments of the wave paper's Sect. 4 with the exact Bloch fine-scale solution.

The fine-scale solution u^eps of a ``femhomog wave`` configuration on a periodic box is
computed by :mod:`femhomog.wave.bloch` (the discrete solution of the job's spectral
elements, exact in time, see there), evaluated on the job's error grid
(:func:`~femhomog.wave.bloch_fe.grid_values`, the point values that
:class:`~femhomog.wave.sampling.GridSampler` gives) and compared with the exact
effective solutions u~^s of (14) with (29) (:class:`EffectiveFourierSolver`):

    err_s(t) = ||u^eps(t) - u~^s(t)||_grid / ||u^eps(t)||_grid,

the quantity of the job's ``errors.csv``.  Serial (run on one process; the 2D Fig. 2
at full size needs a few GB and minutes, no mesh of the whole box is built).

``run_bloch``           errors, cuts and (optionally) the grid values of u^eps
``write_outputs``       errors.csv, cuts/t_<t>.csv and bloch.json as the job writes them
``refinement``          u^eps of several discretizations against the finest one
``common_difference``   u^eps of two boxes compared on the smaller one (domain check)
``sampler_check``       the grid values against the job's GridSampler on the full mesh
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from femhomog import ConfigError
from femhomog.io.values import parse_variable_expression
from femhomog.wave.bloch import BlochWave
from femhomog.wave.config import WaveJobConfig
from femhomog.wave.fourier import EffectiveFourierSolver, PeriodicGrid

__all__ = ["BlochResult", "common_difference", "refinement", "run_bloch", "sampler_check",
           "write_outputs"]


@dataclass
class BlochResult:
    """What :func:`run_bloch` computed.

    Attributes
    ----------
    times, errors
        Output times and ``{s: [err_s(t) ...]}``.
    cuts
        Per time: ``{"x<axis>": coordinates, "u_eps": ..., "u_s<s>": ...}``.
    fine
        Grid values of u^eps per time (with ``keep_fine``).
    info
        Sizes, wall times, the truncation bound and the invariance defect.
    """

    cfg: WaveJobConfig
    grid: PeriodicGrid
    times: list[float]
    errors: dict[int, list[float]] = field(default_factory=dict)
    cuts: list[dict[str, np.ndarray]] = field(default_factory=list)
    fine: list[np.ndarray] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


def _callable(cfg: WaveJobConfig, name: str) -> Any:
    """``f(X)``, ``X`` of shape ``(d, ...)``, of the expression ``wave.<name>``."""
    dim = len(cfg.wave.lower)
    expr = parse_variable_expression(getattr(cfg.wave, name), "x", dim, what=f"wave.{name}")
    if expr.constant:
        value = float(expr.value())
        return lambda X: np.full(X.shape[1:], value)
    return lambda X: expr.evaluate(X.reshape(dim, -1).T).reshape(X.shape[1:])


def _grid(cfg: WaveJobConfig) -> tuple[PeriodicGrid, int]:
    """The job's error grid and its points per element."""
    w, fc, ec = cfg.wave, cfg.fine, cfg.effective
    if ec.points_per_period % fc.cells_per_period:
        raise ConfigError("effective.points_per_period must be a multiple of "
                          "fine.cells_per_period")
    periods = [round((hi - lo) / w.eps) for lo, hi in zip(w.lower, w.upper, strict=True)]
    grid = PeriodicGrid.box(w.lower, w.upper, [p * ec.points_per_period for p in periods])
    return grid, ec.points_per_period // fc.cells_per_period


def fine_on_grid(cfg: WaveJobConfig, times: Sequence[float], *, tol: float = 0.0,
                 shifts: Sequence[float] | None = None, chunk: int = 2048
                 ) -> tuple[list[np.ndarray], dict[str, Any]]:
    """u^eps of ``cfg`` on the error grid at ``times`` (Bloch), with sizes and timings."""
    from femhomog.wave.bloch_fe import bloch_from_config, grid_values

    t0 = time.perf_counter()
    bloch = bloch_from_config(cfg, shifts=shifts, chunk=chunk)
    t1 = time.perf_counter()
    u0 = bloch.nodal(_callable(cfg, "u0"))
    u1 = bloch.nodal(_callable(cfg, "u1")) if cfg.wave.u1 != 0.0 else None
    sols = bloch.evolve(u0, times, u1, tol=tol)
    del u0, u1
    t2 = time.perf_counter()
    _, per_cell = _grid(cfg)
    cells_per_tile = [round(s / cfg.wave.eps * cfg.fine.cells_per_period)
                      for s in bloch.blocks.shifts]
    values = []
    while sols:
        values.append(grid_values(bloch, sols.pop(0), cfg.fine.degree, cells_per_tile,
                                  per_cell))
    t3 = time.perf_counter()
    info = {"degree": cfg.fine.degree, "cells_per_period": cfg.fine.cells_per_period,
            "dofs": bloch.num_dofs, "tiles": list(bloch.counts),
            "tile_size": list(bloch.blocks.shape), "tile_shifts": list(bloch.blocks.shifts),
            "wave_numbers_solved": bloch.solved, "truncation_bound": bloch.truncation,
            "invariance_defect": bloch.blocks.defect,
            "wall_blocks_s": t1 - t0, "wall_evolve_s": t2 - t1, "wall_grid_s": t3 - t2}
    return values, info


def run_bloch(cfg: WaveJobConfig, times: Sequence[float], *, tensors: Any = None,
              tol: float = 0.0, keep_fine: bool = False, chunk: int = 2048) -> BlochResult:
    """err(u~^s) at ``times`` for the orders of ``cfg`` (``effective.orders``), with the
    cut along ``output.cut_axis`` through ``output.cut_through`` (default: the origin).

    ``tensors``: effective tensors up to the highest order (default: the cell problems
    of ``cfg``, as the job computes them).
    """
    from mpi4py import MPI

    from femhomog.wave.build import compute_tensors

    start = time.perf_counter()
    grid, _ = _grid(cfg)
    times = [float(t) for t in times]
    orders = list(cfg.effective.orders or [])
    if orders and tensors is None:
        tensors, _ = compute_tensors(cfg, MPI.COMM_SELF, max(orders))
    t_tensors = time.perf_counter() - start
    fine, info = fine_on_grid(cfg, times, tol=tol, chunk=chunk)
    result = BlochResult(cfg, grid, times, {s: [] for s in orders}, info=info)
    axis = cfg.output.cut_axis
    through = cfg.output.cut_through or [0.0] * grid.dim
    fixed = np.mod(np.rint((np.asarray(through) - np.asarray(grid.lower)) / grid.spacing)
                   .astype(int), np.asarray(grid.points))
    line = tuple(slice(None) if i == axis else int(fixed[i]) for i in range(grid.dim))
    solvers = {s: EffectiveFourierSolver(tensors.truncated(s), cfg.wave.eps, grid)
               for s in orders}
    u0, u1 = _callable(cfg, "u0"), _callable(cfg, "u1")
    t_eff = time.perf_counter()
    for t, u in zip(times, fine, strict=True):
        norm = float(np.linalg.norm(u))
        cut = {f"x{axis}": grid.axes()[axis], "u_eps": u[line].copy()}
        for s, solver in solvers.items():
            v = solver.evolve(u0, t, u1=u1)
            result.errors[s].append(float(np.linalg.norm(u - v)) / norm)
            cut[f"u_s{s}"] = v[line].copy()
        result.cuts.append(cut)
    info["wall_effective_s"] = time.perf_counter() - t_eff
    info["wall_tensors_s"] = t_tensors
    info["wall_total_s"] = time.perf_counter() - start
    info["grid_points"] = list(grid.points)
    if keep_fine:
        result.fine = fine
    return result


def write_outputs(result: BlochResult, out_dir: str | Path) -> None:
    """``errors.csv`` (``t,err_s0,...``), ``cuts/t_<t>.csv`` and ``bloch.json``."""
    out = Path(out_dir)
    (out / "cuts").mkdir(parents=True, exist_ok=True)
    orders = sorted(result.errors)
    with open(out / "errors.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t", *[f"err_s{s}" for s in orders]])
        for i, t in enumerate(result.times):
            w.writerow([repr(t), *[repr(result.errors[s][i]) for s in orders]])
    for t, cut in zip(result.times, result.cuts, strict=True):
        with open(out / "cuts" / f"t_{t:.6g}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(list(cut))
            w.writerows(np.column_stack(list(cut.values())).tolist())
    (out / "bloch.json").write_text(json.dumps({"solver": "bloch", **result.info,
                                                "times": result.times}, indent=2))


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def refinement(cfg: WaveJobConfig, variants: Sequence[Sequence[str]],
               times: Sequence[float], *, base: Sequence[np.ndarray] | None = None,
               tol: float = 0.0) -> list[dict[str, Any]]:
    """u^eps of ``cfg`` and of each variant (``--set``-style overrides of ``fine.*``)
    against the last variant (the finest) on the error grid: one row per discretization
    and time, ``difference = ||u - u_finest|| / ||u_finest||``.  ``base``: the grid
    values of ``cfg`` if already computed."""
    from femhomog.wave.experiments import with_overrides

    if base is None:
        base, _ = fine_on_grid(cfg, times, tol=tol)
    runs = [("base", cfg, list(base), {})]
    for v in variants:
        c = with_overrides(cfg, list(v))
        values, info = fine_on_grid(c, times, tol=tol)
        runs.append((" ".join(v), c, values, info))
    finest = runs[-1][2]
    rows = []
    for name, c, values, info in runs[:-1]:
        for t, u, ref in zip(times, values, finest, strict=True):
            rows.append({"discretization": name, "degree": c.fine.degree,
                         "cells_per_period": c.fine.cells_per_period, "t": float(t),
                         "difference": _relative(u, ref),
                         "wall_s": info.get("wall_evolve_s", float("nan"))})
    return rows


def common_difference(small: PeriodicGrid, u_small: np.ndarray, large: PeriodicGrid,
                      u_large: np.ndarray) -> float:
    """``||u_small - u_large||/||u_large||`` on the points of the smaller box (the grids
    share their spacing and points)."""
    if not np.allclose(small.spacing, large.spacing):
        raise ConfigError("the two grids must have the same spacing")
    offset = np.rint((np.asarray(small.lower) - np.asarray(large.lower)) / large.spacing)
    index = tuple(slice(int(o), int(o) + n) for o, n in
                  zip(offset, small.points, strict=True))
    return _relative(u_small, u_large[index])


def sampler_check(cfg: WaveJobConfig, t: float) -> float:
    """Largest difference, relative to ``max |u|``, between :func:`grid_values` of the
    Bloch solution at ``t`` and the job's :class:`GridSampler` of the same unknowns on a
    mesh of the whole box (serial; meant for 1D boxes)."""
    from mpi4py import MPI

    from femhomog.wave.bloch_fe import bloch_from_config, grid_values, to_vector
    from femhomog.wave.build import build_wave
    from femhomog.wave.experiments import with_overrides

    setup = build_wave(with_overrides(cfg, ["effective.orders=[]"]), MPI.COMM_SELF)
    bloch: BlochWave = bloch_from_config(cfg)
    U = bloch.evolve(bloch.nodal(_callable(cfg, "u0")), [t],
                     bloch.nodal(_callable(cfg, "u1")))[0]
    vec = to_vector(bloch, U, setup.wave)
    sampled = setup.sampler.sample(setup.wave.to_function(vec, setup.wave.work))
    _, per_cell = _grid(cfg)
    cells_per_tile = [round(s / cfg.wave.eps * cfg.fine.cells_per_period)
                      for s in bloch.blocks.shifts]
    mine = grid_values(bloch, U, cfg.fine.degree, cells_per_tile, per_cell).reshape(-1)
    vec.destroy()
    setup.destroy()
    return float(np.max(np.abs(mine[setup.sampler.index] - sampled))
                 / np.max(np.abs(sampled)))
