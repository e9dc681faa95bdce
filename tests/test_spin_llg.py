"""Spin drift-diffusion coupled to LLG (femhomog.spin.coupled), Boltzmann-LLG paper Sect. 4.

Independent truths:

* uniform m and s, alpha = 0, no spin flip, no other field: the continuous system
  conserves |m|, |s| and q = s - (2/(c c_s tau_ex)) m (c = the precession factor:
  gamma for the LL form, gamma/(1 + alpha^2) for the Gilbert form), and m precesses
  about q at the rate c c_s |q|; this closed form is matched with the measured time
  orders (1 for the decoupled step and the tangent plane, 2 for midpoint + CN/BDF2
  iterated to the coupled solution), and midpoint + CN conserve q to round-off;
* the Gilbert form with gamma: a macrospin in a field h relaxes with the LL rates
  gamma/(1 + alpha^2) (precession) and alpha gamma/(1 + alpha^2) (damping);
* alpha > 0 without spin torque: the magnetic energy decreases;
* P1 in space: mesh refinement of the coupled problem with spin injection gives L2
  orders ~2 for m and s;
* a magnet inside a larger conductor: the precession rate of <s> is the magnet's
  volume fraction (not that of the elements touching it), m lives on the magnet's
  submesh and the torque sees s at the magnet's nodes;
* restart from a checkpoint reproduces the uninterrupted run; 1 vs 2 ranks (mpi).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from femhomog import (
    ConfigError,
    _fenicsx,  # noqa: F401
)

# isort: split
import dolfinx
import dolfinx.mesh
import ufl
from mpi4py import MPI

from femhomog.micromag import LLGProblem
from femhomog.micromag.midpoint import MidpointIntegrator
from femhomog.micromag.tangent_plane import TangentPlaneIntegrator
from femhomog.micromag.terms import Exchange, SpinTorque, Zeeman
from femhomog.simulation import Simulation
from femhomog.spin import SpinLLGIntegrator, SpinLLGProblem, SpinTransport, magnet_submesh
from femhomog.timestepping import Checkpointer, restore_checkpoint


def rotate(v, axis, angle):
    a = axis / np.linalg.norm(axis)
    return (v * np.cos(angle) + np.cross(a, v) * np.sin(angle)
            + a * np.dot(a, v) * (1 - np.cos(angle)))


def cell_tags_where(mesh, inside):
    """Tag 2 on the cells whose midpoint satisfies ``inside``, 1 elsewhere."""
    tdim = mesh.topology.dim
    n = mesh.topology.index_map(tdim).size_local + mesh.topology.index_map(tdim).num_ghosts
    mid = dolfinx.mesh.compute_midpoints(mesh, tdim, np.arange(n, dtype=np.int32))
    values = np.where(inside(mid.T), 2, 1).astype(np.int32)
    return dolfinx.mesh.meshtags(mesh, tdim, np.arange(n, dtype=np.int32), values)


def facet_tags_left(mesh, tag=1):
    fdim = mesh.topology.dim - 1
    facets = dolfinx.mesh.locate_entities_boundary(mesh, fdim, lambda x: np.isclose(x[0], 0.0))
    return dolfinx.mesh.meshtags(mesh, fdim, facets, np.full(len(facets), tag, dtype=np.int32))


def coupled(mesh, terms, alpha, m0, s0, *, cell_tags=None, magnet_tags=None, integrator="midpoint",
            scheme="crank_nicolson", iterate=True, mode="dynamic", gamma=1.0,
            equation="landau_lifshitz", **spin_kw):
    sub, parent = magnet_submesh(mesh, cell_tags, magnet_tags)
    llg = LLGProblem(sub, terms, alpha, m0=m0, gamma=gamma, equation=equation, normalize=True)
    spin = SpinTransport(mesh, cell_tags=cell_tags, magnet_tags=magnet_tags, scheme=scheme,
                         **spin_kw)
    spin.set_state(s0)
    P = SpinLLGProblem(llg, spin, parent, mode=mode)
    P.initialize()
    inner = (MidpointIntegrator(llg) if integrator == "midpoint"
             else TangentPlaneIntegrator(llg))
    return P, SpinLLGIntegrator(P, inner, iterate=iterate, tol=1e-12)


# ------------------------------------------------------------------ uniform closed form
M0, S0 = np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.6, 0.8])


def uniform_run(dt, T, *, cs=1.5, tau=0.8, gamma=1.3, **kw):
    mesh = dolfinx.mesh.create_unit_interval(MPI.COMM_SELF, 3)
    P, integ = coupled(mesh, [SpinTorque(cs)], 0.0, tuple(M0), tuple(S0), D=1.0,
                       tau_sf=math.inf, tau_ex=tau, gamma=gamma, **kw)
    for _ in range(round(T / dt)):
        integ.step(dt)
    m, s = P.llg.average(), P.spin_average()
    k = 2.0 / (gamma * cs * tau)
    q = S0 - k * M0
    m_exact = rotate(M0, q, gamma * cs * np.linalg.norm(q) * T)
    err = max(np.linalg.norm(m - m_exact), np.linalg.norm(s - (q + k * m_exact)))
    return err, m, s, np.linalg.norm(s - k * m - q)


@pytest.mark.parametrize(("kw", "order"), [
    ({"integrator": "tangent_plane", "scheme": "backward_euler", "iterate": False}, 1),
    ({"scheme": "crank_nicolson", "iterate": False}, 1),
    ({"scheme": "crank_nicolson", "iterate": True}, 2),
    ({"scheme": "bdf2", "iterate": True}, 2),
])
def test_uniform_coupled_closed_form_and_time_order(kw, order):
    errs = [uniform_run(dt, 0.5, **kw)[0] for dt in (0.05, 0.025, 0.0125)]
    rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(np.abs(rates - order) < 0.15), rates
    assert errs[-1] < (0.03 if order == 1 else 1e-3)


def test_uniform_coupled_conserved_quantities():
    # midpoint + CN iterated: |m|, |s|, q = s - k m and m.s are conserved to round-off
    _, m, s, q_drift = uniform_run(0.1, 2.0, scheme="crank_nicolson", iterate=True)
    assert abs(np.linalg.norm(m) - 1.0) < 1e-12
    assert abs(np.linalg.norm(s) - 1.0) < 1e-10
    assert q_drift < 1e-10
    k = 2.0 / (1.3 * 1.5 * 0.8)
    q = S0 - k * M0
    # |q|^2 = |s|^2 - 2 k m.s + k^2 |m|^2: m.s is conserved as well
    assert np.dot(m, s) == pytest.approx((1.0 + k * k - q @ q) / (2 * k), abs=1e-10)


def test_seed_sign_of_the_spin_precession():
    # m = e_z fixed (c_s = 0), s(0) = e_x: s_x + i s_y = exp(-2 i t/tau_ex), s_y < 0 first
    mesh = dolfinx.mesh.create_unit_interval(MPI.COMM_SELF, 2)
    P, integ = coupled(mesh, [SpinTorque(0.0)], 0.0, (0, 0, 1), (1, 0, 0), D=1.0,
                       tau_sf=2.0, tau_ex=1.0, iterate=False)
    for _ in range(200):
        integ.step(0.001)
    s = P.spin_average()
    assert s[:2] == pytest.approx(np.exp(-0.1) * np.array([np.cos(0.4), -np.sin(0.4)]), abs=1e-6)
    assert np.allclose(P.llg.average(), [0, 0, 1], atol=1e-14)


@pytest.mark.parametrize("equation", ["landau_lifshitz", "gilbert"])
def test_gilbert_and_landau_lifshitz_forms(equation):
    # macrospin in h e_z: polar angle tan(theta/2) = tan(theta0/2) exp(-c alpha h t), azimuth
    # c h t with c = gamma (LL) or gamma/(1 + alpha^2) (Gilbert)
    gamma, alpha, h, T = 2.0, 0.5, 1.5, 0.4
    mesh = dolfinx.mesh.create_unit_interval(MPI.COMM_SELF, 1)
    prob = LLGProblem(mesh, [Zeeman((0, 0, h))], alpha, m0=(1, 0, 0), gamma=gamma,
                      equation=equation)
    integ = MidpointIntegrator(prob)
    for _ in range(400):
        integ.step(T / 400)
    c = gamma if equation == "landau_lifshitz" else gamma / (1 + alpha**2)
    theta = 2 * np.arctan(np.exp(-c * alpha * h * T))
    phi = c * h * T
    exact = [np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)]
    assert np.allclose(prob.average(), exact, atol=1e-5)


# ------------------------------------------------------------------ energy
@pytest.mark.parametrize("integrator", ["tangent_plane", "midpoint"])
def test_energy_decreases_with_damping_and_no_spin(integrator):
    mesh = dolfinx.mesh.create_unit_square(MPI.COMM_WORLD, 6, 6)
    tags = cell_tags_where(mesh, lambda x: x[0] < 0.5 + 1e-9)
    m0 = lambda x: np.vstack([np.cos(3 * x[1]), np.sin(3 * x[1]), 0.3 + 0 * x[0]])
    P, integ = coupled(mesh, [Exchange(0.05), SpinTorque(0.0)], 0.5, m0, (0.3, 0.0, 0.0),
                       cell_tags=tags, magnet_tags=[2], integrator=integrator,
                       equation="gilbert", gamma=2.0, D=1.0, tau_ex=1.0, iterate=False)
    energies = [P.llg.energy()]
    for _ in range(10):
        integ.step(0.05)
        energies.append(P.llg.energy())
    assert np.all(np.diff(energies) <= 1e-13 * abs(energies[0]))
    assert energies[-1] < 0.8 * energies[0]


# ------------------------------------------------------------------ space
def slab(n):
    mesh = dolfinx.mesh.create_interval(MPI.COMM_SELF, n, [0.0, 1.0])
    m0 = lambda x: np.vstack([np.cos(2 * x[0]), np.sin(2 * x[0]), 0.5 + 0 * x[0]])
    s0 = lambda x: np.vstack([0 * x[0], x[0] * (1 - x[0]), np.exp(-2 * x[0])])
    # (compatible with the injected value: Crank-Nicolson does not smooth a jump)
    P, integ = coupled(mesh, [Exchange(0.2), SpinTorque(0.7)], 0.3, m0, s0,
                       facet_tags=facet_tags_left(mesh), dirichlet={1: [0.0, 0.0, 1.0]},
                       D=0.5, tau_sf=0.5, tau_ex=1.0, integrator="midpoint",
                       scheme="crank_nicolson", iterate=True, solver="direct")
    for _ in range(4):
        integ.step(0.05)
    return P


def test_p1_spatial_order_of_the_coupled_problem():
    # L2 distance to a fine reference (the coarse P1 functions are piecewise linear in x:
    # np.interp is their exact value at the reference nodes)
    ref = slab(256)

    def l2_error(u, u_ref):
        x = u.function_space.tabulate_dof_coordinates()[:, 0]
        V_ref = u_ref.function_space
        x_ref = V_ref.tabulate_dof_coordinates()[:, 0]
        order = np.argsort(x)
        vals = u.x.array.reshape(-1, 3)[order]
        w = dolfinx.fem.Function(V_ref)
        w.x.array.reshape(-1, 3)[:] = np.stack(
            [np.interp(x_ref, x[order], vals[:, i]) for i in range(3)], axis=1)
        w.x.array[:] -= u_ref.x.array
        return math.sqrt(dolfinx.fem.assemble_scalar(dolfinx.fem.form(ufl.inner(w, w) * ufl.dx)))

    errs_s, errs_m = [], []
    for n in (16, 32, 64):  # (m is pre-asymptotic at n = 8)
        P = slab(n)
        errs_s.append(l2_error(P.spin.s, ref.spin.s))
        errs_m.append(l2_error(P.llg.m, ref.llg.m))
    for errs in (errs_s, errs_m):
        rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
        assert np.all(rates > 1.8), (errs_s, errs_m)


# ------------------------------------------------------------------ magnet in a conductor
def test_precession_only_on_magnet_cells_with_m_on_the_submesh():
    n = 8
    mesh = dolfinx.mesh.create_unit_cube(MPI.COMM_WORLD, n, n, n)
    tags = cell_tags_where(mesh, lambda x: x[0] < 0.5)
    P, integ = coupled(mesh, [SpinTorque(1.0)], 0.0, (0, 0, 1), (1, 0, 0), cell_tags=tags,
                       magnet_tags=[2], D=0.1, tau_sf=math.inf, tau_ex=1.0,
                       scheme="backward_euler", iterate=False)
    assert P.llg.volume == pytest.approx(0.5, rel=1e-12)  # the LLG problem lives on M only
    dt = 1e-4
    integ.step(dt)
    rate = -P.spin_average()[1] / dt / 2.0
    assert rate == pytest.approx(0.5, rel=1e-3)  # the magnet's volume fraction
    # m smeared over the interface elements (no sharp indicator) would give 0.5 + 1/(2n)
    assert abs(rate - (0.5 + 0.5 / n)) > 0.02
    # the torque sees s at the magnet's nodes
    xm = P.llg.V.tabulate_dof_coordinates()
    xc = P.spin.V.tabulate_dof_coordinates()
    sc = {tuple(np.round(x, 12)): v for x, v in zip(xc, P.spin.s.x.array.reshape(-1, 3))}
    sm = P.s_magnet.x.array.reshape(-1, 3)
    assert all(np.array_equal(sm[i], sc[tuple(np.round(x, 12))]) for i, x in enumerate(xm))
    # and the conductor's m is m at the magnet's vertices, 0 elsewhere
    mc = P.m_conductor.x.array.reshape(-1, 3)
    xc1 = P.m_conductor.function_space.tabulate_dof_coordinates()
    inside = xc1[:, 0] <= 0.5 + 1e-12
    assert np.allclose(mc[inside], [0, 0, 1], atol=1e-3)  # m moved by dt c_s s
    assert np.all(mc[~inside] == 0.0)


# ------------------------------------------------------------------ restart and parallel
def two_region_run(comm, out=None, t_end=0.6, restart_from=None, checkpoint_every=0):
    mesh = dolfinx.mesh.create_unit_square(comm, 8, 8, diagonal=dolfinx.mesh.DiagonalType.right)
    tags = cell_tags_where(mesh, lambda x: (x[0] > 0.25) & (x[0] < 0.75) & (x[1] < 0.5))
    m0 = lambda x: np.vstack([np.cos(2 * x[1]), np.sin(2 * x[1]), 0.2 + x[0]])
    P, integ = coupled(mesh, [Exchange(0.1), SpinTorque(0.8)], 0.2, m0,
                       lambda x: np.vstack([0.1 + 0 * x[0], x[1], 0 * x[0]]), cell_tags=tags,
                       magnet_tags=[2], facet_tags=facet_tags_left(mesh),
                       dirichlet={1: [0.0, 0.0, 1.0]}, D=0.3, tau_sf=0.7, tau_ex=-0.5,
                       scheme="bdf2", iterate=False, integrator="tangent_plane", rtol=1e-12)
    ck = None
    if out is not None:
        ck = Checkpointer(out, P.checkpoint_state(), every=checkpoint_every)
    sim = Simulation(P, integ, checkpoint=ck)
    if restart_from is not None:
        meta = restore_checkpoint(restart_from, P.checkpoint_state())
        P.restored(meta["loop"]["dt"] if meta["loop"]["stats"]["steps"] else None)
        sim.resume(meta)
    sim.run(t_end, dt=0.05)
    return np.concatenate([P.llg.average(), P.spin_average(), [P.spin_rms(), P.llg.energy()]])


def test_restart_reproduces_the_uninterrupted_run(tmp_path):
    full = two_region_run(MPI.COMM_SELF)
    two_region_run(MPI.COMM_SELF, out=tmp_path, t_end=0.3, checkpoint_every=2)
    resumed = two_region_run(MPI.COMM_SELF, out=tmp_path, t_end=0.6, restart_from=tmp_path)
    assert np.allclose(resumed, full, rtol=1e-12, atol=1e-14)


@pytest.mark.mpi
def test_parallel_equals_serial():
    world = two_region_run(MPI.COMM_WORLD)
    serial = two_region_run(MPI.COMM_SELF)
    assert np.allclose(world, serial, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------ SI parameters
def test_si_decay_lengths_in_a_slab():
    # Zhang-Levy-Fert in SI, converted once: the quasi-static s of a slab with injection at
    # x = 0 and zero flux at x = l decays with 1/lambda^2 = 1/lambda_sf^2 (longitudinal) and
    # 1/lambda_sf^2 - i/lambda_J^2 (transverse, magnum.fe's sign), lengths given in metres
    from femhomog.micromag import Units
    from femhomog.spin.units import ZhangLevyFert

    zlf = ZhangLevyFert.from_lengths(D0=1e-3, lambda_sf=10e-9, lambda_J=4e-9)
    assert zlf.lambda_sf == pytest.approx(10e-9, rel=1e-14)
    assert zlf.lambda_J == pytest.approx(4e-9, rel=1e-14)
    units = Units.from_si(Ms=8e5, A=1.3e-11, alpha=0.0, length=1e-9)
    p = zlf.nondimensional(length=units.length, time=units.time_unit, Ms=units.Ms,
                           gamma=units.gamma)
    assert p.tau_ex < 0
    # the conserved combination of the undamped coupled system: s' + m
    assert 2.0 / (p.coupling * p.tau_ex) == pytest.approx(-1.0, rel=1e-12)
    assert p.anisotropy == 0.0 and zlf.reduces_to_seed  # beta = beta' = 0: the seed
    ell = 40e-9
    mesh = dolfinx.mesh.create_interval(MPI.COMM_SELF, 800, [0.0, ell / units.length])
    for injected, kappa2 in (([0.0, 0.0, 1.0], 1 / zlf.lambda_sf**2),
                             ([1.0, 0.0, 0.0], 1 / zlf.lambda_sf**2 - 1j / zlf.lambda_J**2)):
        spin = SpinTransport(mesh, facet_tags=facet_tags_left(mesh), dirichlet={1: injected},
                             D=p.D, tau_sf=p.tau_sf, tau_ex=p.tau_ex, solver="direct")
        spin.set_magnetization([0.0, 0.0, 1.0])
        spin.quasi_static()
        kappa = np.sqrt(kappa2)
        xs = spin.V.tabulate_dof_coordinates()[:, 0] * units.length
        exact = np.cosh(kappa * (ell - xs)) / np.cosh(kappa * ell)
        s = spin.s.x.array.reshape(-1, 3)
        got = s[:, 2] if injected[2] else s[:, 0] + 1j * s[:, 1]
        assert np.max(np.abs(got - exact)) < 1e-4


@pytest.mark.parametrize("along", [True, False])
def test_spin_anisotropic_diffusion_decay_lengths(along):
    # ZLF with beta beta' = 0.4: the flux -2 D0 [grad s - beta beta' m (x) ((grad s)^T m)]
    # leaves the components of s transverse to m alone and slows the diffusion of the one
    # along m to 2 D0 (1 - beta beta'): slab, injection at x = 0, zero flux at x = l,
    # quasi-static: 1/lambda^2 = 1/((1 - beta beta') lambda_sf^2) along m,
    # 1/lambda_sf^2 - i/lambda_J^2 transverse; m along the slab's normal or in its plane
    from femhomog.micromag import Units
    from femhomog.spin.units import ZhangLevyFert

    zlf = ZhangLevyFert.from_lengths(D0=1e-3, lambda_sf=10e-9, lambda_J=4e-9, beta=0.8,
                                     beta_prime=0.5)
    units = Units.from_si(Ms=8e5, A=1.3e-11, alpha=0.0, length=1e-9)
    p = zlf.nondimensional(length=units.length, time=units.time_unit, Ms=units.Ms,
                           gamma=units.gamma)
    assert p.anisotropy == pytest.approx(0.4, rel=1e-15) and not zlf.reduces_to_seed
    ell = 40e-9
    mesh = dolfinx.mesh.create_interval(MPI.COMM_SELF, 800, [0.0, ell / units.length])
    m = np.array([1.0, 0.0, 0.0]) if along else np.array([0.0, 0.0, 1.0])
    e_perp = np.array([0.0, 1.0, 0.0])  # (e_perp, m x e_perp) right-handed about m
    for injected, kappa2 in ((m, 1 / ((1 - 0.4) * zlf.lambda_sf**2)),
                             (e_perp, 1 / zlf.lambda_sf**2 - 1j / zlf.lambda_J**2)):
        spin = SpinTransport(mesh, facet_tags=facet_tags_left(mesh), dirichlet={1: injected},
                             D=p.D, tau_sf=p.tau_sf, tau_ex=p.tau_ex,
                             anisotropy=p.anisotropy, solver="direct")
        spin.set_magnetization(m)
        spin.quasi_static()
        kappa = np.sqrt(kappa2)
        xs = spin.V.tabulate_dof_coordinates()[:, 0] * units.length
        exact = np.cosh(kappa * (ell - xs)) / np.cosh(kappa * ell)
        s = spin.s.x.array.reshape(-1, 3)
        got = s @ m if injected is m else s @ e_perp + 1j * (s @ np.cross(m, e_perp))
        assert np.max(np.abs(got - exact)) < 1e-4, np.max(np.abs(got - exact))
    with pytest.raises(ConfigError, match="anisotropy"):
        SpinTransport(mesh, anisotropy=1.0)


# ------------------------------------------------------------------ Zhang-Li limit
def wall_spin(lambda_sf, lambda_J, n=4000, half=8.0):
    """Quasi-static s of a Neel wall (width 1) with the polarized current j = e_x: the
    ratio of the non-adiabatic to the adiabatic torque, and the distance to the local
    (Zhang-Li) solution relative to its size, over the wall."""
    mesh = dolfinx.mesh.create_interval(MPI.COMM_SELF, n, [-half, half])
    D = 1.0
    tau_sf, tau_ex = lambda_sf**2 / D, -2.0 * lambda_J**2 / D  # ZLF: tau_ex = -2 hbar/J
    spin = SpinTransport(mesh, D=D, tau_sf=tau_sf, tau_ex=tau_ex, current=[1.0],
                         solver="direct")

    def theta(x):
        return 2 * np.arctan(np.exp(x[0]))

    spin.set_magnetization(lambda x: np.vstack([np.sin(theta(x)), 0 * x[0],
                                                np.cos(theta(x))]))
    spin.quasi_static()
    x = spin.V.tabulate_dof_coordinates()[:, 0]
    th = theta(x[None, :])
    m = np.stack([np.sin(th), 0 * th, np.cos(th)], axis=1)
    g = (np.sin(th) / 1.0)[:, None] * np.stack([np.cos(th), 0 * th, -np.sin(th)], axis=1)
    s = spin.s.x.array.reshape(-1, 3)
    wall = np.abs(x) < 2.0
    a, b = 1 / tau_sf, 2 / tau_ex
    local = (-a * g + b * np.cross(m, g)) / (a * a + b * b)
    torque = -np.cross(m, s)
    gg = np.sum(g[wall] * g[wall])
    adiabatic = np.sum(torque[wall] * g[wall]) / gg
    non_adiabatic = np.sum(torque[wall] * np.cross(m, g)[wall]) / gg
    dist = np.max(np.abs(s[wall] - local[wall])) / np.max(np.abs(local[wall]))
    return -non_adiabatic / adiabatic, dist


def test_zhang_li_limit():
    # d_t m = -c c_s m x s -> -u dm/dx + xi u m x dm/dx with xi = lambda_J^2/lambda_sf^2
    # (DESIGN.md; Abert et al. 2015) as lambda_sf, lambda_J -> 0 against the wall width
    xi1, d1 = wall_spin(0.1, 0.06)
    xi2, d2 = wall_spin(0.05, 0.03)
    assert xi2 == pytest.approx(0.36, rel=0.005)
    assert abs(xi2 - 0.36) < abs(xi1 - 0.36) or abs(xi1 - 0.36) < 1e-3
    assert d2 < 0.01 and d2 < 0.5 * d1  # O(lambda^2) corrections
