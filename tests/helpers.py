"""Helpers shared by the test modules: running the command line, mpirun, checks.

Test modules import them as ``from helpers import run_cli`` (pytest's default
``prepend`` import mode puts ``tests/`` on ``sys.path``); ``conftest.py`` builds
its fixtures on them.  Nothing here imports dolfinx or mpi4py, so the fast
command-line tests stay free of MPI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "BIN",
    "MPIRUN",
    "ROOT",
    "assert_one_error_line",
    "clean_env",
    "cli_command",
    "error_lines",
    "mpirun_command",
    "run_cli",
    "run_ok",
    "shared_path",
    "write_toml",
]

#: Repository root and the directory of this interpreter's console scripts.
ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
#: The launcher of the MPI the venv's mpi4py is built against (the wheel's MPICH
#: puts ``mpirun`` next to ``python``), else one on PATH, else None.
MPIRUN: str | None = shutil.which("mpirun", path=str(BIN)) or shutil.which("mpirun")

#: Variables a launcher sets in its ranks; a child started from a test run under
#: mpirun would otherwise believe it is a rank of that job.
LAUNCHER_VARS = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_RANK",
                 "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_SIZE")
#: Fault-injection hooks of the LLG job; a child gets them only when a test asks.
TEST_HOOK_VARS = ("FEMHOMOG_TEST_KILL_AT_STEP", "FEMHOMOG_TEST_KILL_IN_CHECKPOINT",
                  "FEMHOMOG_TEST_SIGNAL_AT_STEP")

ERROR_PREFIX = "femhomog: error:"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a plain serial run, plus ``extra``.

    Launcher variables and test hooks of this process are dropped (pytest may
    itself run under mpirun), output is unbuffered (a killed child's last lines
    still arrive).
    """
    drop = set(LAUNCHER_VARS) | set(TEST_HOOK_VARS)
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def mpirun_command(nproc: int, cmd: Sequence[Any]) -> list[str]:
    """``cmd`` launched on ``nproc`` ranks by :data:`MPIRUN` (``cmd`` itself if 1 rank)."""
    cmd = [str(c) for c in cmd]
    if nproc <= 1:
        return cmd
    if MPIRUN is None:
        raise RuntimeError("no mpirun next to the interpreter or on PATH")
    return [MPIRUN, "-n", str(nproc), *cmd]


def cli_command(args: Iterable[Any]) -> list[str]:
    """The ``femhomog`` command line with this interpreter (the package under test)."""
    return [sys.executable, "-m", "femhomog.cli.main", *map(str, args)]


def run_cli(args: Iterable[Any], cwd: str | Path | None = None, nproc: int = 1, *,
            env: Mapping[str, str] | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``femhomog ARGS`` in a subprocess (under mpirun if ``nproc > 1``).

    Parameters
    ----------
    args
        Arguments after ``femhomog`` (paths are converted with ``str``).
    cwd
        Working directory of the command.
    nproc
        Number of MPI ranks.
    env
        Complete environment (default :func:`clean_env`).
    timeout
        Seconds before the run counts as hung (``subprocess.TimeoutExpired``).
    """
    return subprocess.run(mpirun_command(nproc, cli_command(args)), check=False, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout,
                          env=dict(clean_env() if env is None else env))


def run_ok(args: Iterable[Any], cwd: str | Path | None = None,
           nproc: int = 1) -> subprocess.CompletedProcess[str]:
    """:func:`run_cli` that must exit 0 (stderr shown otherwise)."""
    res = run_cli(args, cwd, nproc)
    assert res.returncode == 0, res.stderr
    return res


def error_lines(text: str) -> list[str]:
    """The ``femhomog: error:`` lines of a stderr text (other lines: launcher noise)."""
    return [ln for ln in text.splitlines() if ln.startswith(ERROR_PREFIX)]


def assert_one_error_line(proc: subprocess.CompletedProcess[str], contains: str = "") -> str:
    """A user error: exit status 2, no traceback, nothing on stdout, and stderr one
    line ``femhomog: error: ...`` containing ``contains``.  Returns the line."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(ERROR_PREFIX + " ") and contains in lines[0], lines[0]
    assert proc.stdout == "", proc.stdout
    return lines[0]


def write_toml(path: Path, text: str) -> Path:
    """Write a configuration snippet to ``path`` and return the path."""
    path.write_text(text)
    return path


def shared_path(path: str | Path, comm: Any = None) -> Path:
    """Rank 0's ``path`` on every rank of ``comm`` (default ``MPI.COMM_WORLD``).

    For output directories that all ranks of a parallel test write into:
    pytest makes a different temporary directory in every process.
    """
    if comm is None:
        from femhomog import _fenicsx  # noqa: F401  (must precede mpi4py)

        # isort: split
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
    return Path(comm.bcast(str(path), root=0))
