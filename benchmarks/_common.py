"""Helpers shared by the benchmark scripts (run as ``python benchmarks/<name>.py``).

Timings are reported as the maximum over the ranks (the slowest rank sets
the wall time), memory as the peak resident set size of each process, which
``reset_peak_rss`` rewinds between runs of one invocation.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

from femhomog import _fenicsx  # noqa: F401  (must precede mpi4py)

# isort: split
from mpi4py import MPI

COMM = MPI.COMM_WORLD

__all__ = ["COMM", "cpu_seconds", "log", "peak_rss_mb", "reset_peak_rss", "tmax"]


def log(msg: str) -> None:
    """Print on rank 0 (flushed: benchmarks run for minutes under mpirun)."""
    if COMM.rank == 0:
        print(msg, flush=True)


def tmax(t: float, comm: MPI.Comm = COMM) -> float:
    """Maximum of a per-rank time over the ranks."""
    return float(comm.allreduce(t, op=MPI.MAX))


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux >= 4.0), if allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def cpu_seconds() -> float:
    """User + system CPU time of this process."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (VmHWM; ru_maxrss elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024.0 if sys.platform != "darwin" else r / 2**20
