"""muMAG standard problem 4, field 1: cost and results of ``femhomog llg`` at several resolutions.

Runs ``demos/sp4/field1.toml`` (relaxation + field phase, FFT stray field on a
grid that follows the mesh: cells of the in-plane size H and ``L_z / round(L_z / H)``
through the thickness; ``--set demag.method=fembem`` for FEM-BEM) through the CLI,
under ``mpirun -n R`` for each rank count, and reports per run: nodes, the stray
field's size (grid cells, or boundary nodes and the dense BEM matrix), setup time,
relaxation steps and time, field-phase time per step
and per simulated ns, peak memory (largest rank, sum over ranks), the relaxed
S-state, the first zero crossing of <mx> and <m> at the end.

Usage::

    python benchmarks/sp4.py --quick                       # 12.5 nm, 0.16 ns, 1 and 2 ranks
    python benchmarks/sp4.py --mesh 4:2 --ranks 1          # 4 nm, 2 layers (14,010 nodes), 1 ns
    python benchmarks/sp4.py --mesh 2.5:2 --t-end 2e-11    # 2.5 nm, 2 layers: cost per step
    # growth with the problem size: field phase only, 50 steps, SP4 film and a 100 nm cube
    python benchmarks/sp4.py --mesh 4:2 4:4 2.5:2 --ranks 2 --t-end 5e-11 --set relax.enabled=false
    python benchmarks/sp4.py --lengths 100 100 100 --mesh 3:33 1.7:60 --ranks 2 --t-end 5e-11 \
        --set relax.enabled=false

``--mesh H[:LAYERS]`` gives the in-plane size in nm and the element layers
through the thickness.  Each run writes ``DIR/<label>/`` (all job outputs) and
the summary is appended to ``--json`` after every run.  Run with ``nice`` on a
shared machine and note the load (printed at the start and end).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from femhomog.micromag.experiments.sp4 import first_zero_crossing, read_table

DEMO = ROOT / "demos" / "sp4" / "field1.toml"
BIN = Path(sys.executable).parent
MPIRUN = shutil.which("mpirun", path=str(BIN)) or shutil.which("mpirun")


def grid_size(mesh_nm: float, thickness_nm: float) -> list[float]:
    """The FFT grid cell (m) for an in-plane mesh size: ``h`` in-plane, the thickness cut
    into ``round(L_z / h)`` (at least one) cells."""
    hz = thickness_nm / max(1, round(thickness_nm / mesh_nm))
    return [mesh_nm * 1e-9, mesh_nm * 1e-9, hz * 1e-9]


def run_one(out: Path, mesh_nm: float, layers: int, ranks: int, t_end: float,
            extra: list[str], thickness_nm: float = 3.0) -> dict:
    sets = [f"mesh.mesh_size={mesh_nm * 1e-9!r}", f"mesh.z_layers={layers}",
            f"time.t_end={t_end!r}", "output.progress=60"]
    if not any(e.startswith("demag.") for e in extra):
        sets.append(f"demag.grid_size={grid_size(mesh_nm, thickness_nm)!r}")
    sets += extra
    cmd = [sys.executable, "-m", "femhomog.cli.main", "llg", str(DEMO), "--out", str(out)]
    for s in sets:
        cmd += ["--set", s]
    if ranks > 1:
        cmd = [MPIRUN, "-n", str(ranks), *cmd]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"run failed ({res.returncode}):\n{res.stderr[-3000:]}")
    info = json.loads((out / "run.json").read_text())
    avg = read_table(out / "averages.csv")
    dem, tim, rel = info["demag"], info.get("timings", {}), info.get("relax") or {}
    steps = info["steps"]
    t_ns = info["t_final"] * 1e9
    field_s = tim.get("field_s")
    crossing = first_zero_crossing(avg["t"] * 1e9, avg["mx"])
    return {
        "mesh_nm": mesh_nm,
        "z_layers": layers,
        "ranks": ranks,
        "nodes": info["mesh"]["nodes"],
        "cells": info["mesh"]["cells"],
        "demag_method": dem["method"],
        "grid_shape": dem.get("grid_shape"),
        "boundary_nodes": dem.get("boundary_nodes"),
        "B_GB": dem["B_bytes_total"] / 1e9 if "B_bytes_total" in dem else None,
        "demag_setup_s": dem.get("setup_s"),
        "setup_s": tim.get("setup_s"),
        "relax_steps": rel.get("steps"),
        "relax_s": tim.get("relax_s"),
        "relaxed_m": rel.get("average"),
        "field_steps": steps,
        "field_s": field_s,
        "s_per_step": field_s / steps if field_s and steps else None,
        "s_per_ns": field_s / t_ns if field_s and t_ns else None,
        "demag_eval_s": dem.get("mean_evaluation_s"),
        "max_rss_mb_per_rank": info.get("memory", {}).get("max_rss_mb_per_rank"),
        "sum_rss_mb": info.get("memory", {}).get("sum_rss_mb"),
        "t_end_ns": t_ns,
        "crossing_ns": crossing,
        "m_end": [float(avg[k][-1]) for k in ("mx", "my", "mz")],
        "wall_s": wall,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mesh", nargs="+", default=["4:2", "2.5:2"],
                        help="in-plane size in nm[:z layers] (default 4:2 2.5:2)")
    parser.add_argument("--ranks", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--t-end", type=float, default=1e-9, help="field phase length (s)")
    parser.add_argument("--quick", action="store_true",
                        help="12.5 nm, t_end = 0.16 ns, relax.torque_tol = 1e-4")
    parser.add_argument("--lengths", type=float, nargs=3, default=None, metavar="NM",
                        help="magnet size in nm instead of SP4's 500 x 125 x 3 (e.g. a cube)")
    parser.add_argument("--set", action="append", default=[], dest="extra",
                        help="extra --set for the job (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("results/bench_sp4"))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.mesh, args.t_end = ["12.5:1"], 1.6e-10
        args.extra = ["relax.torque_tol=1e-4", "relax.dt=1e-11", *args.extra]
    if args.lengths:
        args.extra = [f"mesh.lengths={[v * 1e-9 for v in args.lengths]!r}", *args.extra]
    json_path = args.json or args.out / "sp4.json"
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"load average at start: {os.getloadavg()}", flush=True)
    results = []
    for spec in args.mesh:
        h, _, layers = spec.partition(":")
        for ranks in args.ranks:
            label = f"h{h}_z{layers or 1}_r{ranks}"
            r = run_one(args.out / label, float(h), int(layers or 1), ranks, args.t_end,
                        args.extra, args.lengths[2] if args.lengths else 3.0)
            r["label"] = label
            results.append(r)
            json_path.write_text(json.dumps(results, indent=1))
            print(json.dumps(r), flush=True)
    print(f"load average at end: {os.getloadavg()}")
    head = ("| mesh | ranks | nodes | stray field | setup (s) | relax steps / s | s/step | "
            "s/ns | peak RSS (MB, max/sum) | crossing (ns) | <m>(t_end) |")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))

    def f(v, fmt):
        return "-" if v is None else format(v, fmt)

    for r in results:
        if r["grid_shape"]:
            demag = "fft " + " x ".join(map(str, r["grid_shape"]))
        elif r["B_GB"] is not None:
            demag = f"{r['demag_method']} Nb {r['boundary_nodes']}, B {r['B_GB']:.2f} GB"
        else:
            demag = r["demag_method"]
        print(f"| {r['mesh_nm']} nm x {r['z_layers']} | {r['ranks']} | {r['nodes']} | "
              f"{demag} | {f(r['setup_s'], '.1f')} | "
              f"{r['relax_steps']} / {f(r['relax_s'], '.0f')} | "
              f"{f(r['s_per_step'], '.3f')} | {f(r['s_per_ns'], '.0f')} | "
              f"{f(r['max_rss_mb_per_rank'], '.0f')}/{f(r['sum_rss_mb'], '.0f')} | "
              f"{f(r['crossing_ns'], '.4f')} | "
              f"({r['m_end'][0]:.3f}, {r['m_end'][1]:.3f}, {r['m_end'][2]:.3f}) |")

if __name__ == "__main__":
    main()
