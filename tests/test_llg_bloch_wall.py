"""1D Bloch wall relaxed with exchange and uniaxial anisotropy (easy axis e_z).

Independent truth.  With ``E(m) = int a/2 |m'|^2 - q/2 (m . e_z)^2`` and
``m = (sin th, 0, cos th)`` the Euler-Lagrange equation ``a th'' = q sin th cos th``
with ``m -> +e_z`` at ``-oo`` and ``-e_z`` at ``+oo`` has the solution

    th(x) = 2 arctan(exp((x - x0)/delta)),   delta = sqrt(a/q),

so ``th' = sin(th)/delta`` (slope ``1/delta`` at the centre), ``sin th = sech((x -
x0)/delta)`` (``int sin th dx = pi delta``) and the wall energy above the uniform
state is ``int q sin^2 th dx = 2 q delta = 2 sqrt(a q)`` (``4 sqrt(A K)`` in SI).
In SI the width is ``sqrt(A/K)``.

Setup.  ``[-L, L]`` with ``L = 20 delta`` (truncation effects ~ ``e^{-20}``) and
natural boundary conditions; the initial guess ``th0 = pi/2 (1 + tanh(2x/delta))``
is too narrow (pi times the exact slope at the centre).  It is invariant under ``x -> -x`` combined with the rotation by
pi about e_x, a symmetry of the energy and of (3.1), so the wall stays centred at
the node x = 0 (checked).  Relaxed with alpha = 1 by the tangent-plane scheme with
large steps (and once by the midpoint rule) until the nodal torque
``max |m x H_h| < 1e-9`` (:class:`NodalEffectiveField`); the energy must never
increase on the way.  On ``n = 100, 200, 400`` cells (``h/delta = 0.4, 0.2, 0.1``)
the measured ``delta_h`` (from the integral and from the centre slope) and the wall
energy converge to the exact values at O(h^2).

Print the figures with ``pytest -s``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from femhomog import _fenicsx  # noqa: F401

# isort: split
import dolfinx.mesh
from mpi4py import MPI

from femhomog.micromag import (
    Exchange,
    LLGProblem,
    MidpointIntegrator,
    TangentPlaneIntegrator,
    UniaxialAnisotropy,
    Units,
)
from femhomog.micromag.effective_field import NodalEffectiveField

A_EX, Q = 2.0, 0.5  # delta = sqrt(a/q) = 2
DELTA = math.sqrt(A_EX / Q)
TORQUE_TOL = 1e-9
CELLS = (100, 200, 400)


def initial_wall(width: float):
    """``th0 = pi/2 (1 + tanh(x/width))``, in the xz-plane."""

    def m0(x):
        th = 0.5 * np.pi * (1.0 + np.tanh(x[0] / width))
        return np.vstack([np.sin(th), 0.0 * th, np.cos(th)])

    return m0


def wall_problem(comm, n: int, a: float, q: float, half_length: float) -> LLGProblem:
    mesh = dolfinx.mesh.create_interval(comm, n, [-half_length, half_length])
    delta = math.sqrt(a / q)
    return LLGProblem(
        mesh,
        [Exchange(a), UniaxialAnisotropy(q, axis=(0.0, 0.0, 1.0))],
        1.0,
        m0=initial_wall(0.5 * delta),
    )


def relax(prob: LLGProblem, scheme: str, dt: float, max_steps: int = 2000) -> dict:
    """Damped dynamics until the torque is below TORQUE_TOL; energies after every step."""
    stepper = (
        TangentPlaneIntegrator(prob) if scheme == "tangent_plane" else MidpointIntegrator(prob)
    )
    field = NodalEffectiveField(prob)
    energies = [prob.energy()]
    torque = field.max_torque()
    steps = 0
    while torque >= TORQUE_TOL and steps < max_steps:
        stepper.step(dt)
        steps += 1
        energies.append(prob.energy())
        torque = field.max_torque()
    field.destroy()
    stepper.destroy()
    return {"steps": steps, "torque": torque, "energies": np.asarray(energies)}


def wall_measures(prob: LLGProblem, q: float, half_length: float) -> dict:
    """Width from ``int sin th = pi delta`` (lumped) and from the centre slope, wall energy."""
    comm = prob.comm
    n = prob.num_owned_nodes
    x = prob.V.tabulate_dof_coordinates()[:n, 0]
    m = prob.owned_values()
    w = prob.mass.array[: 3 * n : 3]
    sin_th = np.sqrt(np.clip(1.0 - m[:, 2] ** 2, 0.0, None))
    integral = comm.allreduce(float(w @ sin_th), op=MPI.SUM)
    xs = np.concatenate(comm.allgather(x))
    ms = np.concatenate(comm.allgather(m))
    order = np.argsort(xs)
    xs, ms = xs[order], ms[order]
    th = np.arccos(np.clip(ms[:, 2], -1.0, 1.0))
    c = int(np.argmin(np.abs(xs)))
    slope = (th[c + 1] - th[c - 1]) / (xs[c + 1] - xs[c - 1])  # central difference, O(h^2)
    return {
        "delta_int": integral / math.pi,
        "delta_slope": 1.0 / slope,
        # the uniform state has E = -q/2 |Omega| = -q L
        "wall_energy": prob.energy() + q * half_length,
        "x_centre": xs[c],
        "m_centre": ms[c],
        "max_my": float(np.max(np.abs(ms[:, 1]))),
    }


def rates(errors) -> np.ndarray:
    e = np.abs(np.asarray(errors))
    return np.log2(e[:-1] / e[1:])


def test_bloch_wall_width_converges_second_order():
    half = 20.0 * DELTA
    rows, results = [], []
    for n in CELLS:
        prob = wall_problem(MPI.COMM_WORLD, n, A_EX, Q, half)
        out = relax(prob, "tangent_plane", dt=2.0)
        assert out["torque"] < TORQUE_TOL, out["torque"]
        # damping, no time-dependent input: the energy never increases (round-off allowed)
        e = out["energies"]
        assert np.all(np.diff(e) <= 1e-13 * abs(e[0])), np.max(np.diff(e))
        assert e[-1] < e[0]
        res = wall_measures(prob, Q, half)
        # symmetric setup: the wall stays centred at the node x = 0, with m(0) = e_x
        assert res["x_centre"] == pytest.approx(0.0, abs=1e-12)
        assert np.allclose(res["m_centre"], [1.0, 0.0, 0.0], atol=1e-10)
        assert res["max_my"] < 1e-8  # the relaxed wall is planar (a Bloch wall in 1D)
        results.append(res)
        rows.append(
            f"n = {n:3d}  h/delta = {2 * half / n / DELTA:.2f}  relax steps {out['steps']:3d}  "
            f"torque {out['torque']:.1e}  delta_int - delta {res['delta_int'] - DELTA:+.3e}  "
            f"delta_slope - delta {res['delta_slope'] - DELTA:+.3e}  "
            f"E_wall - 2 sqrt(aq) {res['wall_energy'] - 2 * math.sqrt(A_EX * Q):+.3e}"
        )
    r_int = rates([r["delta_int"] - DELTA for r in results])
    r_slope = rates([r["delta_slope"] - DELTA for r in results])
    r_energy = rates([r["wall_energy"] - 2 * math.sqrt(A_EX * Q) for r in results])
    rows.append(
        f"rates: delta_int {np.round(r_int, 3).tolist()}  delta_slope "
        f"{np.round(r_slope, 3).tolist()}  E_wall {np.round(r_energy, 3).tolist()}"
    )
    print(f"\nBloch wall a = {A_EX}, q = {Q}, delta = sqrt(a/q) = {DELTA}, L = {half}")
    for row in rows:
        print("  " + row)
    for r in (r_int, r_slope, r_energy):
        assert abs(r[-1] - 2.0) < 0.25, (r_int, r_slope, r_energy)
    finest = results[-1]
    assert finest["delta_int"] == pytest.approx(DELTA, rel=2e-3)
    assert finest["delta_slope"] == pytest.approx(DELTA, rel=2e-3)
    assert finest["wall_energy"] == pytest.approx(2 * math.sqrt(A_EX * Q), rel=2e-3)


def test_midpoint_relaxes_to_the_same_discrete_wall():
    """The discrete equilibrium does not depend on the integrator; the midpoint rule
    (alpha = 1) decreases the energy monotonically on the way."""
    half = 20.0 * DELTA
    states = []
    for scheme, dt in (("tangent_plane", 2.0), ("midpoint", 0.5)):
        prob = wall_problem(MPI.COMM_WORLD, CELLS[0], A_EX, Q, half)
        out = relax(prob, scheme, dt=dt)
        assert out["torque"] < TORQUE_TOL
        e = out["energies"]
        assert np.all(np.diff(e) <= 1e-13 * abs(e[0])), np.max(np.diff(e))
        states.append(prob.m.x.array.copy())
        print(f"\n{scheme}: {out['steps']} steps of {dt} to torque {out['torque']:.1e}")
    # torque 1e-9 / spectral gap q = 0.5: states agree to ~1e-8
    assert np.max(np.abs(states[0] - states[1])) < 1e-7


def test_bloch_wall_si_units():
    """Cobalt-like SI parameters through Units: the width sqrt(A/K) in metres and the
    wall energy 4 sqrt(A K) in J/m^2."""
    A_si, K_si = 3.0e-11, 4.5e5  # sqrt(A/K) = 8.165 nm, 4 sqrt(AK) = 1.470e-2 J/m^2
    units = Units.from_si(Ms=1.4e6, A=A_si, K=K_si, alpha=1.0)
    a, q = units.exchange_coefficient, units.anisotropy_coefficient
    half = float(units.length_from_si(160e-9))  # [-160 nm, 160 nm]: ~20 widths
    prob = wall_problem(MPI.COMM_WORLD, 400, a, q, half)  # h = 0.8 nm
    out = relax(prob, "tangent_plane", dt=2.0 / q)
    assert out["torque"] < TORQUE_TOL
    res = wall_measures(prob, q, half)
    width_si = units.length_to_si(res["delta_int"])
    energy_si = units.energy_to_si(res["wall_energy"], dim=1)
    print(
        f"\nSI wall: l_ex = {units.exchange_length:.4e} m, a = {a:.4g}, q = {q:.4g}; "
        f"width {width_si:.6e} m vs sqrt(A/K) = {math.sqrt(A_si / K_si):.6e} m; "
        f"energy {energy_si:.6e} J/m^2 vs 4 sqrt(AK) = {4 * math.sqrt(A_si * K_si):.6e}"
    )
    assert width_si == pytest.approx(math.sqrt(A_si / K_si), rel=2e-3)
    assert energy_si == pytest.approx(4 * math.sqrt(A_si * K_si), rel=2e-3)


def _measures(comm) -> np.ndarray:
    prob = wall_problem(comm, CELLS[0], A_EX, Q, 20.0 * DELTA)
    assert relax(prob, "tangent_plane", dt=2.0)["torque"] < TORQUE_TOL
    res = wall_measures(prob, Q, 20.0 * DELTA)
    return np.array([res["delta_int"], res["delta_slope"], res["wall_energy"]])


@pytest.mark.mpi
def test_bloch_wall_parallel_equals_serial():
    par, ser = _measures(MPI.COMM_WORLD), _measures(MPI.COMM_SELF)
    assert np.allclose(par, ser, rtol=1e-9, atol=0.0), (par, ser)
