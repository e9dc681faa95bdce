"""From a wave job configuration to objects: tensors, box mesh, solvers, error grid.

Tensors: a^0 (26) and the pairs a^{2r}, b^{2r} of (29) from the cell correctors (23a,
23b) by Theorem 3 (41, 42) and Lemma 4 (34-38); fine scale: (13); effective: (14).

:func:`build_wave` is what ``femhomog wave`` runs before its time loop, and what the
demos call to set up their experiments; :class:`FineRun` advances the fine-scale solution
to given times with either propagator (the job's loop and the demos' convergence checks
use it).  Every function here is collective on ``comm`` and raises
:class:`~femhomog.ConfigError` for bad input on every rank.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from femhomog import (
    ConfigError,
    _fenicsx,  # noqa: F401  (must precede dolfinx / petsc4py)
)

# isort: split
import dolfinx
import ufl
from mpi4py import MPI
from petsc4py import PETSc

from femhomog.coefficients import CellCoefficient
from femhomog.io.values import parse_variable_expression
from femhomog.meshes import periodic_box_mesh
from femhomog.tensors import EffectiveTensors, effective_wave_tensors
from femhomog.wave.chebyshev import ChebyshevPropagator
from femhomog.wave.config import WaveJobConfig
from femhomog.wave.fine_scale import FineScaleWave, LeapfrogStepper, WaveSource
from femhomog.wave.fourier import EffectiveFourierSolver, PeriodicGrid
from femhomog.wave.sampling import GridSampler

__all__ = [
    "FineRun",
    "WaveSetup",
    "box_cells",
    "box_mesh",
    "build_wave",
    "compute_tensors",
    "nodal_callable",
    "output_times",
    "read_tensors",
]

_CELL_TYPES = {1: "interval", 2: "quadrilateral", 3: "hexahedron"}
#: Leapfrog steps between two progress/checkpoint opportunities.
LEAPFROG_CHUNK = 2000
#: Largest Chebyshev series degree of one propagation piece.
CHEBYSHEV_MAX_DEGREE = 2000


# ====================================================================== tensors
def compute_tensors(cfg: WaveJobConfig, comm: MPI.Comm, order: int
                    ) -> tuple[EffectiveTensors, dict[str, Any]]:
    """The cell pipeline of ``femhomog cell`` (its ``[cell]``, ``[geometry]``,
    ``[homogenization]``, ``[solver]`` sections): tensors up to ``order`` and the
    ``tensors.json`` content."""
    from femhomog.cell.effective import homogenize_cell
    from femhomog.cell.job import build_cell

    cell = build_cell(cfg, comm)  # type: ignore[arg-type]  (same sections as a cell job)
    h = cfg.homogenization
    result = homogenize_cell(cell, order=order, method=h.method, delta=h.delta)
    summary = {**result.as_dict(), "dim": cell.dim, "dofs": cell.num_dofs,
               "degree": cell.degree, "coefficient": cell.coefficient.describe()}
    result.correctors.destroy()
    cell.solver.destroy()
    return result.tensors, summary


def read_tensors(path: str | Path, order: int, dim: int) -> tuple[EffectiveTensors,
                                                                 dict[str, Any]]:
    """Tensors up to ``order`` from the ``tensors.json`` of a ``femhomog cell`` run.

    The pairs ``a^{2r}, b^{2r}`` are rebuilt from ``a0``, ``g2``, ``g4``, ... with the
    file's ``delta`` (Lemma 4 is deterministic) and checked against the file's.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"wave.tensors_from: cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or "a0" not in data:
        raise ConfigError(f"wave.tensors_from: {path} has no 'a0' (expected the tensors.json "
                          "written by `femhomog cell`)")
    have = int(data.get("order", 0))
    if have < order:
        raise ConfigError(f"wave.tensors_from: {path} has tensors up to order {have}, "
                          f"effective.orders needs {order} (run the cell job with "
                          f"homogenization.order = {order})")
    a0 = np.asarray(data["a0"], dtype=float)
    if a0.shape != (dim, dim):
        raise ConfigError(f"wave.tensors_from: {path} is for a {a0.shape[0]}D cell, the box "
                          f"is {dim}D")
    try:
        g = [np.asarray(data[f"g{2 * r}"], dtype=float) for r in range(1, order + 1)]
        delta = [float(d) for d in data.get("delta", [])][:order]
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"wave.tensors_from: {path} is incomplete: {exc}") from None
    tensors = effective_wave_tensors(a0, g, delta=delta if len(delta) == order else None)
    for r in range(1, order + 1):
        for name, mine in ((f"a{2 * r}", tensors.a[r - 1]), (f"b{2 * r}", tensors.b[r - 1])):
            if name in data and not np.allclose(np.asarray(data[name]), mine, rtol=1e-8,
                                                atol=1e-10 * float(np.abs(mine).max() + 1)):
                raise ConfigError(f"wave.tensors_from: {path}: {name} does not follow from "
                                  "its a0, g and delta (Lemma 4); the file was edited?")
    return tensors, {**data, "tensors_from": str(path)}


