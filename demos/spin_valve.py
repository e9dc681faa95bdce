# # A current-perpendicular-to-plane spin valve
#
# A pillar lead | fixed layer | spacer | free layer | lead along z carries a charge
# current between electrodes on its bottom and top faces.  The fixed (reference)
# layer polarizes the current along its magnetization p; the spin accumulation s it
# builds up diffuses through the spacer into the free layer, precesses about the free
# layer's magnetization m there and exerts a torque on it.  The Boltzmann-LLG paper's
# diffusion limit (Sect. 4, (4.3), (4.5)-(4.6)), nondimensional, with Zhang-Levy-Fert's
# polarized source:
#
#     -div(sigma grad phi) = 0,  phi = 0 / V on the electrodes              (potential)
#     d_t rho - div(D (grad rho + rho grad phi)) = 0                        (4.5)
#     d_t s - div(D (grad s_k + s_k grad phi) - M (x) j) = -(2/tau_ex) M x s - s/tau_sf
#                                                                           (4.6)
#     d_t m = -gamma m x (H_eff + c_s s) + alpha m x d_t m   on the free layer  (4.3)
#
# with j = -sigma grad phi, M = m on the free layer, p on the fixed layer and 0 in the
# leads and the spacer (sharp cell indicators), H_eff = exchange + uniaxial anisotropy
# (easy axis x) + the free layer's stray field (FEM-BEM).  The fixed layer is pinned:
# its magnetization is data of the transport, not an LLG unknown (so its stray field
# on the free layer is not included).
#
# The free layer starts 0.5 rad from antiparallel to p = e_x.  A current flowing up
# (from the fixed into the free layer) switches it to the parallel state; the reversed
# current holds it antiparallel.  Checks, on any number of ranks (exit status 1 if one
# fails): |m| = 1 at the nodes, the spin torque on the free layer changes sign with the
# current, rho's (lumped) mass is conserved, the upward current switches (<m_x> > 0.9
# at the end) and the downward one does not (<m_x> < -0.9).  Quick mode: ~5 s of CPU.
#
#     .venv/bin/python demos/spin_valve.py --out results/spin_valve
#     .venv/bin/mpirun -n 2 .venv/bin/python demos/spin_valve.py --quick --out /tmp/sv

import argparse
import sys
from pathlib import Path

import numpy as np

from femhomog import _fenicsx  # noqa: F401  (must precede dolfinx)

# isort: split
import dolfinx
import ufl
from mpi4py import MPI

from femhomog.meshes.magnets import SPACER_TAG_BASE
from femhomog.meshes.stacks import FACET_ELECTRODE_BOTTOM, FACET_ELECTRODE_TOP, conductor_stack
from femhomog.micromag import LLGProblem
from femhomog.micromag.demag.base import StrayField
from femhomog.micromag.demag.fembem import FredkinKoehler
from femhomog.micromag.tangent_plane import TangentPlaneIntegrator
from femhomog.micromag.terms import Exchange, SpinTorque, UniaxialAnisotropy
from femhomog.spin import (
    ChargeTransport,
    CurrentPotential,
    SpinLLGIntegrator,
    SpinLLGProblem,
    SpinTransport,
    magnet_submesh,
)

parser = argparse.ArgumentParser(description="CPP spin valve: current-driven switching")
parser.add_argument("--out", type=Path, default=Path("results/spin_valve"))
parser.add_argument("--quick", action="store_true", help="a coarse, short run (CI)")
args = parser.parse_args()
comm = MPI.COMM_WORLD

