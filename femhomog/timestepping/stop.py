"""Stopping a run on a signal: SIGTERM, SIGINT, SIGUSR1 end it collectively at the next step.

A batch system ends a job with SIGTERM (``scancel``, the time limit, ``docker
stop``; SLURM's ``--signal`` may send SIGUSR1 ahead of the limit), a user with
Ctrl-C (SIGINT).  :func:`stop_on_signals` installs Python handlers for the three
signals that only *record* the signal while a time loop runs
(:func:`deferring`); the loop then asks every rank at its next step boundary
(:meth:`StopFlag.agree`: one ``MPI_Allreduce`` of two integers, which also
carries rank 0's wall-clock checkpoint verdict, so the check costs no extra
collective) and, if any rank got a signal, all ranks write a checkpoint, finish
``run.json`` with ``status = "terminated"`` (SIGTERM, SIGUSR1) or
``"interrupted"`` (SIGINT) and raise :class:`RunStopped`.  ``mpirun`` forwards
SIGTERM and SIGINT to every rank; a SIGUSR1 sent to one rank only stops all the
same.

Outside a time loop (mesh, setup, a cell job) a signal raises
:class:`RunStopped` at once.  A second SIGINT during the final checkpoint also
raises at once (the user insists).

Exit status of ``femhomog``: ``128 + signal number`` (SIGINT 130, SIGUSR1 138,
SIGTERM 143), as a shell reports a process killed by the signal.

PETSc installs signal handlers of its own (a crash banner and ``MPI_Abort(59)``);
:func:`stop_on_signals` pops them first, and replaces the OS-level handlers of
the three signals.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["SIGNAL_AT_STEP_ENV", "STOP_SIGNALS", "RunStopped", "SignalHook", "StopFlag",
           "deferring", "pending", "signal_hook", "stop_on_signals"]

#: The signals that stop a run.
STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)

_state = {"signum": 0, "defer": 0}

#: Test hook ``N:SIGNAL[:RANK]``: after step N of a time loop (its row and
#: checkpoint written), rank RANK (default every rank) sends itself SIGNAL (e.g.
#: ``USR1``): a signal at a known moment, on one rank only if wanted.
SIGNAL_AT_STEP_ENV = "FEMHOMOG_TEST_SIGNAL_AT_STEP"


class SignalHook:
    """The parsed :data:`SIGNAL_AT_STEP_ENV` (``step`` 0: no hook)."""

    def __init__(self, step: int = 0, signum: int = 0, rank: int = -1) -> None:
        self.step, self.signum, self.rank = step, signum, rank

    def fire(self, step: int, rank: int) -> None:
        """Send the signal to this process if ``step`` is the hook's step on this rank."""
        if self.step and step == self.step and self.rank in (-1, rank):
            os.kill(os.getpid(), self.signum)


def signal_hook() -> SignalHook:
    """The test hook of this process's environment (inactive if unset or malformed)."""
    parts = os.environ.get(SIGNAL_AT_STEP_ENV, "").split(":")
    if len(parts) not in (2, 3) or not parts[0].isdigit():
        return SignalHook()
    name = parts[1].upper()
    signum = getattr(signal, name if name.startswith("SIG") else f"SIG{name}", None)
    if signum is None:
        return SignalHook()
    rank = int(parts[2]) if len(parts) == 3 and parts[2].isdigit() else -1
    return SignalHook(int(parts[0]), int(signum), rank)


class RunStopped(KeyboardInterrupt):
    """A run stopped by a signal (a :class:`KeyboardInterrupt`: no ``except Exception``
    catches it).

    Attributes
    ----------
    signum
        The signal.
    collective
        Raised on every rank at the same step (the time loop agreed on it) after
        the final checkpoint; False when raised by the handler itself.
    where
        Where the run stopped (e.g. ``"at t = 0.25 after 25 steps"``), or "".
    checkpoint
        The final checkpoint written, or None.
    """

    def __init__(self, signum: int, *, collective: bool = False, where: str = "",
                 checkpoint: str | None = None) -> None:
        self.signum = int(signum)
        self.collective = collective
        self.where = where
        self.checkpoint = checkpoint
        super().__init__(self.reason)

    @property
    def name(self) -> str:
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"

    @property
    def status(self) -> str:
        """``run.json`` status: ``interrupted`` (SIGINT) or ``terminated``."""
        return "interrupted" if self.signum == signal.SIGINT else "terminated"

    @property
    def exit_status(self) -> int:
        return 128 + self.signum

    @property
    def reason(self) -> str:
        """One line for ``run.json`` and the terminal."""
        text = f"{self.status} by {self.name}"
        if self.where:
            text += f" {self.where}"
        if self.checkpoint:
            run_dir = Path(self.checkpoint).parent.parent
            text += f"; checkpoint {self.checkpoint} (continue with --restart {run_dir})"
        return text


def pending() -> int:
    """The signal received by this process since the handlers were installed (0: none)."""
    return _state["signum"]


def _handler(signum: int, frame: Any) -> None:
    repeated = _state["signum"] != 0
    _state["signum"] = max(_state["signum"], signum)
    if _state["defer"] == 0 or (repeated and signum == signal.SIGINT):
        raise RunStopped(signum)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Install the stop handlers (main thread only) for the duration of a run."""
    if "petsc4py.PETSc" in sys.modules:
        # PETSc's handlers print a crash banner and call MPI_Abort(59); with them
        # popped, the OS-level handlers installed below are Python's.
        sys.modules["petsc4py.PETSc"].Sys.popSignalHandler()
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    _state["signum"] = 0
    for s in STOP_SIGNALS:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old if old is not None else signal.SIG_DFL)
        _state["signum"] = 0


@contextlib.contextmanager
def deferring() -> Iterator[None]:
    """Within: a signal is only recorded (the time loop stops at its next step)."""
    _state["defer"] += 1
    try:
        yield
    finally:
        _state["defer"] -= 1


class StopFlag:
    """The per-step agreement of the ranks on stopping (and on a wall-clock checkpoint).

    Parameters
    ----------
    comm
        The run's communicator.
    """

    def __init__(self, comm: Any) -> None:
        self.comm = comm

    def agree(self, late: bool = False) -> tuple[int, bool]:
        """(largest signal received on any rank or 0, rank 0's ``late``); collective.

        One ``Allreduce(MAX)`` of ``[signal, late on rank 0]``: SIGTERM (15) wins
        over SIGUSR1 (10) and SIGINT (2) when ranks received different ones.
        """
        import numpy as np
        from mpi4py import MPI

        mine = np.array([pending(), int(bool(late) and self.comm.rank == 0)], dtype=np.int64)
        if self.comm.size == 1:
            return int(mine[0]), bool(mine[1])
        both = np.empty_like(mine)
        self.comm.Allreduce(mine, both, op=MPI.MAX)
        return int(both[0]), bool(both[1])
