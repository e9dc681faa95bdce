#!/usr/bin/env python3
"""Benchmark of the LLG core: tangent-plane and midpoint integrators, 2D and 3D, 1..N ranks.

Problem (nondimensional, LL paper (3.1)): periodic unit box ``[0, 1]^d`` meshed
with quadrilaterals / hexahedra (Q1 = "P1" space of :class:`LLGProblem`),
exchange ``H = div(a(x/eps) grad m)`` with the oscillating coefficient
``COEFFICIENT[d]`` at ``eps = 1/4`` (quadrature degree 2), implicit uniaxial
anisotropy ``q = 0.5`` along ``e_z``, damping ``alpha = 0.1``, and the smooth
non-uniform periodic initial state :func:`initial_state` (normalized at the
nodes).  Time step ``k = min(CFL h^2, KMAX)`` (defaults ``CFL = 10``, about 10x
the explicit stability limit, and ``KMAX = 2e-3``; ``--dt`` fixes ``k``
instead).  At fixed ``k/h^2`` the linear systems keep their conditioning under
refinement, so the iteration counts show what the preconditioner does; the cap
``KMAX`` keeps ``k |H|`` small on coarse meshes, where Newton for the midpoint
rule diverges from ``m^n`` at ``k = 10 h^2`` (e.g. 2D, n = 16: ``k = 0.04``).
In 3D every default size has ``k = KMAX`` (``k/h^2`` from 0.45 to 9.5, column
``k/h2``).

Dof count: ``dofs = 3 x (periodic nodes)``, the unknowns of the midpoint
Newton system (3 components per node).  The tangent-plane scheme solves for
``2 x nodes`` tangent coordinates (column ``sys``).

Configurations (``--configs``)

``tps-direct``     :class:`TangentPlaneIntegrator`, theta = 1, MUMPS LU (refactored every step)
``tps-iterative``  the same with GMRES(100) + ILU(0) / block Jacobi-ILU(0), rtol 1e-10
``mid-direct``     :class:`MidpointIntegrator` (Newton), MUMPS LU per Newton iteration
``mid-iterative``  the same with GMRES + ILU inside Newton (rtol 1e-10)

For every run: setup time (LLGProblem incl. periodic constraint and initial
data; integrator construction), the first step (symbolic factorization,
PtAP / MatMatMult symbolic phases) separately, then the median over
``--steps`` further steps of the wall time per step, the time per step and
dof, Newton and linear iterations per step, the PETSc log breakdown per step
(``PCSetUp`` = LU factorization or ILU, ``KSPSolve``; the rest is assembly,
PtAP, tangent bases, Jacobian / residual evaluation), peak RSS (max and sum
over ranks, reset per run), and two consistency figures: the energy decrease
over the steps (must be > 0 for both schemes with alpha > 0) and the final
energy, which must agree between 1 and N ranks (``--report`` compares them).

Direct solvers are capped by ``--max-direct-dofs`` (default 3.1e5 dofs in 2D,
3.5e4 in 3D for the tangent plane, a third of that for the midpoint rule, which
factors a 3N Jacobian at every Newton iteration: in 3D at 1e4 dofs that is
already ~3 s of CPU per step, and the cost grows like N^2); skipped runs are
listed, and runs whose solver fails are recorded as skipped (FAILED) instead of
aborting the benchmark.

``--parts eps`` times the eps sweep of ``demos/ll_homogenization.py`` (1D
case, eps = 1/20, 1/40, 1/80 by default) by calling its :func:`run`: wall time
of every time integration (fine solutions m^eps per eps, their h/2 refinement
at the coarsest and finest eps, m_0 and its refinement) and the errors of
Theorem 3.1 next to them.

Examples::

    .venv/bin/python benchmarks/llg_core.py --quick
    .venv/bin/python benchmarks/llg_core.py --json llg1.json
    .venv/bin/mpirun -n 2 .venv/bin/python benchmarks/llg_core.py --json llg2.json
    .venv/bin/python benchmarks/llg_core.py --parts eps --json eps1.json
    .venv/bin/python benchmarks/llg_core.py --report llg1.json llg2.json eps1.json --markdown
    .venv/bin/python benchmarks/llg_core.py --dims 3 --sizes 3:22 --configs tps-iterative

``--sizes`` takes cells per side, ``N`` for every dimension or ``D:N`` for
dimension ``D``; ``--max-direct-dofs`` likewise ``X`` or ``D:X``.
"""

