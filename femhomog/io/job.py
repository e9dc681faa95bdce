"""What the ``femhomog`` command needs to know of a job: :class:`Job`.

Each physics package describes its job in a small, dolfinx-free module (e.g.
:mod:`femhomog.cell.command`), and :mod:`femhomog.cli.main` lists the jobs in
``JOBS``; that entry is all the command line needs.  The description lives
here, below the physics, so that the physics packages never import the CLI.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

from femhomog.io.schema import Schema

__all__ = ["Job", "run_stats_line"]


@dataclass(frozen=True)
class Job:
    """A ``femhomog <name> CONFIG --out DIR`` subcommand.

    Parameters
    ----------
    name
        Subcommand name.
    help
        One-line description for ``femhomog --help``.
    schema
        The job's configuration schema: ``--print-config`` prints its template,
        the loader validates ``CONFIG`` and ``--set`` against it.
    run
        ``"module:function"`` of ``function(cfg, *, out_dir, comm) -> dict``
        (with ``restart=DIR or None`` if ``restartable``), run on every rank.
        It is imported only when the job runs: the physics imports dolfinx,
        which ``--help``, ``--print-config`` and config errors should not wait
        for.
    summary
        ``summary(result, out_dir)`` (with ``restart=``, as ``run``) gives the
        text printed on rank 0 from the dict that ``run`` returned.
    restartable
        The subcommand takes ``--restart DIR`` (continue the run in ``DIR`` from
        its last checkpoint; ``--out`` then defaults to ``DIR``).
    """

    name: str
    help: str
    schema: Schema
    run: str
    summary: Callable[..., str]
    restartable: bool = False

    def load(self, path: Path, overrides: Sequence[str]) -> Any:
        """The validated job configuration (same verdict on every rank)."""
        return self.schema.load(path, overrides)

    def function(self) -> Callable[..., Mapping[str, Any]]:
        """Import and return the ``run`` function."""
        module, _, name = self.run.partition(":")
        return getattr(import_module(module), name)


def run_stats_line(summary: Mapping[str, Any], dofs: bool = False) -> str | None:
    """``"[dofs N on ]R ranks, wall time T s"`` of a job summary (None if it has neither).

    The closing line every job's summary shares; ``dofs``: lead with ``summary["dofs"]``.
    """
    stats = []
    ranks = summary.get("ranks")
    on = f"{ranks} rank{'s' if ranks != 1 else ''}" if ranks is not None else None
    if dofs and "dofs" in summary:
        n = summary["dofs"]
        stats.append((f"dofs {n:,}" if isinstance(n, int) else f"dofs {n}")
                     + (f" on {on}" if on else ""))
    elif on:
        stats.append(on)
    if "wall_time_s" in summary:
        stats.append(f"wall time {float(summary['wall_time_s']):.2f} s")
    return ", ".join(stats) or None