# ====================================================================== box and data
def box_cells(lower: Sequence[float], upper: Sequence[float], eps: float,
              cells_per_period: int, periodic: bool) -> tuple[int, ...]:
    """Elements per axis: ``cells_per_period`` per period ``eps``.

    A periodic box must hold a whole number of periods (otherwise ``a(x/eps)`` is not
    periodic on it); a bounded box rounds up.
    """
    cells = []
    for lo, hi in zip(lower, upper, strict=True):
        periods = (hi - lo) / eps
        whole = round(periods)
        if periodic and (whole < 1 or abs(periods - whole) > 1e-9 * max(1.0, periods)):
            raise ConfigError(f"a periodic box must be a whole number of periods: "
                              f"(wave.upper - wave.lower)/wave.eps = {periods:.10g} along an "
                              "axis")
        cells.append(int(whole) * cells_per_period if periodic
                     else max(1, math.ceil(periods * cells_per_period - 1e-9)))
    return tuple(cells)


def box_mesh(comm: MPI.Comm, lower: Sequence[float], upper: Sequence[float],
             cells: Sequence[int]) -> dolfinx.mesh.Mesh:
    """Interval, quadrilateral or hexahedral mesh of ``[lower, upper]`` (periodic-ready)."""
    dim = len(cells)
    lengths = [hi - lo for lo, hi in zip(lower, upper, strict=True)]
    mesh = periodic_box_mesh(comm, dim, _CELL_TYPES[dim], list(cells), lengths=lengths)
    mesh.geometry.x[:, :dim] += np.asarray(lower, dtype=float)
    return mesh


def _grid_callable(expr: Any, dim: int) -> Any:
    """``f(X)`` with ``X`` of shape ``(d, ...)`` (a :class:`PeriodicGrid` sample)."""
    def f(X: np.ndarray) -> np.ndarray:
        return expr.evaluate(X.reshape(dim, -1).T).reshape(X.shape[1:])
    return f


def nodal_callable(expr: Any) -> Any:
    """``f(x)`` with ``x`` of shape ``(3, n)`` (dolfinx interpolation)."""
    return lambda x: expr.evaluate(x.T)


def output_times(cfg: WaveJobConfig) -> list[float]:
    """The output times: ``time.outputs`` and ``t_end``, or log-spaced ones."""
    tc = cfg.time
    if tc.outputs is not None:
        times = set(tc.outputs) | {tc.t_end}
    else:
        n = 4 * tc.samples_per_decade
        times = {tc.t_end * 10.0 ** (-4 + j / tc.samples_per_decade) for j in range(n + 1)}
        times.add(tc.t_end)
    return sorted(times)


