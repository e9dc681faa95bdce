"""What an LLG run records: the averages columns, output units, progress text, state.

The time loop, tables, checkpoints and run.json are generic
(:mod:`femhomog.timestepping`); this module only says what LLG puts in them:

* :func:`llg_columns`: ``t, mx, my, mz, E_<term>..., E_total, norm_dev`` (the
  header of ``averages.csv``) as callables for a :class:`~femhomog.ScalarLog`;
* :class:`OutputScales`: nondimensional -> written times and energies (SI runs);
* :func:`llg_line` / :func:`llg_postfix`: the LLG part of progress lines;
* :func:`llg_state`: the functions a checkpoint or a final state holds (``m``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from femhomog.micromag.problem import LLGProblem

__all__ = ["OutputScales", "llg_columns", "llg_header", "llg_line", "llg_postfix", "llg_state"]


@dataclass(frozen=True)
class OutputScales:
    """Nondimensional -> output units of the written times and energies.

    Attributes
    ----------
    time : float
        Output time = ``time * t`` (``T`` in seconds for SI runs, 1 otherwise).
    energy : float
        Output energy = ``energy * E`` (``mu0 Ms^2 L^d`` in SI, 1 otherwise).
    time_unit, energy_unit : str
        Names of the units (for run.json and log lines).
    """

    time: float = 1.0
    energy: float = 1.0
    time_unit: str = "nondimensional"
    energy_unit: str = "nondimensional"


def llg_header(problem: LLGProblem) -> list[str]:
    """``t,mx,my,mz,E_<term>...,E_total,norm_dev`` for the terms of ``problem``."""
    return ["t", "mx", "my", "mz", *[f"E_{t.name}" for t in problem.terms], "E_total",
            "norm_dev"]


def llg_columns(problem: LLGProblem, scales: OutputScales = OutputScales()
                ) -> dict[Any, Any]:
    """Columns of ``averages.csv`` for a :class:`~femhomog.ScalarLog` (collective callables).

    ``t`` and the energies in the units of ``scales``; ``<m>`` (volume average),
    ``E_<term>`` per field term, ``E_total`` and ``norm_dev = max_i | |m_i| - 1 |``.
    """
    energy_names = (*[f"E_{t.name}" for t in problem.terms], "E_total")

    def energies() -> list[float]:
        e = problem.energies()
        return [*(e[t.name] * scales.energy for t in problem.terms), e["total"] * scales.energy]

    return {
        "t": lambda: problem.t * scales.time,
        ("mx", "my", "mz"): problem.average,
        energy_names: energies,
        "norm_dev": problem.norm_deviation,
    }


def llg_line(row: Mapping[str, float]) -> str:
    """LLG part of a progress line: energy, ``max||m|-1|`` and ``<m>``."""
    return (f"E = {row['E_total']:.10g}, max||m|-1| = {row['norm_dev']:.1e}, "
            f"<m> = ({row['mx']:.6f}, {row['my']:.6f}, {row['mz']:.6f})")


def llg_postfix(row: Mapping[str, float]) -> str:
    """LLG part of the progress bar's postfix: the energy."""
    return f"E = {row['E_total']:.8g}"


def llg_state(problem: LLGProblem) -> dict[str, Any]:
    """The state of an LLG problem besides ``t``: ``{"m": problem.m}``."""
    return {"m": problem.m}
