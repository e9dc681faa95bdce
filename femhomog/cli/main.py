"""The ``femhomog`` command.

``femhomog <job> CONFIG.toml --out DIR [--set section.key=value]... [-v|-q]``
(``femhomog llg CONFIG.toml --restart DIR`` continues a run from its checkpoint)
runs one job type (``cell``, ``llg``, ``wave``) under ``mpirun`` or serially.  Every
job subcommand has the same shape; a job is described by a
:class:`~femhomog.io.job.Job` next to its physics (e.g.
:mod:`femhomog.cell.command`), and adding one is a single entry in
:data:`JOBS`.

Before any computation the configuration is validated and ``--out DIR`` is
claimed (:func:`femhomog.io.output.claim_output_dir`: created, writable, locked
against a second run into it).  SIGTERM, SIGINT and SIGUSR1 stop a run at the
next time step on every rank, with a final checkpoint
(:mod:`femhomog.timestepping.stop`).

Error policy and exit status:

* 0: success;
* 2: a :class:`femhomog.FemhomogError` (bad input, a solver failure, an output
  that cannot be written) becomes one line ``femhomog: error: <message>`` on
  stderr (rank 0 only);
* 1: an operating-system failure (``OSError``, ``MemoryError``): one line too;
  any other exception is a bug and keeps its traceback;
* 128 + N: stopped by signal N (SIGINT 130, SIGUSR1 138, SIGTERM 143); one line
  ``femhomog: terminated by SIGTERM at t = ... (checkpoint ...)``.

Whatever the failure, a started ``run.json`` gets its final status (``failed``,
``interrupted``, ``terminated``) and a one-line ``error``; if it cannot be
written (the output directory vanished) the error line says so.
Configuration errors are detected identically on every rank (the config is
validated on each rank from the same inputs), so every rank exits without any
communication.  Errors raised inside a job must be collective too (raised on
all ranks), which the physics code guarantees for its solver checks.  Any
other failure on one rank of a parallel run ends in ``MPI_Abort`` so that the
other ranks do not wait forever in a collective.
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
from femhomog.io.output import claim_output_dir
from femhomog.micromag.command import LLG_JOB
from femhomog.wave.command import WAVE_JOB

__all__ = ["JOBS", "build_parser", "main"]

log = get_logger(__name__)

#: Exit status for user errors (bad config, solver failure), as for argparse usage errors.
EXIT_ERROR = 2
#: Exit status for operating-system failures (OSError, MemoryError) and bugs.
EXIT_FAILURE = 1
#: Exit status after Ctrl-C (128 + SIGINT), as shells report it; 128 + N after signal N.
EXIT_INTERRUPTED = 130

EXIT_TEXT = ("exit status: 0 success; 2 bad input or a failed run (one line "
             "'femhomog: error: ...'); 1 system failure; 128+N stopped by signal N "
             "(SIGINT 130, SIGUSR1 138, SIGTERM 143: a checkpoint is written at the next "
             "step, continue with --restart DIR)")


#: The job subcommands, in ``femhomog --help`` order.
JOBS: tuple[Job, ...] = (
    CELL_JOB,
    LLG_JOB,
    WAVE_JOB,
)


# --------------------------------------------------------------------------
# Job subcommands
# --------------------------------------------------------------------------


def _run_job(job: Job, args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Common driver of the job subcommands."""
    if args.print_config:
        if (args.config is not None or args.out is not None or args.set
                or getattr(args, "restart", None) is not None or args.check):
            parser.error("--print-config takes no CONFIG, --out, --set, --restart or --check")
        if world_rank() == 0:
            sys.stdout.write(job.schema.template())
        return 0
    if args.config is None:
        parser.error("the following arguments are required: CONFIG")
    restart = getattr(args, "restart", None)
    if args.out is None and not args.check:
        if restart is None:
            parser.error("the following arguments are required: --out")
        args.out = restart  # a restart continues in the run's own directory
    if restart is not None and not Path(restart).is_dir():
        raise ConfigError(f"--restart: {restart} is not a directory (give the output "
                          "directory of the run to continue)")

    # Same inputs on every rank -> same verdict on every rank: no communication.
    cfg = job.load(Path(args.config), args.set)
    if args.check:
        if args.out is not None:
            check_output_dir(Path(args.out))
        if world_rank() == 0:
            print(f"{args.config}: a valid femhomog {job.name} configuration", flush=True)
        return 0
    out_dir = Path(args.out)

    from femhomog import _fenicsx  # noqa: F401, I001  (must precede mpi4py/dolfinx)
    from mpi4py import MPI

    from femhomog.timestepping.stop import stop_on_signals

    comm = MPI.COMM_WORLD
    # before any computation: writable, not used by another run (collective verdict)
    with claim_output_dir(out_dir, comm):
        # the physics imports dolfinx, whose PETSc initialization installs PETSc's
        # signal handlers: ours go in after it (stop_on_signals pops PETSc's)
        function = job.function()
        with stop_on_signals():
            log.info("femhomog %s: %s job %s -> %s on %d rank(s)",
                     __version__, job.name, args.config, out_dir, comm.Get_size())
            extra = ({"restart": None if restart is None else Path(restart)}
                     if job.restartable else {})
            result = function(cfg, out_dir=out_dir, comm=comm, **extra)
    if comm.Get_rank() == 0:
        print(job.summary(result, out_dir, **extra), flush=True)
    return 0


