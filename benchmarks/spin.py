"""Cost of the spin drift-diffusion coupling per step, on the spin-valve mesh.

The CPP spin valve of ``demos/spin_valve.py`` (lead | pinned fixed layer | spacer |
free layer | lead, the computed potential, the free layer's FEM-BEM stray field):

``llg``          LLG alone on the free layer (exchange, anisotropy, stray field)
``dynamic``      the coupled step: LLG, then an implicit (backward Euler) step of s
``quasistatic``  the coupled step with the steady s for the new m

The three cases run in one process, interleaved step by step (after one warm-up step
each), so that the load of a shared machine hits them alike.  Per case: the median (and
mean) wall time per step (each step's time is the slowest rank's), the LLG's and the
spin solver's Krylov iterations per step, the peak RSS per rank (of the whole run); the
ratio "spin adds" is the median over the steps of ``coupled / llg - 1`` (the goal: < 1).  With one rank the script
also runs itself under the venv's ``mpirun -n 2`` (``--ranks 1`` skips that) and prints
both tables.

    .venv/bin/python benchmarks/spin.py --quick
    .venv/bin/python benchmarks/spin.py --mesh-size 0.1 --z-layers 4 --steps 20
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _common import COMM, log, peak_rss_mb, reset_peak_rss, tmax

# isort: split
from mpi4py import MPI

from femhomog.meshes.magnets import SPACER_TAG_BASE
from femhomog.meshes.stacks import FACET_ELECTRODE_BOTTOM, FACET_ELECTRODE_TOP, conductor_stack
from femhomog.micromag import LLGProblem
from femhomog.micromag.demag.base import StrayField
from femhomog.micromag.demag.fembem import FredkinKoehler
from femhomog.micromag.tangent_plane import TangentPlaneIntegrator
from femhomog.micromag.terms import Exchange, SpinTorque, UniaxialAnisotropy
from femhomog.spin import (
    CurrentPotential,
    SpinLLGIntegrator,
    SpinLLGProblem,
    SpinTransport,
    magnet_submesh,
)

FIXED, FREE = 1, 2
M0 = (-0.8775825618903728, 0.479425538604203, 0.0)  # the demo's m(0)


def build_stack(mesh_size: float, z_layers: int):
    stack = conductor_stack(COMM, (2.0, 2.0), (0.5, 0.5, 0.25, 0.25, 0.5),
                            (False, True, False, True, False), mesh_size=mesh_size,
                            z_layers=z_layers)
    magnet, parent = magnet_submesh(stack.mesh, stack.cell_tags, [FREE])
    return stack, magnet, parent


def setup_case(case: str, stack, magnet, parent, dt: float) -> tuple[dict, object, object]:
    """One case's problem and integrator, after one warm-up step."""
    terms = [Exchange(1.0), UniaxialAnisotropy(0.1, axis=(1.0, 0.0, 0.0)),
             StrayField(solver=FredkinKoehler(magnet))]
    row: dict = {"case": case, "ranks": COMM.size}
    t_setup = time.perf_counter()
    if case == "llg":
        llg = LLGProblem(magnet, terms, 1.0, equation="gilbert", m0=M0)
        integrator = TangentPlaneIntegrator(llg)
        spin = None
    else:
        llg = LLGProblem(magnet, [*terms, SpinTorque(4.0)], 1.0, equation="gilbert", m0=M0)
        sigma = {FIXED: 1.0, FREE: 1.0, **{SPACER_TAG_BASE + k: 2.0 for k in (1, 2, 3)}}
        pot = CurrentPotential(stack.mesh, facet_tags=stack.facet_tags,
                               cell_tags=stack.cell_tags, sigma=sigma,
                               electrodes={FACET_ELECTRODE_BOTTOM: 10.0, FACET_ELECTRODE_TOP: 0.0})
        t0 = time.perf_counter()
        phi = pot.solve()
        row["potential_s"] = tmax(time.perf_counter() - t0)
        row["potential_its"] = pot.iterations
        row["potential_dofs"] = pot.dofs
        spin = SpinTransport(stack.mesh, cell_tags=stack.cell_tags, magnet_tags=[FREE],
                             pinned={FIXED: (1.0, 0.0, 0.0)}, facet_tags=stack.facet_tags,
                             potential=phi, current=pot.current, scheme="backward_euler")
        spin.set_state([0.0, 0.0, 0.0])
        problem = SpinLLGProblem(llg, spin, parent, mode=case)
        problem.initialize()
        integrator = SpinLLGIntegrator(problem, TangentPlaneIntegrator(llg))
        row["spin_dofs"] = spin.V.dofmap.index_map.size_global * 3
        pot.destroy()
    row["m_dofs"] = llg.V.dofmap.index_map.size_global * 3
    integrator.step(dt)  # warm-up: first assemblies, factorizations, BEM matrix use
    row["setup_s"] = tmax(time.perf_counter() - t_setup)
    return row, integrator, spin