# ## The stack
# Layers bottom up (nondimensional lengths: the exchange length is 1, the spin
# diffusion length sqrt(D tau_sf) is 1): lead, fixed layer (cell tag 1), spacer, free
# layer (tag 2), lead; the non-magnetic layers are tags 51, 52, 53.  Electrodes:
# facet tags 31 (bottom) and 32 (top).
FIXED, FREE = 1, 2
LEADS_AND_SPACER = [SPACER_TAG_BASE + k for k in (1, 2, 3)]
thicknesses = (0.5, 0.5, 0.25, 0.25, 0.5)
stack = conductor_stack(comm, (2.0, 2.0), thicknesses, (False, True, False, True, False),
                        mesh_size=0.5 if args.quick else 0.2, z_layers=1 if args.quick else 3)
mesh, cell_tags, facet_tags = stack.mesh, stack.cell_tags, stack.facet_tags
magnet, parent = magnet_submesh(mesh, cell_tags, [FREE])

# ## Parameters
# The seed's transport and LLG (D = tau_sf = tau_ex = 1, gamma = alpha = 1) with a
# stronger coupling c_s = 4 (so that the quick run switches), a weak easy axis along p,
# conductivities: magnets 1, leads and spacer 2.
ALPHA, Q_ANISOTROPY, COUPLING = 1.0, 0.1, 4.0
P_FIXED = (1.0, 0.0, 0.0)
sigma = {FIXED: 1.0, FREE: 1.0, **dict.fromkeys(LEADS_AND_SPACER, 2.0)}
M0 = (-np.cos(0.5), np.sin(0.5), 0.0)  # 0.5 rad from antiparallel to p
dt = 0.1 if args.quick else 0.05
t_end = 12.0 if args.quick else 20.0
VOLTAGE = 10.0  # bottom electrode (top: 0): the current flows up, fixed -> free layer


def run(voltage: float, t_end: float) -> dict[str, np.ndarray]:
    """The coupled run with phi = ``voltage`` at the bottom and 0 at the top electrode."""
    # ### The potential and the current (solved once: the conductor does not change)
    potential = CurrentPotential(mesh, facet_tags=facet_tags, cell_tags=cell_tags,
                                 electrodes={FACET_ELECTRODE_BOTTOM: voltage,
                                             FACET_ELECTRODE_TOP: 0.0},
                                 sigma=sigma)
    phi = potential.solve()
    current = potential.electrode_current(FACET_ELECTRODE_TOP)  # leaving at the top

    # ### m on the free layer: exchange, anisotropy, stray field, spin torque
    terms = [Exchange(1.0), UniaxialAnisotropy(Q_ANISOTROPY, axis=(1.0, 0.0, 0.0)),
             StrayField(solver=FredkinKoehler(magnet)), SpinTorque(COUPLING)]
    llg = LLGProblem(magnet, terms, ALPHA, equation="gilbert", gamma=1.0, m0=M0)

    # ### s and rho on the conductor; the fixed layer pinned along p
    spin = SpinTransport(mesh, cell_tags=cell_tags, magnet_tags=[FREE],
                         pinned={FIXED: P_FIXED}, facet_tags=facet_tags, D=1.0,
                         tau_sf=1.0, tau_ex=1.0, potential=phi, current=potential.current,
                         scheme="backward_euler")
    spin.set_state([0.0, 0.0, 0.0])
    # (MUMPS: the Slotboom weights e^-phi span e^-10..1 here, so an iterative solve's
    # residual, and with it the mass defect, would be far above round-off)
    charge = ChargeTransport(mesh, cell_tags=cell_tags, D=1.0, potential=phi, solver="direct")
    charge.set_state(1.0)
    problem = SpinLLGProblem(llg, spin, parent, charge=charge)
    problem.initialize()
    integrator = SpinLLGIntegrator(problem, TangentPlaneIntegrator(llg))

    # s and the spin torque -c_s m x s (the field c_s s of (4.3)) on the free layer
    s_free = problem.s_magnet
    torque = -COUPLING * ufl.cross(llg.m, s_free)
    forms = [dolfinx.fem.form(f * ufl.dx) for f in (*s_free, *torque)]
    volume = comm.allreduce(dolfinx.fem.assemble_scalar(dolfinx.fem.form(
        dolfinx.fem.Constant(magnet, 1.0) * ufl.dx)), op=MPI.SUM)

    def row() -> list[float]:
        means = [comm.allreduce(dolfinx.fem.assemble_scalar(f), op=MPI.SUM) / volume
                 for f in forms]
        return [problem.t, *llg.average(), *means, problem.spin_rms(), charge.mass(),
                llg.norm_deviation()]

    rows = [row()]
    for _ in range(round(t_end / dt)):
        integrator.step(dt)
        rows.append(row())
    integrator.destroy()
    potential.destroy()
    return {"rows": np.array(rows), "current": np.array(current)}