from __future__ import annotations

import os

# Pure MPI benchmark: one thread per rank (see cell_first_order.py).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import datetime
import gc
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from femhomog import _fenicsx  # noqa: F401

# isort: split
import dolfinx
from _common import COMM, cpu_seconds, log, peak_rss_mb, reset_peak_rss, tmax
from mpi4py import MPI
from petsc4py import PETSc

import femhomog
from femhomog.io.output import write_json_atomic
from femhomog.meshes import periodic_box_mesh
from femhomog.micromag.experiments import ll_homogenization
from femhomog.micromag.midpoint import MidpointIntegrator
from femhomog.micromag.problem import LLGProblem
from femhomog.micromag.tangent_plane import TangentPlaneIntegrator
from femhomog.micromag.terms import Exchange, UniaxialAnisotropy

COEFFICIENT = {
    2: "1 + 0.5*sin(2*pi*y[0])*cos(2*pi*y[1])",
    3: "1 + 0.5*sin(2*pi*y[0])*cos(2*pi*y[1]) + 0.25*sin(2*pi*y[2])",
}
CELL_TYPE = {2: "quadrilateral", 3: "hexahedron"}
EPS = 0.25
QUAD_DEGREE = 2
ANISOTROPY = 0.5
ALPHA = 0.1
DEFAULT_CFL = 10.0
DEFAULT_KMAX = 2e-3

#: name -> (integrator, linear solver)
CONFIGS = {
    "tps-direct": ("tangent_plane", "direct"),
    "tps-iterative": ("tangent_plane", "iterative"),
    "mid-direct": ("midpoint", "direct"),
    "mid-iterative": ("midpoint", "iterative"),
}

# Cells per side; dofs = 3 n^d ~ 1.0e4, 3.0e4, 1.0e5, 3.0e5, 1.0e6.
DEFAULT_SIZES = {2: [58, 100, 183, 316, 578], 3: [15, 22, 32, 46, 69]}
QUICK_SIZES = {2: [16, 24], 3: [6, 8]}
WARMUP_SIZE = 4
DEFAULT_MAX_DIRECT_DOFS = {2: 3.1e5, 3: 3.5e4}
#: the midpoint rule factors a 3N Jacobian 3-6 times per step: a third of the TPS caps
MIDPOINT_DIRECT_FACTOR = 1.0 / 3.0

#: PETSc log events recorded per step (time in s, max over ranks)
EVENTS = ("PCSetUp", "KSPSolve", "SNESJacobianEval", "SNESFunctionEval")


# ----------------------------------------------------------------------------- utilities
def event_times() -> dict[str, float]:
    """Cumulative time of the logged PETSc events on this rank."""
    return {name: PETSc.Log.Event(name).getPerfInfo()["time"] for name in EVENTS}


def parse_per_dim(tokens: list[str] | None, dims: list[int], defaults: dict, kind=int) -> dict:
    """``N`` (every dimension) or ``D:N`` tokens -> {dim: [values]}."""
    if not tokens:
        return {d: list(defaults[d]) for d in dims}
    out: dict[int, list] = {d: [] for d in dims}
    for tok in tokens:
        if ":" in tok:
            d, n = tok.split(":", 1)
            if int(d) in out:
                out[int(d)].append(kind(n))
        else:
            for d in dims:
                out[d].append(kind(tok))
    return out


def initial_state(dim: int):
    """Smooth, periodic, non-uniform initial magnetization (unnormalized)."""

    def m0(x: np.ndarray) -> np.ndarray:
        z = x[2] if dim == 3 else 0.0 * x[0]
        tau = 2.0 * np.pi
        return np.vstack(
            [
                np.cos(tau * x[0]) + 0.3 * np.sin(tau * (x[1] - z)),
                np.sin(tau * x[1]) * np.cos(tau * x[0]) + 0.2 * np.cos(tau * z),
                0.5 + np.sin(tau * (x[0] + x[1] + z)),
            ]
        )

    return m0


