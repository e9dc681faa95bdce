"""Field terms: the field derived from the energy (``ufl.derivative``) is the right one.

Independent truths used here, on a small 3D mesh with a random unit ``m``:

* the hand-written weak fields the derived ones replaced (exchange
  ``-(a grad m, grad phi)``, anisotropy ``q (m.e)(phi.e)_h``, Zeeman and applied
  field ``(h, phi)_h``) and the hand-written implicit exchange form
  ``(a grad u, grad phi)``: equal to round-off relative to their own norm;
* the directional derivative of the energy: for these quadratic (or linear)
  energies the central difference ``(E(m + s v) - E(m - s v))/(2s)`` is exact up
  to round-off, and must equal ``-(H(m), v)``.
"""

from __future__ import annotations

import numpy as np
import pytest

from femhomog import _fenicsx  # noqa: F401

# isort: split
import dolfinx
import dolfinx.fem.petsc
import ufl
from mpi4py import MPI

from femhomog import ConfigError
from femhomog.coefficients import CellCoefficient, ConstantCoefficient
from femhomog.meshes import periodic_box_mesh
from femhomog.micromag.terms import (
    AppliedField,
    Exchange,
    ExtraField,
    UniaxialAnisotropy,
    Zeeman,
    lumped_measure,
)

# Round-off bound relative to the norm of the field (the two forms sum the
# same products in another order).
RTOL = 1e-12
A3 = [[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 1.5]]


def h_of_x(x, t):
    return np.vstack([np.sin(2 * np.pi * x[0]) + t, x[1] * x[2], 0.5 + 0 * x[0]])


def h_ufl(x, t):
    return ufl.as_vector([ufl.sin(2 * ufl.pi * x[0]) + t, x[1] * x[2], 0.5 + 0 * x[0]])


def _exchange_hand(term, m, phi):
    """-(a grad m, grad phi) with the term's coefficient and quadrature."""
    mesh = phi.ufl_function_space().mesh
    return -ufl.inner(term._flux(m, mesh), ufl.grad(phi)) * term._dx(mesh)


def _lumped_hand(h_vector):
    def form(term, m, phi):
        mesh = phi.ufl_function_space().mesh
        return ufl.inner(h_vector(term, mesh, phi), phi) * lumped_measure(mesh)

    return form


def _anisotropy_hand(term, m, phi):
    mesh = phi.ufl_function_space().mesh
    q, _, e = term._consts(mesh)
    return q * ufl.inner(m, e) * ufl.inner(phi, e) * lumped_measure(mesh)


# (name, cell, term factory, hand-written field form)
CASES = [
    ("exchange-scalar", "tetrahedron", lambda: Exchange(1.3), _exchange_hand),
    ("exchange-matrix", "tetrahedron", lambda: Exchange(A3), _exchange_hand),
    (
        "exchange-a(x/eps)",
        "tetrahedron",
        lambda: Exchange("1 + 0.5*sin(2*pi*y[0])*cos(2*pi*y[2])", eps=0.5),
        _exchange_hand,
    ),
    (
        "exchange-matrix-expression",
        "tetrahedron",
        lambda: Exchange(
            CellCoefficient.from_expression(
                [["2 + sin(2*pi*y[1])", "0.1", "0"], ["0.1", "1", "0"], ["0", "0", "1.5"]], 3
            ),
            eps=0.5,
            quadrature_degree=4,
        ),
        _exchange_hand,
    ),
    (
        "exchange-gauss",
        "hexahedron",
        lambda: Exchange("1 + 0.5*sin(2*pi*y[0])", eps=0.5, gauss_points=(1, 2, 2)),
        _exchange_hand,
    ),
    ("anisotropy-easy", "tetrahedron", lambda: UniaxialAnisotropy(0.7, (0, 1, 1)),
     _anisotropy_hand),
    ("anisotropy-hard", "tetrahedron", lambda: UniaxialAnisotropy(-0.4, (1, 0, 2), implicit=False),
     _anisotropy_hand),
    ("zeeman", "tetrahedron", lambda: Zeeman((0.1, -0.4, 0.3)),
     _lumped_hand(lambda term, mesh, phi: term._const(mesh))),
    ("zeeman-t", "tetrahedron", lambda: Zeeman(lambda t: (t, 1.0, -0.5)),
     _lumped_hand(lambda term, mesh, phi: term._const(mesh))),
    ("applied-symbolic", "tetrahedron", lambda: AppliedField(h_ufl, symbolic=True),
     _lumped_hand(lambda term, mesh, phi: term._field(phi))),
    ("applied-interpolated", "hexahedron", lambda: AppliedField(h_of_x),
     _lumped_hand(lambda term, mesh, phi: term._field(phi))),
]


