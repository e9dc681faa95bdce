"""Spin and charge drift-diffusion (femhomog.spin.transport), Boltzmann-LLG paper (4.5)-(4.6).

Independent truths:

* uniform m = e_z, s(0) = e_x: s_x + i s_y = exp(-2 i t/tau_ex) exp(-t/tau_sf) (the seed's
  sign: s_y turns negative first); measured time orders 1 (backward Euler), 2 (CN, BDF2);
* 1D steady states on a slab with injection s(0) given and zero flux at x = L:
  longitudinal cosh profile with decay length sqrt(D tau_sf), transverse complex decay
  kappa = sqrt((1/tau_sf + 2i/tau_ex)/D), and with a drift phi = -E x the exponential
  solution of the Robin problem (the zero-flux condition with drift); P1 error O(h^2);
* rho: rho = C exp(-phi) is steady, the lumped mass is conserved to round-off, and a
  spike stays positive under strong drift;
* the precession acts on magnet cells only: the initial rate of <s_y> is the magnet's
  volume fraction, not the fraction of elements touching the magnet;
* 1 vs 2 ranks (``mpi``); bad input.
"""

from __future__ import annotations

import cmath
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

from femhomog.coefficients import CellCoefficient
from femhomog.meshes import periodic_box_mesh
from femhomog.spin import ChargeTransport, SpinTransport


def left_facet_tags(mesh, tag=1):
    fdim = mesh.topology.dim - 1
    facets = dolfinx.mesh.locate_entities_boundary(mesh, fdim, lambda x: np.isclose(x[0], 0.0))
    return dolfinx.mesh.meshtags(mesh, fdim, facets, np.full(len(facets), tag, dtype=np.int32))


def half_magnet_tags(mesh):
    """Cells with x < 1/2 get tag 2 (the magnet), the others tag 1."""
    tdim = mesh.topology.dim
    n = mesh.topology.index_map(tdim).size_local + mesh.topology.index_map(tdim).num_ghosts
    mid = dolfinx.mesh.compute_midpoints(mesh, tdim, np.arange(n, dtype=np.int32))
    values = np.where(mid[:, 0] < 0.5, 2, 1).astype(np.int32)
    return dolfinx.mesh.meshtags(mesh, tdim, np.arange(n, dtype=np.int32), values)


# ------------------------------------------------------------------ uniform precession
def precession(scheme: str, steps: int, T: float = 1.0):
    mesh = periodic_box_mesh(MPI.COMM_SELF, 3, "hexahedron", 1)
    spin = SpinTransport(mesh, scheme=scheme, solver="direct")
    spin.set_magnetization([0.0, 0.0, 1.0])
    spin.set_state([1.0, 0.0, 0.0])
    first_sy = None
    for _ in range(steps):
        spin.step(T / steps)
        if first_sy is None:
            first_sy = spin.average()[1]
    s = spin.average()
    exact = cmath.exp(-2j * T) * math.exp(-T)
    return abs(complex(s[0], s[1]) - exact), first_sy, s[2]


@pytest.mark.parametrize("scheme,order", [("backward_euler", 1), ("crank_nicolson", 2),
                                          ("bdf2", 2)])
def test_uniform_precession_closed_form_and_order(scheme, order):
    errors = []
    for steps in (40, 80, 160):
        err, first_sy, sz = precession(scheme, steps)
        errors.append(err)
        assert first_sy < 0  # the seed's sign: -(2/tau_ex) m x s turns s_y negative
        assert abs(sz) < 1e-12
    rates = [math.log2(errors[i] / errors[i + 1]) for i in range(2)]
    assert min(rates) > order - 0.15, (errors, rates)


# ------------------------------------------------------------------ 1D steady states
def slab(n, L=2.0):
    mesh = dolfinx.mesh.create_interval(MPI.COMM_WORLD, n, [0.0, L])
    return mesh, left_facet_tags(mesh)


