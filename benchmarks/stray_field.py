#!/usr/bin/env python3
"""Benchmark of the open-boundary stray-field solvers (issue 5), 1..N ranks.

One function per method (``run_fembem``, ``run_shell``) measures, for each case: dofs of the magnet mesh, boundary
nodes / triangles, setup times (dense boundary matrix ``B``, AMG setups), the
wall time and CG iterations per field evaluation, the peak RSS (max over ranks),
the memory of ``B``, and the accuracy against the case's closed form.

Cases (``--cases``, ``NAME:PARAM``)

``sphere:h``   unit ball, :func:`femhomog.meshes.magnets.sphere` with ``mesh_size=h``;
               error: lumped-L2 norm of ``H + m/3`` relative to ``|m|/3``
``cube:n``     unit cube, ``dolfinx.mesh.create_box`` with ``n^3 x 6`` tetrahedra;
               error: ``|E - V/6| / (V/6)`` for uniform ``m = e_z``
``sp4:h``      muMAG standard problem 4 film 500 x 125 x 3 (nm), gmsh
               :func:`~femhomog.meshes.magnets.cuboid` with ``mesh_size=h`` and one
               element layer through the thickness for ``h >= 3``, else two;
               error: ``max_k |N_k - N_k^Aharoni|`` (demagnetizing factors from
               ``<H>`` for ``m = e_x, e_y, e_z``)

Evaluations: the first with the uniform ``m`` of the case (zero initial guess),
then ``--evals`` evaluations with non-uniform states
``m = normalize(d_k + 0.5 swirl(x))`` for random directions ``d_k`` (warm start
from the previous potentials, as in a time loop whose state changes a lot).

The shell method builds its own mesh of the case with air and shell (see
:func:`shell_mesh`); its ``dofs`` are those of the potential on the whole mesh
(magnet nodes in ``magnet_nodes``), its ``its u1/u2`` column shows the CG+GAMG
iterations of its single solve as ``its/0``.

Measured (project VM, 2 cores, 2026-11-21, load average 5-10 from other jobs, so
wall times are ~2-3x an idle machine's; the Lindholm kernel alone costs ~170-230 ns
of CPU per (node, triangle) pair, measured with ``time.process_time``)::

    case         ranks   dofs     Nb   B MB  B build s  AMG s  eval s  its u1/u2  error
    sphere:0.25      1    360    252    0.5       0.18   0.06   0.001      12/10  1.28e-02
    sphere:0.15      1   1334    688    3.8       1.09   0.12   0.012      15/12  4.43e-03
    cube:16          1   4913   1538   18.9       4.06   0.19   0.047      19/14  6.00e-03
    cube:24          1  15625   3458   95.7      15.5    0.54   0.136      20/15  2.90e-03
    cube:24          2  15625   3458   95.7       9.39   1.03   0.361      20/15  2.90e-03
    sp4:4            1   9338   9338  697.6      87.5    0.31   0.201      20/0   5.96e-03
    sp4:4            2   9338   9338  697.6      48.6    0.51   0.141      19/0   5.96e-03
    sp4:2.5          2  35568  24212   4690     319      1.41   0.773      23/10  2.68e-03

(sp4:2.5: ~125 s of CPU per rank for ``B``; peak RSS 2.75 GB per rank.)

(``u2`` needs no solve when every node is on the boundary.)  The errors are the
same on 1 and 2 ranks; evaluation times on 2 ranks suffer most from the
oversubscription (every CG iteration synchronizes).

Examples::

    .venv/bin/python benchmarks/stray_field.py --quick
    .venv/bin/python benchmarks/stray_field.py --method fembem --json sf1.json
    .venv/bin/mpirun -n 2 .venv/bin/python benchmarks/stray_field.py --json sf2.json
    .venv/bin/python benchmarks/stray_field.py --report sf1.json sf2.json --markdown
"""

from __future__ import annotations

import os

