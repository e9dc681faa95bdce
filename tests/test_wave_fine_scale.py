"""The fine-scale wave equation (13): GLL spectral elements, explicit leapfrog of order 2/4.

Independent truths:

* a homogeneous standing wave cos(k.x) cos(sqrt(a) |k| t) on a periodic box: L2 error of
  order p + 1 in space;
* a manufactured solution u = cos(t) sin(pi x) with an oscillating a(x/eps), Dirichlet
  boundary and the source it needs: measured orders p + 1 in space, 2 (leapfrog) and 4
  (modified equation) in time;
* the discrete energy each scheme conserves stays constant to round-off over thousands of
  steps (f = 0, oscillating a);
* the stability limit tau^2 lambda_max <= 4 (leapfrog), 12 (order 4) with lambda_max from
  SLEPc: just below it the solution stays bounded, just above it blows up;
* 1 rank vs 2 ranks (``mpi``).
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

from femhomog.coefficients import CellCoefficient
from femhomog.meshes import periodic_box_mesh
from femhomog.wave import FineScaleWave, LeapfrogStepper, WaveSource


def l2_error(wave: FineScaleWave, x_vec, exact) -> float:
    u = wave.to_function(x_vec)
    form = dolfinx.fem.form((u - exact) ** 2 * ufl.dx(metadata={"quadrature_degree": 14}))
    return math.sqrt(wave.comm.allreduce(dolfinx.fem.assemble_scalar(form), op=MPI.SUM))


def rates(errors):
    return [math.log2(errors[i] / errors[i + 1]) for i in range(len(errors) - 1)]


# ------------------------------------------------------------------ standing wave
@pytest.mark.parametrize("dim,cell_type,degree,cells", [
    (1, "interval", 3, (4, 8, 16)),
    (2, "quadrilateral", 2, (4, 8, 16)),
])
def test_standing_wave_space_order(dim, cell_type, degree, cells):
    a, T = 1.5, 0.5
    k = np.array([1.0, 2.0][:dim])
    omega = math.sqrt(a) * float(np.linalg.norm(k))
    errors = []
    for n in cells:
        mesh = periodic_box_mesh(MPI.COMM_WORLD, dim, cell_type, n, lengths=2 * math.pi)
        wave = FineScaleWave(mesh, a, 1.0, degree=degree, boundary="periodic")
        # a step far below the space error: order 4 in time with tau = T/200
        st = LeapfrogStepper(wave, lambda x: np.cos(k @ x[:dim]), tau=T / 200,
                             scheme="leapfrog4")
        st.advance(T)
        x = ufl.SpatialCoordinate(mesh)
        exact = ufl.cos(sum(float(k[i]) * x[i] for i in range(dim))) * math.cos(omega * T)
        errors.append(l2_error(wave, st.u, exact))
        st.destroy()
        wave.destroy()
    observed = rates(errors)
    assert min(observed) > degree + 1 - 0.3, (errors, observed)


# ------------------------------------------------------------------ manufactured, oscillating a
EPS = 0.25
SPEC = "1 + 0.5*sin(2*pi*y[0])"


def manufactured_problem(n: int, degree: int, comm=MPI.COMM_WORLD):
    """u = cos(t) sin(pi x) on (0, 1), u = 0 at both ends, a = 1 + 0.5 sin(2 pi x/eps):
    f = cos(t) (-sin(pi x) - (a (sin(pi x))')')."""
    mesh = periodic_box_mesh(comm, 1, "interval", n)
    x = ufl.SpatialCoordinate(mesh)
    w = ufl.sin(ufl.pi * x[0])
    a = 1 + 0.5 * ufl.sin(2 * ufl.pi * x[0] / EPS)
    f_space = -w - ufl.div(a * ufl.grad(w))
    wave = FineScaleWave(mesh, CellCoefficient.from_expression(SPEC, 1), EPS, degree=degree,
                         boundary="dirichlet", sources=[WaveSource(f_space, math.cos)])
    return wave, w


def test_manufactured_space_order_oscillating_coefficient():
    T, degree = 1.0, 3
    errors = []
    for n in (8, 16, 32):
        wave, w = manufactured_problem(n, degree)
        st = LeapfrogStepper(wave, lambda x: np.sin(np.pi * x[0]), tau=T / 400,
                             scheme="leapfrog4")
        st.advance(T)
        errors.append(l2_error(wave, st.u, w * math.cos(T)))
    observed = rates(errors)
    assert min(observed) > degree + 1 - 0.3, (errors, observed)


def mass_norm(wave: FineScaleWave, d) -> float:
    md = d.copy()
    md.pointwiseMult(md, wave.mass)
    return math.sqrt(d.dot(md))


@pytest.mark.parametrize("scheme,order", [("leapfrog", 2), ("leapfrog4", 4)])
def test_manufactured_time_order(scheme, order):
    """Convergence in time of the space-discrete problem (oscillating a, source, Dirichlet):
    the steps must respect the stability limit, so the errors are measured against the same
    space discretization run with 64x smaller steps (time error ~64^-order times smaller),
    in the discrete L2 (lumped mass) norm."""
    T = 1.0
    wave, w = manufactured_problem(6, 2)
    limit = wave.stable_step("leapfrog", safety=0.8)  # the smaller of the two limits
    base = LeapfrogStepper.fit_step(T, limit)

    def solve(tau):
        st = LeapfrogStepper(wave, lambda x: np.sin(np.pi * x[0]), tau=tau, scheme=scheme)
        st.advance(T)
        return st.u.copy()

    reference = solve(base / 64)
    errors = []
    for j in range(3):
        d = solve(base / 2**j)
        d.axpy(-1.0, reference)
        errors.append(mass_norm(wave, d))
    observed = rates(errors)
    assert min(observed) > order - 0.25, (errors, observed)
    # and the space-time solution approximates u at T (space error of P2 on 6 cells)
    assert l2_error(wave, reference, w * math.cos(T)) < 1e-3


# ------------------------------------------------------------------ energy and stability
def oscillating_2d(comm=MPI.COMM_WORLD, n=12):
    mesh = periodic_box_mesh(comm, 2, "quadrilateral", n, lengths=1.0)
    coef = CellCoefficient.from_expression("1 + 0.5*sin(2*pi*y[0])*cos(2*pi*y[1])", 2)
    return FineScaleWave(mesh, coef, 0.5, degree=3, boundary="periodic")


def bump(x):
    return np.exp(-40 * ((x[0] - 0.5) ** 2 + (x[1] - 0.4) ** 2))


@pytest.mark.parametrize("scheme", ["leapfrog", "leapfrog4"])
def test_discrete_energy_conserved(scheme):
    wave = oscillating_2d()
    st = LeapfrogStepper(wave, bump, scheme=scheme)  # the default stable step
    st.step()
    e1 = st.energy()
    energies = []
    for _ in range(10):
        st.advance(200 * st.tau)
        energies.append(st.energy())
    drift = max(abs(e - e1) for e in energies)
    # round-off only: 2000 steps of O(1e-16) relative errors each
    assert drift < 1e-11 * e1
    # the conserved quantity is the scheme's: the plain energy at integer steps differs by
    # O(tau^2), so this test can tell a conserving scheme from a merely stable one
    v = st.velocity()
    assert abs(wave.energy(st.u, v) - e1) > 1e3 * drift


@pytest.mark.parametrize("scheme", ["leapfrog", "leapfrog4"])
def test_stability_limit_from_slepc(scheme):
    wave = oscillating_2d(n=8)
    rng = np.random.default_rng(1)

    def rough(x):  # all modes present, the highest ones too
        return rng.standard_normal(x.shape[1])

    limit = wave.stable_step(scheme, safety=1.0)
    stable = LeapfrogStepper(wave, rough, tau=0.97 * limit, scheme=scheme)
    u0 = stable.u.norm()
    stable.advance(300 * stable.tau)
    assert stable.u.norm() < 20 * u0
    unstable = LeapfrogStepper(wave, rough, tau=1.05 * limit, scheme=scheme)
    try:
        unstable.advance(300 * unstable.tau)
        grown = unstable.u.norm() > 1e6 * u0
    except SolverError:
        grown = True
    assert grown


# ------------------------------------------------------------------ parallel
@pytest.mark.mpi
def test_parallel_equals_serial():
    results = []
    tau = None
    for comm in (MPI.COMM_WORLD, MPI.COMM_SELF):
        wave = oscillating_2d(comm, n=10)
        # one step size for both (the SLEPc estimate agrees only to its tolerance)
        tau = tau or wave.stable_step("leapfrog4") / 2
        st = LeapfrogStepper(wave, bump, tau=tau, scheme="leapfrog4")
        st.advance(50 * st.tau)
        results.append((st.energy(), st.u.norm(), wave.num_dofs, wave.max_eigenvalue()))
    (e_w, n_w, d_w, l_w), (e_s, n_s, d_s, l_s) = results
    assert d_w == d_s
    assert l_w == pytest.approx(l_s, rel=1e-5)  # SLEPc tolerance 1e-6
    assert e_w == pytest.approx(e_s, rel=1e-12)
    assert n_w == pytest.approx(n_s, rel=1e-12)


# ------------------------------------------------------------------ errors
def test_bad_input():
    tri = periodic_box_mesh(MPI.COMM_WORLD, 2, "triangle", 4)
    with pytest.raises(ConfigError, match="GLL"):
        FineScaleWave(tri, 1.0, 1.0)
    quad = periodic_box_mesh(MPI.COMM_WORLD, 2, "quadrilateral", 4)
    with pytest.raises(ConfigError, match="boundary must be one of"):
        FineScaleWave(quad, 1.0, 1.0, boundary="robin")
    wave = FineScaleWave(quad, 1.0, 1.0, degree=2)
    with pytest.raises(ConfigError, match="scheme must be one of"):
        LeapfrogStepper(wave, 0.0, scheme="rk4")
    st = LeapfrogStepper(wave, 0.0, tau=0.01)
    with pytest.raises(ConfigError, match="whole number of steps"):
        st.advance(0.015)
    with pytest.raises(ConfigError, match="NaN or inf"):
        LeapfrogStepper(wave, lambda x: np.full(x.shape[1], np.inf))
    assert LeapfrogStepper.fit_step(1.0, 0.3) == pytest.approx(0.25)


# ------------------------------------------------------------------ Chebyshev propagation
def test_chebyshev_is_exact_in_time():
    """The series propagator equals the exact semi-discrete evolution: it matches the
    order-4 leapfrog as tau -> 0 (difference O(tau^4)) and the standing wave up to the
    space error, and conserves the energy to round-off over many intervals."""
    from femhomog.wave import ChebyshevPropagator

    wave = oscillating_2d(n=8)
    prop = ChebyshevPropagator(wave, bump, interval=0.25)
    e0 = prop.energy()
    prop.advance(1.0)
    diffs = []
    for steps in (400, 800):
        st = LeapfrogStepper(wave, bump, tau=1.0 / steps, scheme="leapfrog4")
        st.advance(1.0)
        d = st.u.copy()
        d.axpy(-1.0, prop.u)
        diffs.append(mass_norm(wave, d) / mass_norm(wave, prop.u))
    # the leapfrog's error against the exact evolution falls by 2^4 per halving
    assert diffs[0] / diffs[1] > 2**4 * 0.8, diffs
    for _ in range(20):
        prop.advance(0.5)
    assert abs(prop.energy() - e0) < 1e-11 * e0
    assert prop.matmults > 0


def test_chebyshev_standing_wave_and_errors():
    from femhomog.wave import ChebyshevPropagator

    mesh = periodic_box_mesh(MPI.COMM_WORLD, 1, "interval", 16, lengths=2 * math.pi)
    wave = FineScaleWave(mesh, 2.0, 1.0, degree=6)
    k, T = 3.0, 10.0
    prop = ChebyshevPropagator(wave, lambda x: np.cos(k * x[0]), interval=0.5)
    prop.advance(T)
    x = ufl.SpatialCoordinate(mesh)
    exact = ufl.cos(k * x[0]) * math.cos(math.sqrt(2.0) * k * T)
    # the P6 space error of this mesh (4e-9 measured); no time error at all
    assert l2_error(wave, prop.u, exact) < 1e-8
    with pytest.raises(ConfigError, match="whole multiple"):
        prop.advance(0.7)
    src = FineScaleWave(mesh, 2.0, 1.0, degree=2,
                        sources=[WaveSource(ufl.sin(x[0]))])
    with pytest.raises(ConfigError, match="f = 0 only"):
        ChebyshevPropagator(src, 0.0, interval=1.0)


@pytest.mark.mpi
def test_chebyshev_parallel_equals_serial():
    from femhomog.wave import ChebyshevPropagator

    results = []
    lam = None
    for comm in (MPI.COMM_WORLD, MPI.COMM_SELF):
        wave = oscillating_2d(comm, n=10)
        # one expansion interval for both (SLEPc agrees only to its tolerance)
        lam = lam or wave.max_eigenvalue()
        wave._lambda_max = lam
        prop = ChebyshevPropagator(wave, bump, interval=0.2)
        prop.advance(1.0)
        results.append((prop.energy(), prop.u.norm()))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-12)
    assert results[0][1] == pytest.approx(results[1][1], rel=1e-12)
