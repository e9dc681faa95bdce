"""Time loop of LLG runs: stepping to output times, ``averages.csv``, VTX fields, progress.

No physics and no configuration here: :class:`LLGDriver` advances an
:class:`~femhomog.micromag.problem.LLGProblem` with any integrator of
:mod:`femhomog.micromag` (wrapped in a :class:`FixedStepper` or an
:class:`AdaptiveStepper`) and records the state at output times.  The job
(:mod:`femhomog.micromag.job`) builds the problem from a config and decides the
units of the output through :class:`OutputScales`.

averages.csv durability
-----------------------
The table is *appended* one row per output step, not rewritten: rewriting a
table of ``n`` rows at each of ``n`` output steps costs ``O(n^2)`` I/O, which
matters for long runs.  The header is written atomically (temporary file +
rename) when the run starts; every row is then a single ``write(2)`` of one
complete line to a file opened with ``O_APPEND``, followed by ``fsync``.  A
signal cannot split a ``write`` to a regular file, so a killed run leaves
exactly the rows written so far, each complete and on disk.  Only an
operating-system crash in the middle of a ``write`` could leave a last line
without its newline; readers can drop such a line.

Times
-----
With a fixed step the time after ``n`` regular steps is computed as
``t_anchor + n dt`` rather than summed, so output times are exact multiples of
``dt`` up to one rounding; steps are shortened to land exactly on output times
(``dt_out``) and on ``t_end``, and a remainder below ``1e-9 dt`` is never taken
as a separate step.
"""

from __future__ import annotations

import io
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from femhomog import (
    FemhomogError,
    SolverError,
    _fenicsx,  # noqa: F401  (must precede dolfinx / petsc4py)
)

# isort: split
import dolfinx
import dolfinx.io
from mpi4py import MPI

from femhomog.io.logging import get_logger
from femhomog.io.output import write_csv_atomic
from femhomog.micromag.midpoint import MidpointIntegrator
from femhomog.micromag.problem import LLGProblem
from femhomog.micromag.tangent_plane import TangentPlaneIntegrator

__all__ = [
    "AdaptiveStepper",
    "AveragesTable",
    "FixedStepper",
    "LLGDriver",
    "LoopStats",
    "OutputScales",
    "StepResult",
    "write_state_npz",
]

log = get_logger(__name__)

#: A remainder of a step below this fraction of the step size is rounding, not a step.
_LAND_RTOL = 1e-9


# ====================================================================== steppers
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


class FixedStepper:
    """Steps of the requested size with :meth:`TangentPlaneIntegrator.step` or
    :meth:`MidpointIntegrator.step` (halved only after solver failures)."""

    adaptive = False

    def __init__(self, integrator: TangentPlaneIntegrator | MidpointIntegrator) -> None:
        self.integrator = integrator
        self.problem: LLGProblem = integrator.problem

    def advance(self, dt: float) -> StepResult:
        info = self.integrator.step(dt)
        return StepResult(dt=info.dt, retries=info.retries, iterations=info.iterations)

    def describe(self) -> dict[str, Any]:
        it = self.integrator
        out: dict[str, Any] = {"name": _integrator_name(it), "adaptive": False,
                               "linear_solver": it.solver, "max_retries": it.max_retries}
        if isinstance(it, TangentPlaneIntegrator):
            out["theta"] = it.theta
        return out


class AdaptiveStepper:
    """Step-doubling steps of :meth:`MidpointIntegrator.adaptive_step` with tolerance ``tol``."""

    adaptive = True

    def __init__(self, integrator: MidpointIntegrator, tol: float) -> None:
        self.integrator = integrator
        self.problem: LLGProblem = integrator.problem
        self.tol = float(tol)

    def advance(self, dt: float) -> StepResult:
        info = self.integrator.adaptive_step(dt, self.tol)
        return StepResult(dt=info.dt, rejected=info.rejected, iterations=info.iterations,
                          dt_next=info.dt_next)

    def describe(self) -> dict[str, Any]:
        return {"name": "midpoint", "adaptive": True, "tol": self.tol,
                "linear_solver": self.integrator.solver}