# Pure MPI benchmark: one thread per rank.
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
from collections.abc import Callable
from pathlib import Path

import numpy as np

from femhomog import _fenicsx  # noqa: F401

# isort: split
import dolfinx
from _common import COMM, log, peak_rss_mb, reset_peak_rss, tmax

from femhomog.meshes import magnets
from femhomog.micromag.demag.analytic import prism_demag_factors

DEFAULT_CASES = ["sphere:0.25", "sphere:0.15", "cube:16", "cube:24", "sp4:4"]
QUICK_CASES = ["sphere:0.35", "cube:8"]


# ---------------------------------------------------------------------- cases
def make_case(name: str) -> tuple[dolfinx.mesh.Mesh, dict]:
    kind, _, param = name.partition(":")
    if kind == "sphere":
        mesh = magnets.sphere(COMM, 1.0, mesh_size=float(param)).mesh
        return mesh, {"kind": kind, "m": (0.6, 0.0, 0.8), "param": param}
    if kind == "cube":
        n = int(param)
        mesh = dolfinx.mesh.create_box(
            COMM, [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], [n, n, n], dolfinx.mesh.CellType.tetrahedron
        )
        return mesh, {"kind": kind, "m": (0.0, 0.0, 1.0), "param": param}
    if kind == "sp4":
        h = float(param)
        mesh = magnets.cuboid(
            COMM, (500.0, 125.0, 3.0), mesh_size=h, z_layers=1 if h >= 3.0 else 2
        ).mesh
        return mesh, {
            "kind": kind,
            "m": (1.0, 0.0, 0.0),
            "lengths": (500.0, 125.0, 3.0),
            "param": param,
        }
    raise SystemExit(f"unknown case {name!r} (sphere:h, cube:n, sp4:h)")


def swirl(x: np.ndarray) -> np.ndarray:
    c = x - x.mean(axis=1, keepdims=True)
    s = 1.0 / max(float(np.abs(c).max()), 1e-300)
    return np.vstack([np.sin(2 * s * c[1]), np.cos(3 * s * c[2]), np.sin(s * (c[0] + c[1]))])


def accuracy(case: dict, solver, W, field: Callable) -> float:
    """Error of the case against its closed form (see the module docstring)."""
    comm = COMM
    if case["kind"] in ("sphere", "cube"):
        H, m, M = field(case["m"])
        vol = comm.allreduce(float(M.sum()))
        if case["kind"] == "sphere":
            e2 = comm.allreduce(float(M @ np.sum((H + m / 3) ** 2, axis=1)))
            return float(np.sqrt(e2 / vol) * 3)
        E = -0.5 * comm.allreduce(float(M @ np.sum(H * m, axis=1)))
        return abs(E - vol / 6) / (vol / 6)
    N = []
    for k in range(3):
        H, _, M = field(np.eye(3)[k])
        N.append(-comm.allreduce(float(M @ H[:, k])) / comm.allreduce(float(M.sum())))
    return float(np.max(np.abs(np.array(N) - prism_demag_factors(case["lengths"]))))


# ---------------------------------------------------------------------- methods
def time_evaluations(solver, W, lumped_mass, case: dict, evals: int,
                     after_eval: Callable[[], None] | None = None) -> dict:
    """First evaluation (uniform ``case["m"]``), then ``evals`` timed evaluations of
    random swirling unit fields, and the accuracy of the uniform case."""
    m = dolfinx.fem.Function(W)
    H = dolfinx.fem.Function(W)
    n = W.dofmap.index_map.size_local

    def field(direction):
        m.x.array.reshape(-1, 3)[:] = direction
        solver.compute(m, H)
        return H.x.array.reshape(-1, 3)[:n], m.x.array.reshape(-1, 3)[:n], lumped_mass

    t0 = time.perf_counter()
    field(case["m"])
    first_s = tmax(time.perf_counter() - t0)
    first_info = solver.describe()
    rng = np.random.default_rng(1)
    times = []
    for _ in range(evals):
        d = rng.normal(size=3)
        m.interpolate(lambda x, d=d: d[:, None] / np.linalg.norm(d) + 0.5 * swirl(x))
        vals = m.x.array.reshape(-1, 3)
        vals /= np.linalg.norm(vals, axis=1)[:, None]
        COMM.Barrier()
        t0 = time.perf_counter()
        solver.compute(m, H)
        times.append(tmax(time.perf_counter() - t0))
        if after_eval is not None:
            after_eval()
    return {
        "first_eval_s": first_s,
        "first_info": first_info,
        "eval_s": statistics.median(times) if times else None,
        "error": accuracy(case, solver, W, field),
    }


