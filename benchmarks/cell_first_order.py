#!/usr/bin/env python3
"""Benchmark of the first-order cell problem (23a) and a^0 (26) on a 3D cell.

For every (degree, size, solver) the script builds the periodic cell with
:meth:`femhomog.cell.problem.PeriodicCell.create`, solves the three first-order
corrector problems chi^1_i with one operator and one factorization /
preconditioner (:func:`first_order_correctors`) and evaluates a^0
(:func:`homogenized_tensor`).  It reports per run

* global dofs of the Lagrange space and periodic (reduced) dofs,
* time to build the periodic constraint (prolongation P),
* assembly time (A, K = P^T A P and the cell measure vector),
* solver setup time (MUMPS Cholesky factorization or GAMG setup),
* time per right-hand side (mean of the 3 solves; KSP solve only, and the full
  cost including the assembly of the right-hand side and the expansion),
* iterations per solve, peak RSS, total wall time and a^0_00.

Geometries: ``hex`` (default), the unit cube meshed with hexahedra and the
smooth coefficient ``COEFFICIENT`` below; ``inclusion``, the gmsh cell with a
ball of radius 0.25 (tetrahedra, geometric order = degree), a = 1 in the
matrix and 10 in the inclusion.

Runs under MPI (``mpirun -n N``): every time is the maximum over ranks, RSS is
reported as the maximum and the sum over ranks, and the table is printed on
rank 0.  The peak RSS (``resource.getrusage``) is reset before every run
(``/proc/self/clear_refs``, Linux), so it is the peak *of that run* including
the mesh; where the reset is not possible it is the process-wide peak so far
(marked in the JSON output).

Forms are compiled once per degree and geometry: a small untimed warm-up run
per (degree, solver) precedes the timed runs, so JIT compilation (or loading of
the cached forms) and the first MUMPS / GAMG calls are not timed.

Examples::

    .venv/bin/python benchmarks/cell_first_order.py --quick
    .venv/bin/python benchmarks/cell_first_order.py --degrees 1 --solvers iterative
    .venv/bin/mpirun -n 2 .venv/bin/python benchmarks/cell_first_order.py --json out.json
    .venv/bin/python benchmarks/cell_first_order.py --sizes 1:22 1:32 2:11 2:16

``--sizes`` takes cells per side (``hex``) or 1/mesh size (``inclusion``);
``N`` applies to every degree, ``P:N`` only to degree ``P``.
"""

from __future__ import annotations

import os

# Pure MPI benchmark: one thread per rank (threaded BLAS inside MUMPS would use
# the idle cores in serial runs and oversubscribe them under mpirun).  Must be
# set before numpy / PETSc load OpenBLAS; an explicit setting wins.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import datetime
import gc
import json
import platform
import sys
import time
from contextlib import contextmanager

import numpy as np

from femhomog import _fenicsx  # noqa: F401

# isort: split
import dolfinx
from _common import COMM, cpu_seconds, log, peak_rss_mb, reset_peak_rss, tmax
from mpi4py import MPI
from petsc4py import PETSc

import femhomog
import femhomog.cell.problem as cell_problem
from femhomog.cell.correctors import first_order_correctors, homogenized_tensor
from femhomog.cell.problem import PeriodicCell
from femhomog.coefficients import CellCoefficient
from femhomog.meshes import INCLUSION_TAG, MATRIX_TAG, inclusion_cell, periodic_box_mesh

COEFFICIENT = "2 + sin(2*pi*y[0])*cos(2*pi*y[1]) + 0.5*sin(2*pi*(y[1]+y[2]))"
CONTRAST = 10.0
INCLUSION_RADIUS = 0.25

# Cells per side: periodic dofs (p n)^3 ~ 1.1e4, 3.3e4, 9.7e4, 2.6e5, 5.1e5, 1.0e6.
DEFAULT_SIZES = {
    "hex": {1: [22, 32, 46, 64, 80, 100], 2: [11, 16, 23, 32, 40, 50]},
    # 1/mesh size of the gmsh cell: about 0.9 n^3 periodic dofs for P1, 7.7 n^3 for P2.
    "inclusion": {1: [22, 33, 48, 66, 83, 104], 2: [11, 16, 24, 33, 41, 52]},
}
QUICK_SIZES = {"hex": {1: [8, 12], 2: [4, 6]}, "inclusion": {1: [6, 8], 2: [5, 6]}}
WARMUP_SIZE = {"hex": 3, "inclusion": 6}
DEFAULT_MAX_DIRECT_DOFS = 300_000



