# # The seed's spin-LLG system in a 3D bar, from Python
#
# The Boltzmann-LLG paper's diffusion limit (Sect. 4): a conductor C = [0, 3] x [0, 1]
# x [0, 1] carries the charge density rho and the spin accumulation s; the magnet M is
# its middle third, 1 < x < 2, where the magnetization m lives (on M's submesh):
#
#     d_t rho - div(D (grad rho + rho grad phi)) = 0                         on C
#     d_t s - div(D (grad s_k + s_k grad phi)) = -(2/tau_ex) m x s - s/tau_sf   on C
#     d_t m = -gamma m x (H_eff + c_s s) + alpha m x d_t m                   on M
#
# with the seed's parameters gamma = alpha = c_s = tau_ex = tau_sf = D = 1,
# H_eff = exchange + stray field (FEM-BEM on M), a potential phi = -x/2 (drift
# along +x), spin injection s = e_y on the face x = 0 and zero total flux on the
# rest of the boundary.  The precession -2 m x s acts on the magnet's cells only.
#
# Checks, on any number of ranks (exit status 1 if one fails): |m| = 1 at the
# nodes, the lumped mass of rho is conserved exactly, and the spin current into
# the magnet tilts m towards the injected direction (<m_y> grows).
#
#     .venv/bin/python demos/spin_bar.py --out results/spin_bar
#     .venv/bin/mpirun -n 2 .venv/bin/python demos/spin_bar.py --out results/spin_bar

import argparse
import sys
from pathlib import Path

import numpy as np

from femhomog import ScalarLog, Simulation, _fenicsx  # noqa: F401

# isort: split
import dolfinx
import ufl
from mpi4py import MPI

from femhomog.micromag import LLGProblem, llg_columns
from femhomog.micromag.demag.base import StrayField
from femhomog.micromag.demag.fembem import FredkinKoehler
from femhomog.micromag.tangent_plane import TangentPlaneIntegrator
from femhomog.micromag.terms import Exchange, SpinTorque
from femhomog.spin import (
    ChargeTransport,
    SpinLLGIntegrator,
    SpinLLGProblem,
    SpinTransport,
    magnet_submesh,
)
from femhomog.spin.build import box_facet_tags
from femhomog.spin.outputs import spin_columns

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--out", type=Path, default=Path("results/spin_bar"))
parser.add_argument("--quick", action="store_true", help="a coarse, short run (CI)")
args = parser.parse_args()
comm = MPI.COMM_WORLD

# ## The conductor and the magnet
# Tetrahedra (the stray field's FEM-BEM needs them); cells with 1 < x < 2 get tag 2.
n = 3 if args.quick else 8
mesh = dolfinx.mesh.create_box(comm, [[0, 0, 0], [3, 1, 1]], [3 * n, n, n],
                               dolfinx.mesh.CellType.tetrahedron)
tdim = mesh.topology.dim
cells = np.arange(mesh.topology.index_map(tdim).size_local
                  + mesh.topology.index_map(tdim).num_ghosts, dtype=np.int32)
mid = dolfinx.mesh.compute_midpoints(mesh, tdim, cells)
tags = dolfinx.mesh.meshtags(mesh, tdim, cells,
                             np.where((mid[:, 0] > 1) & (mid[:, 0] < 2), 2, 1).astype(np.int32))
magnet, parent = magnet_submesh(mesh, tags, [2])

# ## m on the magnet: exchange, stray field, the spin torque c_s s
# Gilbert form with gamma = 1, alpha = 1; m(0) along z.
terms = [Exchange(1.0), StrayField(solver=FredkinKoehler(magnet)), SpinTorque(1.0)]
llg = LLGProblem(magnet, terms, 1.0, equation="gilbert", gamma=1.0, m0=(0.0, 0.0, 1.0))

# ## s and rho on the conductor
# Backward Euler steps for s (stiff in physical units), injection on the face x = 0
# (box facet tag 1), the drift of phi = -x/2.
phi = -0.5 * ufl.SpatialCoordinate(mesh)[0]
spin = SpinTransport(mesh, cell_tags=tags, magnet_tags=[2], facet_tags=box_facet_tags(mesh),
                     D=1.0, tau_sf=1.0, tau_ex=1.0, potential=phi,
                     dirichlet={1: [0.0, 1.0, 0.0]}, scheme="backward_euler")
spin.set_state([0.0, 0.0, 0.0])
charge = ChargeTransport(mesh, D=1.0, potential=phi)
charge.set_state(1.0)
problem = SpinLLGProblem(llg, spin, parent, charge=charge)
problem.initialize()
integrator = SpinLLGIntegrator(problem, TangentPlaneIntegrator(llg))

# ## Run
# averages.csv: t, <m> over M, energies, max||m|-1|, <s> over C, s_rms, rho_mean.
args.out.mkdir(parents=True, exist_ok=True)
columns = {**llg_columns(llg), **spin_columns(problem)}
sim = Simulation(problem, integrator, outputs=[ScalarLog(args.out / "averages.csv", columns)])
mass0 = charge.mass()
t_end = 0.2 if args.quick else 2.0
sim.run(t_end, dt=0.05, dt_out=0.1)

# ## Checks
# (every rank computes the collective quantities; rank 0 prints)
m_avg, s_avg = llg.average(), problem.spin_average()
my = m_avg[1]
mass = charge.mass()
checks = {
    "|m| = 1 at the nodes": llg.norm_deviation() < 1e-12,
    "rho's mass conserved": abs(mass - mass0) < 1e-10 * mass0,
    "m tilts towards the injected spin": my > 1e-4,
}
if comm.rank == 0:
    print(f"spin_bar: <m> = {m_avg}, <s> = {s_avg}, "
          f"rho mass {mass:.12g} (initial {mass0:.12g})")
    for what, ok in checks.items():
        print(f"  {'ok ' if ok else 'FAILED'} {what}")
sys.exit(0 if all(checks.values()) else 1)