def run_fembem(mesh: dolfinx.mesh.Mesh, case: dict, evals: int) -> dict:
    from femhomog.micromag.demag.fembem import FredkinKoehler

    t0 = time.perf_counter()
    solver = FredkinKoehler(mesh)
    setup_s = tmax(time.perf_counter() - t0)
    W = dolfinx.fem.functionspace(mesh, ("Lagrange", 1, (3,)))
    ev = time_evaluations(solver, W, solver._lumped_owned, case, evals)
    info = solver.describe()
    row = {
        "method": "fembem",
        "dofs": info["dofs"],
        "boundary_nodes": info["boundary_nodes"],
        "boundary_triangles": info["boundary_triangles"],
        "B_MB": info["B_bytes_total"] / 1e6,
        "B_build_s": info["B_build_s"],
        "amg_setup_s": info["solver_setup_s"],
        "setup_s": setup_s,
        "first_eval_s": ev["first_eval_s"],
        "eval_s": ev["eval_s"],
        "its_u1": float(np.mean(solver.stats["u1_iterations"][1 : 1 + evals])) if evals else None,
        "its_u2": float(np.mean(solver.stats["u2_iterations"][1 : 1 + evals])) if evals else None,
        "error": ev["error"],
    }
    solver.destroy()
    return row


def shell_mesh(case: dict) -> magnets.MagnetMesh:
    """The case's magnet with air + shell (the magnet-only ``mesh`` is not used).

    sphere:h  spherical shell (R1 = 1.5, R2 = 3), air mesh size h;
    cube:n    gmsh cube (mesh_size 1/n, not the structured box of fembem) with a
              box shell, air mesh size 1/n;
    sp4:h     the film with a box shell and the default (graded) air mesh size.
    """
    kind, param = case["kind"], case["param"]
    if kind == "sphere":
        h = float(param)
        return magnets.sphere(COMM, 1.0, mesh_size=h, shell=magnets.ShellSpec(air_mesh_size=h))
    if kind == "cube":
        h = 1.0 / int(param)
        shell = magnets.ShellSpec(kind="box", air_mesh_size=h)
        return magnets.cuboid(COMM, (1.0, 1.0, 1.0), mesh_size=h, shell=shell)
    h = float(param)
    return magnets.cuboid(
        COMM, case["lengths"], mesh_size=h, z_layers=1 if h >= 3.0 else 2,
        shell=magnets.ShellSpec(kind="box"),
    )  # fmt: skip


def run_shell(mesh: dolfinx.mesh.Mesh, case: dict, evals: int) -> dict:
    """:class:`femhomog.micromag.demag.shell.ShellTransformation` (P1 potential)."""
    from femhomog.micromag.demag.shell import ShellTransformation

    t0 = time.perf_counter()
    mm = shell_mesh(case)
    shell_mesh_s = tmax(time.perf_counter() - t0)
    t0 = time.perf_counter()
    solver = ShellTransformation(mm)
    setup_s = tmax(time.perf_counter() - t0)
    its: list[int] = []
    ev = time_evaluations(solver, solver.magnet_space, solver._ml, case, evals,
                          after_eval=lambda: its.append(solver.describe()["iterations_last"]))
    info = solver.describe()
    row = {
        "method": "shell",
        "dofs": info["dofs"],
        "magnet_nodes": info["magnet_nodes"],
        "shell_mesh_s": shell_mesh_s,
        "amg_setup_s": info["amg_setup_s"],
        "assembly_s": info["assembly_s"],
        "setup_s": setup_s,
        "first_eval_s": ev["first_eval_s"],
        "first_its": ev["first_info"]["iterations_last"],
        "eval_s": ev["eval_s"],
        "its_u1": float(np.mean(its)) if its else None,
        "its_u2": 0.0 if its else None,
        "error": ev["error"],
    }
    solver.destroy()
    return row