def make_problem(mesh: dolfinx.mesh.Mesh, dim: int) -> LLGProblem:
    exchange = Exchange(COEFFICIENT[dim], eps=EPS, quadrature_degree=QUAD_DEGREE)
    anisotropy = UniaxialAnisotropy(ANISOTROPY, axis=(0.0, 0.0, 1.0))
    return LLGProblem(
        mesh, [exchange, anisotropy], ALPHA, periodic=True, m0=initial_state(dim), normalize=True
    )


def make_integrator(problem: LLGProblem, config: str):
    kind, solver = CONFIGS[config]
    if kind == "tangent_plane":
        return TangentPlaneIntegrator(problem, solver=solver)
    return MidpointIntegrator(problem, solver=solver)


def linear_iterations(integ, info) -> int:
    """Linear iterations of the last step (KSP, or summed over Newton for the midpoint rule)."""
    if isinstance(integ, MidpointIntegrator):
        return int(integ.snes.getLinearSolveIterations())
    return int(info.iterations)


def destroy(problem: LLGProblem, integ) -> None:
    integ.destroy()
    if problem.periodic is not None:
        problem.periodic.destroy()
    problem.mass.destroy()


# ----------------------------------------------------------------------------- one run
def run_one(mesh, dim: int, n: int, config: str, steps: int, dt: float, mesh_s: float) -> dict:
    """Setup, one untimed-in-the-median first step, ``steps`` timed steps."""
    rss_reset = reset_peak_rss()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    COMM.Barrier()
    cpu_start = cpu_seconds()
    t_start = time.perf_counter()
    t0 = time.perf_counter()
    problem = make_problem(mesh, dim)
    problem_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    integ = make_integrator(problem, config)
    integrator_s = time.perf_counter() - t0
    e_start = problem.energy()
    nodes = problem.V.dofmap.index_map.size_global
    periodic_nodes = problem.reduction.P.getSize()[1] // 3

    COMM.Barrier()
    t0 = time.perf_counter()
    info = integ.step(dt)
    first_s = time.perf_counter() - t0
    first_its = (int(info.iterations), linear_iterations(integ, info))

    step_s, step_cpu, newton, linear, ev = [], [], [], [], []
    for _ in range(steps):
        COMM.Barrier()
        e0 = event_times()
        c0 = cpu_seconds()
        t0 = time.perf_counter()
        info = integ.step(dt)
        step_s.append(time.perf_counter() - t0)
        step_cpu.append(cpu_seconds() - c0)
        e1 = event_times()
        ev.append({k: e1[k] - e0[k] for k in EVENTS})
        newton.append(int(info.iterations))
        linear.append(linear_iterations(integ, info))
    total_s = time.perf_counter() - t_start
    cpu_s = cpu_seconds() - cpu_start
    rss = peak_rss_mb()
    e_end = problem.energy()
    norm_dev = problem.norm_deviation()
    avg = problem.average()

    # per-step times: the max over ranks of each step, then the median over steps
    step_max = [tmax(s) for s in step_s]
    events = {k: statistics.median(tmax(e[k]) for e in ev) for k in EVENTS}
    step_med = statistics.median(step_max)
    kind, solver = CONFIGS[config]
    dofs = 3 * periodic_nodes
    row = {
        "dim": dim,
        "n": n,
        "config": config,
        "integrator": kind,
        "solver": solver,
        "ranks": COMM.size,
        "nodes": nodes,
        "periodic_nodes": periodic_nodes,
        "dofs": dofs,
        "system_size": (2 if kind == "tangent_plane" else 3) * periodic_nodes,
        "dt": dt,
        "k_over_h2": dt * n**2,
        "steps": steps,
        "mesh_s": tmax(mesh_s),
        "problem_s": tmax(problem_s),
        "integrator_s": tmax(integrator_s),
        "setup_s": tmax(problem_s + integrator_s),
        "first_step_s": tmax(first_s),
        "first_step_its": list(first_its),
        "step_s": step_med,
        "step_s_each": step_max,
        "step_us_per_dof": 1e6 * step_med / dofs,
        # CPU time per step (median, max over ranks): less sensitive to other processes on
        # the cores than the wall time (MPI waits count as CPU time: busy polling)
        "step_cpu_s": statistics.median(tmax(c) for c in step_cpu),
        "newton_its": newton,
        "linear_its": linear,
        "pc_setup_s": events["PCSetUp"],
        "ksp_solve_s": events["KSPSolve"],
        "jacobian_s": events["SNESJacobianEval"],
        "residual_s": events["SNESFunctionEval"],
        "other_s": step_med - events["PCSetUp"] - events["KSPSolve"],
        "total_s": tmax(total_s),
        "cpu_frac": float(COMM.allreduce(cpu_s / total_s if total_s > 0 else 1.0, op=MPI.MIN)),
        "loadavg_1min_before": float(COMM.bcast(load, root=0)),
        "rss_max_MB": float(COMM.allreduce(rss, op=MPI.MAX)),
        "rss_sum_MB": float(COMM.allreduce(rss, op=MPI.SUM)),
        "rss_per_run": bool(COMM.allreduce(rss_reset, op=MPI.LAND)),
        "energy_start": e_start,
        "energy_end": e_end,
        "energy_decrease": e_start - e_end,
        "norm_deviation": norm_dev,
        "m_average": avg.tolist(),
    }
    destroy(problem, integ)
    del problem, integ
    gc.collect()
    return row


