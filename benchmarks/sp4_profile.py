#!/usr/bin/env python3
"""Per-step profile of the SP4 field-1 time step (``demos/sp4/field1.toml``).

Builds the job of ``demos/sp4/field1.toml`` in this process (``--set`` overrides
as for ``femhomog llg``), then takes ``--steps`` field-phase steps of the
configured integrator (after ``--warmup`` steps that are not counted: form
compilation, symbolic factorizations) and prints, per step, the wall time of
each phase (max over the ranks), its share of the step, and the counts:

``stray field``   its evaluation, split into the solver's phases: FFT (the default)
                  ``transfer`` (m to the grid, Allreduce, field back to the nodes) and
                  ``fft`` (the convolution); FEM-BEM (``--set demag.method=fembem``)
                  ``u1`` (Neumann solve), ``bem`` (Allgatherv + dense boundary product
                  ``B u1``), ``u2`` (Dirichlet solve), ``project`` (lumped projection)
``other fields``  the rest of ``prepare_terms`` (Zeeman, exchange: cheap)
``assemble``      tangent-plane step matrix (nodal blocks + ``c K``) and load vector
``reduce``        tangent bases and ``(PB)^T A (PB)`` (PtAP)
``solve``         the tangent-plane linear solve (MUMPS LU: a numeric factorization
                  per step unless it is reused)
``other``         the remainder of the step (expansion, nodal renormalization, ...)

with the stray-field iterations per evaluation, the linear-solver iterations
and factorizations per step, the setup times and the peak RSS per rank.
Starting state: ``--m0 FILE`` (``m_relaxed.npz`` of an earlier run on the same
mesh) or the uniform [1, 1, 1] of the demo (the cost per step hardly depends
on the state; the iteration counts do a little).

Usage (note the load next to each figure; the machine may be shared)::

    nice -n 10 .venv/bin/python benchmarks/sp4_profile.py --steps 40
    nice -n 10 .venv/bin/mpirun -n 2 .venv/bin/python benchmarks/sp4_profile.py --steps 40 \\
        --set demag.method=fembem --set demag.solver=direct --set demag.potential_layers=8
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Pure MPI benchmark: one BLAS thread per rank (as the other benchmarks).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from _common import COMM, log, peak_rss_mb, tmax
from mpi4py import MPI

from femhomog.micromag.build import build_llg
from femhomog.micromag.config import load_llg_config

DEMO = ROOT / "demos" / "sp4" / "field1.toml"


class _Timed:
    """Wrap ``obj.name`` (a callable) so that its wall time adds to ``acc[key]``."""

    def __init__(self, acc: dict[str, float], key: str, fn: Any) -> None:
        self.acc, self.key, self.fn = acc, key, fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.acc[self.key] += time.perf_counter() - t0


class _KspProxy:
    """A KSP stand-in that times ``solve`` and delegates everything else."""

    def __init__(self, ksp: Any, acc: dict[str, float], counts: dict[str, int]) -> None:
        self._ksp, self._acc, self._counts = ksp, acc, counts

    def solve(self, b: Any, x: Any) -> None:
        t0 = time.perf_counter()
        self._ksp.solve(b, x)
        self._acc["solve"] += time.perf_counter() - t0
        self._counts["solves"] += 1
        self._counts["iterations"] += int(self._ksp.getIterationNumber())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ksp, name)


def instrument(integrator: Any, problem: Any) -> tuple[dict[str, float], dict[str, int]]:
    acc = {k: 0.0 for k in ("fields", "assemble", "reduce", "solve")}
    counts = {"solves": 0, "iterations": 0}
    # the explicit fields of a step (both tangent-plane schemes go through this hook)
    integrator._prepare_fields = _Timed(acc, "fields", integrator._prepare_fields)
    integrator._assemble_step_matrix = _Timed(acc, "assemble", integrator._assemble_step_matrix)
    con = integrator.constraint
    con.update = _Timed(acc, "reduce", con.update)
    con.reduce_matrix = _Timed(acc, "reduce", con.reduce_matrix)
    con.reduce_vector = _Timed(acc, "reduce", con.reduce_vector)
    integrator.ksp = _KspProxy(integrator.ksp, acc, counts)
    return acc, counts


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--m0", type=Path, default=None, help="m_relaxed.npz to start from")
    parser.add_argument("--set", action="append", default=[], dest="sets")
    parser.add_argument("--json", type=Path, default=None, help="append the result here")
    parser.add_argument("--compare-tps", nargs="*", default=[], metavar="SOLVER",
                        help="then time --steps steps with each tangent-plane linear solver "
                        "(direct, reuse_lu, iterative) from the same state, in this process")
    parser.add_argument("--compare-demag", nargs="*", default=[], metavar="SOLVER:PRECISION",
                        help="then time --evals stray-field evaluations of each FEM-BEM variant "
                        "(e.g. iterative:float64 direct:float32) on the same m, in this process")
    parser.add_argument("--evals", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2,
                        help="compare: interleaved rounds (the load drifts)")
    args = parser.parse_args(argv)
    sets = list(args.sets)
    if args.m0 is not None:
        sets += ["initial.type=file", f"initial.file={str(args.m0)!r}"]
    load0 = os.getloadavg()
    cfg = load_llg_config(DEMO, sets)
    t0 = time.perf_counter()
    setup = build_llg(cfg, COMM)
    setup_s = tmax(time.perf_counter() - t0)
    problem, integrator, demag = setup.problem, setup.stepper.integrator, setup.demag
    acc, counts = instrument(integrator, problem)
    for _ in range(args.warmup):
        integrator.step(setup.dt)
    for k in acc:
        acc[k] = 0.0
    counts.update(solves=0, iterations=0)
    fact0 = integrator.factorizations
    phase0 = dict(demag.stats["phase_s"]) if demag is not None else {}
    ev0 = demag.stats["evaluations"] if demag is not None else 0
    it0 = len(demag.stats.get("u1_iterations", [])) if demag is not None else 0
    t0 = time.perf_counter()
    for _ in range(args.steps):
        m_prev = problem.m.x.array.copy()
        integrator.step(setup.dt)
    total = time.perf_counter() - t0
    n = args.steps
    rows: dict[str, float] = {}
    if demag is not None:
        for k, v in demag.stats["phase_s"].items():
            rows[f"stray field: {k}"] = v - phase0[k]
        stray = sum(rows.values())
        rows["other fields"] = acc["fields"] - stray
        evals = demag.stats["evaluations"] - ev0
        its1 = demag.stats.get("u1_iterations", [])[it0:]  # FEM-BEM's Laplace solves
        its2 = demag.stats.get("u2_iterations", [])[it0:]
    else:
        rows["fields"] = acc["fields"]
        evals, its1, its2 = 0, [], []
    rows["assemble (TPS matrix)"] = acc["assemble"]
    rows["reduce (bases + PtAP)"] = acc["reduce"]
    rows["solve (TPS linear)"] = acc["solve"]
    rows["other"] = total - acc["fields"] - acc["assemble"] - acc["reduce"] - acc["solve"]
    per_step = {k: tmax(v) / n for k, v in rows.items()}
    step_s = tmax(total) / n
    rss = COMM.allgather(peak_rss_mb())
    info = demag.describe() if demag is not None else {}
    result = {
        "ranks": COMM.size,
        "sets": args.sets,
        "nodes": problem.V.dofmap.index_map.size_global,
        "boundary_nodes": info.get("boundary_nodes"),
        "B_GB": info.get("B_bytes_total", 0) / 1e9,
        "setup_s": setup_s,
        "B_build_s": info.get("B_build_s"),
        "demag_method": info.get("method"),
        "grid_shape": info.get("grid_shape"),
        "demag_setup_s": info.get("setup_s"),
        "demag_solver_setup_s": info.get("solver_setup_s"),
        "steps": n,
        "dt_s": cfg.time.dt,
        "step_s": step_s,
        "phases_s_per_step": per_step,
        "stray_evals_per_step": evals / n,
        "u1_iterations_mean": sum(its1) / len(its1) if its1 else None,
        "u2_iterations_mean": sum(its2) / len(its2) if its2 else None,
        "linear_solves_per_step": counts["solves"] / n,
        "linear_iterations_per_step": counts["iterations"] / n,
        "factorizations_per_step": (integrator.factorizations - fact0) / n,
        "integrator": setup.stepper.describe(),
        "max_rss_mb_per_rank": max(rss),
        "sum_rss_mb": sum(rss),
        "load_start": load0,
        "load_end": os.getloadavg(),
    }
    if result["boundary_nodes"] is not None:
        demag_size = f"Nb = {result['boundary_nodes']}, B {result['B_GB']:.2f} GB"
    else:
        demag_size = f"stray field {result['demag_method']} {result['grid_shape']}"
    log(f"SP4 field-1 step profile: {result['nodes']} nodes, {demag_size}, "
        f"{COMM.size} rank(s), sets {args.sets}")
    log(f"load average: start {load0[0]:.2f}, end {result['load_end'][0]:.2f}")
    log(f"setup {setup_s:.1f} s (stray field {result['demag_setup_s'] or 0.0:.2f} s); "
        f"{n} steps of dt = {cfg.time.dt:g} s")
    log(f"{'phase':28s} {'ms/step':>9s} {'share':>6s}")
    for k, v in per_step.items():
        log(f"{k:28s} {1e3 * v:9.1f} {100 * v / step_s:5.1f}%")
    log(f"{'step':28s} {1e3 * step_s:9.1f}")
    log(f"stray-field evaluations/step {result['stray_evals_per_step']:.2f}, iterations u1/u2 "
        f"{result['u1_iterations_mean']}/{result['u2_iterations_mean']}; TPS linear solves/step "
        f"{result['linear_solves_per_step']:.2f}, iterations/step "
        f"{result['linear_iterations_per_step']:.2f}, LU factorizations/step "
        f"{result['factorizations_per_step']:.2f}")
    log(f"peak RSS per rank {result['max_rss_mb_per_rank']:.0f} MB (sum {result['sum_rss_mb']:.0f} MB)")
    if args.compare_tps:
        result["compare_tps"] = compare_tps(setup, cfg, args.compare_tps, args.steps, args.rounds)
    if args.compare_demag:
        result["compare_demag"] = compare_demag(setup, m_prev, args.compare_demag, args.evals,
                                                args.rounds)
    result["load_end"] = os.getloadavg()
    if args.json is not None and COMM.rank == 0:
        old = json.loads(args.json.read_text()) if args.json.exists() else []
        args.json.write_text(json.dumps([*old, result], indent=1))
    return result


def compare_tps(setup: Any, cfg: Any, solvers: list[str], steps: int,
                rounds: int) -> dict[str, Any]:
    """Steps per tangent-plane linear solver from the same state (interleaved rounds)."""
    from femhomog.micromag.tangent_plane import TangentPlaneIntegrator

    problem, sc = setup.problem, cfg.solver
    m0, t0_state = problem.m.x.array.copy(), problem.t
    out: dict[str, Any] = {s: {"step_s": [], "solve_s": [], "its": [], "fact": []}
                           for s in solvers}
    ends: dict[str, Any] = {}
    for _ in range(rounds):
        for s in solvers:
            problem.m.x.array[:] = m0
            problem.t = t0_state
            integ = TangentPlaneIntegrator(problem, theta=cfg.time.theta or 1.0, solver=s, rtol=sc.rtol,
                                           max_it=sc.max_it,
                                           refactor_its=sc.refactor_its or 8)
            acc, counts = instrument(integ, problem)
            integ.step(setup.dt)  # symbolic analysis, first factorization: not counted
            for k in acc:
                acc[k] = 0.0
            counts.update(solves=0, iterations=0)
            f0 = integ.factorizations
            t0 = time.perf_counter()
            for _ in range(steps):
                integ.step(setup.dt)
            r = out[s]
            r["step_s"].append(tmax(time.perf_counter() - t0) / steps)
            r["solve_s"].append(tmax(acc["solve"]) / steps)
            r["its"].append(counts["iterations"] / steps)
            r["fact"].append((integ.factorizations - f0) / steps)
            ends[s] = problem.m.x.array.copy()
            integ.ksp = integ.ksp._ksp
            integ.destroy()
    problem.m.x.array[:] = m0
    problem.t = t0_state
    ref = ends[solvers[0]]
    log(f"tangent-plane linear solvers, {steps} steps each from the same state, {rounds} "
        f"interleaved rounds (load {os.getloadavg()[0]:.2f}):")
    log(f"{'solver':12s} {'ms/step':>9s} {'solve ms':>9s} {'its/step':>9s} {'LU/step':>8s} "
        f"{'step ratio':>10s} {'max|dm| vs ' + solvers[0]:>18s}")
    base = min(out[solvers[0]]["step_s"])
    for s in solvers:
        r = out[s]
        dm = COMM.allreduce(float(abs(ends[s] - ref).max()), op=MPI.MAX)
        r["max_dm"] = dm
        log(f"{s:12s} {1e3 * min(r['step_s']):9.1f} {1e3 * min(r['solve_s']):9.1f} "
            f"{sum(r['its']) / rounds:9.2f} {sum(r['fact']) / rounds:8.2f} "
            f"{min(r['step_s']) / base:10.2f} {dm:18.2e}")
    return out


def compare_demag(setup: Any, m_prev: Any, variants: list[str], evals: int,
                  rounds: int) -> dict[str, Any]:
    """Stray-field evaluations per FEM-BEM variant, alternating between the last two states
    of the profiled run (so that warm starts are as good as in a time loop, not exact)."""
    import dolfinx

    from femhomog.micromag.demag.fembem import FredkinKoehler

    problem = setup.problem
    solvers = {}
    for v in variants:
        solver, _, prec = v.partition(":")
        solvers[v] = FredkinKoehler(problem.mesh, rtol=setup.demag.rtol,
                                    solver=solver, precision=prec or "float64")
    out: dict[str, Any] = {v: {"eval_s": [], "phase_s": []} for v in variants}
    fields = {}
    H = dolfinx.fem.Function(problem.V)
    states = [dolfinx.fem.Function(problem.V) for _ in range(2)]
    states[0].x.array[:] = m_prev
    states[1].x.array[:] = problem.m.x.array
    for _ in range(rounds):
        for v, fk in solvers.items():
            fk.compute(states[0], H)  # warm start / first use
            p0 = dict(fk.stats["phase_s"])
            t0 = time.perf_counter()
            for k in range(evals):
                fk.compute(states[(k + 1) % 2], H)
            out[v]["eval_s"].append(tmax(time.perf_counter() - t0) / evals)
            out[v]["phase_s"].append({k: tmax(fk.stats["phase_s"][k] - p0[k]) / evals
                                      for k in p0})
            fk.compute(problem.m, H)
            fields[v] = H.x.array.copy()
    ref = fields[variants[0]]
    log(f"FEM-BEM variants, {evals} evaluations each on the same m, {rounds} rounds "
        f"(load {os.getloadavg()[0]:.2f}):")
    log(f"{'variant':18s} {'ms/eval':>8s} {'u1':>6s} {'bem':>6s} {'u2':>6s} {'ratio':>6s} "
        f"{'max|dH| vs ' + variants[0]:>24s} {'B GB':>6s}")
    base = min(out[variants[0]]["eval_s"])
    for v, fk in solvers.items():
        r = out[v]
        best = min(range(rounds), key=lambda i: r["eval_s"][i])
        ph = r["phase_s"][best]
        dh = COMM.allreduce(float(abs(fields[v] - ref).max()), op=MPI.MAX)
        r["max_dH"] = dh
        log(f"{v:18s} {1e3 * r['eval_s'][best]:8.1f} {1e3 * ph['u1']:6.1f} "
            f"{1e3 * ph['bem']:6.1f} {1e3 * ph['u2']:6.1f} {r['eval_s'][best] / base:6.2f} "
            f"{dh:24.2e} {fk.describe()['B_bytes_total'] / 1e9:6.2f}")
        fk.destroy()
    return out


if __name__ == "__main__":
    main()
