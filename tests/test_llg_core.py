"""Landau-Lifshitz core: scaling, field terms, tangent-plane and midpoint integrators.

Independent truths used here:

* macrospin (uniform m, Zeeman field h e_z, LL form (3.1a)): the polar angle obeys
  theta' = -alpha h sin(theta), i.e. tan(theta/2) = tan(theta0/2) exp(-alpha h t), and
  the azimuth phi = phi0 + h t (the damping term lies in the meridian plane);
* linear spin waves about m = e_z with exchange only, alpha = 0: u + i w of the
  transverse part obeys d/dt (u + i w) = i (k . A k)(u + i w) for a mode cos(k . x),
  so omega = a |k|^2 (scalar a) or k . A^H k (3.2);
* damped LLG without time-dependent input dissipates energy; |m| = 1 is preserved;
* muMAG standard problem 4 numbers for the SI scaling.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from femhomog import (
    ConfigError,
    SolverError,
    _fenicsx,  # noqa: F401
)

# isort: split
import dolfinx
import ufl
from mpi4py import MPI

from femhomog.meshes import periodic_box_mesh
from femhomog.micromag import Units, gilbert_to_landau_lifshitz, landau_lifshitz_to_gilbert
from femhomog.micromag.midpoint import MidpointIntegrator
from femhomog.micromag.problem import LLGProblem, tangent_basis
from femhomog.micromag.tangent_plane import TangentPlaneIntegrator
from femhomog.micromag.terms import (
    Exchange,
    ExtraField,
    UniaxialAnisotropy,
    Zeeman,
    tensor_gauss_metadata,
)

TH0, H, ALPHA = 1.0, 2.0, 0.3


def macrospin_exact(t: float, theta0: float = TH0, h: float = H, alpha: float = ALPHA):
    """Exact uniform solution of (3.1a) with H = h e_z (LL-form, nondimensional)."""
    th = 2.0 * math.atan(math.tan(theta0 / 2.0) * math.exp(-alpha * h * t))
    ph = h * t
    return np.array([math.sin(th) * math.cos(ph), math.sin(th) * math.sin(ph), math.cos(th)])


def smooth_state(x):
    """A non-uniform, periodic unit field on the unit box."""
    v = np.vstack(
        [
            np.cos(2 * np.pi * x[0]) + 0.3,
            np.sin(2 * np.pi * x[1]) * np.cos(2 * np.pi * x[0]),
            0.5 + np.sin(2 * np.pi * (x[0] + x[1])),
        ]
    )
    return v / np.linalg.norm(v, axis=0)


def macrospin_problem(comm=MPI.COMM_WORLD, periodic=True):
    mesh = periodic_box_mesh(comm, 1, "interval", 2)
    m0 = (math.sin(TH0), 0.0, math.cos(TH0))
    # exchange is inactive on a uniform state but exercises the implicit path
    return LLGProblem(mesh, [Exchange(1.0), Zeeman((0.0, 0.0, H))], ALPHA, periodic=periodic, m0=m0)


def run_fixed(integrator, t_end: float, n: int, check_norm: bool = True) -> None:
    dt = t_end / n
    for _ in range(n):
        integrator.step(dt)
        if check_norm:
            assert integrator.problem.norm_deviation() < 1e-12


def measured_orders(errors):
    e = np.asarray(errors)
    return np.log2(e[:-1] / e[1:])


# ---------------------------------------------------------------------- units
def test_units_standard_problem_4():
    u = Units.from_si(Ms=8.0e5, A=1.3e-11, alpha=0.02, gamma=2.211e5)
    assert u.exchange_length == pytest.approx(5.686e-9, rel=1e-3)  # permalloy: 5.69 nm
    assert u.length == u.exchange_length and u.exchange_coefficient == pytest.approx(1.0)
    assert u.time_unit == pytest.approx((1 + 0.02**2) / (2.211e5 * 8.0e5))
    # field 1 of SP4: mu0 H = -24.6 mT along x -> h = B/(mu0 Ms)
    assert u.field_from_tesla(-24.6e-3) == pytest.approx(-24.6e-3 / (4e-7 * math.pi * 8e5))
    assert u.field_to_tesla(u.field_from_tesla(0.1)) == pytest.approx(0.1)
    assert u.time_from_si(u.time_to_si(3.5)) == pytest.approx(3.5)
    # the 500 nm length of SP4 in units of l_ex, and back
    assert u.length_to_si(u.length_from_si(500e-9)) == pytest.approx(500e-9)
    # energy density unit mu0 Ms^2: exchange density A|grad m|^2 = (a/2)|grad' m|^2 mu0 Ms^2 / L^2 ...
    v = Units.from_si(Ms=8.0e5, A=1.3e-11, alpha=0.0, K=5e4, length=1e-9)
    assert v.exchange_coefficient == pytest.approx((v.exchange_length / 1e-9) ** 2)
    assert v.anisotropy_coefficient == pytest.approx(2 * 5e4 / (4e-7 * math.pi * 8e5**2))
    assert v.energy_to_si(1.0, dim=3) == pytest.approx(4e-7 * math.pi * 8e5**2 * 1e-27)


def test_gilbert_landau_lifshitz_conversion():
    g, lam = gilbert_to_landau_lifshitz(2.211e5, 0.5)
    assert g == pytest.approx(2.211e5 / 1.25) and lam == pytest.approx(0.5 * 2.211e5 / 1.25)
    assert landau_lifshitz_to_gilbert(g, lam) == pytest.approx((2.211e5, 0.5))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"Ms": 0.0, "A": 1e-11, "alpha": 0.1}, "Ms"),
        ({"Ms": 8e5, "A": -1e-11, "alpha": 0.1}, "exchange stiffness"),
        ({"Ms": 8e5, "A": 1e-11, "alpha": -0.1}, "alpha"),
        ({"Ms": 8e5, "A": 1e-11, "alpha": 0.1, "length": 0.0}, "length"),
    ],
)
def test_units_bad_input(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        Units.from_si(**kwargs)


def test_tangent_basis_orthonormal_right_handed():
    rng = np.random.default_rng(1)
    m = rng.normal(size=(200, 3))
    m[:3] = np.eye(3)  # coordinate axes: the worst case of naive constructions
    m /= np.linalg.norm(m, axis=1)[:, None]
    t1, t2 = tangent_basis(m)
    for a, b in ((t1, m), (t2, m), (t1, t2)):
        assert np.max(np.abs(np.einsum("ij,ij->i", a, b))) < 1e-14
    assert np.allclose(np.linalg.norm(t1, axis=1), 1) and np.allclose(np.linalg.norm(t2, axis=1), 1)
    assert np.allclose(np.cross(t1, t2), m)


# ---------------------------------------------------------------------- macrospin orders
def test_tangent_plane_macrospin_first_order():
    errors = []
    for n in (10, 20, 40, 80):
        prob = macrospin_problem()
        run_fixed(TangentPlaneIntegrator(prob, theta=1.0), 1.0, n)
        assert prob.t == pytest.approx(1.0)
        errors.append(np.linalg.norm(prob.average() - macrospin_exact(1.0)))
    orders = measured_orders(errors)
    assert np.all(np.abs(orders - 1.0) < 0.05), (errors, orders)


def test_midpoint_macrospin_second_order():
    errors = []
    for n in (10, 20, 40, 80):
        prob = macrospin_problem()
        run_fixed(MidpointIntegrator(prob), 1.0, n)
        errors.append(np.linalg.norm(prob.average() - macrospin_exact(1.0)))
    orders = measured_orders(errors)
    assert np.all(np.abs(orders - 2.0) < 0.05), (errors, orders)


def test_midpoint_step_doubling_meets_tolerance():
    prob = macrospin_problem()
    mid = MidpointIntegrator(prob)
    dt, steps, rejected = 0.2, 0, 0
    while prob.t < 1.0 - 1e-14:
        info = mid.adaptive_step(min(dt, 1.0 - prob.t), tol=1e-6)
        assert info.error <= 1e-6
        assert prob.norm_deviation() < 1e-12
        dt, steps, rejected = info.dt_next, steps + 1, rejected + info.rejected
    err = np.linalg.norm(prob.average() - macrospin_exact(1.0))
    # ~steps local errors of <= tol each; the fixed-step run with 80 steps errs by ~7e-5
    assert err < steps * 1e-6
    assert 20 < steps < 200 and rejected >= 1  # the 0.2 trial step is too large


def adaptive_runs_with_and_without_guesses(comm) -> list[tuple]:
    """Step-doubling runs with and without the half-step Newton guesses."""
    out = []
    for guesses in (False, True):
        prob = energy_problem(comm, 0.1)
        mid = MidpointIntegrator(
            prob, solver="iterative", snes_atol=1e-11, half_step_guesses=guesses
        )
        dt, infos = 1e-4, []
        while prob.t < 0.02 - 1e-14:
            info = mid.adaptive_step(min(dt, 0.02 - prob.t), tol=1e-5)
            infos.append((info.dt, info.error, info.rejected))
            dt = info.dt_next
        out.append((np.array(infos), prob.m.x.array.copy(), mid.newton_iterations))
        mid.destroy()
    return out


def check_guesses_change_only_the_iterations(comm) -> None:
    """Where Newton starts must not change the answer beyond the Newton tolerance
    (1e-11 nodal, as in the LL demo): same step sequence, error estimates and final
    state, but fewer iterations."""
    (steps0, m0, its0), (steps1, m1, its1) = adaptive_runs_with_and_without_guesses(comm)
    assert steps0.shape == steps1.shape and len(steps0) > 10
    assert np.allclose(steps0, steps1, rtol=1e-5, atol=1e-10), steps1 - steps0
    assert np.max(np.abs(m0 - m1)) < 1e-9
    assert its1 < 0.9 * its0, (its0, its1)


def test_midpoint_half_step_guesses_change_only_the_iterations():
    check_guesses_change_only_the_iterations(MPI.COMM_WORLD)


@pytest.mark.mpi
def test_midpoint_half_step_guesses_change_only_the_iterations_parallel():
    check_guesses_change_only_the_iterations(MPI.COMM_WORLD)


def test_time_dependent_zeeman_macrospin(periodic_mesh):
    """h(t) = h e_z switched on at t = 0.5: before, m stays put (no field); after, exact."""
    mesh = periodic_mesh(1, "interval", 2)

    def h_of_t(t):
        return (0.0, 0.0, H if t >= 0.5 else 0.0)

    m0 = (math.sin(TH0), 0.0, math.cos(TH0))
    prob = LLGProblem(mesh, [Zeeman(h_of_t)], ALPHA, periodic=True, m0=m0)
    run_fixed(MidpointIntegrator(prob), 1.5, 60)
    assert np.linalg.norm(prob.average() - macrospin_exact(1.0)) < 2e-3


# ---------------------------------------------------------------------- energy, |m|
def energy_problem(comm, alpha, periodic=True, q=2.0, extra=()):
    mesh = periodic_box_mesh(comm, 2, "triangle", 8)
    terms = [
        Exchange("1 + 0.5*sin(2*pi*y[0])", eps=0.5),
        UniaxialAnisotropy(q, axis=(1.0, 1.0, 0.0)),
        *extra,
    ]
    return LLGProblem(mesh, terms, alpha, periodic=periodic, m0=smooth_state)


@pytest.mark.parametrize("q", [2.0, -2.0])
@pytest.mark.parametrize("periodic", [True, False])
def test_tangent_plane_energy_decreases(q, periodic):
    """theta = 1, large steps: energy never increases (exchange a(x/eps) + anisotropy)."""
    prob = energy_problem(MPI.COMM_WORLD, 0.2, periodic=periodic, q=q)
    tps = TangentPlaneIntegrator(prob, theta=1.0)
    energies = [prob.energy()]
    for _ in range(15):
        tps.step(0.05)
        assert prob.norm_deviation() < 1e-12
        energies.append(prob.energy())
    steps = np.diff(energies)
    assert np.all(steps <= 1e-12 * abs(energies[0])), steps
    assert energies[-1] < 0.2 * energies[0]  # it really relaxes


def test_midpoint_energy_conserved_without_damping_and_decays_with():
    prob = energy_problem(MPI.COMM_WORLD, 0.0)
    mid = MidpointIntegrator(prob)
    e0 = prob.energy()
    for _ in range(5):
        mid.step(0.002)
        assert prob.norm_deviation() < 1e-12
    assert prob.energy() == pytest.approx(e0, rel=1e-11)

    prob = energy_problem(MPI.COMM_WORLD, 0.5)
    mid = MidpointIntegrator(prob)
    energies = [prob.energy()]
    for _ in range(5):
        mid.step(0.002)
        energies.append(prob.energy())
    assert np.all(np.diff(energies) < 0)


def test_energies_of_terms():
    """Energies against closed forms: uniform m, exchange 0, anisotropy, Zeeman."""
    mesh = periodic_box_mesh(MPI.COMM_WORLD, 2, "quadrilateral", 3, lengths=(2.0, 1.0))
    c = 1 / math.sqrt(2)
    terms = [Exchange([[2.0, 0.3], [0.3, 1.0]]), UniaxialAnisotropy(0.7), Zeeman((0.0, 1.5, 0.5))]
    prob = LLGProblem(mesh, terms, 0.1, periodic=True, m0=(0.0, c, c))
    e = prob.energies()
    area = 2.0
    assert e["exchange"] == pytest.approx(0.0, abs=1e-14)
    assert e["anisotropy"] == pytest.approx(-0.5 * 0.7 * 0.5 * area)
    assert e["zeeman"] == pytest.approx(-(1.5 * c + 0.5 * c) * area)
    assert e["total"] == pytest.approx(e["anisotropy"] + e["zeeman"])
    # m = (cos kx, sin kx, 0): (grad m A) : grad m = A_11 k^2 -> E = 1/2 A_11 k^2 |Omega|,
    # up to the O(h^2) interpolation error of P1
    k = 2 * np.pi / 2.0
    fine = LLGProblem(
        periodic_box_mesh(MPI.COMM_WORLD, 2, "quadrilateral", 32, lengths=(2.0, 1.0)),
        [Exchange([[2.0, 0.3], [0.3, 1.0]])],
        0.1,
        periodic=True,
        m0=lambda x: np.vstack([np.cos(k * x[0]), np.sin(k * x[0]), 0 * x[0]]),
    )
    assert fine.energies()["exchange"] == pytest.approx(0.5 * 2.0 * k**2 * area, rel=1e-2)


def test_extra_field_hook(periodic_mesh):
    """A provider returning a constant field acts like Zeeman (energy factor 1)."""
    h = np.array([0.0, 0.0, H])

    def provider(t, m, out):
        out.x.array.reshape(-1, 3)[:] = h

    mesh = periodic_mesh(1, "interval", 2)
    m0 = (math.sin(TH0), 0.0, math.cos(TH0))
    prob = LLGProblem(mesh, [ExtraField(provider, energy_factor=1.0)], ALPHA, periodic=True, m0=m0)
    assert prob.energy() == pytest.approx(-H * math.cos(TH0))
    run_fixed(MidpointIntegrator(prob), 1.0, 40)
    assert np.linalg.norm(prob.average() - macrospin_exact(1.0)) < 5e-4


# ---------------------------------------------------------------------- spin waves
def spin_wave_problem(dim, exchange, kvec, n):
    """Small standing wave m ~ e_z + delta cos(k . x) e_x, exchange only, alpha = 0."""
    cell = "interval" if dim == 1 else "quadrilateral"
    mesh = periodic_box_mesh(MPI.COMM_WORLD, dim, cell, n)
    delta = 1e-3

    def m0(x):
        c = np.cos(kvec @ x[:dim])
        return np.vstack([delta * c, 0 * c, np.ones_like(c)])

    return LLGProblem(mesh, [exchange], 0.0, periodic=True, m0=m0, normalize=True)


def discrete_omega(prob, mid, kvec):
    """omega_h = (K c, c)/(M c, c) for the nodal mode c = cos(k . x): on a translation-
    invariant periodic grid c is an eigenvector of the stiffness and the lumped mass."""
    dim = len(kvec)
    x = prob.V.tabulate_dof_coordinates()[: prob.num_owned_nodes, :dim]
    cf = dolfinx.fem.Function(prob.V)
    cf.x.array[: 3 * len(x)].reshape(-1, 3)[:, 0] = np.cos(x @ kvec)
    cf.x.scatter_forward()
    R = prob.reduction
    c_r = R.restrict(cf)
    Kc = mid.K_r.createVecLeft()
    mid.K_r.mult(c_r, Kc)
    Mc = c_r.copy()
    Mc.pointwiseMult(R.reduce_vector(prob.mass), c_r)
    return Kc.dot(c_r) / Mc.dot(c_r)


def measured_omega(prob, mid, kvec, omega, periods=0.9, steps_per_period=200):
    """Run ~one period with the midpoint rule; omega from the phase of (u + i w, cos k.x)."""
    dim = len(kvec)
    t_end = periods * 2 * np.pi / omega
    nsteps = round(steps_per_period * periods)
    run_fixed(mid, t_end, nsteps, check_norm=False)
    assert prob.norm_deviation() < 1e-12
    x = prob.V.tabulate_dof_coordinates()[: prob.num_owned_nodes, :dim]
    vals = prob.owned_values()
    w = prob.mass.array[: vals.size].reshape(-1, 3)[:, 0] * np.cos(x @ kvec)
    U = prob.comm.allreduce(float(w @ vals[:, 0]))
    W = prob.comm.allreduce(float(w @ vals[:, 1]))
    # u + i w = delta cos(k.x) exp(i omega t): the phase is omega t (< 2 pi here)
    return (math.atan2(W, U) % (2 * np.pi)) / t_end, t_end / nsteps


@pytest.mark.parametrize(
    "dim,a,kvec",
    [
        (1, 1.3, [2 * np.pi]),  # omega = a |k|^2
        (2, [[1.5, 0.4], [0.4, 0.8]], [2 * np.pi, 2 * np.pi]),  # omega = k . A^H k (3.2)
    ],
)
def test_spin_wave_frequency(dim, a, kvec):
    """Linear spin waves, alpha = 0: the midpoint rule reproduces the discrete frequency
    to O(amplitude^2), and the discrete frequency converges to omega at O(h^2)."""
    kvec = np.asarray(kvec)
    omega = float(kvec @ np.atleast_2d(a) @ kvec) if dim > 1 else a * float(kvec @ kvec)
    n = {1: 32, 2: 16}[dim]
    prob = spin_wave_problem(dim, Exchange(a), kvec, n)
    mid = MidpointIntegrator(prob)
    omega_h = discrete_omega(prob, mid, kvec)
    meas, dt = measured_omega(prob, mid, kvec, omega)
    # the midpoint rule turns a linear oscillator by 2 atan(omega dt/2) per step
    assert meas == pytest.approx(2 * math.atan(omega_h * dt / 2) / dt, rel=1e-5)
    # spatial error O((k h)^2): halving h divides it by ~4
    fine = spin_wave_problem(dim, Exchange(a), kvec, 2 * n)
    omega_h2 = discrete_omega(fine, MidpointIntegrator(fine), kvec)
    e1, e2 = abs(omega_h - omega) / omega, abs(omega_h2 - omega) / omega
    assert e1 < 0.05 and 3.5 < e1 / e2 < 4.5, (e1, e2)


# ---------------------------------------------------------------------- bad input, failures
@pytest.mark.parametrize(
    "m0,match",
    [
        ((0.0, 0.0, 0.0), "vanishes"),
        ((0.0, 0.0, 2.0), r"\|m\| = 1 at every node"),
        (lambda x: np.vstack([x[0] - 0.5, 0 * x[0], 0 * x[0]]), "vanishes"),
        (lambda x: np.vstack([np.full_like(x[0], np.nan), 0 * x[0], 0 * x[0]]), "not finite"),
        ("up", "callable"),
    ],
)
def test_bad_initial_magnetization(m0, match, periodic_mesh):
    mesh = periodic_mesh(1, "interval", 4)
    with pytest.raises(ConfigError, match=match):
        LLGProblem(mesh, [Exchange(1.0)], 0.1, m0=m0)


def test_non_periodic_initial_data_rejected_on_periodic_box(periodic_mesh):
    mesh = periodic_mesh(1, "interval", 4)
    with pytest.raises(ConfigError, match="not periodic"):
        LLGProblem(
            mesh,
            [Exchange(1.0)],
            0.1,
            periodic=True,
            m0=lambda x: np.vstack([np.cos(x[0]), np.sin(x[0]), 0 * x[0]]),
        )


def test_normalize_option(periodic_mesh):
    mesh = periodic_mesh(1, "interval", 4)
    prob = LLGProblem(mesh, [Exchange(1.0)], 0.1, m0=(0.0, 3.0, 4.0), normalize=True)
    assert prob.norm_deviation() < 1e-15
    assert np.allclose(prob.average(), [0.0, 0.6, 0.8])


@pytest.mark.parametrize("alpha", [-0.1, float("nan"), "x"])
def test_bad_damping(alpha, periodic_mesh):
    mesh = periodic_mesh(1, "interval", 4)
    with pytest.raises(ConfigError, match="alpha"):
        LLGProblem(mesh, [Exchange(1.0)], alpha, m0=(0.0, 0.0, 1.0))


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: Exchange(-1.0), "positive"),
        (lambda: Exchange([[1.0, 2.0], [0.0, 1.0]]), "symmetric"),
        (lambda: Exchange([[1.0, 2.0], [2.0, 1.0]]), "positive"),
        (lambda: Exchange("1 + y[0]", eps=0.0), "eps"),
        (lambda: Exchange("1 + import(y)"), "coefficient"),
        (lambda: UniaxialAnisotropy(1.0, axis=(0, 0, 0)), "axis"),
        (lambda: Zeeman((1.0, 2.0)), "Zeeman"),
    ],
)
def test_bad_terms(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


@pytest.mark.parametrize("points", [(1, 2), (2, 1), (3, 2), (1, 1, 2)])
def test_tensor_gauss_rule_along_physical_axes(points):
    """n Gauss points along x_i integrate x_i^(2n-1) exactly; the midpoint rule
    (n = 1) misses int x_i^2 by exactly -h_i^2/12 per unit length."""
    comm = MPI.COMM_WORLD
    d = len(points)
    counts, lengths = (5, 3, 2)[:d], (1.0, 2.0, 0.5)[:d]
    cell = "quadrilateral" if d == 2 else "hexahedron"
    mesh = periodic_box_mesh(comm, d, cell, counts, lengths=lengths)
    dx = ufl.Measure("dx", domain=mesh, metadata=tensor_gauss_metadata(mesh, points))
    x = ufl.SpatialCoordinate(mesh)
    vol = float(np.prod(lengths))
    for i, n in enumerate(points):
        L, h = lengths[i], lengths[i] / counts[i]
        value = comm.allreduce(
            dolfinx.fem.assemble_scalar(dolfinx.fem.form(x[i] ** 2 * dx)), op=MPI.SUM
        )
        exact = vol * L**2 / 3 - (vol * h**2 / 12 if n == 1 else 0.0)
        assert value == pytest.approx(exact, rel=1e-13), (i, n)
        odd = comm.allreduce(
            dolfinx.fem.assemble_scalar(dolfinx.fem.form(x[i] ** (2 * n - 1) * dx)), op=MPI.SUM
        )
        assert odd == pytest.approx(vol * L ** (2 * n - 1) / (2 * n), rel=1e-13)


def test_tensor_gauss_rule_errors(periodic_mesh):
    tri = periodic_mesh(2, "triangle", 2)
    quad = periodic_mesh(2, "quadrilateral", 2)
    with pytest.raises(ConfigError, match="quadrilateral/hexahedral"):
        tensor_gauss_metadata(tri, (1, 2))
    with pytest.raises(ConfigError, match="one count per"):
        tensor_gauss_metadata(quad, (1, 2, 2))
    with pytest.raises(ConfigError, match="not both"):
        Exchange("1 + 0.5*sin(2*pi*y[0])", quadrature_degree=2, gauss_points=(1, 2))
    with pytest.raises(ConfigError, match="integers >= 1"):
        Exchange("1 + 0.5*sin(2*pi*y[0])", gauss_points=(0, 2))


def test_exchange_checked_on_mesh(periodic_mesh):
    mesh = periodic_mesh(1, "interval", 4)
    with pytest.raises(ConfigError, match="positive"):
        LLGProblem(mesh, [Exchange("0.5 + sin(2*pi*y[0])")], 0.1, m0=(0.0, 0.0, 1.0))
    with pytest.raises(ConfigError, match="y\\[1\\]"):
        LLGProblem(mesh, [Exchange("1 + 0.5*sin(y[1])")], 0.1, m0=(0.0, 0.0, 1.0))
    with pytest.raises(ConfigError, match="2 x 2"):
        LLGProblem(mesh, [Exchange([[1.0, 0.0], [0.0, 1.0]])], 0.1, m0=(0.0, 0.0, 1.0))


def test_bad_integrator_parameters():
    prob = macrospin_problem()
    with pytest.raises(ConfigError, match="theta"):
        TangentPlaneIntegrator(prob, theta=1.5)
    with pytest.raises(ConfigError, match="linear solver"):
        TangentPlaneIntegrator(prob, solver="cholesky")
    tps = TangentPlaneIntegrator(prob)
    for dt in (0.0, -1.0, float("inf")):
        with pytest.raises(ConfigError, match="time step"):
            tps.step(dt)
    with pytest.raises(ConfigError, match="tolerance"):
        MidpointIntegrator(prob).adaptive_step(0.1, tol=0.0)


def test_linear_solver_failure_reported():
    """GMRES limited to one iteration cannot reach rtol 1e-14: SolverError, after retries."""
    prob = energy_problem(MPI.COMM_WORLD, 0.2)
    tps = TangentPlaneIntegrator(prob, solver="iterative", rtol=1e-14, max_it=1, max_retries=2)
    m_before = prob.m.x.array.copy()
    with pytest.raises(SolverError, match=r"DIVERGED_(MAX_)?IT.*halving the step 2 times"):
        tps.step(0.05)
    assert np.array_equal(prob.m.x.array, m_before) and prob.t == 0.0  # state untouched


def test_newton_failure_reported():
    prob = energy_problem(MPI.COMM_WORLD, 0.2)
    mid = MidpointIntegrator(prob, snes_max_it=1, snes_rtol=1e-14, snes_atol=1e-30)
    with pytest.raises(SolverError, match="Newton solver DIVERGED"):
        mid.step(0.05)


def test_iterative_solver_matches_direct():
    results = []
    for solver in ("direct", "iterative"):
        prob = energy_problem(MPI.COMM_WORLD, 0.2)
        run_fixed(TangentPlaneIntegrator(prob, solver=solver), 0.1, 4)
        results.append(prob.average())
    assert np.allclose(results[0], results[1], atol=1e-8)


def midpoint_jacobian_fd_mismatch(comm, periodic: bool) -> list[float]:
    """Relative mismatch of the midpoint Jacobian's action J v against the central
    difference of the residual, for both ways of filling J (copy of N K + nodal
    blocks, and the two-axpy fallback).  The residual is quadratic-plus-cubic in x,
    so the central difference is exact up to O(delta^2) and rounding."""
    mesh = periodic_box_mesh(comm, 2, "quadrilateral", (6, 4))
    terms = [Exchange("1 + 0.5*sin(2*pi*y[0])", eps=0.5, gauss_points=(1, 2))]
    prob = LLGProblem(mesh, terms, 0.3, periodic=periodic, m0=smooth_state)
    integ = MidpointIntegrator(prob)
    assert integ._same_pattern  # Q1 stiffness: diagonal blocks lie in N K's pattern
    x = integ._current()
    integ._m_old.array[:] = x.array_r
    x.array[:] += 0.05 * np.sin(np.arange(x.getLocalSize()) + 100 * comm.rank)
    integ._dt, integ._t_mid = 0.01, 0.005
    v = x.duplicate()
    v.array[:] = np.cos(3.0 * np.arange(v.getLocalSize()) + comm.rank)
    fp, fm, Jv = x.duplicate(), x.duplicate(), x.duplicate()
    delta = 1e-5
    for sign, f in ((1.0, fp), (-1.0, fm)):
        xs = x.copy()
        xs.axpy(sign * delta, v)
        integ._residual(None, xs, f)
        xs.destroy()
    fd = (fp - fm) / (2 * delta)
    out = []
    for same in (True, False):
        integ._same_pattern = same
        integ._jacobian(None, x, integ._J, integ._J)
        integ._J.mult(v, Jv)
        out.append((Jv - fd).norm() / fd.norm())
    integ._same_pattern = True
    integ.destroy()
    return out


@pytest.mark.parametrize("periodic", [True, False])
def test_midpoint_jacobian_matches_finite_differences(periodic):
    mismatch = midpoint_jacobian_fd_mismatch(MPI.COMM_WORLD, periodic)
    assert max(mismatch) < 1e-8, mismatch


@pytest.mark.mpi
def test_midpoint_jacobian_matches_finite_differences_parallel():
    for periodic in (True, False):
        mismatch = midpoint_jacobian_fd_mismatch(MPI.COMM_WORLD, periodic)
        assert max(mismatch) < 1e-8, mismatch


# ---------------------------------------------------------------------- parallel
def averages_after_steps(comm):
    out = []
    for periodic in (True, False):
        prob = energy_problem(comm, 0.2, periodic=periodic, extra=[Zeeman((0.1, 0.0, 0.3))])
        run_fixed(TangentPlaneIntegrator(prob, theta=0.75), 0.1, 4)
        out.append(prob.average())
        out.append([prob.energy()])
    prob = energy_problem(comm, 0.1)
    run_fixed(MidpointIntegrator(prob), 0.01, 3)
    out.append(prob.average())
    return np.concatenate(out)


@pytest.mark.mpi
def test_parallel_equals_serial():
    """Same averages and energies on COMM_WORLD (distributed) and COMM_SELF."""
    par = averages_after_steps(MPI.COMM_WORLD)
    ser = averages_after_steps(MPI.COMM_SELF)
    assert np.allclose(par, ser, rtol=1e-10, atol=1e-12), par - ser


@pytest.mark.mpi
def test_bad_input_raises_on_every_rank(periodic_mesh):
    mesh = periodic_mesh(2, "triangle", 6)

    def vanishes_on_rank_local_point(x):
        # zero only at x = (0.5, 0.5): a node owned by one rank only
        r = np.hypot(x[0] - 0.5, x[1] - 0.5)
        return np.vstack([np.where(r < 1e-9, 0.0, 1.0), 0 * x[0], 0 * x[0]])

    with pytest.raises(ConfigError, match="vanishes"):
        LLGProblem(mesh, [Exchange(1.0)], 0.1, m0=vanishes_on_rank_local_point)


@pytest.mark.parametrize("periodic", [True, False])
def test_nodal_effective_field_and_torque(periodic, periodic_mesh):
    """H_h of a uniform state in a Zeeman field is h; torque |m x h| = h sin(theta)."""
    from femhomog.micromag.effective_field import NodalEffectiveField

    prob = macrospin_problem(periodic=periodic)
    field = NodalEffectiveField(prob)
    H_nodes = field.evaluate(field.current_nodes(), prob.t)
    np.testing.assert_allclose(H_nodes, np.tile([0.0, 0.0, H], (len(H_nodes), 1)), atol=1e-12)
    assert field.max_torque() == pytest.approx(H * math.sin(TH0), rel=1e-12)
    # a non-uniform state on a periodic 2D box: the exchange field of the
    # implicit matrix is -M^{-1} K m, orthogonal on average to constants
    mesh = periodic_mesh(2, "triangle", 8)
    prob2 = LLGProblem(mesh, [Exchange(1.0)], 0.1, periodic=periodic, m0=smooth_state)
    f2 = NodalEffectiveField(prob2)
    m_nodes = f2.current_nodes()
    H2 = f2.evaluate(m_nodes, 0.0)
    # E = 1/2 m.K m and dE/dm = K m = -M H: the lumped mass-weighted product is -2E
    local = float(np.sum(f2.mass_r.array.reshape(-1, 3) * H2 * m_nodes))
    assert MPI.COMM_WORLD.allreduce(local) == pytest.approx(-2 * prob2.energy(), rel=1e-10)
    field.destroy()
    f2.destroy()


@pytest.mark.mpi
@pytest.mark.parametrize("periodic", [True, False])
def test_tangent_plane_step_matrix_equals_assembled_form(periodic, periodic_mesh):
    """c K + blockdiag(M_i (alpha I + [m_i]_x)) is the matrix of the (TPS) bilinear form."""
    import dolfinx.fem.petsc

    mesh = periodic_mesh(2, "triangle", 6)
    terms = [Exchange("1 + 0.5*sin(2*pi*y[0])", eps=0.5), UniaxialAnisotropy(0.7, (0, 1, 1))]
    prob = LLGProblem(mesh, terms, 0.3, periodic=periodic, m0=smooth_state)
    tps = TangentPlaneIntegrator(prob, theta=0.7)
    tps._c_impl.value = (1 + 0.3**2) * 0.7 * 0.05
    tps._assemble_step_matrix(prob.m, prob.alpha)
    ref = dolfinx.fem.petsc.assemble_matrix(tps.a_form)
    ref.assemble()
    ref.axpy(-1.0, tps.A)
    assert ref.norm() < 1e-13 * tps.A.norm()
    ref.destroy()
    tps.destroy()
