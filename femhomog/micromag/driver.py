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

import math
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from femhomog import (
    ConfigError,
    FemhomogError,
    SolverError,
    _fenicsx,  # noqa: F401  (must precede dolfinx / petsc4py)
)

# isort: split
import dolfinx
import dolfinx.io
from mpi4py import MPI

from femhomog.io.logging import get_logger
from femhomog.io.output import write_atomic, write_csv_atomic
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
    "Progress",
    "StepResult",
    "write_state_npz",
]

log = get_logger(__name__)

#: A remainder of a step below this fraction of the step size is rounding, not a step.
_LAND_RTOL = 1e-9
#: Test hook: every rank SIGKILLs itself right after accepted step N (its row and
#: checkpoint, if due, are written): a deterministic "killed at a random moment".
KILL_AT_STEP_ENV = "FEMHOMOG_TEST_KILL_AT_STEP"


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

    def __init__(self, path: Path, header: list[str], comm: MPI.Comm, *,
                 keep_rows: int | None = None, source: Path | None = None) -> None:
        """Start a new table, or continue one (restart) with ``keep_rows``.

        Parameters
        ----------
        path, header, comm
            The table, its columns and the communicator (rank 0 writes).
        keep_rows
            Restart: keep the header and the first ``keep_rows`` rows of
            ``source`` (the rows up to the checkpoint; later rows were written
            by the killed run and are recomputed), replace ``path`` atomically
            by them and append from there.
        source
            Table to continue (default ``path``).

        Raises
        ------
        ConfigError
            Restart only, on every rank: ``source`` is missing, has another
            header or fewer than ``keep_rows`` complete rows.
        """
        self.path = Path(path)
        self.header = list(header)
        self.comm = comm
        self.rows = 0
        self._fd: int | None = None
        if keep_rows is None:
            write_csv_atomic(self.path, self.header, [], comm)
        else:
            failure = None
            if comm.rank == 0:
                try:
                    _truncate_table(Path(source or path), self.path, self.header, keep_rows)
                except ConfigError as exc:
                    failure = str(exc)
            failure = comm.bcast(failure, root=0)
            if failure is not None:
                raise ConfigError(failure)
            self.rows = keep_rows

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


def _truncate_table(source: Path, path: Path, header: list[str], rows: int) -> None:
    """Header + first ``rows`` lines of ``source`` to ``path``, atomically (one process)."""
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise ConfigError(f"--restart: cannot read {source}: {exc.strerror or exc}") from None
    lines = data.split(b"\n")  # a last line without newline (an OS crash) is dropped
    complete = lines[:-1]
    want = ",".join(header).encode("ascii")
    if not complete or complete[0] != want:
        got = complete[0].decode("ascii", "replace") if complete else "(empty)"
        raise ConfigError(f"--restart: {source} has the header {got!r}, expected "
                          f"{want.decode()!r}")
    if len(complete) - 1 < rows:
        raise ConfigError(f"--restart: {source} has {len(complete) - 1} rows, the checkpoint "
                          f"needs the first {rows}")
    try:
        write_atomic(path, b"\n".join(complete[: rows + 1]) + b"\n")
    except OSError as exc:
        raise ConfigError(f"--restart: cannot write {path}: {exc.strerror or exc}") from None


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
        xs = np.concatenate([p[0] for p in parts])
        ms = np.concatenate([p[1] for p in parts])
        try:
            write_atomic(Path(path), lambda f: np.savez(f, x=xs, m=ms, t=np.float64(problem.t)))
        except OSError as exc:
            failure = f"cannot write {path}: {exc.strerror or exc}"
    failure = problem.comm.bcast(failure, root=0)
    if failure is not None:
        raise FemhomogError(failure)
    return Path(path)


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

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LoopStats:
        """Inverse of ``dataclasses.asdict`` (nondimensional, as in checkpoints)."""
        return cls(**{k: state[k] for k in cls.__dataclass_fields__})


# ====================================================================== progress
def _stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


