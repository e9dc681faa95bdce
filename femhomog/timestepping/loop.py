"""The time loop: steps to ``t_end``, landing exactly on output times; outputs, checkpoints.

:class:`TimeLoop` advances any problem through a stepper
(:mod:`.protocol`) and calls its recorders (:mod:`.recorders`) at output times:
every ``every`` accepted steps, or at the multiples of ``dt_out``; always at the
start and at ``t_end``.  It knows no physics.

Times
-----
With a fixed step the time after ``n`` regular steps is computed as
``t_anchor + n dt`` rather than summed, so output times are exact multiples of
``dt`` up to one rounding; steps are shortened to land exactly on output times
(``dt_out``) and on ``t_end``, and a remainder below ``1e-9 dt`` is never taken
as a separate step.

Restart
-------
The loop state (:meth:`TimeLoop.loop_state`: ``t``, the next step size, i.e.
the adaptive controller's state, the fixed-step anchor and the counters) is
everything the loop carries from one step to the next besides the problem's
state; a run resumed from it (:meth:`TimeLoop.resume`) takes bitwise the same
steps as the uninterrupted one on the same ranks.  The output schedule is a
function of it (step count for ``every``, ``t`` for ``dt_out``).  On one rank
it is bitwise; on several ranks the parallel direct solver (MUMPS) does not
reduce in a fixed order, so two runs -- interrupted or not -- agree to solver
round-off (~1e-14), not bitwise.

Signals
-------
While :meth:`TimeLoop.run` runs, SIGTERM, SIGINT and SIGUSR1 (with the handlers
of :func:`femhomog.timestepping.stop.stop_on_signals` installed, as the command
line does) are only recorded; at every step boundary the ranks agree on them
(one small allreduce, which also carries the wall-clock checkpoint verdict) and
on a signal all write a checkpoint and raise
:class:`~femhomog.timestepping.stop.RunStopped`.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from femhomog import SolverError
from femhomog.timestepping.progress import Progress, RowFormat
from femhomog.timestepping.protocol import LoopStats
from femhomog.timestepping.stop import RunStopped, StopFlag, deferring, signal_hook

__all__ = ["KILL_AT_STEP_ENV", "TimeLoop"]

#: A remainder of a step below this fraction of the step size is rounding, not a step.
_LAND_RTOL = 1e-9
#: Test hook: every rank SIGKILLs itself right after accepted step N (its row and
#: checkpoint, if due, are written): a deterministic "killed at a random moment".
KILL_AT_STEP_ENV = "FEMHOMOG_TEST_KILL_AT_STEP"
def _step_failure(exc: BaseException) -> str | None:
    """The one-line reason of a failed step, None if ``exc`` is not a step failure.

    A :class:`SolverError`, or a PETSc error escaping an integrator (e.g. a
    linear solver left in an error state): the run must end with a one-line
    error and ``failed``, not a traceback.  PETSc errors of a collective
    operation are raised on every rank.
    """
    if isinstance(exc, SolverError):
        return str(exc)
    if type(exc).__module__.startswith("petsc4py"):
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        code = getattr(exc, "ierr", None)
        last = lines[-1].removeprefix("[0] ") if len(lines) > 1 else ""
        return f"PETSc error {code}" + (f" ({last})" if last else "")
    return None


class TimeLoop:
    """Advance ``stepper.problem`` to ``t_end`` and call the recorders at output times.

    Parameters
    ----------
    stepper
        :class:`~.protocol.FixedStepper`, :class:`~.protocol.AdaptiveStepper` or
        any object with ``problem`` (``t``, ``comm``), ``adaptive`` and
        ``advance(dt) -> StepResult``.
    dt, t_end
        (Initial) step and final time, in the problem's time unit.
    every, dt_out
        Output every ``every`` accepted steps, or at the multiples of ``dt_out``
        (steps are shortened to hit them).  Exactly one is given.
    recorders
        Called at output times with the time in output units (:mod:`.recorders`).
    time_scale, time_unit
        Output time = ``time_scale * t``; ``time_unit`` (``"s"`` shows seconds).
    progress
        Seconds of wall time between progress log lines (0: every output step;
        None: no progress); a bar instead when stderr is a TTY (:class:`Progress`).
    line, postfix
        Physics part of progress lines and of the bar postfix (:class:`Progress`).
    checkpointer
        Optional :class:`~.checkpoint.Checkpointer`: written on its schedule
        (``every`` steps and/or ``wall`` seconds; none if both are 0), and then
        also at the start (not on a resumed run) and at the end.
    interactive
        Passed to :class:`Progress` (default: whether stderr is a TTY).
    name
        Names the loop in error messages (e.g. ``"LLG"``).

    Notes
    -----
    Everything is collective over the problem's communicator: every rank runs
    the same steps and computes the same rows; rank 0 writes.
    """

    def __init__(
        self,
        stepper: Any,
        *,
        dt: float,
        t_end: float,
        every: int | None = None,
        dt_out: float | None = None,
        recorders: Sequence[Any] = (),
        time_scale: float = 1.0,
        time_unit: str = "",
        progress: float | None = None,
        line: RowFormat | None = None,
        postfix: RowFormat | None = None,
        checkpointer: Any = None,
        interactive: bool | None = None,
        name: str = "time",
    ) -> None:
        if (every is None) == (dt_out is None):
            raise ValueError("give exactly one of every and dt_out")
        if every is not None and (isinstance(every, bool) or int(every) != every or every < 1):
            raise ValueError(f"every must be an integer >= 1, got {every!r}")
        if dt_out is not None and not (dt_out > 0 and math.isfinite(dt_out)):
            raise ValueError(f"dt_out must be positive, got {dt_out!r}")
        if not (dt > 0 and t_end > 0 and math.isfinite(dt) and math.isfinite(t_end)):
            raise ValueError(f"dt and t_end must be positive, got {dt!r}, {t_end!r}")
        self.stepper = stepper
        self.problem = stepper.problem
        self.comm = self.problem.comm
        self.dt = float(dt)
        self.t_end = float(t_end)
        self.every = every
        self.dt_out = dt_out
        self.recorders = list(recorders)
        self.time_scale = float(time_scale)
        self.time_unit = time_unit
        self.progress = progress
        self.line, self.postfix = line, postfix
        self.interactive = interactive
        self.checkpointer = checkpointer
        self.name = name
        self.stats = LoopStats(t=self.problem.t)
        self.last_row: dict[str, float] = {}
        self.rows = 0  # output rows (all recorders record at the same times)
        self._h_next = self.dt
        self._anchor_t, self._anchor_n = self.problem.t, 0  # fixed steps: t = t_a + n dt
        self._resumed = False
        self._last_checkpoint = time.monotonic()
        self._progress: Progress | None = None
        self._agreement = StopFlag(self.comm)
        kill = os.environ.get(KILL_AT_STEP_ENV, "")
        self._kill_at = int(kill) if kill.isdigit() else 0
        self._signal_at = signal_hook()

    # ------------------------------------------------------------------ state
    def loop_state(self) -> dict[str, Any]:
        """JSON-serialisable loop state (problem time unit; see the module notes)."""
        return {
            "loop": {
                "t": self.problem.t,
                "h_next": self._h_next,
                "anchor_t": self._anchor_t,
                "anchor_n": self._anchor_n,
                "dt": self.dt,
                "stats": asdict(self.stats),
                **({"history": h} if (h := self._stepper_history()) is not None else {}),
            },
            "rows": self.rows,
            "t_out": self.problem.t * self.time_scale,
        }

    def resume(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`loop_state` (the problem's state restored separately):
        :meth:`run` then continues the tables from their first ``state["rows"]`` rows
        and writes no initial row and no initial checkpoint."""
        loop = state["loop"]
        self.problem.t = float(loop["t"])
        self._h_next = float(loop["h_next"])
        self._anchor_t = float(loop["anchor_t"])
        self._anchor_n = int(loop["anchor_n"])
        self.stats = LoopStats.from_state(loop["stats"])
        set_history = getattr(self.stepper, "set_history", None)
        if callable(set_history) and loop.get("history") is not None:
            set_history(loop["history"])
        self.rows = int(state["rows"])
        self._resumed = True

    def _stepper_history(self) -> dict[str, Any] | None:
        history = getattr(self.stepper, "history", None)
        return history() if callable(history) else None

    def _late(self) -> bool:
        """A checkpoint is due by wall time on this rank (rank 0's verdict counts)."""
        ck = self.checkpointer
        return (ck is not None and ck.enabled and ck.wall > 0
                and time.monotonic() - self._last_checkpoint >= ck.wall)

    def _checkpoint_due(self, at_end: bool, late: bool = False) -> bool:
        """Same verdict on every rank (``late``: rank 0's wall clock, agreed by the caller)."""
        ck = self.checkpointer
        if ck is None or not ck.enabled:
            return False
        return at_end or (ck.every > 0 and self.stats.steps % ck.every == 0) or late

    def checkpoint(self) -> None:
        """Write a checkpoint now (collective)."""
        if self.checkpointer is None:
            return
        self.checkpointer.write(self.loop_state())
        self._last_checkpoint = time.monotonic()

    # ------------------------------------------------------------------ rows
    def record(self, final: bool = False) -> dict[str, float]:
        """Call every recorder now (collective); returns the merged scalar row."""
        t_out = self.problem.t * self.time_scale
        row: dict[str, float] = {"t": t_out}
        for rec in self.recorders:
            values = rec.record(t_out)
            if values:
                row.update(values)
        self.rows += 1
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
        """Open the recorders; row at the start, steps to ``t_end`` with rows at output
        times, final row.

        Raises
        ------
        SolverError
            A step failed; the message says when (in output units) and after
            how many steps.  Rows written so far stay in the tables.
        """
        keep = self.rows if self._resumed else None
        for rec in self.recorders:
            rec.open(self.comm, keep_rows=keep)
        self._progress = Progress(self.progress, self.t_end * self.time_scale, self.time_unit,
                                  self.comm, t_start=self.problem.t * self.time_scale,
                                  interactive=self.interactive, line=self.line,
                                  postfix=self.postfix)
        try:
            with deferring():
                return self._run()
        finally:
            self._progress.close()

    def _stopped(self, signum: int, checkpointed: bool) -> RunStopped:
        """The final checkpoint (unless one was just written) and the exception (collective)."""
        path = None
        if self.checkpointer is not None:
            if not checkpointed:
                self.checkpoint()
            path = str(self.checkpointer.path)
        t_out = self.problem.t * self.time_scale
        unit = " s" if self.time_unit == "s" else ""
        return RunStopped(signum, collective=True, checkpoint=path,
                          where=f"at t = {t_out:.6g}{unit} after {self.stats.steps} steps")

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
            except Exception as exc:
                detail = _step_failure(exc)
                if detail is None:
                    raise
                t_out = prob.t * self.time_scale
                unit = " s" if self.time_unit == "s" else ""
                raise SolverError(
                    f"{self.name} time loop failed at t = {t_out:.6g}{unit} after "
                    f"{stats.steps} steps: {detail}"
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
                self._progress.step(prob.t * self.time_scale)
            # the one per-step collective: a signal on any rank, rank 0's wall clock
            signum, late = self._agreement.agree(self._late())
            checkpointed = self._checkpoint_due(at_end, late)
            if checkpointed:
                self.checkpoint()
            if signum and not at_end:
                raise self._stopped(signum, checkpointed)
            self._signal_at.fire(stats.steps, self.comm.rank)
            if self._kill_at and stats.steps == self._kill_at:
                sys.stderr.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            if at_end:
                break
        return stats

    def finish(self) -> None:
        """After a successful :meth:`run`: the recorders' end-of-run outputs."""
        for rec in self.recorders:
            rec.finish()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.close()
        for rec in self.recorders:
            rec.close()