# ----------------------------------------------------------------------------- utilities
@contextmanager
def timed_constraint(record: dict):
    """Time the periodic_constraint(V) call made inside PeriodicCell.create."""
    original = cell_problem.periodic_constraint

    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        out = original(*args, **kwargs)
        record["constraint_s"] = time.perf_counter() - t0
        return out

    cell_problem.periodic_constraint = wrapper
    try:
        yield
    finally:
        cell_problem.periodic_constraint = original


def parse_sizes(
    tokens: list[str] | None, degrees: list[int], defaults: dict
) -> dict[int, list[int]]:
    if not tokens:
        return {p: list(defaults.get(p, defaults[max(defaults)])) for p in degrees}
    out: dict[int, list[int]] = {p: [] for p in degrees}
    for tok in tokens:
        if ":" in tok:
            p, n = tok.split(":", 1)
            if int(p) in out:
                out[int(p)].append(int(n))
        else:
            for p in degrees:
                out[p].append(int(tok))
    return out


# ----------------------------------------------------------------------------- problems
def make_geometry(geometry: str, n: int, degree: int):
    """Mesh, cell tags and coefficient for one size."""
    if geometry == "hex":
        mesh = periodic_box_mesh(COMM, 3, "hexahedron", n)
        return mesh, None, CellCoefficient.from_expression(COEFFICIENT, 3)
    data = inclusion_cell(
        COMM, 3, radius=INCLUSION_RADIUS, mesh_size=1.0 / n, order=min(degree, 2), tag_facets=False
    )
    coeff = CellCoefficient.from_materials({MATRIX_TAG: 1.0, INCLUSION_TAG: CONTRAST}, 3)
    return data.mesh, data.cell_tags, coeff


def estimated_periodic_dofs(geometry: str, mesh, n: int, degree: int) -> int:
    """Periodic dofs before building the cell (exact for hex, an upper bound otherwise)."""
    if geometry == "hex":
        return (degree * n) ** 3
    V = dolfinx.fem.functionspace(mesh, ("Lagrange", degree))
    return V.dofmap.index_map.size_global


def solver_diagnostics(cell: PeriodicCell) -> dict:
    """nnz(K) and MUMPS memory / GAMG hierarchy, collective."""
    solver = cell.solver
    out: dict = {"nnz_K": int(solver.K.getInfo(PETSc.Mat.InfoType.GLOBAL_SUM)["nz_used"])}
    pc = solver.ksp.getPC()
    try:
        if solver.solver_type == "direct":
            F = pc.getFactorMatrix()
            entries = F.getMumpsInfog(29)  # entries in the factors (negative: millions)
            out["mumps"] = {
                "est_mem_max_MB": F.getMumpsInfog(16),
                "est_mem_total_MB": F.getMumpsInfog(17),
                "mem_max_MB": F.getMumpsInfog(21),
                "mem_total_MB": F.getMumpsInfog(22),
                "factor_entries": -entries * 10**6 if entries < 0 else entries,
                "flops": F.getMumpsRinfog(3),
            }
        else:
            nlev = pc.getMGLevels()
            nnz, rows = [], []
            for lev in range(nlev):
                A = pc.getMGSmoother(lev).getOperators()[0]
                nnz.append(int(A.getInfo(PETSc.Mat.InfoType.GLOBAL_SUM)["nz_used"]))
                rows.append(A.getSize()[0])
            out["gamg"] = {
                "levels": nlev,
                "rows": rows[::-1],  # finest first
                "operator_complexity": sum(nnz) / max(nnz[-1], 1),
            }
    except (PETSc.Error, AttributeError) as exc:  # diagnostics are optional
        out["diagnostics_error"] = str(exc)
    return out


