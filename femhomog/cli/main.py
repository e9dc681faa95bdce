"""The ``femhomog`` command.

``femhomog <job> CONFIG.toml --out DIR [--set section.key=value]... [-v|-q]``
(``femhomog llg CONFIG.toml --restart DIR`` continues a run from its checkpoint)
runs one job type (``cell``, ``llg``; ``wave`` later) under ``mpirun`` or
serially.  Every job subcommand has the same shape, so adding one is a single
function decorated with :func:`job_command`::

    @job_command("wave", schema=WAVE_SCHEMA, load=load_wave_config, help="...")
    def _wave(cfg: WaveJobConfig, out_dir: Path, comm: MPI.Comm) -> None:
        from femhomog.wave.job import run_wave_job
        summary = run_wave_job(cfg, out_dir=out_dir, comm=comm)
        if comm.Get_rank() == 0:
            print(...)

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from femhomog import ConfigError, FemhomogError, __version__
from femhomog.cell.config import CELL_SCHEMA, CellJobConfig, load_cell_config
from femhomog.io.logging import get_logger, setup_logging, world_rank, world_size
from femhomog.io.schema import Schema
from femhomog.micromag.config import LLG_SCHEMA, LlgJobConfig, load_llg_config

__all__ = [
    "JobCommand",
    "build_parser",
    "format_cell_summary",
    "format_llg_summary",
    "job_command",
    "main",
]

log = get_logger(__name__)

#: Exit status for user errors (bad config, solver failure), as for argparse usage errors.
EXIT_ERROR = 2
#: Exit status after Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130


# --------------------------------------------------------------------------
# Job subcommands
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class JobCommand:
    """A ``femhomog <name> CONFIG --out DIR`` subcommand.

    Parameters
    ----------
    name
        Subcommand name.
    help
        One-line description for ``femhomog --help``.
    schema
        The job's config schema (``--print-config`` prints its template).
    load
        ``load(path, overrides)`` returns the validated job config.
    run
        ``run(cfg, out_dir, comm)`` runs the job on every rank and prints the
        summary on rank 0.
    """

    name: str
    help: str
    schema: Schema
    load: Callable[[Path, Sequence[str]], Any]
    run: Callable[..., None]
    restartable: bool = False


_JOBS: dict[str, JobCommand] = {}


def job_command(
    name: str,
    *,
    schema: Schema,
    load: Callable[[Path, Sequence[str]], Any],
    help: str,
    restartable: bool = False,
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register the decorated ``run(cfg, out_dir, comm)`` as subcommand ``name``.

    With ``restartable`` the subcommand has ``--restart DIR`` and ``run`` is
    called as ``run(cfg, out_dir, comm, restart=DIR or None)``.
    """

    def register(run: Callable[..., None]) -> Callable[..., None]:
        _JOBS[name] = JobCommand(name=name, help=help, schema=schema, load=load, run=run,
                                 restartable=restartable)
        return run

    return register


def format_cell_summary(summary: Mapping[str, Any], out_dir: Path) -> str:
    """Human-readable summary of a cell job (printed on rank 0).

    Parameters
    ----------
    summary
        The dict returned by ``run_cell_job``: ``a0`` (nested list or scalar),
        ``dofs``, ``ranks``, ``wall_time_s``; optionally ``tensors_json`` (path
        of the written file, default ``out_dir/tensors.json``).
    out_dir
        The job's output directory.
    """
    lines: list[str] = []
    a0 = summary.get("a0")
    if a0 is not None:
        rows = a0 if isinstance(a0, list | tuple) else [[a0]]
        rows = [r if isinstance(r, list | tuple) else [r] for r in rows]
        lines.append(f"a^0 (homogenized coefficient, {len(rows)} x {len(rows[0])}):")
        for row in rows:
            lines.append("  [" + " ".join(f"{float(v):>18.10e}" for v in row) + " ]")
    order = summary.get("order", 0)
    if order:
        lines.append(
            f"effective wave tensors up to order s = {order} ({summary.get('method')}): "
            f"{summary.get('cell_problems_solved')} scalar cell problems; "
            "delta = " + ", ".join(f"{float(v):.4g}" for v in summary.get("delta", []))
        )
        for r in range(1, order + 1):
            g = np.asarray(summary[f"g{2 * r}"])
            lines.append(f"  S(g^{2 * r}): order {g.ndim}, max |entry| {np.abs(g).max():.6e}")
    stats = []
    if "dofs" in summary:
        ranks = summary.get("ranks")
        on = f" on {ranks} rank{'s' if ranks != 1 else ''}" if ranks is not None else ""
        stats.append(f"dofs {summary['dofs']:,}{on}" if isinstance(summary["dofs"], int)
                     else f"dofs {summary['dofs']}{on}")
    if "wall_time_s" in summary:
        stats.append(f"wall time {float(summary['wall_time_s']):.2f} s")
    if stats:
        lines.append(", ".join(stats))
    lines.append(f"tensors: {summary.get('tensors_json', out_dir / 'tensors.json')}")
    return "\n".join(lines)


