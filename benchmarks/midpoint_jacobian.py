"""Cost of filling the implicit-midpoint Newton Jacobian: copy + nodal blocks vs two axpy's.

``MidpointIntegrator`` refills ``J = I + k/2 (D - N K)`` at every Newton
iteration.  When the nodal 3x3 blocks ``D`` lie in the pattern of ``N K`` (every
stiffness matrix with a diagonal entry per node) it copies ``N K`` into ``J``
and adds the blocks; the fallback zeroes ``J`` and adds ``N K`` and ``D`` with
two pattern-matching ``axpy``'s.  This script times both on the same integrator
(same process, same matrices) for 2D Q1 and 3D hexahedral periodic grids with
the laminate exchange of the LL homogenization demo, checks that they give the
same matrix, and prints the time per fill, the ratio and the dofs.

Usage::

    python benchmarks/midpoint_jacobian.py                    # 2D 64^2 .. 512^2, 3D 16^3 .. 32^3
    mpirun -n 2 python benchmarks/midpoint_jacobian.py --sizes 2:256 3:24
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from femhomog import _fenicsx  # noqa: F401

# isort: split
from mpi4py import MPI

from femhomog.meshes import periodic_box_mesh
from femhomog.micromag import Exchange, LLGProblem, MidpointIntegrator

COMM = MPI.COMM_WORLD


def state(x: np.ndarray) -> np.ndarray:
    return np.vstack([np.cos(2 * np.pi * x[0]), np.sin(2 * np.pi * x[1]), 1.0 + 0 * x[0]])


def time_fills(integ: MidpointIntegrator, x, repeats: int) -> float:
    COMM.Barrier()
    t0 = time.perf_counter()
    for _ in range(repeats):
        integ._jacobian(None, x, integ._J, integ._J)
    return COMM.allreduce(time.perf_counter() - t0, op=MPI.MAX) / repeats


def one(dim: int, n: int, repeats: int) -> dict:
    cell = "quadrilateral" if dim == 2 else "hexahedron"
    mesh = periodic_box_mesh(COMM, dim, cell, n)
    exchange = Exchange("1 + 0.5*sin(2*pi*y[0])", eps=0.25, gauss_points=(1,) + (2,) * (dim - 1))
    prob = LLGProblem(mesh, [exchange], 0.02, periodic=True, m0=state, normalize=True)
    integ = MidpointIntegrator(prob, solver="iterative")
    x = integ._current()
    integ._m_old.array[:] = x.array_r
    integ._dt, integ._t_mid = 1e-4, 0.0
    assert integ._same_pattern
    times, mats = {}, {}
    for same in (True, False):
        integ._same_pattern = same
        integ._jacobian(None, x, integ._J, integ._J)  # warm-up
        times[same] = time_fills(integ, x, repeats)
        mats[same] = integ._J.copy()
    diff = mats[True].copy()
    diff.axpy(-1.0, mats[False])
    rel = diff.norm() / mats[False].norm()
    for m in (*mats.values(), diff):
        m.destroy()
    integ.destroy()
    # reduced (periodic) unknowns: 3 per node
    return {"dim": dim, "n": n, "dofs": x.getSize(), "copy_s": times[True],
            "axpy_s": times[False], "rel_diff": rel}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="+", default=["2:64", "2:128", "2:256", "2:512", "3:16",
                                                   "3:32"], help="DIM:CELLS_PER_SIDE")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    if COMM.rank == 0:
        print(f"{COMM.size} rank(s)")
        print(f"{'dim':>3} {'n':>5} {'dofs':>9} {'copy+blocks':>12} {'two axpy':>10} {'ratio':>6} "
              f"{'|diff|/|J|':>10}")
    for spec in args.sizes:
        d, n = (int(v) for v in spec.split(":"))
        r = one(d, n, args.repeats)
        if COMM.rank == 0:
            print(f"{r['dim']:>3} {r['n']:>5} {r['dofs']:>9} {r['copy_s']:>11.4f}s "
                  f"{r['axpy_s']:>9.4f}s {r['axpy_s'] / r['copy_s']:>6.2f} {r['rel_diff']:>10.1e}",
                  flush=True)


if __name__ == "__main__":
    main()