METHODS: dict[str, Callable[[dolfinx.mesh.Mesh, dict, int], dict]] = {
    "fembem": run_fembem,
    "shell": run_shell,
}


# ---------------------------------------------------------------------- report
COLUMNS = [
    ("case", "case", "s"),
    ("ranks", "ranks", "d"),
    ("method", "method", "s"),
    ("dofs", "dofs", "d"),
    ("Nb", "boundary_nodes", "d"),
    ("B MB", "B_MB", ".1f"),
    ("B build s", "B_build_s", ".2f"),
    ("AMG s", "amg_setup_s", ".2f"),
    ("1st eval s", "first_eval_s", ".3f"),
    ("eval s", "eval_s", ".3f"),
    ("its u1/u2", None, None),
    ("RSS MB", "peak_rss_mb", ".0f"),
    ("error", "error", ".2e"),
]


def table(rows: list[dict], markdown: bool) -> str:
    head = [c[0] for c in COLUMNS]
    body = []
    for r in rows:
        line = []
        for _, key, spec in COLUMNS:
            if key is None:
                a, b = r.get("its_u1"), r.get("its_u2")
                line.append("-" if a is None else f"{a:.0f}/{b:.0f}")
            else:
                v = r.get(key)
                line.append("-" if v is None else format(v, spec))
        body.append(line)
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(b) + " |" for b in body]
        return "\n".join(out)
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    fmt_line = "  ".join(f"{{:>{w}}}" for w in widths)
    return "\n".join(fmt_line.format(*line) for line in [head, *body])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--method", choices=["fembem", "shell", "both"], default="fembem")
    ap.add_argument("--cases", nargs="+", help="e.g. sphere:0.2 cube:16 sp4:4")
    ap.add_argument("--evals", type=int, default=3, help="timed evaluations after the first")
    ap.add_argument("--quick", action="store_true", help="small cases (smoke run)")
    ap.add_argument("--json", metavar="OUT", help="write the rows as JSON")
    ap.add_argument("--report", nargs="+", metavar="JSON", help="print tables of saved runs")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)

    if args.report:
        rows = [r for f in args.report for r in json.loads(Path(f).read_text())["rows"]]
        log(table(rows, args.markdown))
        return 0
    cases = args.cases or (QUICK_CASES if args.quick else DEFAULT_CASES)
    methods = ["fembem", "shell"] if args.method == "both" else [args.method]
    rows = []
    for name in cases:
        for method in methods:
            gc.collect()
            reset_peak_rss()
            t0 = time.perf_counter()
            mesh, case = make_case(name)
            mesh_s = tmax(time.perf_counter() - t0)
            try:
                row = METHODS[method](mesh, case, args.evals)
            except NotImplementedError as err:
                log(f"{name} {method}: skipped ({err})")
                continue
            row.update(case=name, ranks=COMM.size, mesh_s=mesh_s, peak_rss_mb=tmax(peak_rss_mb()))
            rows.append(row)
            log(table([row], False).splitlines()[-1])
    log(table(rows, args.markdown))
    if args.json and COMM.rank == 0:
        meta = {
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "host": platform.node(),
            "python": sys.version.split()[0],
            "dolfinx": dolfinx.__version__,
            "ranks": COMM.size,
        }
        Path(args.json).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