# ----------------------------------------------------------------------------- eps sweep
def eps_sweep(inv_eps: list[int] | None, quick: bool) -> dict:
    """Run the 1D homogenization demo and collect per-eps wall times and errors."""
    overrides = {} if inv_eps is None else {"inv_eps": tuple(inv_eps)}
    COMM.Barrier()
    t0 = time.perf_counter()
    res = ll_homogenization.run("1d", out=None, quick=quick, comm=COMM, verbose=False, **overrides)
    wall = tmax(time.perf_counter() - t0)
    npp = res["nodes_per_period"]
    rows = []
    for (eps, _, e_l2, e_h1), (_, _, c_l2, c_h1) in zip(res["rows"], res["corrected"], strict=True):
        k = round(1.0 / eps)
        label = f"m_eps(1/{k})"
        runs = {r["cells"]: r for r in res["runs"] if r["label"] == label}
        base = runs[npp * k]
        ref = runs.get(2 * npp * k)
        rows.append(
            {
                "inv_eps": k,
                "cells": base["cells"],
                "tol": base["tol"],
                "steps": base["steps"],
                "rejected": base["rejected"],
                "dt_min": base["dt_min"],
                "dt_max": base["dt_max"],
                "wall_s": base["wall_s"],
                "ref_cells": ref["cells"] if ref else None,
                "ref_steps": ref["steps"] if ref else None,
                "ref_wall_s": ref["wall_s"] if ref else None,
                "err_L2": e_l2,
                "err_H1": e_h1,
                "corr_L2": c_l2,
                "corr_H1": c_h1,
            }
        )
    m0_runs = [r for r in res["runs"] if r["label"] == "m_0"]
    return {
        "ranks": COMM.size,
        "quick": quick,
        "A_H": res["A_H"],
        "rates": res["rates"],
        "corrected_rates": res["corrected_rates"],
        "rows": rows,
        "m0_runs": m0_runs,
        "integration_s": float(sum(r["wall_s"] for r in res["runs"])),
        "demo_wall_s": res["wall_s"],
        "wall_s": wall,
    }


# ----------------------------------------------------------------------------- output
def _its(v: list[int]) -> str:
    return "/".join(str(i) for i in v) if len(set(v)) > 1 else str(v[0])


def cpu_per_step(r: dict) -> str:
    """CPU time per step; for runs without it (older JSON), ~ step wall time x cpu share."""
    if "step_cpu_s" in r:
        return f"{r['step_cpu_s']:.3f}"
    return f"~{r['step_s'] * r['cpu_frac']:.3f}"