def _integrator_name(integrator: Any) -> str:
    return "tangent_plane" if isinstance(integrator, TangentPlaneIntegrator) else "midpoint"


# ====================================================================== output files
@dataclass(frozen=True)
class OutputScales:
    """Nondimensional -> output units of the written times and energies.

    Attributes
    ----------
    time : float
        Output time = ``time * t`` (``T`` in seconds for SI runs, 1 otherwise).
    energy : float
        Output energy = ``energy * E`` (``mu0 Ms^2 L^d`` in SI, 1 otherwise).
    time_unit, energy_unit : str
        Names of the units (for run.json and log lines).
    """

    time: float = 1.0
    energy: float = 1.0
    time_unit: str = "nondimensional"
    energy_unit: str = "nondimensional"


class AveragesTable:
    """``averages.csv``: header written atomically, then one fsynced row per output step.

    Collective on ``comm``: rank 0 writes, and a write failure raises
    :class:`femhomog.FemhomogError` on every rank.
    """

    def __init__(self, path: Path, header: list[str], comm: MPI.Comm) -> None:
        self.path = Path(path)
        self.header = list(header)
        self.comm = comm
        self.rows = 0
        self._fd: int | None = None
        write_csv_atomic(self.path, self.header, [], comm)

        def open_() -> None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)

        self._on_root(open_)

    def _on_root(self, action: Any) -> None:
        failure = None
        if self.comm.rank == 0:
            try:
                action()
            except OSError as exc:
                failure = f"cannot write {self.path}: {exc.strerror or exc}"
        failure = self.comm.bcast(failure, root=0)
        if failure is not None:
            raise FemhomogError(failure)

    def append(self, row: list[float]) -> None:
        """Append one complete line (one ``write`` + ``fsync``; see the module docstring)."""
        if len(row) != len(self.header):
            raise ValueError(f"row has {len(row)} entries, header {len(self.header)}")
        line = (",".join(repr(float(v)) for v in row) + "\n").encode("ascii")

        def write() -> None:
            assert self._fd is not None
            view = memoryview(line)
            while view:  # regular files take the whole line at once; loop for safety
                view = view[os.write(self._fd, view):]
            os.fsync(self._fd)

        self._on_root(write)
        self.rows += 1

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class FieldWriter:
    """``m`` at the output times, as VTX (ADIOS2 BP4) for ParaView; times in output units."""

    def __init__(self, path: Path, problem: LLGProblem) -> None:
        self.path = Path(path)
        self._vtx = dolfinx.io.VTXWriter(problem.comm, str(self.path), [problem.m], engine="BP4")
        self.frames = 0

    def write(self, t: float) -> None:
        self._vtx.write(t)
        self.frames += 1

    def close(self) -> None:
        self._vtx.close()


def write_state_npz(path: Path, problem: LLGProblem, length_scale: float = 1.0) -> Path:
    """Nodal state ``x`` (nodes, in ``length_scale`` units), ``m`` and ``t`` to an ``.npz``.

    Gathers the owned nodes on rank 0 (every node once) and writes atomically;
    collective, failures raise :class:`femhomog.FemhomogError` on every rank.
    The file is what ``initial.type = "file"`` reads (values matched by position).
    """
    n = problem.num_owned_nodes
    x = problem.V.tabulate_dof_coordinates()[:n] * length_scale
    m = problem.owned_values().copy()
    parts = problem.comm.gather((x, m), root=0)
    failure = None
    if problem.comm.rank == 0:
        assert parts is not None
        buf = io.BytesIO()
        np.savez(buf, x=np.concatenate([p[0] for p in parts]),
                 m=np.concatenate([p[1] for p in parts]), t=np.float64(problem.t))
        try:
            _write_bytes_atomic(Path(path), buf.getvalue())
        except OSError as exc:
            failure = f"cannot write {path}: {exc.strerror or exc}"
    failure = problem.comm.bcast(failure, root=0)
    if failure is not None:
        raise FemhomogError(failure)
    return Path(path)