def check_output_dir(path: Path) -> None:
    """``--check``: the output directory could be claimed (no lock taken)."""
    claim_output_dir(path, None, lock=False).release()


def _set_example(job: Job) -> str:
    """``--set`` examples from the job's own schema: a number (``time.t_end`` if the job
    has it) and a ``type`` (``solver.type`` if the job has it)."""

    def value(fld: Any) -> Any:
        for v in (fld.default, fld.example):
            if isinstance(v, int | float | str) and not isinstance(v, bool):
                return v
        return None

    fields = [(sec.name, fld, value(fld)) for sec in job.schema.sections for fld in sec.fields]
    numbers = [f for f in fields if isinstance(f[2], int | float)]
    types = [f for f in fields if f[1].name == "type" and isinstance(f[2], str)]
    picks = [sorted(numbers, key=lambda f: (f[0], f[1].name) != ("time", "t_end"))[:1],
             sorted(types, key=lambda f: f[0] != "solver")[:1]]
    return " ".join(f"--set {sec}.{fld.name}={v!r}".replace("'", '"')
                    for pick in picks for sec, fld, v in pick)


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
        epilog=f"All configuration keys with their defaults: femhomog {job.name} "
               f"--print-config.  {EXIT_TEXT[0].upper()}{EXIT_TEXT[1:]}.",
    )
    sub.add_argument("config", nargs="?", metavar="CONFIG", help="TOML job configuration")
    sub.add_argument("--out", metavar="DIR", help="output directory (created if needed)")
    example = _set_example(job)
    sub.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                     help="override a configuration value (TOML syntax"
                          + (f", e.g. {example}" if example else "") + "); repeatable")
    if job.restartable:
        sub.add_argument("--restart", metavar="DIR",
                         help="continue the run in DIR from its last checkpoint "
                              "(DIR/checkpoint/); --out defaults to DIR")
    sub.add_argument("--print-config", action="store_true",
                     help="print an annotated default configuration and exit")
    sub.add_argument("--check", action="store_true",
                     help="validate CONFIG (with --set) and, if given, that --out could "
                          "be written, then exit without computing")
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
        epilog=EXIT_TEXT[0].upper() + EXIT_TEXT[1:] + ".",
    )
    parser.add_argument("--version", action=_VersionAction,
                        help="print the femhomog and dolfinx versions and exit")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for job in JOBS:
        _add_job_parser(subparsers, job)
    return parser