def steady_error(n, injected, tau_sf, tau_ex, D, E=0.0, L=2.0, robin=True):
    """Quasi-static s on (0, L): s(0) = injected, zero total flux at L, m = e_z, phi = -E x."""
    mesh, facets = slab(n, L)
    x = ufl.SpatialCoordinate(mesh)
    spin = SpinTransport(mesh, facet_tags=facets, D=D, tau_sf=tau_sf, tau_ex=tau_ex,
                         potential=-E * x[0] if E else None, dirichlet={1: injected},
                         solver="direct")
    spin.set_magnetization([0.0, 0.0, 1.0])
    spin.quasi_static()
    # closed form of sigma'' - E sigma' - k^2 sigma = 0, sigma(0) = 1, sigma'(L) = E sigma(L)
    # (zero flux D (sigma' + phi' sigma) = 0 with phi' = -E)

    def profile(k2):
        r1 = (E + cmath.sqrt(E * E + 4 * k2)) / 2
        r2 = (E - cmath.sqrt(E * E + 4 * k2)) / 2
        # A + B = 1, A (r1 - e) e^{r1 L} + B (r2 - e) e^{r2 L} = 0 (e = E: zero total
        # flux; e = 0: the wrong condition sigma'(L) = 0 that drops the drift's flux)
        e = E if robin else 0.0
        c1, c2 = (r1 - e) * cmath.exp(r1 * L), (r2 - e) * cmath.exp(r2 * L)
        A = -c2 / (c1 - c2)
        return lambda xx: A * np.exp(r1 * xx) + (1 - A) * np.exp(r2 * xx)

    long_profile = profile(1.0 / (D * tau_sf))
    trans_profile = profile((1.0 / tau_sf + 2j / tau_ex) / D)
    xs = spin.V.tabulate_dof_coordinates()[:, 0]
    vals = spin.s.x.array.reshape(-1, 3)
    inj = np.asarray(injected, dtype=float)
    sigma0 = complex(inj[0], inj[1])
    exact_perp = sigma0 * trans_profile(xs)
    exact_z = inj[2] * long_profile(xs).real
    err = max(np.max(np.abs(vals[:, 0] + 1j * vals[:, 1] - exact_perp)),
              np.max(np.abs(vals[:, 2] - exact_z)))
    return mesh.comm.allreduce(err, op=MPI.MAX)


@pytest.mark.parametrize("E", [0.0, 1.5])
def test_slab_steady_states_decay_lengths(E):
    injected = [0.6, 0.0, 0.8]  # transverse and longitudinal parts at once
    errors = [steady_error(n, injected, tau_sf=0.5, tau_ex=0.8, D=0.7, E=E) for n in (20, 40, 80)]
    rates = [math.log2(errors[i] / errors[i + 1]) for i in range(2)]
    # nodal error of P1 in 1D: O(h^2) (superconvergent at the nodes for the pure
    # diffusion part; the reaction and drift keep it second order)
    assert min(rates) > 1.8, (errors, rates)
    assert errors[-1] < 1e-3


def test_zero_flux_with_drift_is_robin_not_neumann():
    """With drift the zero total flux is a Robin condition: the computed steady state
    matches that closed form, and differs from the one with sigma'(L) = 0 (the drift's
    boundary term dropped) by far more than the discretization error."""
    args = {"injected": [0.0, 0.0, 1.0], "tau_sf": 0.5, "tau_ex": 1.0, "D": 0.7, "E": 1.5}
    assert steady_error(80, **args) < 1e-3
    assert steady_error(80, **args, robin=False) > 2e-2


# ------------------------------------------------------------------ charge density
@pytest.mark.parametrize("cell_type", ["triangle", "quadrilateral"])
def test_rho_steady_state_mass_and_positivity(cell_type):
    mesh = periodic_box_mesh(MPI.COMM_WORLD, 2, cell_type, 16)
    x = ufl.SpatialCoordinate(mesh)
    phi = 3.0 * (x[0] + 0.5 * ufl.sin(2 * ufl.pi * x[1]))
    rho = ChargeTransport(mesh, D=0.5, potential=phi, solver="direct")

    def boltzmann(xx):
        return 2.0 * np.exp(-3.0 * (xx[0] + 0.5 * np.sin(2 * np.pi * xx[1])))

    rho.set_state(boltzmann)
    start = rho.rho.x.array.copy()
    for _ in range(5):
        rho.step(0.1)
    assert np.max(np.abs(rho.rho.x.array - start)) < 1e-10 * np.max(start)

    rho.set_state(lambda xx: np.exp(-200 * ((xx[0] - 0.7) ** 2 + (xx[1] - 0.5) ** 2)))
    mass0 = rho.mass()
    spread0 = mesh.comm.allreduce(np.ptp(rho.u.x.array), op=MPI.MAX)
    lowest = np.inf
    for _ in range(20):
        rho.step(0.01)
        lowest = min(lowest, mesh.comm.allreduce(rho.rho.x.array.min(), op=MPI.MIN))
        assert abs(rho.mass() - mass0) < 1e-12 * mass0
    if cell_type == "triangle":  # right triangles: non-obtuse, an M-matrix
        assert lowest > 0.0
    # towards C exp(-phi): the Slotboom variable rho exp(phi) flattens
    assert mesh.comm.allreduce(np.ptp(rho.u.x.array), op=MPI.MAX) < 0.5 * spread0


