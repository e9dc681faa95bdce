"""Benchmark: high-order correctors and effective wave tensors on 3D cells (issue 3).

For a smooth 3D cell (structured hexahedra) and a gmsh inclusion cell (contrast 10)
the script factorizes the periodic operator once and then, for s = 1, 2, 3, computes
the effective tensors by Theorem 3 (chi^1..chi^{s+1}) and by the naive formula (40)
(chi^1..chi^{2s+1}) on that same factorization.  It prints, per run: dofs, setup
(assembly + factorization), number of scalar cell problems, time per cell problem
(right-hand side assembly + solve), tensor time, total, and the ratios

    naive / theorem3  (cell problems and wall time; the paper's CP(3,2s+1)/CP(3,s+1))
    per-problem cost / setup   ("each extra cell problem costs a small fraction")

Run serially and under MPI (timings are the max over ranks):

    python benchmarks/cell_high_order.py
    mpirun -n 2 python benchmarks/cell_high_order.py
    python benchmarks/cell_high_order.py --quick          # smoke run, seconds
"""

from __future__ import annotations

import argparse
import gc
import json
import time

from femhomog import _fenicsx  # noqa: F401

# isort: split
from mpi4py import MPI

from femhomog.cell.effective import homogenize_cell
from femhomog.cell.problem import PeriodicCell
from femhomog.coefficients import CellCoefficient
from femhomog.meshes import INCLUSION_TAG, MATRIX_TAG, inclusion_cell, periodic_box_mesh
from femhomog.tensors import cell_problem_count

SMOOTH_3D = "2 + sin(2*pi*y[0])*cos(2*pi*y[1]) + 0.5*sin(2*pi*(y[1] + y[2]))"


def build(comm, geometry: str, degree: int, n: int, mesh_size: float, solver: str) -> PeriodicCell:
    if geometry == "smooth":
        mesh = periodic_box_mesh(comm, 3, "hexahedron", n)
        coef = CellCoefficient.from_expression(SMOOTH_3D, 3)
        return PeriodicCell.create(mesh, coef, degree=degree, solver_type=solver)
    data = inclusion_cell(comm, 3, radius=0.25, mesh_size=mesh_size)
    coef = CellCoefficient.from_materials({MATRIX_TAG: 1.0, INCLUSION_TAG: 10.0}, 3)
    return PeriodicCell.create(
        data.mesh, coef, degree=degree, cell_tags=data.cell_tags, solver_type=solver
    )


def tmax(comm, t: float) -> float:
    return comm.allreduce(t, op=MPI.MAX)


def warm_up(comm, geometry, degree, orders) -> None:
    """Compile every form once (JIT) on a tiny cell, so timings exclude compilation."""
    cell = build(comm, geometry, degree, 2, 0.3, "direct")
    for method in ("theorem3", "naive"):
        homogenize_cell(cell, order=max(orders), method=method).correctors.destroy()
    cell.solver.destroy()


def run(comm, geometry, degree, n, mesh_size, orders, solver) -> list[dict]:
    warm_up(comm, geometry, degree, orders)
    t0 = time.perf_counter()
    cell = build(comm, geometry, degree, n, mesh_size, solver)
    build_s = tmax(comm, time.perf_counter() - t0)
    st = cell.solver.stats
    rows = []
    for s in orders:
        for method in ("theorem3", "naive"):
            n_solves_before = len(st.solve_s)
            t0 = time.perf_counter()
            res = homogenize_cell(cell, order=s, method=method)
            wall = tmax(comm, time.perf_counter() - t0)
            solve_times = st.solve_s[n_solves_before:]
            count = res.cell_problems_solved
            assert count == cell_problem_count(3, s + 1 if method == "theorem3" else 2 * s + 1)
            rows.append(
                {
                    "geometry": geometry,
                    "degree": degree,
                    "ranks": comm.size,
                    "dofs": cell.num_dofs,
                    "periodic_dofs": cell.num_periodic_dofs,
                    "solver": cell.solver.solver_type,
                    "setup_s": tmax(comm, st.assembly_s + st.setup_s),
                    "build_s": build_s,
                    "s": s,
                    "method": method,
                    "cell_problems": count,
                    "wall_s": wall,
                    "per_problem_s": wall / count,
                    "solve_only_mean_s": tmax(comm, sum(solve_times) / max(len(solve_times), 1)),
                    "tensor_s": tmax(comm, sum(res.tensor_time_s)),
                    "b_last_max": float(abs(res.tensors.b[-1]).max()),
                }
            )
            res.correctors.destroy()
            del res
            gc.collect()
    cell.solver.destroy()
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--geometry", choices=["smooth", "inclusion", "both"], default="both")
    p.add_argument("--degree", type=int, default=2)
    p.add_argument("--n", type=int, default=16, help="cells per side (smooth cell)")
    p.add_argument("--mesh-size", type=float, default=0.06, help="gmsh size (inclusion cell)")
    p.add_argument("--orders", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--solver", choices=["auto", "direct", "iterative"], default="auto")
    p.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    p.add_argument("--json", help="write the rows to this JSON file (rank 0)")
    args = p.parse_args()
    if args.quick:
        args.n, args.mesh_size, args.degree = 4, 0.2, 1
    comm = MPI.COMM_WORLD
    geometries = ["smooth", "inclusion"] if args.geometry == "both" else [args.geometry]
    rows = []
    for g in geometries:
        rows += run(comm, g, args.degree, args.n, args.mesh_size, args.orders, args.solver)
    if comm.rank == 0:
        cols = ["geometry", "ranks", "dofs", "solver", "setup_s", "s", "method",
                "cell_problems", "wall_s", "per_problem_s", "solve_only_mean_s", "tensor_s"]
        print(" ".join(f"{c:>15}" for c in cols))
        for r in rows:
            print(" ".join(f"{r[c]:>15.4g}" if isinstance(r[c], float) else f"{r[c]!s:>15}"
                           for c in cols))
        print()
        for i in range(0, len(rows), 2):
            thm, naive = rows[i], rows[i + 1]
            print(
                f"{thm['geometry']:>9} s={thm['s']}: naive/theorem3 problems "
                f"{naive['cell_problems']}/{thm['cell_problems']} = "
                f"{naive['cell_problems'] / thm['cell_problems']:.2f}, wall "
                f"{naive['wall_s'] / thm['wall_s']:.2f}x; per problem / setup = "
                f"{thm['per_problem_s'] / thm['setup_s']:.3f}"
            )
        if args.json:
            with open(args.json, "w") as f:
                json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
