"""``run.json``: the record of a run, from ``status = "running"`` to its final status.

:class:`RunRecord` writes the file atomically on rank 0
(:func:`femhomog.io.output.write_json_atomic`): before the first step with
``status = "running"``, then replaced at the end by ``"completed"``,
``"failed"`` (with ``error``) or ``"interrupted"``, with the wall time, timings
and the peak memory.  A restarted run carries the earlier record's start time,
restart count and ``restart_history`` forward.
"""

from __future__ import annotations

import datetime
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from femhomog.io.output import write_json_atomic

__all__ = ["RunRecord", "now", "peak_memory", "read_run_json"]


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

    def elapsed(self, since: float) -> float:
        """Wall seconds since ``since`` (a ``perf_counter`` value), maximum over the ranks."""
        return _max(self.comm, time.perf_counter() - since)

    def start(self, info: dict[str, Any]) -> None:
        """Write ``info`` with ``status = "running"`` (and ``started`` unless given)."""
        self.info = {"status": "running", **info}
        self.info["status"] = "running"
        self.info.setdefault("started", now())
        self.write()

    def update(self, **entries: Any) -> None:
        """Add or replace entries (written by the next :meth:`write` or :meth:`finish`)."""
        self.info.update(entries)

    def add_finalizer(self, entries: Callable[[], dict[str, Any]]) -> None:
        """``entries()`` is called (collectively) by :meth:`finish` and merged into the record."""
        self._finalizers.append(entries)

    def write(self) -> None:
        write_json_atomic(self.path, self.info, self.comm)

    def finish(self, status: str, error: str | None = None) -> dict[str, Any]:
        """Final status, ``finished``, ``wall_time_s``, the finalizers' entries,
        ``timings``, ``memory`` and ``error``; written and returned (collective)."""
        self.info["status"] = status
        self.info["finished"] = now()
        self.info["wall_time_s"] = self.elapsed(self.t0)
        for entries in self._finalizers:
            self.info.update(entries())
        self.info["timings"] = dict(self.timings)
        self.info["memory"] = peak_memory(self.comm)
        if error is not None:
            self.info["error"] = error
        self.write()
        return self.info