COLUMNS = [
    # header, key or callable, format
    ("np", "ranks", "{:d}"),
    ("d", "dim", "{:d}"),
    ("config", "config", "{}"),
    ("n", "n", "{:d}"),
    ("dofs", "dofs", "{:d}"),
    ("sys", "system_size", "{:d}"),
    ("k/h2", "k_over_h2", "{:.2g}"),
    ("setup[s]", "setup_s", "{:.2f}"),
    ("step1[s]", "first_step_s", "{:.2f}"),
    ("step[s]", "step_s", "{:.3f}"),
    ("us/dof", "step_us_per_dof", "{:.2f}"),
    ("cpu/step[s]", lambda r: cpu_per_step(r), "{}"),
    ("newton", lambda r: _its(r["newton_its"]) if r["integrator"] == "midpoint" else "-", "{}"),
    ("lin.its", lambda r: _its(r["linear_its"]) if r["solver"] == "iterative" else "-", "{}"),
    ("PCsetup[s]", "pc_setup_s", "{:.3f}"),
    ("KSPsolve[s]", "ksp_solve_s", "{:.3f}"),
    ("other[s]", "other_s", "{:.3f}"),
    ("RSSmax[MB]", "rss_max_MB", "{:.0f}"),
    ("RSSsum[MB]", "rss_sum_MB", "{:.0f}"),
    ("cpu%", lambda r: f"{100 * r['cpu_frac']:.0f}", "{}"),
    ("load", "loadavg_1min_before", "{:.1f}"),
    ("dE", "energy_decrease", "{:.3e}"),
]

LEGEND = (
    "dofs = 3 x periodic nodes; sys = size of the linear system (2 x nodes tangent plane, "
    "3 x nodes midpoint); k/h2 = time step / h^2; setup = LLGProblem (periodic constraint, mass, initial data) + "
    "integrator; step1 = first step (symbolic factorization / products); step = median wall "
    "time of the timed steps (max over ranks); us/dof = step / dofs in microseconds; "
    "cpu/step = CPU time per step (median, max over ranks; ~: estimated as step x cpu%); newton = "
    "Newton iterations per step; lin.its = linear iterations per step (summed over Newton); "
    "PCsetup = LU factorization or ILU per step, KSPsolve = Krylov / triangular solves per step, "
    "other = step - PCsetup - KSPsolve (assembly, PtAP, tangent bases, Jacobian); RSS = peak of "
    "the run, max / sum over ranks; cpu% = CPU time / wall (min over ranks; < 90: cores shared); "
    "load = 1-min load average before the run; dE = E(m^0) - E(m_end) over the first and the "
    "timed steps (> 0)"
)


def fmt(row: dict, key, spec: str) -> str:
    v = key(row) if callable(key) else row[key]
    return spec.format(v)


def render(head: list[str], body: list[list[str]], markdown: bool, left: set[int]) -> str:
    if markdown:
        align = ["---" if i in left else "--:" for i in range(len(head))]
        return "\n".join("| " + " | ".join(c) + " |" for c in [head, align, *body])
    cells = [head, *body]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    lines = []
    for j, c in enumerate(cells):
        lines.append(
            "  ".join(
                c[i].ljust(widths[i]) if i in left else c[i].rjust(widths[i]) for i in range(len(c))
            )
        )
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def table(rows: list[dict], markdown: bool = False) -> str:
    head = [h for h, _, _ in COLUMNS]
    body = [[fmt(r, k, s) for _, k, s in COLUMNS] for r in rows]
    return render(head, body, markdown, {2})


def speedups(rows: list[dict], markdown: bool = False) -> str:
    """Time on 1 rank / time on N ranks, and the agreement of the final energies."""

    def key(r: dict) -> tuple:
        return (r["dim"], r["n"], r["config"])

    serial = {key(r): r for r in rows if r["ranks"] == 1}
    head = [
        "np",
        "d",
        "config",
        "n",
        "dofs",
        "setup",
        "step1",
        "step",
        "lin.its 1/np",
        "|dE_end|/E",
    ]
    body = []
    for r in rows:
        s = serial.get(key(r))
        if r["ranks"] == 1 or s is None:
            continue
        its = (
            f"{_its(s['linear_its'])} / {_its(r['linear_its'])}"
            if r["solver"] == "iterative"
            else "-"
        )
        body.append(
            [str(r["ranks"]), str(r["dim"]), r["config"], str(r["n"]), str(r["dofs"])]
            + [f"{s[k] / r[k]:.2f}" for k in ("setup_s", "first_step_s", "step_s")]
            + [its, f"{abs(s['energy_end'] - r['energy_end']) / abs(s['energy_end']):.1e}"]
        )
    return render(head, body, markdown, {2}) if body else ""