class Progress:
    """Progress of a time loop on rank 0: a bar when interactive, log lines in batch.

    Interactive means that stderr is a terminal (on rank 0: under ``mpirun`` the
    launcher forwards rank 0's stderr, usually through a pipe, so parallel runs
    log lines unless the launcher passes the terminal through).  The bar is
    `tqdm <https://tqdm.github.io>`_, created on rank 0 only and never involved
    in communication, so it works unchanged under MPI; while it is shown, log
    records of the ``femhomog`` logger are printed above it
    (:func:`tqdm.contrib.logging.logging_redirect_tqdm`).  Batch runs log one
    line at most every ``interval`` seconds of wall time (and at the end).

    Parameters
    ----------
    interval
        Seconds between log lines (0: every output row); None: no progress.
    t_end
        Final time in output units.
    time_unit
        ``"s"`` for SI runs.
    comm
        The run's communicator (only rank 0 reports).
    t_start
        Start time in output units (a restart's checkpoint time).
    interactive
        Force bar (True) or lines (False); default: whether stderr is a TTY.
    """

    def __init__(self, interval: float | None, t_end: float, time_unit: str, comm: MPI.Comm,
                 *, t_start: float = 0.0, interactive: bool | None = None) -> None:
        self.interval = interval
        self.t_end = float(t_end)
        self.unit = " s" if time_unit == "s" else ""
        self.enabled = interval is not None and comm.rank == 0
        self.interactive = bool(self.enabled and (_stderr_is_tty() if interactive is None
                                                  else interactive))
        self._last_log = -math.inf
        self._wall0 = time.perf_counter()
        self.bar: Any = None
        self._redirect: Any = None
        if self.interactive:
            import logging

            from tqdm import tqdm
            from tqdm.contrib.logging import logging_redirect_tqdm

            self.bar = tqdm(
                total=self.t_end, initial=float(t_start), file=sys.stderr, dynamic_ncols=True,
                mininterval=0.25, leave=True,
                bar_format="{percentage:5.1f}%|{bar}| t = {n:.4g}/{total:.4g}" + self.unit
                + " [{elapsed}<{remaining}{postfix}]",
            )
            self._redirect = logging_redirect_tqdm(loggers=[logging.getLogger("femhomog")])
            self._redirect.__enter__()

    def step(self, t_out: float) -> None:
        """After every step (cheap: tqdm redraws at most every 0.25 s)."""
        if self.bar is not None:
            self.bar.update(min(t_out, self.t_end) - self.bar.n)

    def row(self, row: dict[str, float], steps: int, rejected: int, final: bool) -> None:
        """After every output row: bar postfix, or a log line if one is due."""
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.set_postfix_str(f"steps {steps}, E = {row['E_total']:.8g}", refresh=False)
            self.step(row["t"])
            if not final:
                return
        now = time.perf_counter()
        assert self.interval is not None
        if not final and steps and now - self._last_log < self.interval:
            return
        self._last_log = now
        self.close()  # the final line goes below the finished bar
        frac = 100.0 * row["t"] / self.t_end if self.t_end else 100.0
        log.info(
            "t = %.6g%s (%5.1f %%), steps %d (rejected %d), E = %.10g, max||m|-1| = %.1e, "
            "<m> = (%.6f, %.6f, %.6f), %.1f s",
            row["t"], self.unit, frac, steps, rejected, row["E_total"], row["norm_dev"],
            row["mx"], row["my"], row["mz"], now - self._wall0,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self._redirect is not None:
            self._redirect.__exit__(None, None, None)
            self._redirect = None




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
        None: no progress); a bar instead when stderr is a TTY (:class:`Progress`).
    checkpointer
        Optional :class:`femhomog.micromag.checkpoint.Checkpointer`: written
        every ``checkpoint_every`` steps and/or after ``checkpoint_wall`` seconds
        of wall time since the last one (0: off), and then also at the start
        (not on a restart) and at the end.
    interactive
        Passed to :class:`Progress` (default: whether stderr is a TTY).

    Notes
    -----
    Everything is collective over the problem's communicator: every rank runs
    the same steps and computes the same rows; rank 0 writes.  The loop state
    (:meth:`loop_state`: ``t``, the next step size, i.e. the adaptive
    controller's state, the fixed-step anchor and the counters) is everything
    the loop carries from one step to the next besides ``m``; a run resumed
    from it (:meth:`resume`) takes bitwise the same steps as the uninterrupted
    one on the same ranks.  The output schedule is a function of it (step
    count for ``every``, ``t`` for ``dt_out``).
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
        checkpointer: Any = None,
        checkpoint_every: int = 0,
        checkpoint_wall: float = 0.0,
        interactive: bool | None = None,
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
        self.interactive = interactive
        self.checkpointer = checkpointer
        self.checkpoint_every = int(checkpoint_every)
        self.checkpoint_wall = float(checkpoint_wall)
        self.stats = LoopStats(t=self.problem.t)
        self.last_row: dict[str, float] = {}
        self._h_next = self.dt
        self._anchor_t, self._anchor_n = self.problem.t, 0  # fixed steps: t = t_a + n dt
        self._resumed = False
        self._last_checkpoint = time.monotonic()
        self._progress: Progress | None = None
        kill = os.environ.get(KILL_AT_STEP_ENV, "")
        self._kill_at = int(kill) if kill.isdigit() else 0

    @staticmethod
    def header(problem: LLGProblem) -> list[str]:
        """``t,mx,my,mz,E_<term>...,E_total,norm_dev`` for the terms of ``problem``."""
        return ["t", "mx", "my", "mz", *[f"E_{t.name}" for t in problem.terms], "E_total",
                "norm_dev"]

    # ------------------------------------------------------------------ state
    def loop_state(self) -> dict[str, Any]:
        """JSON-serialisable loop state (nondimensional; see the class notes)."""
        return {
            "loop": {
                "t": self.problem.t,
                "h_next": self._h_next,
                "anchor_t": self._anchor_t,
                "anchor_n": self._anchor_n,
                "dt": self.dt,
                "stats": asdict(self.stats),
            },
            "rows": self.averages.rows if self.averages is not None else 0,
            "t_out": self.problem.t * self.scales.time,
        }

    def resume(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`loop_state` (``m`` restored separately): :meth:`run` then
        writes no initial row and no initial checkpoint."""
        loop = state["loop"]
        self.problem.t = float(loop["t"])
        self._h_next = float(loop["h_next"])
        self._anchor_t = float(loop["anchor_t"])
        self._anchor_n = int(loop["anchor_n"])
        self.stats = LoopStats.from_state(loop["stats"])
        self._resumed = True

    def _checkpoint_due(self, at_end: bool) -> bool:
        """Same verdict on every rank (the wall clock of rank 0 decides)."""
        if self.checkpointer is None:
            return False
        if self.checkpoint_every <= 0 and self.checkpoint_wall <= 0:
            return False
        if at_end or (self.checkpoint_every > 0
                      and self.stats.steps % self.checkpoint_every == 0):
            return True
        if self.checkpoint_wall > 0:
            late = time.monotonic() - self._last_checkpoint >= self.checkpoint_wall
            return bool(self.problem.comm.bcast(late, root=0))
        return False

    def checkpoint(self) -> None:
        """Write a checkpoint now (collective)."""
        if self.checkpointer is None:
            return
        self.checkpointer.write(self.loop_state())
        self._last_checkpoint = time.monotonic()

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
        if self._progress is not None:
            self._progress.row(row, self.stats.steps, self.stats.rejected_steps, final)
        return row

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
        self._progress = Progress(self.progress, self.t_end * self.scales.time,
                                  self.scales.time_unit, self.problem.comm,
                                  t_start=self.problem.t * self.scales.time,
                                  interactive=self.interactive)
        try:
            return self._run()
        finally:
            self._progress.close()

    def _run(self) -> LoopStats:
        prob, stats = self.problem, self.stats
        self._last_checkpoint = time.monotonic()
        if not self._resumed:
            self.record()
            if self._checkpoint_due(at_end=True):  # the start, if checkpoints are on
                self.checkpoint()
        while True:
            h_next = self._h_next
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
                self._anchor_t, self._anchor_n = target, 0
            elif not self.stepper.adaptive and res.dt == self.dt:
                self._anchor_n += 1
                prob.t = self._anchor_t + self._anchor_n * self.dt
            else:
                self._anchor_t, self._anchor_n = prob.t, 0
            if res.dt_next is not None:
                # a step shortened to hit an output time says little about the next one
                self._h_next = max(res.dt_next, h_next) if clipped else res.dt_next
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
            elif self._progress is not None:
                self._progress.step(prob.t * self.scales.time)
            if self._checkpoint_due(at_end):
                self.checkpoint()
            if self._kill_at and stats.steps == self._kill_at:
                sys.stderr.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            if at_end:
                break
        return stats

    def close(self) -> None:
        if self._progress is not None:
            self._progress.close()
        if self.averages is not None:
            self.averages.close()
        if self.fields is not None:
            self.fields.close()