def run_one(geometry, mesh, cell_tags, coeff, degree, solver_type, n, rtol, mesh_s) -> dict:
    """One timed cell problem; all PETSc objects are destroyed before returning."""
    rss_reset = reset_peak_rss()
    rec: dict = {"constraint_s": float("nan")}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    COMM.Barrier()
    cpu_start = cpu_seconds()
    t_start = time.perf_counter()
    with timed_constraint(rec):
        t0 = time.perf_counter()
        cell = PeriodicCell.create(
            mesh, coeff, degree=degree, cell_tags=cell_tags, solver_type=solver_type, rtol=rtol
        )
        create_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    chis = first_order_correctors(cell)
    correctors_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    a0 = homogenized_tensor(cell, chis)
    a0_s = time.perf_counter() - t0
    total_s = time.perf_counter() - t_start
    cpu_s = cpu_seconds() - cpu_start
    rss = peak_rss_mb()

    st = cell.solver.stats
    iterations = COMM.bcast(list(st.iterations), root=0)
    diag = solver_diagnostics(cell)
    row = {
        "geometry": geometry,
        "ranks": COMM.size,
        "degree": degree,
        "solver": solver_type,
        "n": n,
        "dofs": cell.num_dofs,
        "periodic_dofs": cell.num_periodic_dofs,
        "mesh_s": tmax(mesh_s),
        "constraint_s": tmax(rec["constraint_s"]),
        "assembly_s": tmax(st.assembly_s),
        "setup_s": tmax(st.setup_s),
        "create_s": tmax(create_s),
        "rhs_solve_s": tmax(float(np.mean(st.solve_s))),
        "rhs_solve_s_each": [tmax(s) for s in st.solve_s],
        "rhs_full_s": tmax(correctors_s / len(chis)),
        "a0_s": tmax(a0_s),
        "total_s": tmax(total_s),
        # CPU time / wall time, minimum over ranks: well below 1 means this rank was
        # not running all the time (other processes on the cores), i.e. suspect timings.
        "cpu_frac": float(COMM.allreduce(cpu_s / total_s if total_s > 0 else 1.0, op=MPI.MIN)),
        "loadavg_1min_before": float(COMM.bcast(load, root=0)),
        "iterations": iterations,
        "rss_max_MB": float(COMM.allreduce(rss, op=MPI.MAX)),
        "rss_sum_MB": float(COMM.allreduce(rss, op=MPI.SUM)),
        "rss_per_run": bool(COMM.allreduce(rss_reset, op=MPI.LAND)),
        "a0": a0.tolist(),
        "a0_00": float(a0[0, 0]),
        **diag,
    }
    row["rhs_over_setup"] = row["rhs_solve_s"] / row["setup_s"] if row["setup_s"] > 0 else np.nan

    cell.solver.destroy()
    cell.constraint.destroy()
    del cell, chis
    gc.collect()
    return row


# ----------------------------------------------------------------------------- output
COLUMNS = [
    # header, key, format (None: special, see fmt_cell)
    ("np", "ranks", "{:d}"),
    ("p", "degree", "{:d}"),
    ("solver", "solver", "{}"),
    ("n", "n", "{:d}"),
    ("dofs", "dofs", "{:d}"),
    ("per.dofs", "periodic_dofs", "{:d}"),
    ("constr[s]", "constraint_s", "{:.2f}"),
    ("asm[s]", "assembly_s", "{:.2f}"),
    ("setup[s]", "setup_s", "{:.2f}"),
    ("solve[s]", "rhs_solve_s", "{:.3f}"),
    ("chi_i[s]", "rhs_full_s", "{:.3f}"),
    ("solve/setup", "rhs_over_setup", "{:.3f}"),
    ("its", "iterations", None),
    ("a0[s]", "a0_s", "{:.2f}"),
    ("total[s]", "total_s", "{:.1f}"),
    ("RSSmax[MB]", "rss_max_MB", "{:.0f}"),
    ("RSSsum[MB]", "rss_sum_MB", "{:.0f}"),
    ("cpu%", "cpu_frac", None),
    ("a0_00", "a0_00", "{:.10f}"),
]

