"""Newton initial guesses of the adaptive midpoint step: iterations and wall time.

``MidpointIntegrator.adaptive_step`` (step doubling) solves one step of size
``k`` and two of ``k/2`` per attempt.  By default the half steps start Newton
from the normalized ``(m^n + m_k)/2`` and from ``m_k``, the big step's solution;
the baseline (``half_step_guesses=False``) starts every solve from its initial
value.  This script integrates the fine-scale solution ``m^eps`` of the LL
homogenization demo (``demos/ll_homogenization.py``) with both settings in one
process and prints accepted/rejected steps, Newton and linear iterations, wall
time, the ratios and the largest nodal difference of the two final states
(which must be at the Newton tolerance).

Usage::

    python benchmarks/midpoint_adaptive.py                       # quick 1D and 2D cases
    python benchmarks/midpoint_adaptive.py --runs 2d:20          # the full 2D case, eps = 1/20
    mpirun -n 2 python benchmarks/midpoint_adaptive.py --runs 1d:24q 2d:16q
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from femhomog import _fenicsx  # noqa: F401

# isort: split
from _common import COMM, log
from mpi4py import MPI

from femhomog.micromag.experiments import ll_homogenization


def integrate(case, k: int, guesses: bool) -> dict:
    """``m^eps(T)`` at ``eps = 1/k`` exactly as the demo computes it."""
    problem, info = ll_homogenization.fine_solution(case, COMM, k, case.tol, half_step_guesses=guesses)
    out = dataclasses.asdict(info)
    out["dofs"] = problem.reduction.P.getSize()[1]
    out["m"] = problem.m.x.array[: 3 * problem.num_owned_nodes].copy()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--runs",
        nargs="+",
        default=["1d:24q", "2d:16q"],
        help="CASE:1/eps, with a trailing q for the demo's --quick settings",
    )
    args = parser.parse_args()
    ll_homogenization.configure_solver(COMM, 1)
    log(f"ranks {COMM.size}")
    log(
        "| case | 1/eps | grid | dofs | steps (rej.) | Newton its base / guess | ratio "
        "| linear its base / guess | wall base / guess [s] | speedup | max diff |"
    )
    log("|---|---:|---|---:|---|---|---:|---|---|---:|---:|")
    for spec in args.runs:
        name, _, k = spec.partition(":")
        quick = k.endswith("q")
        k = int(k.rstrip("q"))
        case = ll_homogenization.CASES[name]
        if quick:
            case = dataclasses.replace(case, **ll_homogenization.QUICK[name])
        ll_homogenization.configure_solver(COMM, case.dim)
        base = integrate(case, k, guesses=False)
        new = integrate(case, k, guesses=True)
        diff = COMM.allreduce(float(np.max(np.abs(base["m"] - new["m"]))), op=MPI.MAX)
        log(
            f"| {name}{' quick' if quick else ''} | {k} | {new['grid']} | {new['dofs']:,} "
            f"| {base['steps']} ({base['rejected']}) / {new['steps']} ({new['rejected']}) "
            f"| {base['newton']} / {new['newton']} | {new['newton'] / base['newton']:.2f} "
            f"| {base['linear']} / {new['linear']} "
            f"| {base['wall_s']:.1f} / {new['wall_s']:.1f} "
            f"| {base['wall_s'] / new['wall_s']:.2f}x | {diff:.1e} |"
        )


if __name__ == "__main__":
    main()
