"""The ``femhomog cell`` subcommand: the job's entry in :data:`femhomog.cli.main.JOBS`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from femhomog.cell.config import CELL_SCHEMA
from femhomog.io.job import Job, run_stats_line

__all__ = ["CELL_JOB", "format_cell_summary"]


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
    stats = run_stats_line(summary, dofs=True)
    if stats:
        lines.append(stats)
    lines.append(f"tensors: {summary.get('tensors_json', out_dir / 'tensors.json')}")
    return "\n".join(lines)


CELL_JOB = Job(
    name="cell",
    help="homogenized coefficient a^0 of a periodic cell problem",
    schema=CELL_SCHEMA,
    run="femhomog.cell.job:run_cell_job",
    summary=format_cell_summary,
)