LEGEND = (
    "constr = periodic constraint P; asm = A, K = P^T A P and the mean vector; setup = MUMPS "
    "analysis + Cholesky factorization or GAMG setup; solve = KSP solve per right-hand side "
    "(mean of the 3 chi^1_i); chi_i = first_order_correctors / 3 (right-hand side assembly, "
    "solvability check, solve, expansion); a0 = homogenized_tensor; total = create + correctors "
    "+ a0 (mesh excluded); times are max over ranks; RSS = peak of the run, max / sum over "
    "ranks; cpu% = CPU time / wall time (min over ranks; < 90: cores shared with other processes)"
)


def fmt_cell(row: dict, key: str, spec: str | None) -> str:
    v = row[key]
    if key == "cpu_frac":
        return f"{100 * v:.0f}"
    if key == "iterations":
        return "/".join(str(i) for i in v) if row["solver"] == "iterative" else "-"
    return spec.format(v)


def table(rows: list[dict], markdown: bool = False) -> str:
    head = [h for h, _, _ in COLUMNS]
    body = [[fmt_cell(r, k, s) for _, k, s in COLUMNS] for r in rows]
    if markdown:
        align = ["---" if k == "solver" else "--:" for _, k, _ in COLUMNS]
        return "\n".join("| " + " | ".join(c) + " |" for c in [head, align, *body])
    cells = [head, *body]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    lines = []
    for j, c in enumerate(cells):
        parts = [c[i].ljust(widths[i]) if i == 2 else c[i].rjust(widths[i]) for i in range(len(c))]
        lines.append("  ".join(parts))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def diagnostics_table(rows: list[dict]) -> str:
    lines = []
    for r in rows:
        head = (
            f"np={r['ranks']} p={r['degree']} n={r['n']:>3d} {r['solver']:<9s} "
            f"nnz(K)={r['nnz_K']:.3e}  mesh {r['mesh_s']:.2f}s"
        )
        if "mumps" in r:
            m = r["mumps"]
            head += (
                f"  MUMPS mem {m['mem_max_MB']} MB/rank, {m['mem_total_MB']} MB total"
                f" (est. {m['est_mem_total_MB']}), factor entries {m['factor_entries']:.3e}"
                f" ({m['factor_entries'] / r['nnz_K']:.1f} x nnz(K)), {m['flops']:.2e} flops"
                f" ({m['flops'] / r['setup_s'] / 1e9:.1f} GF/s over setup)"
            )
        if "gamg" in r:
            g = r["gamg"]
            head += (
                f"  GAMG {g['levels']} levels, rows {g['rows']}, "
                f"operator complexity {g['operator_complexity']:.2f}"
            )
        lines.append(head)
    return "\n".join(lines)


def fractions(rows: list[dict]) -> str:
    lines = []
    for r in rows:
        build = r["constraint_s"] + r["assembly_s"] + r["setup_s"]
        lines.append(
            f"  np={r['ranks']} p={r['degree']} n={r['n']:>3d} {r['solver']:<9s} "
            f"solve/setup = {r['rhs_over_setup']:.3f}  solve/(constr+asm+setup) = "
            f"{r['rhs_solve_s'] / build:.3f}  chi_i/(constr+asm+setup) = "
            f"{r['rhs_full_s'] / build:.3f}"
        )
    return "\n".join(lines)


SPEEDUP_KEYS = [
    ("constr", "constraint_s"),
    ("asm", "assembly_s"),
    ("setup", "setup_s"),
    ("solve", "rhs_solve_s"),
    ("chi_i", "rhs_full_s"),
    ("a0", "a0_s"),
    ("total", "total_s"),
]