def eps_table(sweeps: list[dict], markdown: bool = False) -> str:
    head = [
        "np",
        "1/eps",
        "cells",
        "steps",
        "rejected",
        "wall[s]",
        "s/step",
        "ref cells",
        "ref wall[s]",
        "err_L2",
        "err_H1",
        "corr_L2",
    ]
    body = []
    for sw in sweeps:
        for r in sw["rows"]:
            body.append(
                [
                    str(sw["ranks"]),
                    str(r["inv_eps"]),
                    str(r["cells"]),
                    str(r["steps"]),
                    str(r["rejected"]),
                    f"{r['wall_s']:.1f}",
                    f"{r['wall_s'] / r['steps']:.4f}",
                    str(r["ref_cells"] or "-"),
                    f"{r['ref_wall_s']:.1f}" if r["ref_wall_s"] is not None else "-",
                    f"{r['err_L2']:.4e}",
                    f"{r['err_H1']:.4e}",
                    f"{r['corr_L2']:.3e}",
                ]
            )
        for m in sw["m0_runs"]:
            body.append(
                [str(sw["ranks"]), "m_0", str(m["cells"]), str(m["steps"]), str(m["rejected"])]
                + [f"{m['wall_s']:.1f}", f"{m['wall_s'] / m['steps']:.4f}"]
                + ["-"] * 5
            )
    return render(head, body, markdown, set())


