"""The ``femhomog`` command.

``femhomog <job> CONFIG.toml --out DIR [--set section.key=value]... [-v|-q]``
(``femhomog llg CONFIG.toml --restart DIR`` continues a run from its checkpoint)
runs one job type (``cell``, ``llg``) under ``mpirun`` or serially.  Every
job subcommand has the same shape; a job is described by a
:class:`~femhomog.io.job.Job` next to its physics (e.g.
:mod:`femhomog.cell.command`), and adding one is a single entry in
:data:`JOBS`.

Error policy: a :class:`femhomog.FemhomogError` anywhere becomes one line
``femhomog: error: <message>`` on stderr (rank 0 only) and exit status 2.
Configuration errors are detected identically on every rank (the config is
validated on each rank from the same inputs), so every rank exits without any
communication.  Errors raised inside a job must be collective too (raised on
all ranks), which the physics code guarantees for its solver checks.  Any
other exception is a bug: it gets its traceback, and in a parallel run
``MPI_Abort`` so that the other ranks do not wait forever in a collective.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from femhomog import ConfigError, FemhomogError, __version__
from femhomog.cell.command import CELL_JOB
from femhomog.io.job import Job
from femhomog.io.logging import get_logger, setup_logging, world_rank, world_size
from femhomog.micromag.command import LLG_JOB

__all__ = ["JOBS", "build_parser", "main"]

log = get_logger(__name__)

#: Exit status for user errors (bad config, solver failure), as for argparse usage errors.
EXIT_ERROR = 2
#: Exit status after Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130


#: The job subcommands, in ``femhomog --help`` order.
JOBS: tuple[Job, ...] = (
    CELL_JOB,
    LLG_JOB,
)


# --------------------------------------------------------------------------
# Job subcommands
# --------------------------------------------------------------------------


def _run_job(job: Job, args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Common driver of the job subcommands."""
    if args.print_config:
        if (args.config is not None or args.out is not None or args.set
                or getattr(args, "restart", None) is not None):
            parser.error("--print-config takes no CONFIG, --out, --set or --restart")
        if world_rank() == 0:
            sys.stdout.write(job.schema.template())
        return 0
    if args.config is None:
        parser.error("the following arguments are required: CONFIG")
    restart = getattr(args, "restart", None)
    if args.out is None:
        if restart is None:
            parser.error("the following arguments are required: --out")
        args.out = restart  # a restart continues in the run's own directory
    if restart is not None and not Path(restart).is_dir():
        raise ConfigError(f"--restart: {restart} is not a directory (give the output "
                          "directory of the run to continue)")

    # Same inputs on every rank -> same verdict on every rank: no communication.
    cfg = job.load(Path(args.config), args.set)
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out: {out_dir} exists and is not a directory")

    from femhomog import _fenicsx  # noqa: F401, I001  (must precede mpi4py/dolfinx)
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    log.info("femhomog %s: %s job %s -> %s on %d rank(s)",
             __version__, job.name, args.config, out_dir, comm.Get_size())
    extra = {"restart": None if restart is None else Path(restart)} if job.restartable else {}
    result = job.function()(cfg, out_dir=out_dir, comm=comm, **extra)
    if comm.Get_rank() == 0:
        print(job.summary(result, out_dir, **extra), flush=True)
    return 0


# --------------------------------------------------------------------------
# Parser and entry point
# --------------------------------------------------------------------------


def version_text() -> str:
    """``femhomog <version>``, plus ``dolfinx <version>`` if dolfinx imports."""
    lines = [f"femhomog {__version__}"]
    try:
        from femhomog import _fenicsx  # noqa: F401, I001  (must precede dolfinx)
        import dolfinx

        lines.append(f"dolfinx {dolfinx.__version__}")
    except Exception as exc:  # noqa: BLE001 - not installed or broken: omit the line
        log.debug("dolfinx not importable: %s", exc)
    return "\n".join(lines)


class _VersionAction(argparse.Action):
    """``--version``, computed only when asked (importing dolfinx takes time)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 default: Any = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        print(version_text())
        parser.exit(0)


def _add_job_parser(subparsers: Any, job: Job) -> None:
    sub = subparsers.add_parser(
        job.name,
        help=job.help,
        description=f"femhomog {job.name}: {job.help}.",
        epilog=f"All configuration keys with their defaults: femhomog {job.name} --print-config",
    )
    sub.add_argument("config", nargs="?", metavar="CONFIG", help="TOML job configuration")
    sub.add_argument("--out", metavar="DIR", help="output directory (created if needed)")
    sub.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                     help="override a configuration value (TOML syntax, e.g. "
                          "--set cell.degree=3 --set solver.type=direct); repeatable")
    if job.restartable:
        sub.add_argument("--restart", metavar="DIR",
                         help="continue the run in DIR from its last checkpoint "
                              "(DIR/checkpoint/); --out defaults to DIR")
    sub.add_argument("--print-config", action="store_true",
                     help="print an annotated default configuration and exit")
    loud = sub.add_mutually_exclusive_group()
    loud.add_argument("-v", "--verbose", action="count", default=0,
                      help="more log output (debug)")
    loud.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub.set_defaults(handler=lambda args: _run_job(job, args, sub))


def build_parser() -> argparse.ArgumentParser:
    """The ``femhomog`` argument parser with one subcommand per registered job."""
    parser = argparse.ArgumentParser(
        prog="femhomog",
        description="Finite elements for periodic homogenization (FEniCSx).",
    )
    parser.add_argument("--version", action=_VersionAction,
                        help="print the femhomog and dolfinx versions and exit")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for job in JOBS:
        _add_job_parser(subparsers, job)
    return parser


def _error_line(message: str) -> None:
    """Print one error line on rank 0 (all ranks hit the same error)."""
    if world_rank() == 0:
        one_line = " ".join(message.split()) or "unknown error"
        print(f"femhomog: error: {one_line}", file=sys.stderr, flush=True)


def _abort_if_parallel() -> None:
    """MPI_Abort in a parallel run so that no rank hangs after a crash elsewhere."""
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is not None and world_size() > 1 and mpi.Is_initialized() and not mpi.Is_finalized():
        sys.stderr.flush()
        mpi.COMM_WORLD.Abort(1)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``femhomog`` command; returns the exit status.

    Parameters
    ----------
    argv
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 2 for a :class:`~femhomog.FemhomogError`, 130 after
        Ctrl-C.  argparse usage errors, ``--help`` and ``--version`` raise
        :class:`SystemExit` as usual.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(-1 if getattr(args, "quiet", False) else getattr(args, "verbose", 0))
    try:
        return args.handler(args)
    except FemhomogError as exc:
        _error_line(str(exc) or type(exc).__name__)
        return EXIT_ERROR
    except KeyboardInterrupt:
        if world_rank() == 0:
            print("femhomog: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except Exception:
        # A bug, not a user error: keep the traceback, but do not let the
        # other ranks of a parallel run hang.
        if world_size() > 1:
            traceback.print_exc()
            _abort_if_parallel()
        raise


if __name__ == "__main__":
    sys.exit(main())