def speedups(rows: list[dict], markdown: bool = False) -> str:
    """Time on 1 rank / time on N ranks for the runs present with both rank counts."""

    def key(r: dict) -> tuple:
        return (r["geometry"], r["degree"], r["solver"], r["n"])

    serial = {key(r): r for r in rows if r["ranks"] == 1}
    head = ["np", "p", "solver", "n", "per.dofs", *(k for k, _ in SPEEDUP_KEYS), "|da0_00|"]
    body = []
    for r in rows:
        s = serial.get(key(r))
        if r["ranks"] == 1 or s is None:
            continue
        body.append(
            [str(r["ranks"]), str(r["degree"]), r["solver"], str(r["n"]), str(r["periodic_dofs"])]
            + [f"{s[k] / r[k]:.2f}" if r[k] > 0 else "-" for _, k in SPEEDUP_KEYS]
            + [f"{abs(s['a0_00'] - r['a0_00']):.1e}"]
        )
    if not body:
        return ""
    if markdown:
        align = ["---" if h == "solver" else "--:" for h in head]
        return "\n".join("| " + " | ".join(c) + " |" for c in [head, align, *body])
    cells = [head, *body]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    return "\n".join(
        "  ".join(c[i].ljust(widths[i]) if i == 2 else c[i].rjust(widths[i]) for i in range(len(c)))
        for c in cells
    )


