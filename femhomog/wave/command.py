"""The ``femhomog wave`` subcommand: the job's entry in :data:`femhomog.cli.main.JOBS`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from femhomog.io.job import Job, run_stats_line
from femhomog.wave.config import WAVE_SCHEMA

__all__ = ["WAVE_JOB", "format_wave_summary"]


def format_wave_summary(summary: Mapping[str, Any], out_dir: Path,
                        restart: Path | None = None) -> str:
    """Human-readable summary of a wave job (printed on rank 0).

    Parameters
    ----------
    summary
        The dict returned by ``run_wave_job`` (the content of run.json).
    out_dir
        The job's output directory.
    restart
        The directory of a restarted run.
    """
    if summary.get("already_completed"):
        return (f"the run in {restart} already completed at t = "
                f"{float(summary.get('t_final', 0.0)):.6g}: nothing to do "
                "(raise time.t_end with --set to continue it)")
    t_final = float(summary.get("t_final", 0.0))
    lines = [f"wave: t = {t_final:.6g}, {summary.get('rows', 0)} output times"]
    fine = summary.get("fine")
    if fine:
        lines.append(f"u^eps: {fine['dofs']:,} dofs, degree {fine['degree']}, "
                     f"{fine['propagator']}, {summary.get('matmults', 0):,} MatMults")
    files = summary.get("files", {})
    if files.get("errors"):
        lines.append(f"errors: {out_dir / files['errors']}")
    stats = run_stats_line(summary)
    if stats:
        lines.append(stats)
    lines.append(f"run: {summary.get('run_json', out_dir / 'run.json')}")
    return "\n".join(lines)


WAVE_JOB = Job(
    name="wave",
    help="fine-scale wave u^eps against the effective equations u~^s: errors.csv, cuts",
    schema=WAVE_SCHEMA,
    run="femhomog.wave.job:run_wave_job",
    summary=format_wave_summary,
    restartable=True,
)