def random_unit(V, seed):
    u = dolfinx.fem.Function(V)
    rng = np.random.default_rng([seed, V.mesh.comm.rank])
    n_own = V.dofmap.index_map.size_local
    v = rng.normal(size=(n_own, 3))
    u.x.array[: 3 * n_own] = (v / np.linalg.norm(v, axis=1, keepdims=True)).reshape(-1)
    u.x.scatter_forward()
    return u


def assemble(form):
    vec = dolfinx.fem.petsc.assemble_vector(dolfinx.fem.form(form))
    vec.ghostUpdate(addv=1, mode=1)  # ADD, REVERSE
    return vec


def scalar(form, comm):
    return comm.allreduce(dolfinx.fem.assemble_scalar(dolfinx.fem.form(form)), op=MPI.SUM)


def setup(cell):
    mesh = periodic_box_mesh(MPI.COMM_WORLD, 3, cell, 2)
    V = dolfinx.fem.functionspace(mesh, ("Lagrange", 1, (3,)))
    return mesh, V, ufl.TestFunction(V), random_unit(V, 1)


@pytest.mark.parametrize("name,cell,make,hand", CASES, ids=[c[0] for c in CASES])
def test_derived_field_equals_hand_written(name, cell, make, hand):
    mesh, V, phi, m = setup(cell)
    term = make()
    term.check(mesh)
    term.prepare(0.3, m)
    derived = assemble(term.field_form(m, phi))
    ref = assemble(hand(term, m, phi))
    assert ref.norm() > 0
    diff = derived.copy()
    diff.axpy(-1.0, ref)
    assert diff.norm() <= RTOL * ref.norm(), (name, diff.norm(), ref.norm())
    # a UFL vector that is not a Function (a midpoint) goes through a placeholder
    m2 = random_unit(V, 2)
    mid = dolfinx.fem.Function(V)
    mid.x.array[:] = 0.5 * (m.x.array + m2.x.array)
    d_mid = assemble(term.field_form(0.5 * (m + m2), phi))
    r_mid = assemble(hand(term, mid, phi))
    d_mid.axpy(-1.0, r_mid)
    assert d_mid.norm() <= RTOL * r_mid.norm(), name


@pytest.mark.parametrize("name,cell,make,hand", CASES, ids=[c[0] for c in CASES])
def test_field_is_minus_energy_derivative(name, cell, make, hand):
    """(H(m), v) = -dE/dm[v] by a central difference (exact for quadratic energies)."""
    mesh, V, phi, m = setup(cell)
    term = make()
    term.prepare(0.3, m)
    v = random_unit(V, 3)
    F = assemble(term.field_form(m, phi))
    n = F.getLocalSize()
    Fv = mesh.comm.allreduce(float(F.array_r @ v.x.array[:n]))
    s = 1e-3
    energies = []
    for sign in (1.0, -1.0):
        ms = dolfinx.fem.Function(V)
        ms.x.array[:] = m.x.array + sign * s * v.x.array
        energies.append(scalar(term.energy_form(ms), mesh.comm))
    fd = (energies[0] - energies[1]) / (2 * s)
    # |(H, v)| <= ||F|| ||v||: the scale that cannot vanish
    scale = F.norm() * np.sqrt(mesh.comm.allreduce(float(v.x.array[:n] @ v.x.array[:n])))
    assert abs(fd + Fv) <= 1e-9 * scale, (name, fd, -Fv)