def report(rows: list[dict], skipped: list[str], markdown: bool) -> None:
    """Print the tables (rank 0)."""
    log(table(rows))
    log(f"# {LEGEND}")
    if skipped:
        log(f"# skipped: {'; '.join(skipped)}")
    log("")
    log("# solver details")
    log(diagnostics_table(rows))
    log("")
    log("# cost of one extra cell problem relative to the first factorization / setup:")
    log(fractions(rows))
    sp = speedups(rows)
    if sp:
        log("")
        log("# speedup (time on 1 rank / time on np ranks) and |a0_00(1 rank) - a0_00(np ranks)|")
        log(sp)
    busy = [r for r in rows if r["cpu_frac"] < 0.9]
    if busy:
        log(
            f"# WARNING: {len(busy)} run(s) got < 90% of a core per rank (cpu% column): other "
            "processes were competing for the cores, their timings are inflated"
        )
    if markdown:
        log("")
        log(table(rows, markdown=True))
        if sp:
            log("")
            log(speedups(rows, markdown=True))


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--geometry", choices=["hex", "inclusion"], default="hex")
    ap.add_argument("--degrees", type=int, nargs="+", default=[1, 2])
    ap.add_argument(
        "--sizes",
        nargs="+",
        help="cells per side (hex) or 1/h (inclusion); 'N' for every degree or 'P:N' for degree P",
    )
    ap.add_argument(
        "--solvers", nargs="+", choices=["direct", "iterative"], default=["direct", "iterative"]
    )
    ap.add_argument(
        "--max-direct-dofs",
        type=float,
        default=DEFAULT_MAX_DIRECT_DOFS,
        help="skip the direct solver above this many periodic dofs (default %(default)g)",
    )
    ap.add_argument(
        "--max-dofs",
        type=float,
        default=float("inf"),
        help="skip every run above this many periodic dofs",
    )
    ap.add_argument(
        "--rtol", type=float, default=1e-10, help="CG relative tolerance (default %(default)g)"
    )
    ap.add_argument("--json", metavar="OUT", help="write the results as JSON")
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    ap.add_argument(
        "--no-warmup", action="store_true", help="time the first run of each degree with JIT"
    )
    ap.add_argument("--markdown", action="store_true", help="also print the tables as markdown")
    ap.add_argument(
        "--report",
        nargs="+",
        metavar="JSON",
        help="print the tables of earlier --json outputs (e.g. 1 and 2 ranks: speedups) and exit",
    )
    args = ap.parse_args(argv)

    if args.report:
        # A run repeated in a later file (e.g. a rerun on an idle machine) replaces it.
        runs: dict[tuple, dict] = {}
        skipped = []
        for path in args.report:
            with open(path) as f:
                data = json.load(f)
            for r in data["runs"]:
                runs[(r["geometry"], r["degree"], r["n"], r["solver"], r["ranks"])] = r
            m = data["meta"]
            skipped += [f"np={m['ranks']} {s}" for s in m.get("skipped", [])]
            log(
                f"# {path}: {m['date']}, {m['ranks']} rank(s), {m['host']} ({m['cpu_count']} cores)"
            )
        done = {f"np={r['ranks']} p={r['degree']} n={r['n']} {r['solver']}" for r in runs.values()}
        skipped = sorted({s for s in skipped if s.split(" (")[0] not in done})
        rows = [runs[k] for k in sorted(runs)]
        report(rows, skipped, args.markdown)
        return 0

    defaults = (QUICK_SIZES if args.quick else DEFAULT_SIZES)[args.geometry]
    sizes = parse_sizes(args.sizes, args.degrees, defaults)
    started = datetime.datetime.now().astimezone()
    log(
        f"# femhomog {femhomog.__version__} cell_first_order benchmark, {started:%Y-%m-%d %H:%M %Z}, "
        f"{COMM.size} rank(s), {platform.node()} ({os.cpu_count()} cores), dolfinx {dolfinx.__version__}, "
        f"PETSc {'.'.join(map(str, PETSc.Sys.getVersion()))}, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}"
    )
    if args.geometry == "hex":
        log(f"# geometry: unit cube, hexahedra, a(y) = {COEFFICIENT}")
    else:
        log(f"# geometry: gmsh inclusion cell, ball r = {INCLUSION_RADIUS}, a = 1 / {CONTRAST:g}")
    log(
        f"# sizes: {sizes}; solvers {args.solvers}; direct up to {args.max_direct_dofs:.3g} periodic dofs"
    )

    rows: list[dict] = []
    skipped: list[str] = []
    t_all = time.perf_counter()
    for degree in args.degrees:
        if not args.no_warmup:
            t0 = time.perf_counter()
            nw = WARMUP_SIZE[args.geometry]
            mesh, tags, coeff = make_geometry(args.geometry, nw, degree)
            for solver_type in args.solvers:
                run_one(args.geometry, mesh, tags, coeff, degree, solver_type, nw, args.rtol, 0.0)
            del mesh, tags
            gc.collect()
            log(
                f"# warm-up (JIT / cache load) degree {degree}: {tmax(time.perf_counter() - t0):.1f} s"
            )
        for n in sizes[degree]:
            COMM.Barrier()
            t0 = time.perf_counter()
            mesh, tags, coeff = make_geometry(args.geometry, n, degree)
            mesh_s = time.perf_counter() - t0
            est = estimated_periodic_dofs(args.geometry, mesh, n, degree)
            for solver_type in args.solvers:
                if est > args.max_dofs or (solver_type == "direct" and est > args.max_direct_dofs):
                    skipped.append(f"p={degree} n={n} {solver_type} (~{est} periodic dofs)")
                    continue
                row = run_one(
                    args.geometry, mesh, tags, coeff, degree, solver_type, n, args.rtol, mesh_s
                )
                rows.append(row)
                its = "/".join(map(str, row["iterations"])) if solver_type == "iterative" else "-"
                log(
                    f"  p={degree} n={n} {solver_type}: {row['periodic_dofs']} periodic dofs, "
                    f"setup {row['setup_s']:.2f}s, rhs {row['rhs_solve_s']:.3f}s, its {its}, "
                    f"RSS {row['rss_max_MB']:.0f} MB, total {row['total_s']:.1f}s, cpu {100 * row['cpu_frac']:.0f}%"
                )
            del mesh, tags
            gc.collect()
    wall = tmax(time.perf_counter() - t_all)

    log("")
    report(rows, skipped, args.markdown)
    log(f"# benchmark wall time {wall:.1f} s")

    if args.json and COMM.rank == 0:
        meta = {
            "date": started.isoformat(timespec="seconds"),
            "host": platform.node(),
            "cpu_count": os.cpu_count(),
            "ranks": COMM.size,
            "omp_num_threads": os.environ["OMP_NUM_THREADS"],
            "femhomog": femhomog.__version__,
            "dolfinx": dolfinx.__version__,
            "petsc": ".".join(map(str, PETSc.Sys.getVersion())),
            "geometry": args.geometry,
            "coefficient": COEFFICIENT
            if args.geometry == "hex"
            else {"matrix": 1.0, "inclusion": CONTRAST},
            "rtol": args.rtol,
            "max_direct_dofs": args.max_direct_dofs,
            "skipped": skipped,
            "wall_s": wall,
        }
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "runs": rows}, f, indent=1)
        log(f"# wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
