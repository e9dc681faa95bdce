"""``run.json``: the record of a run, from ``status = "running"`` to its final status.

:class:`RunRecord` writes the file atomically on rank 0
(:func:`femhomog.io.output.write_json_atomic`): before the first step with
``status = "running"``, then replaced at the end by ``"completed"``,
``"failed"`` (with ``error``), ``"interrupted"`` (SIGINT) or ``"terminated"``
(SIGTERM, SIGUSR1; :mod:`.stop`), with a one-line ``error`` for the last three, the
wall time, timings and the peak memory.  A restarted run carries the earlier
record's start time, restart count and ``restart_history`` forward.  Every record
has ``environment``: the versions of the packages the run used
(:func:`femhomog.environment.package_versions`).

A failure that reaches no collective end (an exception on one rank of a
parallel run, a signal during the setup) still ends the record: the command
line calls :func:`abandon_active`, which writes the final status from the
failing process without communication.  If ``run.json`` cannot be written (its
directory vanished, the disk is full) :attr:`RunRecord.unwritten` says why, and
the command line adds it to its error line.
"""

from __future__ import annotations

import datetime
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from femhomog import FemhomogError
from femhomog.io.output import guard_directory, guarded, unguard, write_json_atomic

__all__ = ["RunRecord", "abandon_active", "active_record", "forget_records", "last_record", "now",
           "peak_memory", "read_run_json"]

#: The records of the runs in progress in this process (started, not finished).
_ACTIVE: list[RunRecord] = []
#: The last record started in this process.
_LAST: list[RunRecord] = []


def forget_records() -> None:
    """Forget the records of earlier runs of this process (a new command starts)."""
    _ACTIVE.clear()
    _LAST.clear()


def last_record() -> RunRecord | None:
    """The record started last in this process (finished or not), if any."""
    return _LAST[-1] if _LAST else None


def active_record() -> RunRecord | None:
    """The started and not yet finished record of this process, if any."""
    return _ACTIVE[-1] if _ACTIVE else None


def abandon_active(status: str, error: str, *, writer: bool = True) -> RunRecord | None:
    """End the active record (if any) with ``status`` and ``error``, without communication.

    ``writer``: this process writes the file (False: only forget the record, e.g.
    on ranks > 0 when rank 0 writes the same verdict).  Returns the record.
    """
    record = active_record()
    if record is not None:
        record.abandon(status, error, write=writer)
    return record


def now() -> str:
    """UTC time, ISO 8601 to the second."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _max(comm: Any, value: float) -> float:
    from mpi4py import MPI

    return comm.allreduce(value, op=MPI.MAX)


def peak_memory(comm: Any) -> dict[str, float]:
    """Peak resident memory (MB): largest rank and sum over the ranks (collective)."""
    import resource

    from mpi4py import MPI

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    mb = rss / 2**20 if sys.platform == "darwin" else rss / 2**10
    return {"max_rss_mb_per_rank": comm.allreduce(mb, op=MPI.MAX),
            "sum_rss_mb": comm.allreduce(mb, op=MPI.SUM)}


def read_run_json(directory: str | Path, comm: Any) -> dict[str, Any]:
    """``directory/run.json`` read on rank 0 ({} if missing or unreadable), on every rank."""
    info: dict[str, Any] = {}
    if comm.rank == 0:
        try:
            loaded = json.loads((Path(directory) / "run.json").read_text(encoding="utf-8"))
            info = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            info = {}
    return comm.bcast(info, root=0)


class RunRecord:
    """The ``run.json`` of one run (collective on ``comm``; rank 0 writes).

    Parameters
    ----------
    path
        The file (usually ``DIR/run.json``).
    comm
        The run's communicator.
    t0
        ``time.perf_counter()`` at the start of the run (default: now), for
        ``wall_time_s``.

    Attributes
    ----------
    info : dict
        The record; :meth:`start`, :meth:`update` and :meth:`finish` write it.
    timings : dict
        Seconds per phase (maximum over the ranks), written as ``timings`` at the end.
    """

    def __init__(self, path: str | Path, comm: Any, *, t0: float | None = None) -> None:
        self.path = Path(path)
        self.comm = comm
        self.t0 = time.perf_counter() if t0 is None else t0
        self.info: dict[str, Any] = {}
        self.timings: dict[str, float] = {}
        self._finalizers: list[Callable[[], dict[str, Any]]] = []
        self._guard: Any = None
        #: Why the last write of the record failed (None: written).
        self.unwritten: str | None = None

    def elapsed(self, since: float) -> float:
        """Wall seconds since ``since`` (a ``perf_counter`` value), maximum over the ranks."""
        return _max(self.comm, time.perf_counter() - since)

    def start(self, info: dict[str, Any]) -> None:
        """Write ``info`` with ``status = "running"`` (and ``started`` unless given)."""
        self.info = {"status": "running", **info}
        self.info["status"] = "running"
        self.info.setdefault("started", now())
        if "environment" not in self.info:
            from femhomog.environment import package_versions

            self.info["environment"] = package_versions()
        self.write()
        if self.comm.rank == 0 and not guarded(self.path.parent):
            # a run without a claimed output directory (Python API): guard it here
            self._guard = guard_directory(self.path.parent)
        _ACTIVE.append(self)
        _LAST[:] = [self]

    def update(self, **entries: Any) -> None:
        """Add or replace entries (written by the next :meth:`write` or :meth:`finish`)."""
        self.info.update(entries)

    def add_finalizer(self, entries: Callable[[], dict[str, Any]]) -> None:
        """``entries()`` is called (collectively) by :meth:`finish` and merged into the record."""
        self._finalizers.append(entries)

    def write(self) -> None:
        write_json_atomic(self.path, self.info, self.comm)

    def _end(self) -> None:
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        if self._guard is not None:
            unguard(self._guard)
            self._guard = None

    def abandon(self, status: str, error: str, *, write: bool = True) -> None:
        """Final status and ``error`` written by this process alone (no collective):
        after a failure that the other ranks may not share.  Never raises; a write
        failure goes to :attr:`unwritten`."""
        self.info.update(status=status, finished=now(), error=error)
        self.info["wall_time_s"] = time.perf_counter() - self.t0
        if self.timings:
            self.info["timings"] = dict(self.timings)
        self._end()
        if not write:
            return
        try:
            write_json_atomic(self.path, self.info, None)
            self.unwritten = None
        except Exception as exc:  # noqa: BLE001 - reported by the caller, never masks it
            self.unwritten = str(exc) if isinstance(exc, FemhomogError) else (
                f"cannot write {self.path}: {exc}")

    def finish(self, status: str, error: str | None = None) -> dict[str, Any]:
        """Final status, ``finished``, ``wall_time_s``, the finalizers' entries,
        ``timings``, ``memory`` and ``error``; written and returned (collective).

        Raises
        ------
        FemhomogError
            ``run.json`` cannot be written, for ``status = "completed"`` only (a
            run that failed keeps its own error; :attr:`unwritten` then says why
            the record was not written).
        """
        self._end()
        self.info["status"] = status
        self.info["finished"] = now()
        self.info["wall_time_s"] = self.elapsed(self.t0)
        for entries in self._finalizers:
            self.info.update(entries())
        self.info["timings"] = dict(self.timings)
        self.info["memory"] = peak_memory(self.comm)
        if error is not None:
            self.info["error"] = " ".join(error.split())
        try:
            self.write()
            self.unwritten = None
        except FemhomogError as exc:
            self.unwritten = str(exc)
            if status == "completed":
                raise
        return self.info
