"""What a spin-coupled run adds to ``averages.csv`` and the field files.

``sx, sy, sz``  volume means of ``s`` over the conductor
``s_rms``       ``sqrt(mean |s|^2)`` over the conductor
``rho_mean``    volume mean of ``rho`` (only when ``rho`` is computed)

(``mx, my, mz`` stay the means over the magnet, :func:`femhomog.micromag.llg_columns`.)
"""

from __future__ import annotations

from typing import Any

__all__ = ["spin_columns", "spin_fields"]


def spin_columns(problem: Any) -> dict[Any, Any]:
    """Columns for a :class:`~femhomog.ScalarLog` (collective callables) of a
    :class:`~femhomog.spin.SpinLLGProblem`."""
    cols: dict[Any, Any] = {("sx", "sy", "sz"): problem.spin_average, "s_rms": problem.spin_rms}
    if problem.charge is not None:
        cols["rho_mean"] = problem.rho_mean
    return cols


def spin_fields(problem: Any) -> list[Any]:
    """The conductor functions written to the field file: ``s`` (at the vertices: P1)
    and ``rho``."""
    return [problem.s_vertices, *([problem.charge.rho] if problem.charge is not None else [])]
