#!/usr/bin/env python3
"""muMAG standard problem 4, field 1: femhomog vs the finite-difference code magnum.np.

Runs, one after the other on the same machine,

1. ``femhomog llg demos/sp4/field1.toml`` (under ``mpirun -n RANKS``; relaxation +
   field phase, FFT stray field), and
2. magnum.np (pip ``magnumnp``, CPU torch, ``--fd-threads`` threads; FFT stray
   field, adaptive RKF45): 128 x 32 x 1 cells of 3.9 x 3.9 x 3 nm, relaxed from
   [1, 1, 1] with alpha = 1, then alpha = 0.02 and mu0 H = (-24.6, 4.3, 0) mT,
   <m> sampled every ps,

and prints both wall times (setup + relaxation + field phase, interpreter start
included), their ratio (femhomog / magnum.np), and for both codes the relaxed
S-state, the first zero crossing of <mx> and <m>(t_end).

magnum.np and torch are installed into a separate venv under ``--cache``
(default ``$XDG_CACHE_HOME/femhomog-bench/magnumnp``) on the first run: CPU torch
from download.pytorch.org if reachable, else the PyPI wheel (large: it pulls
the CUDA libraries, unused here).  If the installation fails the magnum.np half
is skipped with a message and only femhomog's figures are printed.

Usage::

    nice -n 10 .venv/bin/python benchmarks/sp4_vs_fd.py                  # full: 1 ns
    nice -n 10 .venv/bin/python benchmarks/sp4_vs_fd.py --t-end 2e-11    # smoke test
    .venv/bin/python benchmarks/sp4_vs_fd.py --install-only              # only the venv

The wall times are only meaningful on an otherwise idle machine (the load
average is printed at the start and the end).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from femhomog.micromag.experiments.sp4 import (
    ALPHA,
    EXCHANGE_A,
    FIELD1_T,
    GAMMA,
    LENGTHS,
    MS,
    first_zero_crossing,
    read_table,
)

DEMO = ROOT / "demos" / "sp4" / "field1.toml"
BIN = Path(sys.executable).parent
MPIRUN = shutil.which("mpirun", path=str(BIN)) or shutil.which("mpirun")
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "femhomog-bench" / "magnumnp"


# ------------------------------------------------------------------ magnum.np venv
def _pip(py: Path, *args: str, timeout: float) -> bool:
    cmd = [str(py), "-m", "pip", "install", "--disable-pip-version-check", *args]
    print("  $ " + " ".join(cmd), flush=True)
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        print(f"  (timed out after {timeout:.0f} s)", flush=True)
        return False
    if res.returncode != 0:
        print("  " + "\n  ".join(res.stderr.strip().splitlines()[-5:]), flush=True)
    return res.returncode == 0


def magnumnp_python(cache: Path, timeout: float = 3600.0) -> Path | None:
    """Python of a venv with magnumnp + torch (created on first use), or None."""
    py = cache / "venv" / "bin" / "python"
    stamp = cache / "venv" / ".magnumnp-ok"
    if stamp.exists() and py.exists():
        return py
    print(f"installing magnum.np into {cache / 'venv'} (first run only) ...", flush=True)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        # the base interpreter, not femhomog's venv (its packages must not leak in)
        venv.EnvBuilder(with_pip=True, clear=True).create(cache / "venv")
    except (OSError, subprocess.CalledProcessError) as err:
        print(f"magnum.np skipped: cannot create the venv ({err})", flush=True)
        return None
    ok = _pip(py, "torch", "--index-url", TORCH_CPU_INDEX, timeout=timeout)
    if not ok:
        print("  CPU torch index not reachable; falling back to the PyPI torch wheel", flush=True)
        ok = _pip(py, "torch", timeout=timeout)
    ok = ok and _pip(py, "magnumnp", timeout=timeout)
    if ok:
        res = subprocess.run([str(py), "-c", "import magnumnp, torch; print(torch.__version__)"],
                             capture_output=True, text=True, check=False)
        ok = res.returncode == 0
        if not ok:
            print("  " + res.stderr.strip().splitlines()[-1], flush=True)
    if not ok:
        print("magnum.np skipped: it could not be installed (see the pip messages above)",
              flush=True)
        return None
    stamp.write_text("ok\n")
    return py


# The magnum.np run (executed by the magnum.np venv's Python; prints one JSON line).
FD_SCRIPT = textwrap.dedent("""
    import json, sys, time
    t_start = time.perf_counter()
    import torch
    torch.set_num_threads({threads})
    torch.set_default_dtype(torch.float64)
    from magnumnp import (Mesh, State, DemagField, ExchangeField, ExternalField, LLGSolver,
                          normalize)
    from magnumnp.common import constants
    constants.gamma = {gamma_llg}  # the SP4 value (magnum.np's default is 2.21276e5)
    n = {cells}
    L = {lengths}
    dx = tuple(L[i] / n[i] for i in range(3))
    state = State(Mesh(n, dx))
    state.material = {{"Ms": {Ms}, "A": {A}, "alpha": 1.0}}
    state.m = state.Constant([1.0, 1.0, 1.0])
    normalize(state.m)
    demag, exchange = DemagField(), ExchangeField()

    def average():
        return [float(v) for v in state.avg(state.m)]

    llg = LLGSolver([demag, exchange])
    t0 = time.perf_counter()
    # alpha = 1 steps of 10 ps until max |dm/dt|/gamma < {dm_tol} A/m (femhomog: max |m x H|
    # < 1e-5 Ms = 8 A/m)
    if not llg.relax(state, maxiter=20000, dm_tol={dm_tol}):
        sys.exit("magnum.np relaxation did not converge")
    relax_s = time.perf_counter() - t0
    relaxed = average()
    state.t = 0.0
    state.material["alpha"] = {alpha}
    mu0 = constants.mu_0
    zeeman = ExternalField([{hx} / mu0, {hy} / mu0, {hz} / mu0])
    llg = LLGSolver([demag, exchange, zeeman])
    rows = [[0.0] + relaxed]
    t0 = time.perf_counter()
    dt_out, t_end = {dt_out}, {t_end}
    k = 0
    while k * dt_out < t_end - 0.5 * dt_out:
        k += 1
        llg.step(state, k * dt_out - float(state.t))
        rows.append([float(state.t)] + average())
    field_s = time.perf_counter() - t0
    print(json.dumps({{"relaxed": relaxed, "rows": rows, "relax_s": relax_s,
                       "field_s": field_s, "cells": n, "threads": {threads},
                       "script_s": time.perf_counter() - t_start}}))
