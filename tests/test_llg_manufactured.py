"""Manufactured space-time solutions of (3.1) with an oscillating exchange coefficient.

Independent truth.  A smooth unit field on the periodic unit box,

    m_ex(x, t) = (sin th cos ph, sin th sin ph, cos th),
    th = 1 + 0.3 sin(2 pi x_0 - t),   ph = t + 0.5 cos(2 pi x_{d-1}) [+ 0.3 sin(2 pi x_1) in 3D],

and the LL paper's equation (3.1), ``dm/dt = -m x H - alpha m x (m x H)`` with
``H = div(a(x/eps) grad m) + H_f``, ``eps = 1/2`` and a product coefficient
``a(y) = (1 + 0.5 sin 2 pi y_0)(1 + 0.3 cos 2 pi y_1)(1 + 0.3 sin 2 pi y_2)`` (as many
factors as dimensions; the 1D factor is the a of Fig. 4.1).  On the tangent plane
the LL right-hand side is invertible: for ``v = dm_ex/dt`` the field
``H* = (m x v + alpha v)/(1 + alpha^2)`` gives ``-m x H* - alpha m x (m x H*) = v``.
Hence ``m_ex`` solves (3.1) with the applied field (an :class:`AppliedField`,
formed symbolically by UFL from ``m_ex``)

    H_f(x, t) = H*(x, t) - div(a(x/eps) grad m_ex(x, t)).

``H_f`` is *not* projected on the tangent plane: its normal part
``a |grad m_ex|^2 m_ex`` cancels the normal part of the discrete exchange field, so
the schemes see the linearized error equation.  Projecting it out is equivalent at
the continuous level, but the tangent-plane scheme (which evaluates the exchange at
``m^n + theta k v`` projected on ``m^n``'s tangent plane) then carries an
``O(k a |grad m|^2)`` consistency error: measured 50x larger errors in 1D (0.079
instead of 1.4e-3 at k = 1/64).

What is measured (orders from >= 3 resolutions, asserted on the last pair):

* space, midpoint with a small step: ``||m_h - m_ex||_L2 = O(h^2)``, ``|.|_H1 = O(h)``,
  1D/2D/3D (2D triangles, 3D hexahedra);
* space, tangent plane with ``k ~ h^2`` (first order in time): the same orders,
  1D/2D/3D;
* time, on one coarse mesh per dimension against a same-mesh midpoint reference
  with a step 8x smaller than the finest tested (the spatial error cancels):
  tangent plane order 1, midpoint order 2, 1D/2D/3D;
* 1 vs 2 ranks: same errors to solver tolerance.

Print the figures with ``pytest -s``.
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
import dolfinx.fem
import ufl
from mpi4py import MPI

from femhomog.meshes import periodic_box_mesh
from femhomog.micromag import (
    AppliedField,
    Exchange,
    LLGProblem,
    MidpointIntegrator,
    TangentPlaneIntegrator,
    Zeeman,
)

ALPHA = 0.5
EPS = 0.5
A_EXPR = {
    1: "1 + 0.5*sin(2*pi*y[0])",
    2: "(1 + 0.5*sin(2*pi*y[0]))*(1 + 0.3*cos(2*pi*y[1]))",
    3: "(1 + 0.5*sin(2*pi*y[0]))*(1 + 0.3*cos(2*pi*y[1]))*(1 + 0.3*sin(2*pi*y[2]))",
}
CELL = {1: "interval", 2: "triangle", 3: "hexahedron"}
#: Quadrature degree of the exchange forms (UFL's estimate for the sine products is up to
#: 11, i.e. 216 points per hexahedron; 4 integrates a(x/eps) with h <= 1/8 well enough)
QUAD_DEGREE = 4


class _Np:
    pi, sin, cos = np.pi, staticmethod(np.sin), staticmethod(np.cos)


class _Ufl:
    pi, sin, cos = ufl.pi, staticmethod(ufl.sin), staticmethod(ufl.cos)


def _angles(x, t, d, lib):
    theta = 1.0 + 0.3 * lib.sin(2 * lib.pi * x[0] - t)
    phi = t + 0.5 * lib.cos(2 * lib.pi * x[d - 1])
    if d == 3:
        phi = phi + 0.3 * lib.sin(2 * lib.pi * x[1])
    return theta, phi


def m_exact_numpy(d: int, t: float):
    """``x -> m_ex(x, t)`` for interpolation (points of shape (3, N))."""

    def f(x):
        th, ph = _angles(x, t, d, _Np)
        return np.vstack([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)])

    return f


def m_exact_ufl(x, t, d: int):
    th, ph = _angles(x, t, d, _Ufl)
    return ufl.as_vector([ufl.sin(th) * ufl.cos(ph), ufl.sin(th) * ufl.sin(ph), ufl.cos(th)])


def forcing(exchange: Exchange, mesh, d: int, alpha: float):
    """``H_f(x, t) = H* - div(a(x/eps) grad m_ex)`` as a symbolic AppliedField builder."""

    def h(x, t):
        tv = ufl.variable(t)
        m = m_exact_ufl(x, tv, d)
        v = ufl.diff(m, tv)
        h_star = (ufl.cross(m, v) + alpha * v) / (1.0 + alpha**2)
        return h_star - ufl.div(exchange.coefficient(mesh) * ufl.grad(m))

    return h


def manufactured_problem(comm, d: int, n: int, cell: str | None = None) -> LLGProblem:
    mesh = periodic_box_mesh(comm, d, cell or CELL[d], n)
    exchange = Exchange(A_EXPR[d], eps=EPS, quadrature_degree=QUAD_DEGREE)
    applied = AppliedField(forcing(exchange, mesh, d, ALPHA), symbolic=True, name="forcing")
    return LLGProblem(mesh, [exchange, applied], ALPHA, periodic=True, m0=m_exact_numpy(d, 0.0))


def integrate(prob: LLGProblem, scheme: str, duration: float, steps: int) -> LLGProblem:
    # 3D: GMRES + ILU (rtol 1e-10) is much cheaper than MUMPS on the periodic hexahedra
    solver = "iterative" if prob.mesh.topology.dim == 3 else "direct"
    if scheme == "midpoint":
        integrator = MidpointIntegrator(prob, solver=solver)
    else:
        integrator = TangentPlaneIntegrator(prob, theta=1.0, solver=solver)
    t0 = prob.t
    for _ in range(steps):
        integrator.step(duration / steps)
    assert prob.t == pytest.approx(t0 + duration)
    assert prob.norm_deviation() < 1e-12
    integrator.destroy()
    return prob


def run(d: int, n: int, scheme: str, t_end: float, steps: int, comm=MPI.COMM_WORLD, cell=None):
    return integrate(manufactured_problem(comm, d, n, cell), scheme, t_end, steps)


def exact_errors(prob: LLGProblem, t: float) -> tuple[float, float]:
    """``(||m_h - m_ex(t)||_L2, |m_h - m_ex(t)|_H1)`` with a degree-4 quadrature."""
    mesh = prob.mesh
    d = mesh.topology.dim
    e = prob.m - m_exact_ufl(ufl.SpatialCoordinate(mesh), dolfinx.fem.Constant(mesh, t), d)
    dxq = ufl.Measure("dx", domain=mesh, metadata={"quadrature_degree": 4})
    out = []
    for integrand in (ufl.inner(e, e), ufl.inner(ufl.grad(e), ufl.grad(e))):
        local = dolfinx.fem.assemble_scalar(dolfinx.fem.form(integrand * dxq))
        out.append(math.sqrt(mesh.comm.allreduce(local, op=MPI.SUM)))
    return out[0], out[1]


def discrete_l2_difference(p: LLGProblem, q: LLGProblem) -> float:
    """Lumped L2 norm of ``m_p - m_q`` (same mesh and layout)."""
    n = 3 * p.num_owned_nodes
    diff = p.m.x.array[:n] - q.m.x.array[:n]
    return math.sqrt(p.comm.allreduce(float(p.mass.array[:n] @ diff**2), op=MPI.SUM))


def rates(errors, ratios) -> np.ndarray:
    e = np.asarray(errors)
    return np.log(e[:-1] / e[1:]) / np.log(np.asarray(ratios))


def report(title: str, rows: list[str]) -> None:
    print(f"\n{title}")
    for row in rows:
        print("  " + row)


# ---------------------------------------------------------------------- AppliedField
def test_applied_field_energy_and_modes_agree():
    """E = -int h.m in closed form; the numpy and symbolic modes give the same dynamics,
    and a uniform h(x, t) = h(t) e_z behaves like the time-dependent Zeeman term."""
    mesh = periodic_box_mesh(MPI.COMM_WORLD, 1, "interval", 8)
    lin = AppliedField(lambda x, t: ufl.as_vector([0.0, 0.0, x[0] * (1.0 + t)]), symbolic=True)
    prob = LLGProblem(mesh, [lin], 0.1, m0=(0.0, 0.0, 1.0))
    # -int_0^1 x dx (vertex quadrature = trapezoid rule: exact for linear h)
    assert prob.energy() == pytest.approx(-0.5, rel=1e-13)
    prob.t = 1.0
    assert prob.energy() == pytest.approx(-1.0, rel=1e-13)

    def h_np(x, t):
        return np.vstack([np.sin(2 * np.pi * x[0]) * t, 0.2 + 0 * x[0], np.cos(2 * np.pi * x[0])])

    def h_ufl(x, t):
        return ufl.as_vector([ufl.sin(2 * ufl.pi * x[0]) * t, 0.2, ufl.cos(2 * ufl.pi * x[0])])

    finals = []
    for term in (AppliedField(h_np), AppliedField(h_ufl, symbolic=True)):
        p = LLGProblem(mesh, [Exchange(1.0), term], 0.3, periodic=True, m0=m_exact_numpy(1, 0.0))
        integrate(p, "tangent_plane", 0.3, 3)
        finals.append(p.m.x.array.copy())
        integrate(p, "midpoint", 0.6, 3)
        finals.append(p.m.x.array.copy())
    assert np.allclose(finals[0], finals[2], atol=1e-13)
    assert np.allclose(finals[1], finals[3], atol=1e-11)

    finals = []
    for term in (
        Zeeman(lambda t: (0.0, 0.0, 1.0 + t)),
        AppliedField(lambda x, t: np.vstack([0 * x[0], 0 * x[0], 1.0 + t + 0 * x[0]])),
    ):
        p = LLGProblem(mesh, [term], 0.3, m0=(0.6, 0.0, 0.8))
        finals.append(integrate(p, "midpoint", 0.5, 5).average())
    assert np.allclose(finals[0], finals[1], atol=1e-13)


@pytest.mark.parametrize(
    "h,symbolic,match",
    [
        (lambda x, t: ufl.as_vector([x[0], 0.0]), True, "3 components"),
        (lambda x, t: x[7], True, "building h"),
        (lambda x, t: np.vstack([x[0] / 0.0, 0 * x[0], 0 * x[0]]), False, "not finite"),
        (lambda x, t: np.zeros((2, x.shape[1])), False, "evaluating h"),
        ("h", False, "callable"),
    ],
)
def test_applied_field_bad_input(h, symbolic, match, periodic_mesh):
    mesh = periodic_mesh(1, "interval", 4)
    with np.errstate(divide="ignore", invalid="ignore"), pytest.raises(ConfigError, match=match):
        LLGProblem(mesh, [AppliedField(h, symbolic=symbolic)], 0.1, m0=(0.0, 0.0, 1.0)).energy()


# ---------------------------------------------------------------------- space
# dim -> (cells per side, final time, midpoint steps).  The time error (against 4x the
# steps) is about 1% of the spatial L2 error on the finest mesh; with fewer steps (k >> h^2)
# the undamped stiff modes of the midpoint rule make it several 10% in 3D.
SPATIAL_MIDPOINT = {
    1: ((16, 32, 64), 0.5, 80),
    2: ((8, 16, 32), 0.5, 40),
    3: ((8, 12, 16), 0.2, 16),
}


@pytest.mark.parametrize("d", [1, 2, 3])
def test_spatial_orders_midpoint(d):
    ns, t_end, steps = SPATIAL_MIDPOINT[d]
    l2, h1 = [], []
    for n in ns:
        e0, e1 = exact_errors(run(d, n, "midpoint", t_end, steps), t_end)
        l2.append(e0)
        h1.append(e1)
    ratios = np.asarray(ns[1:]) / np.asarray(ns[:-1])
    r0, r1 = rates(l2, ratios), rates(h1, ratios)
    report(
        f"midpoint, {d}D {CELL[d]}, T = {t_end}, k = {t_end / steps:g}: space",
        [f"n = {n:3d}  L2 {a:.3e}  H1 {b:.3e}" for n, a, b in zip(ns, l2, h1, strict=True)]
        + [f"rates L2 {np.round(r0, 3).tolist()}  H1 {np.round(r1, 3).tolist()}"],
    )
    assert np.all(np.diff(l2) < 0) and np.all(np.diff(h1) < 0)
    assert abs(r0[-1] - 2.0) < 0.25, (l2, r0)
    assert abs(r1[-1] - 1.0) < 0.25, (h1, r1)


# dim -> (cells per side, final time, steps on the coarsest mesh); the steps grow like n^2.
# 3D: the time error at the finest mesh is about 1 % of the spatial L2 error (against 4x the
# steps).
SPATIAL_TANGENT_PLANE = {
    1: ((16, 32, 64), 0.5, 8),
    2: ((8, 16, 32), 0.5, 4),
    3: ((8, 12, 16), 0.2, 4),
}


@pytest.mark.parametrize("d", [1, 2, 3])
def test_spatial_orders_tangent_plane(d):
    """k = c h^2: the first-order time error is O(h^2) as well, so L2 O(h^2), H1 O(h)."""
    ns, t_end, steps0 = SPATIAL_TANGENT_PLANE[d]
    steps = [round(steps0 * (n / ns[0]) ** 2) for n in ns]
    l2, h1 = [], []
    for n, s in zip(ns, steps, strict=True):
        e0, e1 = exact_errors(run(d, n, "tangent_plane", t_end, s), t_end)
        l2.append(e0)
        h1.append(e1)
    ratios = np.asarray(ns[1:]) / np.asarray(ns[:-1])
    r0, r1 = rates(l2, ratios), rates(h1, ratios)
    report(
        f"tangent plane (theta = 1), {d}D {CELL[d]}, T = {t_end}, k ~ h^2: space",
        [
            f"n = {n:3d}  steps {s:4d}  L2 {a:.3e}  H1 {b:.3e}"
            for n, s, a, b in zip(ns, steps, l2, h1, strict=True)
        ]
        + [f"rates L2 {np.round(r0, 3).tolist()}  H1 {np.round(r1, 3).tolist()}"],
    )
    assert np.all(np.diff(l2) < 0) and np.all(np.diff(h1) < 0)
    assert abs(r0[-1] - 2.0) < 0.25, (l2, r0)
    assert abs(r1[-1] - 1.0) < 0.25, (h1, r1)


# ---------------------------------------------------------------------- time
# (cells per side, cell type, final time, midpoint steps, tangent-plane steps, reference
# steps): coarse meshes; the midpoint runs start past the pre-asymptotic range (with
# k >> h^2 the undamped stiff modes of the initial interpolant pollute coarser steps).
TEMPORAL = {
    1: (16, "interval", 0.5, (32, 64, 128), (8, 16, 32), 1024),
    2: (8, "quadrilateral", 0.5, (32, 64, 128), (8, 16, 32), 1024),
    3: (4, "hexahedron", 0.5, (16, 32, 64), (8, 16, 32), 512),
}


@pytest.mark.parametrize("d", [1, 2, 3])
def test_temporal_orders(d):
    """Errors against a midpoint reference on the same mesh with a much smaller step:
    the spatial error cancels and what remains is the time error of each scheme."""
    n, cell, t_end, mid_steps, tps_steps, ref_steps = TEMPORAL[d]
    ref = run(d, n, "midpoint", t_end, ref_steps, cell=cell)
    e_ref = exact_errors(ref, t_end)[0]
    rows = [f"reference: {ref_steps} midpoint steps, L2 error vs m_ex {e_ref:.3e}"]
    for scheme, steps, order in (("midpoint", mid_steps, 2.0), ("tangent_plane", tps_steps, 1.0)):
        errors = [
            discrete_l2_difference(run(d, n, scheme, t_end, s, cell=cell), ref) for s in steps
        ]
        r = rates(errors, [2, 2])
        rows += [
            f"{scheme:13s} steps {s:4d}  |m_k - m_ref|_L2 {e:.3e}"
            for s, e in zip(steps, errors, strict=True)
        ]
        rows.append(f"{scheme:13s} rates {np.round(r, 3).tolist()}")
        assert np.all(np.diff(errors) < 0), (scheme, errors)
        assert abs(r[-1] - order) < 0.25, (scheme, errors, r)
    report(f"{d}D {cell} n = {n}, T = {t_end}: time", rows)


# ---------------------------------------------------------------------- parallel
def parallel_errors(comm) -> list[float]:
    out = []
    for scheme in ("midpoint", "tangent_plane"):
        prob = run(2, 8, scheme, 0.25, 5, comm=comm)
        out.extend(exact_errors(prob, 0.25))
    return out


@pytest.mark.mpi
def test_manufactured_parallel_equals_serial():
    par = parallel_errors(MPI.COMM_WORLD)
    ser = parallel_errors(MPI.COMM_SELF)
    assert np.allclose(par, ser, rtol=1e-8, atol=0.0), (par, ser)
