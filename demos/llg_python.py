# # A damped macrospin from Python: LLG with the Simulation facade
#
# This demo sets up and runs a Landau-Lifshitz problem from Python, without a
# configuration file: a uniformly magnetized body in a constant field
# h = h e_z, with damping alpha.  For a uniform state the Landau-Lifshitz
# equation (LL paper (3.1), exchange does not act) has the closed form
#
#     phi(t) = phi0 + h t,     tan(theta(t)/2) = tan(theta0/2) exp(-alpha h t),
#
# (azimuth phi, polar angle theta): m precesses about e_z and spirals towards
# it.  We compare the computed average magnetization with it at every output
# time and exit non-zero if they differ by more than the tolerance below.
#
# Run it serially or in parallel:
#
#     .venv/bin/python demos/llg_python.py --out results/llg_python
#     .venv/bin/mpirun -n 2 .venv/bin/python demos/llg_python.py --out results/llg_python
#
# ## Imports
# `femhomog` gives the facade and the recorders; `femhomog.micromag` the LLG
# problem, its field terms and integrators, and the default averages columns.

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from femhomog import ScalarLog, Simulation, StateWriter, _fenicsx  # noqa: F401

# isort: split
from mpi4py import MPI

from femhomog.meshes import periodic_box_mesh
from femhomog.micromag import LLGProblem, MidpointIntegrator, Zeeman, llg_columns, llg_state

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--out", type=Path, default=Path("results/llg_python"))
parser.add_argument("--quick", action="store_true", help="a shorter run (CI)")
args = parser.parse_args()

# ## The problem
# A periodic 1D box of 4 cells carries the nodal magnetization (any mesh would
# do: the state stays uniform).  The field h = 2 e_z, damping alpha = 0.3,
# and m(0) at the polar angle theta0 = 1 in the x-z plane.
h, alpha, theta0 = 2.0, 0.3, 1.0
mesh = periodic_box_mesh(MPI.COMM_WORLD, 1, "interval", 4, [1.0])
problem = LLGProblem(mesh, [Zeeman((0.0, 0.0, h))], alpha, periodic=True,
                     m0=(math.sin(theta0), 0.0, math.cos(theta0)))

# ## The run
# The implicit midpoint rule keeps |m| = 1 at every node and is second order
# in time.  The simulation writes the averages table (`t, mx, my, mz, E_zeeman,
# E_total, norm_dev`) at every multiple of `dt_out`, landing on these times
# exactly, and the final state (keyed by the mesh's input nodes: it can be read
# back on any number of ranks).
t_end = 0.5 if args.quick else 2.0
sim = Simulation(problem, MidpointIntegrator(problem), outputs=[
    ScalarLog(args.out / "averages.csv", llg_columns(problem)),
    StateWriter(args.out / "m_final.npz", llg_state(problem), time=lambda: problem.t),
])
sim.run(t_end, dt=0.01, dt_out=0.1)

# ## Closed form against the computed averages
# The midpoint rule errs by O(dt^2): 3e-5 (--quick) and 5e-5 at dt = 0.01 for these data;
# we accept 1e-4.
data = np.loadtxt(args.out / "averages.csv", delimiter=",", skiprows=1, ndmin=2)
t, m = data[:, 0], data[:, 1:4]
phi = h * t
theta = 2.0 * np.arctan(math.tan(theta0 / 2) * np.exp(-alpha * h * t))
exact = np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], 1)
error = float(np.abs(m - exact).max())
if MPI.COMM_WORLD.rank == 0:
    print(f"t = {t[-1]:.2f}: <m> = ({m[-1, 0]:.6f}, {m[-1, 1]:.6f}, {m[-1, 2]:.6f}), "
          f"closed form ({exact[-1, 0]:.6f}, {exact[-1, 1]:.6f}, {exact[-1, 2]:.6f})")
    print(f"max error over {len(t)} output times: {error:.2e} (tolerance 1e-4)")
sys.exit(0 if error < 1e-4 else 1)
