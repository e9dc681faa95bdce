"""Manufactured solutions of the coupled spin-LLG system (femhomog.spin.coupled).

Independent truth.  On the unit interval / square / cube (the conductor C) with the
magnet M = {x_0 < 1/2} (cells tagged 2; m lives on its submesh):

    m_ex = (sin th cos ph, sin th sin ph, cos th),
        th = 1 + 0.3 cos(2 pi x_0) cos t [+ 0.2 cos(pi x_2) in 3D],
        ph = t + 0.5 cos(2 pi x_0) [+ 0.4 cos(pi x_1) in 2D/3D],
    s_ex = (0.2 + 0.5 cos(pi x_0) cos t, 0.3 sin t cos(pi x_0) [cos(pi x_1)],
            0.4 + 0.3 cos(2 pi x_0) exp(-t)),
    phi  = 0.3 cos(pi x_0)  (a given potential: drift in conservative form).

Every normal derivative vanishes on dC and on dM, so ``J.n = 0`` (zero total flux,
with the drift) and the Neumann condition of m hold exactly.  The spin equation of
(4.6) gets the volume source (``SpinTransport(source=...)``)

    f = d_t s_ex - div(D (grad s_ex + s_ex (x) grad phi)) + (2/tau_ex) chi_M m_ex x s_ex
        + s_ex/tau_sf

(quasi-static mode: without ``d_t s_ex``), ``chi_M`` the sharp magnet indicator, and
the Gilbert LLG ``d_t m = -gamma m x (H + c_s s) + alpha m x d_t m`` with ``H =
div(A grad m) + H_f`` the applied field (:class:`AppliedField`, symbolic)

    H_f = (m_ex x v + alpha v)/gamma - div(A grad m_ex) - c_s s_ex,   v = d_t m_ex,

since ``-gamma m x H* + alpha m x v = v`` for ``H* = (m x v + alpha v)/gamma`` and a
tangent ``v``.  So ``(m_ex, s_ex)`` is the exact solution of the coupled system; the
precession term, the field ``c_s s`` and the transfers between M's submesh and C are
those of the solver.

What is measured (rates fitted over 3 resolutions; print with ``pytest -s``):

* space, 1D/2D/3D, P1 (m and s), midpoint + Crank-Nicolson iterated to the coupled
  solution with a small step: L2 order 2 and H1 order 1 for m and s;
* space, P2 spin transport (m given): L2 order 3, H1 order 2 (1D, 2D);
* time, 1D, every integrator / scheme / coupling / mode offered, against a same-mesh
  reference with an 8x smaller step (the spatial error cancels): decoupled m-then-s
  order 1 whatever the schemes; iterated: tangent plane (theta = 1) or backward Euler
  order 1, midpoint + Crank-Nicolson or BDF2 order 2; quasi-static: decoupled 1,
  midpoint iterated 2; and the orders 1 and 2 of the two extreme combinations in 2D
  and 3D;
* 1 vs 2 ranks (``-m mpi``): the same errors to 1e-9 (2D, Crank-Nicolson and BDF2).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from femhomog import _fenicsx  # noqa: F401

# isort: split
import dolfinx
import dolfinx.mesh
import ufl
from mpi4py import MPI

from femhomog.micromag import AppliedField, LLGProblem
from femhomog.micromag.midpoint import MidpointIntegrator
from femhomog.micromag.tangent_plane import TangentPlaneIntegrator
from femhomog.micromag.terms import Exchange, SpinTorque
from femhomog.spin import SpinLLGIntegrator, SpinLLGProblem, SpinTransport, magnet_submesh

ALPHA, GAMMA, A_EX, C_S = 0.5, 1.3, 0.3, 0.6
D, TAU_SF, TAU_EX = 0.7, 0.8, -0.5


# ------------------------------------------------------------------ exact solution
class _Np:
    pi, sin, cos, exp = np.pi, staticmethod(np.sin), staticmethod(np.cos), staticmethod(np.exp)


class _Ufl:
    pi, sin, cos, exp = ufl.pi, staticmethod(ufl.sin), staticmethod(ufl.cos), staticmethod(ufl.exp)


def _m(x, t, d, lib):
    th = 1.0 + 0.3 * lib.cos(2 * lib.pi * x[0]) * lib.cos(t)
    ph = t + 0.5 * lib.cos(2 * lib.pi * x[0])
    if d >= 2:
        ph = ph + 0.4 * lib.cos(lib.pi * x[1])
    if d == 3:
        th = th + 0.2 * lib.cos(lib.pi * x[2])
    return [lib.sin(th) * lib.cos(ph), lib.sin(th) * lib.sin(ph), lib.cos(th)]


def _s(x, t, d, lib):
    s1 = 0.3 * lib.sin(t) * lib.cos(lib.pi * x[0])
    if d >= 2:
        s1 = s1 * lib.cos(lib.pi * x[1])
    return [0.2 + 0.5 * lib.cos(lib.pi * x[0]) * lib.cos(t), s1,
            0.4 + 0.3 * lib.cos(2 * lib.pi * x[0]) * lib.exp(-t)]


def numpy_field(f, d, t):
    return lambda x: np.vstack([np.broadcast_to(c, x.shape[1:]) for c in f(x, t, d, _Np)])


def ufl_field(f, x, t, d):
    return ufl.as_vector(f(x, t, d, _Ufl))


def potential(x):
    return 0.3 * ufl.cos(ufl.pi * x[0])


def in_magnet(x):
    return ufl.conditional(ufl.lt(x[0], 0.5), 1.0, 0.0)  # cells never straddle x_0 = 1/2


def spin_source(d, quasistatic=False, magnet=None):
    """``f(x, t)`` of the spin equation; ``magnet``: ``m(x, t)`` (default ``m_ex``)."""

    def f(x, t):
        tv = ufl.variable(t)
        s = ufl_field(_s, x, tv, d)
        m = ufl_field(_m, x, tv, d) if magnet is None else magnet(x, tv)
        flux = D * (ufl.grad(s) + ufl.outer(s, ufl.grad(potential(x))))
        out = (-ufl.div(flux) + (2.0 / TAU_EX) * in_magnet(x) * ufl.cross(m, s)
               + s / TAU_SF)
        return out if quasistatic else out + ufl.diff(s, tv)

    return f


def llg_forcing(d):
    def h(x, t):
        tv = ufl.variable(t)
        m = ufl_field(_m, x, tv, d)
        v = ufl.diff(m, tv)
        return ((ufl.cross(m, v) + ALPHA * v) / GAMMA - ufl.div(A_EX * ufl.grad(m))
                - C_S * ufl_field(_s, x, tv, d))

    return h


# ------------------------------------------------------------------ the discrete problem
def unit_mesh(comm, d, n):
    if d == 1:
        return dolfinx.mesh.create_unit_interval(comm, n)
    if d == 2:
        return dolfinx.mesh.create_unit_square(comm, n, n)
    return dolfinx.mesh.create_unit_cube(comm, n, n, n)


def magnet_tags(mesh):
    tdim = mesh.topology.dim
    imap = mesh.topology.index_map(tdim)
    cells = np.arange(imap.size_local + imap.num_ghosts, dtype=np.int32)
    mid = dolfinx.mesh.compute_midpoints(mesh, tdim, cells)
    return dolfinx.mesh.meshtags(mesh, tdim, cells,
                                 np.where(mid[:, 0] < 0.5, 2, 1).astype(np.int32))


def build(d, n, *, integrator="midpoint", scheme="crank_nicolson", iterate=True,
          mode="dynamic", comm=MPI.COMM_SELF):
    mesh = unit_mesh(comm, d, n)
    tags = magnet_tags(mesh)
    sub, parent = magnet_submesh(mesh, tags, [2])
    terms = [Exchange(A_EX), SpinTorque(C_S),
             AppliedField(llg_forcing(d), symbolic=True, name="forcing")]
    llg = LLGProblem(sub, terms, ALPHA, m0=numpy_field(_m, d, 0.0), gamma=GAMMA,
                     equation="gilbert", normalize=True)
    spin = SpinTransport(mesh, cell_tags=tags, magnet_tags=[2], D=D, tau_sf=TAU_SF,
                         tau_ex=TAU_EX, potential=potential(ufl.SpatialCoordinate(mesh)),
                         source=spin_source(d, mode == "quasistatic"), scheme=scheme,
                         solver="direct")
    spin.set_state(numpy_field(_s, d, 0.0))
    P = SpinLLGProblem(llg, spin, parent, mode=mode)
    P.initialize()
    inner = (MidpointIntegrator(llg) if integrator == "midpoint"
             else TangentPlaneIntegrator(llg, theta=1.0))
    return P, SpinLLGIntegrator(P, inner, iterate=iterate, tol=1e-12)


def run(d, n, T, steps, **kw):
    P, integ = build(d, n, **kw)
    for _ in range(steps):
        integ.step(T / steps)
    assert P.t == pytest.approx(T)
    return P


def errors(u, exact, t):
    """``(||u - exact(t)||_L2, |u - exact(t)|_H1)``."""
    mesh = u.function_space.mesh
    d = mesh.topology.dim
    x = ufl.SpatialCoordinate(mesh)
    e = u - ufl_field(exact, x, dolfinx.fem.Constant(mesh, float(t)), d)
    dxq = ufl.Measure("dx", domain=mesh, metadata={"quadrature_degree": 6})
    out = []
    for integrand in (ufl.inner(e, e), ufl.inner(ufl.grad(e), ufl.grad(e))):
        local = dolfinx.fem.assemble_scalar(dolfinx.fem.form(integrand * dxq))
        out.append(math.sqrt(mesh.comm.allreduce(local, op=MPI.SUM)))
    return tuple(out)


def fitted_rate(hs, errs):
    return np.polyfit(np.log(hs), np.log(errs), 1)[0]


# ------------------------------------------------------------------ space
SPACE = {1: ((8, 16, 32), 0.2, 8), 2: ((4, 8, 16), 0.2, 4), 3: ((4, 6, 8), 0.1, 2)}


@pytest.mark.parametrize("d", [1, 2, 3])
def test_p1_spatial_orders_of_the_coupled_system(d):
    ns, T, steps = SPACE[d]
    rows = []
    for n in ns:
        P = run(d, n, T, steps)
        rows.append(errors(P.llg.m, _m, T) + errors(P.spin.s, _s, T))
    rows = np.array(rows)
    rates = [fitted_rate(1.0 / np.array(ns), rows[:, j]) for j in range(4)]
    print(f"\n{d}D P1 coupled, n = {ns}: errors (m L2, m H1, s L2, s H1)\n{rows}\n"
          f"fitted rates {np.round(rates, 3)}")
    assert rates[0] > 1.8 and rates[2] > 1.8, rates  # L2
    assert rates[1] > 0.9 and rates[3] > 0.9, rates  # H1


@pytest.mark.parametrize("d", [1, 2])
def test_p2_spin_transport_spatial_orders(d):
    # m given (no LLG): m_ex at t = 0 in the precession term, s_ex(t) and its source
    ns = (4, 8, 16) if d == 1 else (2, 4, 8)
    T, steps = 0.1, 40
    m_fixed = numpy_field(_m, d, 0.0)
    rows = []
    for n in ns:
        mesh = unit_mesh(MPI.COMM_SELF, d, n)
        tags = magnet_tags(mesh)
        spin = SpinTransport(
            mesh, cell_tags=tags, magnet_tags=[2], D=D, tau_sf=TAU_SF, tau_ex=TAU_EX,
            potential=potential(ufl.SpatialCoordinate(mesh)), degree=2,
            source=spin_source(d, magnet=lambda x, t: ufl_field(_m, x, 0.0 * t, d)),
            scheme="bdf2", solver="direct")
        spin.set_magnetization(m_fixed)
        spin.set_state(numpy_field(_s, d, 0.0))
        for _ in range(steps):
            spin.step(T / steps)
        rows.append(errors(spin.s, _s, T))
    rows = np.array(rows)
    rates = [fitted_rate(1.0 / np.array(ns), rows[:, j]) for j in range(2)]
    print(f"\n{d}D P2 spin, n = {ns}: errors (L2, H1)\n{rows}\nfitted rates {rates}")
    assert rates[0] > 2.8 and rates[1] > 1.8, rates


# ------------------------------------------------------------------ time
def nodal_l2(P, Q):
    """L2 norms of ``m_P - m_Q`` and ``s_P - s_Q`` (same meshes)."""
    out = []
    for u, v in ((P.llg.m, Q.llg.m), (P.spin.s, Q.spin.s)):
        e = dolfinx.fem.Function(u.function_space)
        e.x.array[:] = u.x.array - v.x.array
        local = dolfinx.fem.assemble_scalar(dolfinx.fem.form(ufl.inner(e, e) * ufl.dx))
        out.append(math.sqrt(u.function_space.mesh.comm.allreduce(local, op=MPI.SUM)))
    return out


TIME_CASES = [
    # (integrator, scheme, iterate, mode) -> order
    (("tangent_plane", "backward_euler", False, "dynamic"), 1),
    (("tangent_plane", "bdf2", False, "dynamic"), 1),
    (("midpoint", "crank_nicolson", False, "dynamic"), 1),
    (("midpoint", "bdf2", False, "dynamic"), 1),
    (("tangent_plane", "crank_nicolson", True, "dynamic"), 1),
    (("midpoint", "backward_euler", True, "dynamic"), 1),
    (("midpoint", "crank_nicolson", True, "dynamic"), 2),
    (("midpoint", "bdf2", True, "dynamic"), 2),
    (("tangent_plane", "backward_euler", False, "quasistatic"), 1),
    (("midpoint", "backward_euler", True, "quasistatic"), 2),
]
TIME_N = {1: 12, 2: 4, 3: 2}
T_TIME = 0.4
TIME_STEPS = {1: (16, 32, 64), 2: (8, 16, 32), 3: (8, 16, 32)}
_REFERENCES: dict = {}


def reference(d, mode):
    """Midpoint + Crank-Nicolson (quasi-static: midpoint) iterated, 8x the finest step."""
    if (d, mode) not in _REFERENCES:
        _REFERENCES[d, mode] = run(d, TIME_N[d], T_TIME, 8 * TIME_STEPS[d][-1], mode=mode)
    return _REFERENCES[d, mode]


def check_time_order(d, case, order):
    """Errors of m and s against the reference; the pair's error ``(|e_m|^2 +
    |e_s|^2)^(1/2)`` has the order on the last halving, neither part a lower one (a
    part may still look higher: the decoupled step's m lag reaches s at small steps)."""
    integrator, scheme, iterate, mode = case
    ref = reference(d, mode)
    steps = TIME_STEPS[d]
    errs = np.array([nodal_l2(run(d, TIME_N[d], T_TIME, k, integrator=integrator,
                                  scheme=scheme, iterate=iterate, mode=mode), ref)
                     for k in steps])
    pair = np.sqrt(np.sum(errs**2, axis=1))
    rates = np.log2(errs[:-1] / errs[1:])
    pair_rates = np.log2(pair[:-1] / pair[1:])
    print(f"\n{d}D {case}, k = T/{steps}: errors (m, s)\n{errs}\nrates (m, s) per halving "
          f"{np.round(rates, 2).tolist()}, of the pair {np.round(pair_rates, 2).tolist()}")
    assert abs(pair_rates[-1] - order) < 0.15, pair_rates
    assert np.all(rates[-1] > order - 0.2), rates


@pytest.mark.parametrize(("case", "order"), TIME_CASES, ids=["-".join(
    [c[0], c[1], "iterated" if c[2] else "decoupled", c[3]]) for c, _ in TIME_CASES])
def test_time_order_of_each_combination_1d(case, order):
    check_time_order(1, case, order)


@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize(("case", "order"), [TIME_CASES[0], TIME_CASES[6]],
                         ids=["tangent_plane-be-decoupled", "midpoint-cn-iterated"])
def test_time_order_2d_3d(d, case, order):
    check_time_order(d, case, order)


@pytest.mark.mpi
@pytest.mark.parametrize("scheme", ["crank_nicolson", "bdf2"])
def test_parallel_errors_equal_serial(scheme):
    # the magnet's interface nodes and the submesh transfers cut by the partition
    T, steps = 0.2, 4
    errs = {}
    for name, comm in (("world", MPI.COMM_WORLD), ("self", MPI.COMM_SELF)):
        P = run(2, 6, T, steps, scheme=scheme, comm=comm)
        errs[name] = np.array(errors(P.llg.m, _m, T) + errors(P.spin.s, _s, T))
    assert np.allclose(errs["world"], errs["self"], rtol=1e-9, atol=0), errs