# ## Run: the switching current, then the reversed one
forward = run(VOLTAGE, t_end)
reverse = run(-VOLTAGE, t_end)

# ## Outputs: the CSV and the plot (rank 0)
# Columns: t, <m> and <s> over the free layer, the spin torque -c_s <m x s> on it,
# s_rms over the conductor, rho's (lumped) mass, max ||m| - 1|.
header = "t,mx,my,mz,sx,sy,sz,tx,ty,tz,s_rms,rho_mass,norm_dev"
if comm.rank == 0:
    args.out.mkdir(parents=True, exist_ok=True)
    for name, res in (("forward", forward), ("reverse", reverse)):
        np.savetxt(args.out / f"spin_valve_{name}.csv", res["rows"], delimiter=",",
                   header=header, comments="")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_m, ax_s) = plt.subplots(2, 1, sharex=True, figsize=(6, 6))
    for name, res, style in (("up", forward, "-"), ("down", reverse, "--")):
        r = res["rows"]
        for k, c in zip((0, 1, 2), "rgb", strict=True):
            ax_m.plot(r[:, 0], r[:, 1 + k], style, color=c, label=f"<m_{'xyz'[k]}> {name}")
            ax_s.plot(r[:, 0], r[:, 4 + k], style, color=c, label=f"<s_{'xyz'[k]}> {name}")
        ax_s.plot(r[:, 0], r[:, 10], style, color="k", label=f"s_rms {name}")
    ax_m.set_ylabel("free layer <m>")
    ax_s.set_xlabel("t")
    ax_s.set_ylabel("free layer <s>; s_rms")
    ax_m.legend(fontsize=7, ncol=2)
    ax_s.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out / "spin_valve.png", dpi=120)

# ## Checks
# Columns: 0 t, 1-3 <m>, 4-6 <s>, 7-9 torque (free layer), 10 s_rms, 11 mass, 12 norm_dev.
f, r = forward["rows"], reverse["rows"]
mass0 = f[0, 11]
t_plus, t_minus = f[1, 7:10], r[1, 7:10]  # after the first step: same m, opposite currents
cos_torques = t_plus @ t_minus / (np.linalg.norm(t_plus) * np.linalg.norm(t_minus))
checks = {
    "|m| = 1 at the nodes": max(f[:, 12].max(), r[:, 12].max()) < 1e-12,
    "rho's mass conserved": max(np.abs(f[:, 11] - mass0).max(),
                                np.abs(r[:, 11] - mass0).max()) < 1e-10 * mass0,
    "the spin torque reverses with the current": cos_torques < -0.9,
    "the upward current switches the free layer to parallel (<m_x> > 0.9)": f[-1, 1] > 0.9,
    "the downward current holds it antiparallel (<m_x> < -0.9)": r[-1, 1] < -0.9,
}
if comm.rank == 0:
    print(f"spin_valve: current {float(forward['current']):.4g}; final <m> "
          f"{f[-1, 1:4].round(4)} (reversed: {r[-1, 1:4].round(4)}); first-step torques "
          f"{t_plus.round(5)} / {t_minus.round(5)} (cos {cos_torques:.4f})")
    for what, ok in checks.items():
        print(f"  {'ok ' if ok else 'FAILED'} {what}")
sys.exit(0 if all(checks.values()) else 1)