""")


def run_fd(py: Path, out: Path, t_end: float, threads: int, cells: tuple[int, int, int]) -> dict:
    # femhomog's gamma is the LLG gyromagnetic ratio in m/(A s) (gamma0 = mu0 gamma_e), as
    # magnum.np's constants.gamma
    script = FD_SCRIPT.format(dm_tol=1e-5 * MS,
        threads=threads, cells=tuple(cells), lengths=tuple(LENGTHS), Ms=MS, A=EXCHANGE_A,
        gamma_llg=GAMMA, alpha=ALPHA, hx=FIELD1_T[0], hy=FIELD1_T[1], hz=FIELD1_T[2],
        dt_out=1e-12, t_end=t_end,
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "run_magnumnp.py").write_text(script)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    t0 = time.perf_counter()
    res = subprocess.run([str(py), str(out / "run_magnumnp.py")], capture_output=True,
                         text=True, cwd=out, env=env, check=False)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"magnum.np run failed ({res.returncode}):\n{res.stderr[-3000:]}")
    data = json.loads(res.stdout.strip().splitlines()[-1])
    rows = data.pop("rows")
    t = [r[0] * 1e9 for r in rows]
    mx = [r[1] for r in rows]
    return {**data, "wall_s": wall, "crossing_ns": first_zero_crossing(t, mx),
            "m_end": rows[-1][1:], "t_end_ns": t[-1]}


# ------------------------------------------------------------------ femhomog
def run_fem(out: Path, t_end: float, ranks: int, extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "femhomog.cli.main", "llg", str(DEMO), "--out", str(out),
           "--set", f"time.t_end={t_end!r}"]
    for s in extra:
        cmd += ["--set", s]
    if ranks > 1:
        cmd = [MPIRUN, "-n", str(ranks), *cmd]
    if out.exists():
        shutil.rmtree(out)
    # one BLAS/OpenMP thread per rank unless the caller says otherwise (on 2 cores, 2 ranks
    # with OpenBLAS's default of one thread per core would oversubscribe the dense product)
    env = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", **os.environ}
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"femhomog run failed ({res.returncode}):\n{res.stderr[-3000:]}")
    info = json.loads((out / "run.json").read_text())
    avg = read_table(out / "averages.csv")
    tim = info.get("timings", {})
    return {
        "wall_s": wall,
        "ranks": ranks,
        "nodes": info["mesh"]["nodes"],
        "relaxed": (info.get("relax") or {}).get("average"),
        "relax_s": tim.get("relax_s"),
        "field_s": tim.get("field_s"),
        "steps": info.get("steps"),
        "crossing_ns": first_zero_crossing(avg["t"] * 1e9, avg["mx"]),
        "m_end": [float(avg[k][-1]) for k in ("mx", "my", "mz")],
        "t_end_ns": float(avg["t"][-1] * 1e9),
        "max_rss_mb_per_rank": info.get("memory", {}).get("max_rss_mb_per_rank"),
    }


def _fmt(v: object, spec: str) -> str:
    if v is None:
        return "-"
    if isinstance(v, list | tuple):
        return "(" + ", ".join(format(x, spec) for x in v) + ")"
    return format(v, spec)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--t-end", type=float, default=1e-9, help="field phase length (s)")
    parser.add_argument("--ranks", type=int, default=2, help="MPI ranks of femhomog")
    parser.add_argument("--fd-threads", type=int, default=1, help="torch threads of magnum.np")
    parser.add_argument("--fd-cells", type=int, nargs=3, default=[128, 32, 1],
                        help="magnum.np cells (default 128 32 1: 3.9 x 3.9 x 3 nm)")
    parser.add_argument("--set", action="append", default=[], dest="extra",
                        help="extra --set for the femhomog job (repeatable)")
    parser.add_argument("--cache", type=Path, default=default_cache())
    parser.add_argument("--out", type=Path, default=Path("results/bench_sp4_vs_fd"))
    parser.add_argument("--install-only", action="store_true")
    parser.add_argument("--skip-fem", action="store_true", help="only the magnum.np run")
    args = parser.parse_args(argv)

    py = magnumnp_python(args.cache)
    if args.install_only:
        sys.exit(0 if py is not None else 1)
    print(f"load average at start: {os.getloadavg()}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    if not args.skip_fem:
        results["femhomog"] = run_fem(args.out / "femhomog", args.t_end, args.ranks, args.extra)
        print("femhomog: " + json.dumps(results["femhomog"]), flush=True)
    if py is not None:
        results["magnum.np"] = run_fd(py, args.out / "magnumnp", args.t_end, args.fd_threads,
                                      tuple(args.fd_cells))
        print("magnum.np: " + json.dumps(results["magnum.np"]), flush=True)
    print(f"load average at end: {os.getloadavg()}")
    (args.out / "sp4_vs_fd.json").write_text(json.dumps(results, indent=1))

    print(f"\nSP4 field 1, t_end = {args.t_end * 1e9:g} ns")
    print("| code | wall (s) | relaxed <m> | first <mx> = 0 (ns) | <m>(t_end) |")
    print("| --- | --- | --- | --- | --- |")
    for name, r in results.items():
        print(f"| {name} | {r['wall_s']:.1f} | {_fmt(r['relaxed'], '.4f')} | "
              f"{_fmt(r['crossing_ns'], '.4f')} | {_fmt(r['m_end'], '.4f')} |")
    if len(results) == 2:
        ratio = results["femhomog"]["wall_s"] / results["magnum.np"]["wall_s"]
        print(f"\nwall-time ratio femhomog / magnum.np = {ratio:.2f}")
    elif py is None:
        print("\n(magnum.np not available: no ratio)")


if __name__ == "__main__":
    main()