def _error_line(message: str, *, every_rank: bool = False, prefix: str = "error: ") -> None:
    """Print one error line on rank 0 (all ranks hit the same error), or on this rank."""
    if every_rank or world_rank() == 0:
        one_line = " ".join(message.split()) or "unknown error"
        print(f"femhomog: {prefix}{one_line}", file=sys.stderr, flush=True)


def _abort_if_parallel(status: int = EXIT_FAILURE) -> None:
    """MPI_Abort in a parallel run so that no rank hangs after a crash elsewhere."""
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is not None and world_size() > 1 and mpi.Is_initialized() and not mpi.Is_finalized():
        sys.stderr.flush()
        mpi.COMM_WORLD.Abort(status)


def _end_record(status: str, error: str | None, *, collective: bool) -> str:
    """Give a still-running run.json its final status; the note to add if it was not written.

    ``collective``: every rank has the same failure, so rank 0 alone writes;
    otherwise this process writes (the others may never get here).  ``error``
    None: only the note (the record was finished by the run).
    """
    runinfo = sys.modules.get("femhomog.timestepping.runinfo")
    if runinfo is None:  # nothing was started (runinfo imports MPI: not imported early)
        return ""
    record = None
    if error is not None:
        record = runinfo.abandon_active(status, error,
                                        writer=not collective or world_rank() == 0)
    if record is None:
        record = runinfo.last_record()
    note = record.unwritten if record is not None else None
    return f" ({note})" if note else ""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``femhomog`` command; returns the exit status.

    Parameters
    ----------
    argv
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 2 for a :class:`~femhomog.FemhomogError`, 1 for an
        ``OSError``/``MemoryError``, 128 + N after signal N (130 after Ctrl-C).
        argparse usage errors, ``--help`` and ``--version`` raise
        :class:`SystemExit` as usual; other exceptions (bugs) propagate.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(-1 if getattr(args, "quiet", False) else getattr(args, "verbose", 0))
    runinfo = sys.modules.get("femhomog.timestepping.runinfo")
    if runinfo is not None:  # an earlier run in this process (tests) has its own record
        runinfo.forget_records()
    try:
        return args.handler(args)
    except FemhomogError as exc:  # collective by contract
        message = str(exc) or type(exc).__name__
        _error_line(message + _end_record("failed", message, collective=True))
        return EXIT_ERROR
    except KeyboardInterrupt as exc:
        # a RunStopped of femhomog.timestepping.stop (not imported here: it imports MPI)
        stopped: Any = exc
        if getattr(stopped, "signum", None) is None:  # Ctrl-C before the handlers were set
            _end_record("interrupted", "interrupted by SIGINT", collective=False)
            if world_rank() == 0:
                print("femhomog: interrupted", file=sys.stderr, flush=True)
            _abort_if_parallel(EXIT_INTERRUPTED)
            return EXIT_INTERRUPTED
        if stopped.collective:  # every rank stopped at the same step; run.json is final
            _error_line(stopped.reason + _end_record("", None, collective=True), prefix="")
            return int(stopped.exit_status)
        # during the setup: ranks may be anywhere, no collectives
        note = _end_record(stopped.status, stopped.reason, collective=False)
        _error_line(stopped.reason + note, prefix="")
        _abort_if_parallel(stopped.exit_status)
        return int(stopped.exit_status)
    except (OSError, MemoryError) as exc:
        # a system failure, possibly on this rank only: one line from this rank
        detail = (f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError)
                  and exc.strerror and exc.filename else str(exc)) or "out of memory"
        message = f"{type(exc).__name__}: {detail}"
        _error_line(message + _end_record("failed", message, collective=False),
                    every_rank=world_size() > 1)
        _abort_if_parallel(EXIT_FAILURE)
        return EXIT_FAILURE
    except Exception as exc:
        # A bug, not a user error: keep the traceback, but end run.json and do not
        # let the other ranks of a parallel run hang.
        _end_record("failed", f"{type(exc).__name__}: {exc}", collective=False)
        if world_size() > 1:
            traceback.print_exc()
            _abort_if_parallel()
        raise


if __name__ == "__main__":
    sys.exit(main())