# ------------------------------------------------------------------ sharp magnet indicator
def test_precession_acts_on_magnet_cells_only():
    n = 8
    mesh = periodic_box_mesh(MPI.COMM_WORLD, 3, "hexahedron", n)
    tags = half_magnet_tags(mesh)
    spin = SpinTransport(mesh, cell_tags=tags, magnet_tags=[2], D=0.1, tau_sf=math.inf,
                         tau_ex=1.0, solver="direct")
    # m = e_z at the nodes of the magnet only (0 elsewhere): chi_M m is e_z on magnet cells
    spin.set_magnetization(lambda x: np.vstack([0 * x[0], 0 * x[0], (x[0] <= 0.5 + 1e-12)]))
    spin.set_state([1.0, 0.0, 0.0])
    dt = 1e-4
    spin.step(dt)
    rate = -spin.average()[1] / dt / 2.0  # d<s_y>/dt = -(2/tau_ex) |M|/|C| s_x
    assert rate == pytest.approx(0.5, rel=1e-3)
    # smearing m (no indicator) over the interface cells would give 0.5 + 1/(2n)
    assert abs(rate - (0.5 + 0.5 / n)) > 0.02


def test_pinned_layer_acts_as_a_magnet_with_fixed_m():
    """A pinned region with m = e_z (precession and polarized source) gives the s of the
    same region as the magnet with m = e_z; the magnet elsewhere with m = 0 adds nothing."""
    results = []
    for pinned in (False, True):
        mesh = dolfinx.mesh.create_unit_square(MPI.COMM_SELF, 8, 8)
        kw = ({"magnet_tags": [1], "pinned": {2: [0.0, 0.0, 2.0]}} if pinned
              else {"magnet_tags": [2]})
        spin = SpinTransport(mesh, cell_tags=half_magnet_tags(mesh), current=[1.0, 0.5],
                             potential=0.3 * ufl.SpatialCoordinate(mesh)[0], **kw)
        spin.set_magnetization([0.0, 0.0, 0.0] if pinned else [0.0, 0.0, 1.0])
        spin.set_state(lambda x: np.vstack([1.0 + 0 * x[0], x[1], 0 * x[0]]))
        for _ in range(3):
            spin.step(0.1)
        results.append(spin.s.x.array.copy())  # the same mesh: the same dofs
    assert np.abs(results[0][2::3]).max() > 1e-2  # the source polarizes along z
    assert np.allclose(results[0], results[1], rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------ solver
@pytest.mark.parametrize(("scheme", "kw"), [
    ("backward_euler", {}), ("crank_nicolson", {}), ("bdf2", {}),
    ("bdf2", {"degree": 2}), ("backward_euler", {"anisotropy": 0.4})])
def test_default_tolerance_equals_the_direct_solve(scheme, kw):
    """The iterative solver at its default rtol (1e-8; its preconditioner is built from the
    m-independent operator once per step size, the initial guess extrapolates s) gives
    the direct (MUMPS) solution to 2e-7 (20 rtol) of the injected |s| = 1 while m
    changes every step; the preconditioner's matrix is not rebuilt for a new m (P2 and
    the anisotropic diffusion: a separately assembled m-independent part)."""
    results = {}
    for solver in ("iterative", "direct"):
        mesh = dolfinx.mesh.create_box(MPI.COMM_SELF, [[0, 0, 0], [1, 0.5, 0.25]], [8, 4, 2])
        spin = SpinTransport(mesh, cell_tags=half_magnet_tags(mesh), magnet_tags=[2], D=0.5,
                             tau_sf=0.8, tau_ex=-0.3, potential=0.7 * ufl.SpatialCoordinate(mesh)[0],
                             current=[1.0, 0.2, 0.0], facet_tags=left_facet_tags(mesh),
                             dirichlet={1: [0.0, 0.0, 1.0]}, scheme=scheme, solver=solver,
                             **kw)
        spin.set_state([0.0, 0.0, 0.0])
        history, states = [], []
        for k in range(6):
            spin.set_magnetization(lambda x, k=k: np.vstack(
                [np.cos(0.3 * k + x[1]), np.sin(0.3 * k + x[1]), 0 * x[0]]))
            spin.step(0.02)
            history.append(spin.s.x.array.copy())
            if solver == "iterative":  # the matrix the preconditioner is built from
                pmat = (spin._K_scalar if spin._shell is not None
                        else spin._ksp.ksp.getOperators()[1])
                states.append((pmat.handle, pmat.stateGet()))
        spin.quasi_static()
        history.append(spin.s.x.array.copy())
        results[solver] = np.array(history)
        if solver == "iterative":
            # BDF2 starts with one Crank-Nicolson step (other constants): one more setup
            assert len(set(states[1:])) == 1
            assert spin.linear_iterations < 20 * 7
    assert np.abs(results["direct"]).max() == pytest.approx(1.0, abs=1e-9)
    diff = np.abs(results["iterative"] - results["direct"]).max()
    print(f"{scheme} {kw}: max |s_iterative - s_direct| = {diff:.2e}")
    assert diff < 2e-7  # measured: 9.4e-9 (BE), 1.3e-8 (CN), 1.4e-8 (BDF2), 8.2e-8 (P2)


# ------------------------------------------------------------------ parallel and errors
@pytest.mark.mpi
def test_parallel_equals_serial():
    results = []
    for comm in (MPI.COMM_WORLD, MPI.COMM_SELF):
        mesh = periodic_box_mesh(comm, 2, "quadrilateral", 12)
        x = ufl.SpatialCoordinate(mesh)
        spin = SpinTransport(mesh, cell_tags=half_magnet_tags(mesh), magnet_tags=[2],
                             D=CellCoefficient.from_expression([["1", "0.2"], ["0.2", "0.5"]], 2),
                             potential=0.5 * x[1], scheme="bdf2", rtol=1e-12)
        spin.set_magnetization([0.0, 0.6, 0.8])
        spin.set_state(lambda x: np.vstack([np.cos(3 * x[0]), x[1], 0 * x[0] + 0.1]))
        for _ in range(5):
            spin.step(0.05)
        results.append(np.concatenate([spin.average(), [spin.rms()]]))
    assert np.allclose(results[0], results[1], rtol=1e-9, atol=1e-12)


def test_bad_input():
    mesh = periodic_box_mesh(MPI.COMM_WORLD, 2, "quadrilateral", 4)
    with pytest.raises(ConfigError, match="tau_sf must be > 0"):
        SpinTransport(mesh, tau_sf=-1.0)
    with pytest.raises(ConfigError, match="tau_ex must be a non-zero"):
        SpinTransport(mesh, tau_ex=0.0)
    with pytest.raises(ConfigError, match="unknown magnet cell tag"):
        SpinTransport(mesh, cell_tags=half_magnet_tags(mesh), magnet_tags=[7])
    with pytest.raises(ConfigError, match="unknown facet tag"):
        SpinTransport(mesh, facet_tags=left_facet_tags(mesh), dirichlet={3: [1, 0, 0]})
    with pytest.raises(ConfigError, match="spin D"):
        SpinTransport(mesh, D=CellCoefficient.from_expression([["1", "2"], ["2", "1"]], 2))
    with pytest.raises(ConfigError, match="pinned cell tag 2 must be a tag of the mesh"):
        SpinTransport(mesh, cell_tags=half_magnet_tags(mesh), magnet_tags=[2],
                      pinned={2: [1, 0, 0]})
    with pytest.raises(ConfigError, match="pinned magnetization of tag 1"):
        SpinTransport(mesh, cell_tags=half_magnet_tags(mesh), magnet_tags=[2],
                      pinned={1: [0, 0, 0]})
    with pytest.raises(ConfigError, match="spin scheme"):
        SpinTransport(mesh, scheme="rk4")