@pytest.mark.parametrize("a,cell,kwargs", [
    (1.3, "tetrahedron", {}),
    (A3, "tetrahedron", {}),
    ("1 + 0.5*sin(2*pi*y[0])*cos(2*pi*y[2])", "tetrahedron", {"eps": 0.5}),
    ("1 + 0.5*sin(2*pi*y[0])", "hexahedron", {"eps": 0.5, "gauss_points": (1, 2, 2)}),
])
def test_exchange_hessian_equals_hand_written(a, cell, kwargs):
    """The implicit form (second derivative of the energy) is (a grad u, grad phi)."""
    mesh, V, phi, _ = setup(cell)
    term = Exchange(a, **kwargs)
    u = ufl.TrialFunction(V)
    K = dolfinx.fem.petsc.assemble_matrix(dolfinx.fem.form(term.bilinear(u, phi)))
    K.assemble()
    ref = dolfinx.fem.petsc.assemble_matrix(
        dolfinx.fem.form(ufl.inner(term._flux(u, mesh), ufl.grad(phi)) * term._dx(mesh))
    )
    ref.assemble()
    K.axpy(-1.0, ref)
    assert K.norm() <= RTOL * ref.norm()


@pytest.mark.parametrize("q", [0.7, -0.4])
def test_anisotropy_implicit_part_is_convex_representative(q):
    """b(m, .) = -H(m) + c m nodally: the derived field and the override agree on tangents."""
    mesh, V, phi, m = setup("tetrahedron")
    term = UniaxialAnisotropy(q, (0, 1, 1))
    u = ufl.TrialFunction(V)
    K = dolfinx.fem.petsc.assemble_matrix(dolfinx.fem.form(term.bilinear(u, phi)))
    K.assemble()
    F = assemble(term.field_form(m, phi))
    Km, mv = K.createVecs()
    mv.array[:] = m.x.array[: mv.getLocalSize()]
    K.mult(mv, Km)
    Km.axpy(1.0, F)  # b(m, .) + (H(m), .) = q+ (m, .)_h: parallel to m at every node
    n_own = V.dofmap.index_map.size_local
    r = Km.array_r.reshape(-1, 3)[:n_own]
    mn = m.x.array[: 3 * n_own].reshape(-1, 3)
    tangential = np.linalg.norm(np.cross(r, mn), axis=1).max(initial=0.0)
    assert mesh.comm.allreduce(tangential, op=MPI.MAX) <= RTOL * F.norm()


def test_extra_field_keeps_its_provided_field():
    """The hook's field is the provided H (an override: H(m) is not UFL), energy -f (H, m)_h."""
    mesh, V, phi, m = setup("tetrahedron")

    def provider(t, m, out):
        out.x.array.reshape(-1, 3)[:] = (0.0, 0.2, t)

    term = ExtraField(provider, energy_factor=0.5)
    term.prepare(0.7, m)
    F = assemble(term.field_form(m, phi))
    H = term.field_function(V)
    ref = assemble(ufl.inner(H, phi) * lumped_measure(mesh))
    F.axpy(-1.0, ref)
    assert F.norm() <= RTOL * ref.norm()
    e = scalar(-0.5 * ufl.inner(H, m) * lumped_measure(mesh), mesh.comm)
    assert term.energy(m) == pytest.approx(e, rel=1e-14)


def test_exchange_takes_any_coefficient_of_the_protocol():
    """A number/matrix, a ConstantCoefficient and a constant CellCoefficient give one field."""
    mesh, _, phi, m = setup("tetrahedron")
    ref = assemble(Exchange(A3).field_form(m, phi))
    for a in (ConstantCoefficient(A3),
              CellCoefficient.from_expression([[str(v) for v in row] for row in A3], 3)):
        term = Exchange(a, eps=0.5)
        term.check(mesh)
        F = assemble(term.field_form(m, phi))
        F.axpy(-1.0, ref)
        assert F.norm() <= RTOL * ref.norm()
    assert Exchange(ConstantCoefficient(A3)).describe()["a"] == A3
    with pytest.raises(ConfigError, match="per physical group"):
        Exchange(CellCoefficient.from_materials({1: 1.0}, 3))
    with pytest.raises(ConfigError, match=r"exchange: coefficient is not positive: a\(x/eps\)"):
        Exchange("0.2 + sin(2*pi*y[0])", eps=0.5).check(mesh)