def report(rows: list[dict], sweeps: list[dict], skipped: list[str], markdown: bool) -> None:
    if skipped:
        log(f"# skipped: {'; '.join(skipped)}")
    if rows:
        log(table(rows))
        log(f"# {LEGEND}")
        bad = [r for r in rows if not (r["energy_decrease"] > 0 and r["norm_deviation"] < 1e-12)]
        for r in bad:
            log(
                f"# WARNING: d={r['dim']} n={r['n']} {r['config']}: energy decrease "
                f"{r['energy_decrease']:.3e}, max ||m|-1| = {r['norm_deviation']:.1e}"
            )
        sp = speedups(rows)
        if sp:
            log("")
            log("# speedup (time on 1 rank / time on np ranks), relative difference of E(m_end)")
            log(sp)
        busy = [r for r in rows if r["cpu_frac"] < 0.9]
        if busy:
            log(
                f"# WARNING: {len(busy)} run(s) got < 90% of a core per rank (cpu% column): "
                "other processes were competing for the cores, their timings are inflated"
            )
    for sw in sweeps:
        log("")
        log(
            f"# eps sweep of demos/ll_homogenization.py (1D{', quick' if sw['quick'] else ''}), "
            f"{sw['ranks']} rank(s): A^H = {sw['A_H'][0][0]:.10f}, L2 rates "
            f"{', '.join(f'{x:.2f}' for x in sw['rates']['L2'])}; time integration "
            f"{sw['integration_s']:.1f} s of {sw['wall_s']:.1f} s in total"
        )
        log(eps_table([sw]))
        log(
            "# wall = time integration of m^eps (max over ranks); s/step = wall per accepted "
            "step (one step of k and two of k/2: step doubling); ref = the h/2, tol/8 run of the "
            "self-convergence check; err = ||m^eps - m_0|| (L2, H1 seminorm), corr_L2 = L2 "
            "error of m_0 + eps grad m_0 chi(x/eps); m_0 rows: homogenized solution and its "
            "refinement"
        )
    if markdown:
        if rows:
            log("")
            log(table(rows, markdown=True))
            sp = speedups(rows, markdown=True)
            if sp:
                log("")
                log(sp)
        if sweeps:
            log("")
            log(eps_table(sweeps, markdown=True))


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parts", nargs="+", choices=["llg", "eps"], default=["llg"])
    ap.add_argument("--dims", type=int, nargs="+", choices=[2, 3], default=[2, 3])
    ap.add_argument("--sizes", nargs="+", help="cells per side: 'N' or 'D:N'")
    ap.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    ap.add_argument("--steps", type=int, default=3, help="timed steps after the first")
    ap.add_argument("--cfl", type=float, default=DEFAULT_CFL, help="time step k = CFL h^2")
    ap.add_argument(
        "--kmax", type=float, default=DEFAULT_KMAX, help="upper bound of k (default %(default)g)"
    )
    ap.add_argument("--dt", type=float, help="fixed time step (overrides --cfl, --kmax)")
    ap.add_argument(
        "--max-direct-dofs",
        nargs="+",
        help=(
            "skip direct solvers above this many dofs: 'X' or 'D:X' (default "
            f"{DEFAULT_MAX_DIRECT_DOFS} for the tangent plane, a third of it for the "
            "midpoint rule; an explicit value applies to both)"
        ),
    )
    ap.add_argument("--max-dofs", type=float, default=float("inf"), help="skip larger runs")
    ap.add_argument(
        "--inv-eps", type=int, nargs="+", help="eps sweep: values 1/eps (default: the demo's)"
    )
    ap.add_argument(
        "--petsc",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="PETSc options, e.g. femhomog_llg_mid_snes_ksp_ew=1 (recorded in the JSON)",
    )
    ap.add_argument(
        "--label", default="", help="suffix of the config names (e.g. for a --petsc variant)"
    )
    ap.add_argument("--json", metavar="OUT", help="write the results as JSON")
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    ap.add_argument("--no-warmup", action="store_true", help="time the first runs with JIT")
    ap.add_argument("--markdown", action="store_true", help="also print markdown tables")
    ap.add_argument("--report", nargs="+", metavar="JSON", help="merge earlier --json outputs")
    args = ap.parse_args(argv)

    if args.report:
        runs: dict[tuple, dict] = {}
        sweeps: dict[tuple, dict] = {}
        skipped = []
        for path in args.report:
            with open(path) as f:
                data = json.load(f)
            for r in data["runs"]:
                runs[(r["dim"], r["n"], r["config"], r["ranks"])] = r
            if data.get("eps_sweep"):
                sw = data["eps_sweep"]
                sweeps[(sw["quick"], sw["ranks"])] = sw
            m = data["meta"]
            skipped += [f"np={m['ranks']} {s}" for s in m.get("skipped", [])]
            log(
                f"# {path}: {m['date']}, {m['ranks']} rank(s), {m['host']} ({m['cpu_count']} "
                f"cores), load {m.get('loadavg_start', float('nan')):.2f} at start"
            )
        done = {f"np={r['ranks']} d={r['dim']} n={r['n']} {r['config']}" for r in runs.values()}
        skipped = sorted({s for s in skipped if s.split(" (")[0] not in done})
        rows = [runs[k] for k in sorted(runs)]
        report(rows, [sweeps[k] for k in sorted(sweeps)], skipped, args.markdown)
        return 0

    PETSc.Log.begin()
    opts = PETSc.Options()
    for item in args.petsc:
        key, _, value = item.partition("=")
        opts[key.lstrip("-")] = value
    started = datetime.datetime.now().astimezone()
    load0 = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    log(
        f"# femhomog {femhomog.__version__} llg_core benchmark, {started:%Y-%m-%d %H:%M %Z}, "
        f"{COMM.size} rank(s), {platform.node()} ({os.cpu_count()} cores), "
        f"dolfinx {dolfinx.__version__}, PETSc {'.'.join(map(str, PETSc.Sys.getVersion()))}, "
        f"load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}"
    )
    rows: list[dict] = []
    skipped: list[str] = []
    sizes = parse_per_dim(args.sizes, args.dims, QUICK_SIZES if args.quick else DEFAULT_SIZES)
    max_direct = parse_per_dim(
        args.max_direct_dofs,
        args.dims,
        {d: [v] for d, v in DEFAULT_MAX_DIRECT_DOFS.items()},
        kind=float,
    )
    max_direct = {d: min(v) if v else float("inf") for d, v in max_direct.items()}

    def direct_cap(config: str, dim: int) -> float:
        if args.max_direct_dofs or CONFIGS[config][0] == "tangent_plane":
            return max_direct[dim]
        return MIDPOINT_DIRECT_FACTOR * max_direct[dim]

    def save(sweep: dict | None, wall: float, final: bool) -> None:
        """Write the JSON (also after every run: a killed benchmark keeps its results)."""
        if not args.json:
            return
        meta = {
            "date": started.isoformat(timespec="seconds"),
            "host": platform.node(),
            "cpu_count": os.cpu_count(),
            "ranks": COMM.size,
            "omp_num_threads": os.environ["OMP_NUM_THREADS"],
            "femhomog": femhomog.__version__,
            "dolfinx": dolfinx.__version__,
            "petsc": ".".join(map(str, PETSc.Sys.getVersion())),
            "loadavg_start": load0[0],
            "loadavg_end": os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan"),
            "problem": {
                "coefficient": COEFFICIENT,
                "eps": EPS,
                "quadrature_degree": QUAD_DEGREE,
                "anisotropy_q": ANISOTROPY,
                "alpha": ALPHA,
                "cell_types": CELL_TYPE,
                "dt": args.dt,
                "cfl": None if args.dt else args.cfl,
                "kmax": None if args.dt else args.kmax,
            },
            "steps": args.steps,
            "petsc_options": args.petsc,
            "label": args.label,
            "max_direct_dofs": max_direct,
            "skipped": skipped,
            "wall_s": wall,
            "complete": final,
        }
        write_json_atomic(
            Path(args.json), {"meta": meta, "runs": rows, "eps_sweep": sweep}, comm=COMM
        )

    t_all = time.perf_counter()
    if "llg" in args.parts:
        dt_rule = f"k = {args.dt:g}" if args.dt else f"k = min({args.cfl:g} h^2, {args.kmax:g})"
        log(
            f"# a(y) = {COEFFICIENT}, eps = {EPS}, q = {ANISOTROPY}, alpha = {ALPHA}, {dt_rule}, "
            f"{args.steps} timed steps; sizes {sizes}; direct up to {max_direct} dofs"
        )
        for dim in args.dims:
            if not args.no_warmup:
                t0 = time.perf_counter()
                mesh = periodic_box_mesh(COMM, dim, CELL_TYPE[dim], WARMUP_SIZE)
                for config in args.configs:
                    run_one(mesh, dim, WARMUP_SIZE, config, 1, 1e-3, 0.0)
                del mesh
                gc.collect()
                log(f"# warm-up (JIT / cache load) {dim}D: {tmax(time.perf_counter() - t0):.1f} s")
            for n in sizes[dim]:
                dofs = 3 * n**dim
                todo = []
                for config in args.configs:
                    why = None
                    if dofs > args.max_dofs:
                        why = f"> --max-dofs {args.max_dofs:g}"
                    elif CONFIGS[config][1] == "direct" and dofs > direct_cap(config, dim):
                        why = f"> {direct_cap(config, dim):g} dofs for {config}"
                    if why:
                        skipped.append(f"d={dim} n={n} {config} ({dofs} dofs {why})")
                    else:
                        todo.append(config)
                if not todo:
                    continue
                COMM.Barrier()
                t0 = time.perf_counter()
                mesh = periodic_box_mesh(COMM, dim, CELL_TYPE[dim], n)
                mesh_s = time.perf_counter() - t0
                dt = args.dt if args.dt else min(args.cfl / n**2, args.kmax)
                for config in todo:
                    try:
                        row = run_one(mesh, dim, n, config, args.steps, dt, mesh_s)
                    except femhomog.SolverError as err:  # collective: raised on every rank
                        skipped.append(f"d={dim} n={n} {config} (FAILED: {err})")
                        log(f"  d={dim} n={n} {config}: FAILED: {err}")
                        gc.collect()
                        continue
                    if args.label:
                        row["config"] = f"{config}{args.label}"
                        row["petsc_options"] = args.petsc
                    rows.append(row)
                    save(None, tmax(time.perf_counter() - t_all), final=False)
                    log(
                        f"  d={dim} n={n} {config}: {row['dofs']} dofs, setup "
                        f"{row['setup_s']:.2f}s, step1 {row['first_step_s']:.2f}s, step "
                        f"{row['step_s']:.3f}s ({row['step_us_per_dof']:.2f} us/dof), newton "
                        f"{row['newton_its']}, lin {row['linear_its']}, RSS "
                        f"{row['rss_max_MB']:.0f} MB, cpu {100 * row['cpu_frac']:.0f}%"
                    )
                del mesh
                gc.collect()
    sweep = None
    if "eps" in args.parts:
        log("# eps sweep of demos/ll_homogenization.py (1D) ...")
        sweep = eps_sweep(args.inv_eps, args.quick)
    wall = tmax(time.perf_counter() - t_all)

    log("")
    report(rows, [sweep] if sweep else [], skipped, args.markdown)
    log(f"# benchmark wall time {wall:.1f} s")

    save(sweep, wall, final=True)
    if args.json:
        log(f"# wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