def run_cases(cases: list[str], stack, magnet, parent, steps: int, dt: float) -> list[dict]:
    """``steps`` steps of every case, interleaved step by step (a load change on the
    shared machine then hits all cases alike): per case the median and mean step time
    (each step's time is the slowest rank's) and the median per-step ratio to LLG."""
    reset_peak_rss()
    setups = [setup_case(case, stack, magnet, parent, dt) for case in cases]
    times = {case: [] for case in cases}
    its = {case: 0 for case in cases}
    spin_its0 = {case: spin.linear_iterations for case, (_, _, spin) in zip(cases, setups)
                 if spin is not None}
    for _ in range(steps):
        for case, (_, integrator, _) in zip(cases, setups):
            COMM.Barrier()
            t0 = time.perf_counter()
            info = integrator.step(dt)
            times[case].append(tmax(time.perf_counter() - t0))
            its[case] += getattr(info, "iterations", 0)
    rows = []
    for case, (row, integrator, spin) in zip(cases, setups):
        t = np.array(times[case])
        spin_its = (spin.linear_iterations - spin_its0[case]) if spin is not None else 0
        row.update(step_s=float(np.median(t)), mean_s=float(t.mean()), llg_its=its[case] / steps,
                   spin_its=spin_its / steps,
                   rss_mb=COMM.allreduce(peak_rss_mb(), op=MPI.MAX))
        if "llg" in times and case != "llg":
            row["adds"] = float(np.median(t / np.array(times["llg"]) - 1.0))
        rows.append(row)
        integrator.destroy()
    return rows


def table(rows: list[dict]) -> str:
    lines = [("| ranks | case | m dofs | s dofs | step median (mean) [ms] | spin adds | LLG its "
              "| spin its | phi [ms] (its) | peak RSS/rank [MB] |"),
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        adds = f"{r['adds']:.2f}x" if "adds" in r else "-"
        phi = (f"{1e3 * r['potential_s']:.1f} ({r['potential_its']})" if "potential_s" in r
               else "-")
        lines.append(f"| {r['ranks']} | {r['case']} | {r['m_dofs']:,} | "
                     f"{r.get('spin_dofs', 0):,} | {1e3 * r['step_s']:.1f} ({1e3 * r['mean_s']:.1f}) | "
                     f"{adds} | "
                     f"{r['llg_its']:.1f} | {r['spin_its']:.1f} | {phi} | {r['rss_mb']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="coarse mesh, 5 steps")
    ap.add_argument("--mesh-size", type=float, default=0.2)
    ap.add_argument("--z-layers", type=int, default=3)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--dt", type=float, default=0.05)
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2],
                    help="rank counts (the first is this process's)")
    ap.add_argument("--json", type=Path, help="write the rows here")
    args = ap.parse_args()
    if args.quick:
        args.mesh_size, args.z_layers, args.steps = 0.5, 1, 5
    stack, magnet, parent = build_stack(args.mesh_size, args.z_layers)
    rows = run_cases(["llg", "dynamic", "quasistatic"], stack, magnet, parent, args.steps,
                     args.dt)
    if COMM.rank != 0:
        return
    if args.json is not None and COMM.size > 1:  # a child run: its rows to the parent
        args.json.write_text(json.dumps(rows))
        return
    log(f"spin-valve mesh: mesh_size {args.mesh_size}, z_layers {args.z_layers}, "
        f"{args.steps} steps of dt = {args.dt}")
    log(table(rows))
    others = [n for n in args.ranks[1:] if n > 1]
    for n in others:
        out = Path(f"/tmp/femhomog_bench_spin_{n}.json")
        mpirun = Path(sys.executable).parent / "mpirun"
        cmd = [str(mpirun), "-n", str(n), sys.executable, __file__, "--mesh-size",
               str(args.mesh_size), "--z-layers", str(args.z_layers), "--steps",
               str(args.steps), "--dt", str(args.dt), "--json", str(out)]
        subprocess.run(cmd, check=True)
        child = json.loads(out.read_text())
        log(table(child))
        rows += child
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
