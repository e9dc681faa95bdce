"""The ``femhomog llg`` subcommand: the job's entry in :data:`femhomog.cli.main.JOBS`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from femhomog.io.job import Job, run_stats_line
from femhomog.micromag.config import LLG_SCHEMA

__all__ = ["LLG_JOB", "format_llg_summary"]


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
    stats = run_stats_line(summary)
    if stats:
        lines.append(stats)
    lines.append(f"averages: {out_dir / 'averages.csv'}")
    lines.append(f"run: {summary.get('run_json', out_dir / 'run.json')}")
    return "\n".join(lines)


def _llg_summary(summary: Mapping[str, Any], out_dir: Path, restart: Path | None = None) -> str:
    """:func:`format_llg_summary`, or the note that a restarted run had nothing left to do."""
    if summary.get("already_completed"):
        unit = " s" if summary.get("units", {}).get("time") == "s" else ""
        return (f"the run in {restart} already completed at t = "
                f"{float(summary.get('t_final', 0.0)):.6g}{unit}: nothing to do "
                "(raise time.t_end with --set to continue it)")
    return format_llg_summary(summary, out_dir)


LLG_JOB = Job(
    name="llg",
    help="Landau-Lifshitz-Gilbert dynamics: averages.csv, run.json, m.bp",
    schema=LLG_SCHEMA,
    run="femhomog.micromag.job:run_llg_job",
    summary=_llg_summary,
    restartable=True,
)