@job_command(
    "cell",
    schema=CELL_SCHEMA,
    load=load_cell_config,
    help="homogenized coefficient a^0 of a periodic cell problem",
)
def _cell(cfg: CellJobConfig, out_dir: Path, comm: Any) -> None:
    # Imported here: the physics pulls in dolfinx, which --help/--print-config
    # and config errors should not wait for.
    from femhomog.cell.job import run_cell_job

    summary = run_cell_job(cfg, out_dir=out_dir, comm=comm)
    if comm.Get_rank() == 0:
        print(format_cell_summary(summary, out_dir), flush=True)


def format_llg_summary(summary: Mapping[str, Any], out_dir: Path) -> str:
    """Human-readable summary of an LLG job (printed on rank 0).

    Parameters
    ----------
    summary
        The dict returned by ``run_llg_job`` (the content of run.json): ``steps``,
        ``rejected_steps``, ``t_final``, ``final`` (last averages row), ``units``,
        ``ranks``, ``wall_time_s``; optionally ``run_json``.
    out_dir
        The job's output directory.
    """
    unit = " s" if summary.get("units", {}).get("time") == "s" else ""
    steps, rejected = summary.get("steps", 0), summary.get("rejected_steps", 0)
    t_final = float(summary.get("t_final", 0.0))
    lines = [f"LLG: {steps} steps ({rejected} rejected) to t = {t_final:.6g}{unit}"]
    row = summary.get("final") or {}
    if row:
        lines.append(f"<m> = ({row['mx']:.8f}, {row['my']:.8f}, {row['mz']:.8f}), "
                     f"E_total = {row['E_total']:.10g}, max||m|-1| = {row['norm_dev']:.1e}")
    stats = []
    if "ranks" in summary:
        stats.append(f"{summary['ranks']} rank{'s' if summary['ranks'] != 1 else ''}")
    if "wall_time_s" in summary:
        stats.append(f"wall time {float(summary['wall_time_s']):.2f} s")
    if stats:
        lines.append(", ".join(stats))
    lines.append(f"averages: {out_dir / 'averages.csv'}")
    lines.append(f"run: {summary.get('run_json', out_dir / 'run.json')}")
    return "\n".join(lines)


@job_command(
    "llg",
    schema=LLG_SCHEMA,
    load=load_llg_config,
    help="Landau-Lifshitz-Gilbert dynamics: averages.csv, run.json, m.bp",
    restartable=True,
)
def _llg(cfg: LlgJobConfig, out_dir: Path, comm: Any, restart: Path | None = None) -> None:
    # Imported here, as for the cell job: config errors should not wait for dolfinx.
    from femhomog.micromag.job import run_llg_job

    summary = run_llg_job(cfg, out_dir=out_dir, comm=comm, restart=restart)
    if comm.Get_rank() == 0:
        if summary.get("already_completed"):
            unit = " s" if summary.get("units", {}).get("time") == "s" else ""
            print(f"the run in {restart} already completed at t = "
                  f"{float(summary.get('t_final', 0.0)):.6g}{unit}: nothing to do "
                  "(raise time.t_end with --set to continue it)", flush=True)
        else:
            print(format_llg_summary(summary, out_dir), flush=True)


def _run_job(job: JobCommand, args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
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
    if job.restartable:
        job.run(cfg, out_dir, comm, restart=None if restart is None else Path(restart))
    else:
        job.run(cfg, out_dir, comm)
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


def _add_job_parser(subparsers: Any, job: JobCommand) -> None:
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
    for job in _JOBS.values():
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
