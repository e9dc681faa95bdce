"""The public facade: run a time-dependent problem with outputs, checkpoints and run.json.

::

    from femhomog import ScalarLog, Simulation
    from femhomog.micromag import LLGProblem, MidpointIntegrator, Zeeman, llg_columns

    problem = LLGProblem(mesh, [Zeeman((0, 0, 2.0))], alpha=0.3, m0=(1, 0, 0))
    sim = Simulation(problem, MidpointIntegrator(problem),
                     outputs=[ScalarLog("averages.csv", llg_columns(problem))])
    sim.run(1.0, dt=0.01, dt_out=0.1)

:class:`Simulation` wraps the integrator in a stepper, runs
:class:`femhomog.timestepping.TimeLoop`, and (with ``run_record``) finishes
``run.json`` with the loop's counters and the final status.  It knows no
physics: the ``femhomog llg`` job, the demos and the tests build it with LLG
pieces; spin and wave problems will use it the same way.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from femhomog import FemhomogError
from femhomog.timestepping.checkpoint import Checkpointer, restore_checkpoint
from femhomog.timestepping.loop import TimeLoop
from femhomog.timestepping.progress import RowFormat
from femhomog.timestepping.protocol import LoopStats, make_stepper
from femhomog.timestepping.runinfo import RunRecord
from femhomog.timestepping.stop import RunStopped

__all__ = ["Simulation"]


class Simulation:
    """A problem, its integrator and what to write while it runs.

    Parameters
    ----------
    problem
        The problem (``t``, ``comm``) that ``integrator`` advances.
    integrator
        An integrator (``step(dt)``, optionally ``adaptive_step(dt, tol)``) or a
        ready stepper (:mod:`femhomog.timestepping.protocol`).
    tol
        Adaptive steps with this tolerance (the integrator needs ``adaptive_step``).
    outputs
        Recorders called at output times: :class:`~femhomog.timestepping.ScalarLog`,
        :class:`~femhomog.timestepping.FieldWriter`,
        :class:`~femhomog.timestepping.StateWriter`.
    checkpoint
        A :class:`~femhomog.timestepping.Checkpointer` (its ``every``/``wall`` set
        the schedule), or None.
    run_record
        A :class:`~femhomog.timestepping.RunRecord`; :meth:`run` finishes it with
        the loop's counters and ``completed``/``failed``/``interrupted``.  Start it
        (``run_record.start(info)``) before :meth:`run` to have a ``running`` record
        during the run.
    time_scale, time_unit
        Output time = ``time_scale * t``; ``"s"`` shows seconds.
    progress, line, postfix
        Progress display (:class:`~femhomog.timestepping.Progress`): seconds
        between log lines (None: off) and the physics part of a line/bar postfix.
    name
        Names the loop in error messages and ``timing`` the run.json timing entry.
    """

    def __init__(self, problem: Any, integrator: Any, *, tol: float | None = None,
                 outputs: Sequence[Any] = (), checkpoint: Checkpointer | None = None,
                 run_record: RunRecord | None = None, time_scale: float = 1.0,
                 time_unit: str = "", progress: float | None = None,
                 line: RowFormat | None = None, postfix: RowFormat | None = None,
                 name: str = "time", timing: str = "loop_s") -> None:
        self.problem = problem
        self.stepper = make_stepper(integrator, tol)
        if self.stepper.problem is not problem:
            raise ValueError("the integrator advances another problem")
        self.outputs = list(outputs)
        self.checkpoint = checkpoint
        self.run_record = run_record
        self.time_scale, self.time_unit = float(time_scale), time_unit
        self.progress, self.line, self.postfix = progress, line, postfix
        self.name, self.timing = name, timing
        self.loop: TimeLoop | None = None
        self._resume: dict[str, Any] | None = None

    # ------------------------------------------------------------------ restart
    def resume(self, meta: dict[str, Any]) -> None:
        """Continue from a checkpoint's metadata (the state restored separately)."""
        self._resume = meta

    def restart(self, run_dir: str | Path) -> dict[str, Any]:
        """Restore the checkpointed state of ``run_dir`` and continue from it; its metadata.

        Needs ``checkpoint`` (its state functions are the ones restored).
        """
        if self.checkpoint is None:
            raise ValueError("restart needs a checkpoint=Checkpointer(...)")
        meta = restore_checkpoint(run_dir, self.checkpoint.layout)
        self.resume(meta)
        return meta

    # ------------------------------------------------------------------ run
    def run(self, t_end: float, *, dt: float, dt_out: float | None = None,
            every: int | None = None, interactive: bool | None = None) -> LoopStats:
        """Advance to ``t_end`` with (initial) step ``dt``; outputs every ``every`` steps or
        at the multiples of ``dt_out`` (neither: only at the start and at ``t_end``).

        Times are in the problem's unit (``time_scale`` converts to output units).

        Raises
        ------
        FemhomogError
            A step failed (:class:`~femhomog.SolverError`) or an output could not
            be written; ``run_record`` then says ``failed`` with the message.
        RunStopped
            A signal stopped the run (:mod:`femhomog.timestepping.stop`): a final
            checkpoint is written and ``run_record`` says ``terminated`` or
            ``interrupted``.
        Exception
            Anything else; on one rank ``run_record`` says ``failed``; in a
            parallel run the other ranks may not know of it, so the record is left
            to the caller (:func:`~femhomog.timestepping.runinfo.abandon_active`).
        """
        if dt_out is None and every is None:
            dt_out = t_end
        loop = self.loop = TimeLoop(
            self.stepper, dt=dt, t_end=t_end, every=every, dt_out=dt_out,
            recorders=self.outputs, time_scale=self.time_scale, time_unit=self.time_unit,
            progress=self.progress, line=self.line, postfix=self.postfix,
            checkpointer=self.checkpoint, interactive=interactive, name=self.name)
        if self._resume is not None:
            loop.resume(self._resume)
        t0 = time.perf_counter()
        serial = self.problem.comm.size == 1
        try:
            loop.run()
            loop.finish()
        except RunStopped as exc:
            if exc.collective or serial:  # every rank is here
                self._close_and_finish(exc.status, t0, exc.reason)
            raise
        except FemhomogError as exc:  # collective by contract: every rank is here
            self._close_and_finish("failed", t0, str(exc))
            raise
        except Exception as exc:
            # in parallel the others may not be here: no collectives (closing a VTX
            # file is one); the caller ends the record from this process
            if serial:
                self._close_and_finish("failed", t0, f"{type(exc).__name__}: {exc}")
            raise
        loop.close()
        self._finish("completed", t0)
        return loop.stats

    def summary(self) -> dict[str, Any]:
        """Counters of the last :meth:`run` in output units (the run.json entries)."""
        assert self.loop is not None
        stats = self.loop.stats.as_dict(self.time_scale)
        return {
            "steps": stats["steps"],
            "rejected_steps": stats["rejected_steps"],
            "t_final": stats["t"],
            "rows": self.loop.rows,
            "final": self.loop.last_row,
            "integrator": {
                **self.stepper.describe(),
                **{k: stats[k] for k in ("steps", "rejected_steps", "retries", "iterations",
                                         "dt_min", "dt_max")},
            },
        }

    def _close_and_finish(self, status: str, t0: float, error: str) -> None:
        """Close the outputs and finish the record after a failure (collective)."""
        assert self.loop is not None
        try:
            self.loop.close()
        except Exception as exc:  # noqa: BLE001 - the original failure is what matters
            error = f"{error} (closing the outputs also failed: {exc})"
        self._finish(status, t0, error)

    def _finish(self, status: str, t0: float, error: str | None = None) -> None:
        record = self.run_record
        if record is None:
            return
        record.update(**self.summary())
        record.timings[self.timing] = record.elapsed(t0)
        record.finish(status, error)