# ====================================================================== setup
@dataclass
class WaveSetup:
    """Everything a wave run needs besides its loop.

    Attributes
    ----------
    tensors
        Effective tensors up to the highest order (None without effective orders).
    tensors_info
        The ``tensors.json`` content (computed here or read).
    wave
        The fine-scale operators (None with ``fine.enabled = false``).
    cells
        Elements per axis.
    grid, solvers, sampler
        The Fourier grid, the effective solver of each order, and the sampler of the
        fine-scale solution on the grid (None for a bounded box).
    """

    cfg: WaveJobConfig
    comm: MPI.Comm
    mesh: dolfinx.mesh.Mesh
    cells: tuple[int, ...]
    tensors: EffectiveTensors | None
    tensors_info: dict[str, Any]
    wave: FineScaleWave | None
    grid: PeriodicGrid | None
    solvers: dict[int, EffectiveFourierSolver] = field(default_factory=dict)
    sampler: GridSampler | None = None
    expressions: dict[str, Any] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return len(self.cells)

    def effective(self, t: float) -> dict[int, np.ndarray]:
        """``u~^s(t)`` on the grid for every order (exact in time)."""
        dim = self.dim
        data = {k: _grid_callable(self.expressions[k], dim) for k in ("u0", "u1", "source")}
        return {s: sol.evolve(data["u0"], t, u1=data["u1"], f=data["source"])
                for s, sol in self.solvers.items()}

    def destroy(self) -> None:
        if self.wave is not None:
            self.wave.destroy()


def build_wave(cfg: WaveJobConfig, comm: MPI.Comm) -> WaveSetup:
    """Tensors, mesh, fine-scale operators, Fourier solvers and the error grid."""
    w, fc, ec = cfg.wave, cfg.fine, cfg.effective
    dim = len(w.lower)
    periodic = w.boundary == "periodic"
    orders = list(ec.orders or [])
    tensors, info = None, {}
    if orders:
        top = max(orders)
        if w.tensors_from is not None:
            tensors, info = read_tensors(w.tensors_from, top, dim)
        else:
            tensors, info = compute_tensors(cfg, comm, top)
    exprs = {k: parse_variable_expression(getattr(w, k), "x", dim, what=f"wave.{k}")
             for k in ("u0", "u1", "source")}
    cells = box_cells(w.lower, w.upper, w.eps, fc.cells_per_period, periodic)
    mesh = box_mesh(comm, w.lower, w.upper, cells)
    wave = None
    if fc.enabled:
        coefficient = CellCoefficient.from_expression(cfg.cell.coefficient, dim)
        sources = []
        if not exprs["source"].constant or exprs["source"].value() != 0.0:
            x = ufl.SpatialCoordinate(mesh)
            sources.append(WaveSource(exprs["source"].to_ufl(x)))
        wave = FineScaleWave(mesh, coefficient, w.eps, degree=fc.degree,
                             boundary=w.boundary, sources=sources)
    grid = sampler = None
    solvers: dict[int, EffectiveFourierSolver] = {}
    if periodic:
        periods = [round((hi - lo) / w.eps) for lo, hi in zip(w.lower, w.upper, strict=True)]
        grid = PeriodicGrid.box(w.lower, w.upper,
                                [p * ec.points_per_period for p in periods])
        if tensors is not None:
            solvers = {s: EffectiveFourierSolver(tensors.truncated(s), w.eps, grid)
                       for s in orders}
        if wave is not None:
            sampler = GridSampler(mesh, grid, cells)
    return WaveSetup(cfg, comm, mesh, cells, tensors, info, wave, grid, solvers, sampler,
                     exprs)