def _write_bytes_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# ====================================================================== the loop
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
    t: float = 0.0  # nondimensional time reached

    def add(self, res: StepResult) -> None:
        self.steps += 1
        self.rejected_steps += res.rejected
        self.retries += res.retries
        self.iterations += res.iterations
        self.dt_min = min(self.dt_min, res.dt)
        self.dt_max = max(self.dt_max, res.dt)

    def as_dict(self, time_scale: float = 1.0) -> dict[str, Any]:
        out = asdict(self)
        out["t"] = self.t * time_scale
        out["dt_min"] = self.dt_min * time_scale if self.steps else None
        out["dt_max"] = self.dt_max * time_scale if self.steps else None
        return out


class LLGDriver:
    """Advance an LLG problem to ``t_end`` and record averages at output times.

    Parameters
    ----------
    stepper
        :class:`FixedStepper` or :class:`AdaptiveStepper` (holds the problem).
    dt, t_end
        (Initial) step and final time, nondimensional.
    every, dt_out
        Output every ``every`` accepted steps, or at the multiples of ``dt_out``
        (nondimensional; steps are shortened to hit them).  Exactly one is given.
        A row is always written at ``t = 0`` and at ``t_end``.
    averages
        The table to append to (header :meth:`header`).
    scales
        Units of written times and energies.
    fields
        Optional VTX writer of ``m``.
    progress
        Seconds of wall time between progress log lines (0: every output step;
        None: no progress lines).

    Notes
    -----
    Everything is collective over the problem's communicator: every rank runs
    the same steps and computes the same rows; rank 0 writes.
    """

    def __init__(
        self,
        stepper: FixedStepper | AdaptiveStepper,
        *,
        dt: float,
        t_end: float,
        every: int | None = None,
        dt_out: float | None = None,
        averages: AveragesTable | None = None,
        scales: OutputScales = OutputScales(),
        fields: FieldWriter | None = None,
        progress: float | None = None,
    ) -> None:
        if (every is None) == (dt_out is None):
            raise ValueError("give exactly one of every and dt_out")
        if not (dt > 0 and t_end > 0 and math.isfinite(dt) and math.isfinite(t_end)):
            raise ValueError(f"dt and t_end must be positive, got {dt!r}, {t_end!r}")
        self.stepper = stepper
        self.problem = stepper.problem
        self.dt = float(dt)
        self.t_end = float(t_end)
        self.every = every
        self.dt_out = dt_out
        self.averages = averages
        self.scales = scales
        self.fields = fields
        self.progress = progress
        self.stats = LoopStats(t=self.problem.t)
        self.last_row: dict[str, float] = {}
        self._wall0 = time.perf_counter()
        self._last_log = -math.inf

    @staticmethod
    def header(problem: LLGProblem) -> list[str]:
        """``t,mx,my,mz,E_<term>...,E_total,norm_dev`` for the terms of ``problem``."""
        return ["t", "mx", "my", "mz", *[f"E_{t.name}" for t in problem.terms], "E_total",
                "norm_dev"]

    # ------------------------------------------------------------------ rows
    def record(self, final: bool = False) -> dict[str, float]:
        """Averages, energies and ``max | |m_i| - 1 |`` now; append/write/log (collective)."""
        prob, sc = self.problem, self.scales
        avg = prob.average()
        energies = prob.energies()
        norm_dev = prob.norm_deviation()
        t_out = prob.t * sc.time
        row = {"t": t_out, "mx": avg[0], "my": avg[1], "mz": avg[2]}
        for term in prob.terms:
            row[f"E_{term.name}"] = energies[term.name] * sc.energy
        row["E_total"] = energies["total"] * sc.energy
        row["norm_dev"] = norm_dev
        row = {k: float(v) for k, v in row.items()}
        if self.averages is not None:
            self.averages.append([row[k] for k in self.averages.header])
        if self.fields is not None:
            self.fields.write(t_out)
        self.stats.outputs += 1
        self.last_row = row
        self._log_progress(row, final)
        return row

    def _log_progress(self, row: dict[str, float], final: bool) -> None:
        if self.progress is None:
            return
        now = time.perf_counter()
        if not final and self.stats.steps and now - self._last_log < self.progress:
            return
        self._last_log = now
        frac = 100.0 * self.problem.t / self.t_end
        unit = " s" if self.scales.time_unit == "s" else ""
        log.info(
            "t = %.6g%s (%5.1f %%), steps %d (rejected %d), E = %.10g, max||m|-1| = %.1e, "
            "<m> = (%.6f, %.6f, %.6f), %.1f s",
            row["t"], unit, frac, self.stats.steps, self.stats.rejected_steps, row["E_total"],
            row["norm_dev"], row["mx"], row["my"], row["mz"], now - self._wall0,
        )

    # ------------------------------------------------------------------ loop
    def _next_target(self, t: float, tol: float) -> float:
        """Next time the loop must land on exactly: the next output time or t_end."""
        if self.dt_out is None:
            return self.t_end
        k = math.floor((t + tol) / self.dt_out) + 1
        return min(self.t_end, k * self.dt_out)

    def run(self) -> LoopStats:
        """Row at the start, steps to ``t_end`` with rows at output times, final row.

        Raises
        ------
        SolverError
            A step failed; the message says when (in output units) and after
            how many steps.  Rows written so far stay in the table.
        """
        prob, stats = self.problem, self.stats
        self._wall0 = time.perf_counter()
        self.record()
        h_next = self.dt
        anchor_t, anchor_n = prob.t, 0  # fixed steps: t = anchor_t + anchor_n * dt
        while True:
            tol = _LAND_RTOL * h_next + 4 * np.finfo(float).eps * self.t_end
            if prob.t >= self.t_end - tol:
                break
            target = self._next_target(prob.t, tol)
            remaining = target - prob.t
            clipped = remaining <= h_next * (1 + _LAND_RTOL)
            # a remainder equal to the step up to rounding is the step itself (t is snapped)
            h = remaining if clipped and abs(remaining - h_next) > tol else h_next
            try:
                res = self.stepper.advance(h)
            except SolverError as exc:
                t_out = prob.t * self.scales.time
                unit = " s" if self.scales.time_unit == "s" else ""
                raise SolverError(
                    f"LLG time loop failed at t = {t_out:.6g}{unit} after {stats.steps} steps: "
                    f"{exc}"
                ) from None
            stats.add(res)
            landed = clipped and res.dt == h
            if landed:
                prob.t = target  # exact, whatever rounding the integrator's t += dt made
                anchor_t, anchor_n = target, 0
            elif not self.stepper.adaptive and res.dt == self.dt:
                anchor_n += 1
                prob.t = anchor_t + anchor_n * self.dt
            else:
                anchor_t, anchor_n = prob.t, 0
            if res.dt_next is not None:
                # a step shortened to hit an output time says little about the next one
                h_next = max(res.dt_next, h_next) if clipped else res.dt_next
            at_end = prob.t >= self.t_end - tol
            if at_end:
                prob.t = self.t_end  # steps never overshoot t_end by more than rounding
            stats.t = prob.t
            if self.every is not None:
                due = stats.steps % self.every == 0 or at_end
            else:
                due = landed or at_end
            if due:
                self.record(final=at_end)
            if at_end:
                break
        return stats

    def close(self) -> None:
        if self.averages is not None:
            self.averages.close()
        if self.fields is not None:
            self.fields.close()