# ====================================================================== fine-scale run
class FineRun:
    """The fine-scale solution advanced piece by piece to requested times.

    Chebyshev propagation (exact in time, ``f = 0``) splits an interval into equal
    pieces of series degree at most :data:`CHEBYSHEV_MAX_DEGREE`; the leapfrog schemes
    take steps of a fixed ``tau`` (the stability limit times ``fine.cfl_safety``, fitted
    to the first output time) in pieces of :data:`LEAPFROG_CHUNK` steps; an output time
    that is not a multiple of ``tau`` is reached at the nearest multiple (the effective
    solutions are then compared at that time).

    Attributes
    ----------
    t : float
        Current time.
    pieces : int
        Propagation pieces done (the loop's "steps").
    """

    def __init__(self, wave: FineScaleWave, propagator: str, u0: Any, u1: Any, *,
                 first_output: float, cfl_safety: float = 0.9) -> None:
        self.wave = wave
        self.propagator = propagator
        self.pieces = 0
        if propagator == "chebyshev":
            self.integrator: Any = ChebyshevPropagator(wave, u0, u1, interval=first_output)
            self.piece = self.integrator.max_interval(CHEBYSHEV_MAX_DEGREE)
            self.tau = None
        else:
            tau_max = wave.stable_step(propagator, cfl_safety)
            self.tau = LeapfrogStepper.fit_step(first_output, tau_max)
            self.integrator = LeapfrogStepper(wave, u0, u1, tau=self.tau, scheme=propagator)

    @property
    def t(self) -> float:
        return float(self.integrator.t)

    @property
    def u(self) -> PETSc.Vec:
        return self.integrator.u

    def reachable(self, t: float) -> float:
        """The time the run stops at for an output at ``t``."""
        if self.tau is None:
            return float(t)
        return max(1, round(t / self.tau)) * self.tau

    def plan(self, t_from: float, t_to: float) -> tuple[int, float]:
        """Pieces and piece length (Chebyshev) or steps per piece (leapfrog) from
        ``t_from`` to ``t_to``."""
        if self.tau is None:
            n = max(1, math.ceil((t_to - t_from) / self.piece - 1e-12))
            return n, (t_to - t_from) / n
        steps = round(t_to / self.tau) - round(t_from / self.tau)
        return max(0, math.ceil(steps / LEAPFROG_CHUNK)), float(LEAPFROG_CHUNK)

    def advance_piece(self, t_from: float, t_to: float, j: int, n: int) -> None:
        """Piece ``j`` (1-based) of ``n`` from ``t_from`` to ``t_to`` (:meth:`plan`)."""
        if self.tau is None:
            delta = (t_to - t_from) / n
            self.integrator.propagate(delta)
            self.integrator.t = t_to if j == n else t_from + j * delta
        else:
            target = round(t_to / self.tau)
            steps = min(LEAPFROG_CHUNK, target - self.integrator.steps)
            self.integrator.advance(steps * self.tau)
        self.pieces += 1

    def advance_to(self, t: float) -> None:
        """Advance to the output time ``t`` (>= the current time)."""
        t_from = self.t
        n, _ = self.plan(t_from, t)
        for j in range(1, n + 1):
            self.advance_piece(t_from, t, j, n)

    @property
    def matmults(self) -> int:
        if self.tau is None:
            return int(self.integrator.matmults)
        per_step = 2 if self.integrator.order == 4 else 1
        return per_step * int(self.integrator.steps)

    def norm(self) -> float:
        """``||u||_{L2}`` with the GLL quadrature (the lumped mass): ``sqrt(u^T M u)``."""
        mu = self.u.copy()
        mu.pointwiseMult(mu, self.wave.mass)
        out = float(np.sqrt(max(self.u.dot(mu), 0.0)))
        mu.destroy()
        return out

    def energy(self) -> float:
        """The conserved energy (exact for Chebyshev; the scheme's discrete one)."""
        return float(self.integrator.energy())

    def state(self) -> dict[str, PETSc.Vec]:
        """The vectors a checkpoint stores."""
        if self.tau is None:
            return {"u": self.integrator.u, "v": self.integrator.v}
        return {"u": self.integrator.u, "u_prev": self.integrator.u_prev}

    def state_names(self) -> tuple[str, ...]:
        return ("u", "v") if self.tau is None else ("u", "u_prev")

    def set_state(self, vectors: dict[str, PETSc.Vec], t: float, steps: int) -> None:
        if self.tau is None:
            self.integrator.set_state(vectors["u"], vectors["v"], t)
        else:
            self.integrator.set_state(vectors["u"], vectors["u_prev"], steps)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"propagator": self.propagator,
                               "lambda_max": self.wave.max_eigenvalue()}
        if self.tau is None:
            out.update(max_piece=self.piece, max_series_degree=CHEBYSHEV_MAX_DEGREE)
        else:
            out.update(tau=self.tau, order=self.integrator.order)
        return out

    def destroy(self) -> None:
        self.integrator.destroy()
