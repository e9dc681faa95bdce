"""Periodic constraint u = P u_r on Lagrange spaces of every cell type.

Independent truths: the number of periodic dofs of a structured mesh ((k n)^d for
degree k on n^d cells), exact reproduction of periodic interpolants, and a
manufactured periodic solution of -div grad u + u = f whose L2 error converges at
the optimal rate k + 1.  The ``mpi`` tests compare COMM_WORLD with COMM_SELF.
"""

from __future__ import annotations

import numpy as np
import pytest

from femhomog import (
    MeshError,
    _fenicsx,  # noqa: F401
)

# isort: split
import dolfinx
import dolfinx.fem.petsc
import ufl
from mpi4py import MPI
from petsc4py import PETSc

from femhomog.meshes import periodic_box_mesh
from femhomog.periodic import periodic_constraint

CELLS = [
    (1, "interval"),
    (2, "triangle"),
    (2, "quadrilateral"),
    (3, "tetrahedron"),
    (3, "hexahedron"),
]


def _exact(x, dim: int, lengths):
    """A smooth function periodic on the box [0, L]."""
    u = 1.0
    for i in range(dim):
        u = u * ufl.cos(2 * np.pi * x[i] / lengths[i] + 0.3 * (i + 1))
    return u + 0.5 * ufl.sin(2 * np.pi * x[0] / lengths[0])


def solve_periodic_reaction_diffusion(comm, dim, cell_type, n, degree, lengths=1.0, shape=()):
    """Solve -div grad u + u = f with periodic BCs via P^T A P; return L2 error and dofs."""
    mesh = periodic_box_mesh(comm, dim, cell_type, n, lengths=lengths)
    L = np.broadcast_to(np.asarray(lengths, dtype=float), (dim,))
    V = dolfinx.fem.functionspace(mesh, ("Lagrange", degree, shape))
    pc = periodic_constraint(V)
    x = ufl.SpatialCoordinate(mesh)
    ue = _exact(x, dim, L)
    if shape:
        ue = ufl.as_vector([ue * (c + 1) for c in range(shape[0])])
    f = -ufl.div(ufl.grad(ue)) + ue
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    dx = ufl.dx(metadata={"quadrature_degree": 2 * degree + 4})
    a = dolfinx.fem.form((ufl.inner(ufl.grad(u), ufl.grad(v)) + ufl.inner(u, v)) * dx)
    rhs = dolfinx.fem.form(ufl.inner(f, v) * dx)
    A = dolfinx.fem.petsc.assemble_matrix(a)
    A.assemble()
    K = pc.reduce_matrix(A)
    b = pc.assemble_reduced_vector(rhs)
    ksp = PETSc.KSP().create(comm)
    ksp.setOperators(K)
    ksp.setType("preonly")
    ksp.getPC().setType("lu")
    ksp.getPC().setFactorSolverType("mumps")
    xr = pc.create_reduced_vector()
    ksp.solve(b, xr)
    uh = dolfinx.fem.Function(V)
    pc.expand(xr, uh)
    err = dolfinx.fem.form(ufl.inner(uh - ue, uh - ue) * dx)
    e = np.sqrt(comm.allreduce(dolfinx.fem.assemble_scalar(err)))
    for obj in (ksp, A, K, b, xr):
        obj.destroy()
    return e, pc.num_reduced_global


@pytest.mark.parametrize("dim,cell_type", CELLS)
@pytest.mark.parametrize("degree", [1, 2, 3])
def test_periodic_dof_count(dim, cell_type, degree):
    n = 3
    mesh = periodic_box_mesh(MPI.COMM_WORLD, dim, cell_type, n)
    V = dolfinx.fem.functionspace(mesh, ("Lagrange", degree))
    pc = periodic_constraint(V)
    assert pc.num_reduced_global == (degree * n) ** dim
    assert V.dofmap.index_map.size_global == (degree * n + 1) ** dim


@pytest.mark.parametrize("dim,cell_type", CELLS)
def test_periodic_interpolant_round_trip(dim, cell_type):
    """A periodic interpolant is in the range of P: expand(restrict(u)) == u exactly."""
    mesh = periodic_box_mesh(MPI.COMM_WORLD, dim, cell_type, 4)
    V = dolfinx.fem.functionspace(mesh, ("Lagrange", 2))
    pc = periodic_constraint(V)
    u = dolfinx.fem.Function(V)
    u.interpolate(
        lambda x: np.cos(2 * np.pi * x[0]) + (np.sin(2 * np.pi * x[1]) if dim > 1 else 0.0)
    )
    w = dolfinx.fem.Function(V)
    pc.expand(pc.restrict(u), w)
    assert np.allclose(w.x.array, u.x.array, atol=1e-13)
    # A non-periodic function is not: P P^+ is a projection onto periodic functions.
    u.interpolate(lambda x: x[0])
    pc.expand(pc.restrict(u), w)
    assert np.max(np.abs(w.x.array - u.x.array)) > 0.4


@pytest.mark.parametrize("dim,cell_type", CELLS)
@pytest.mark.parametrize("degree", [1, 2])
def test_periodic_manufactured_convergence(dim, cell_type, degree):
    """L2 error of the periodic Galerkin solution converges as h^(k+1)."""
    ns = {1: (8, 16), 2: (8, 16), 3: (8, 16) if degree == 1 else (4, 8)}[dim]
    errs = [solve_periodic_reaction_diffusion(MPI.COMM_WORLD, dim, cell_type, n, degree)[0] for n in ns]
    rate = np.log(errs[0] / errs[1]) / np.log(ns[1] / ns[0])
    assert rate == pytest.approx(degree + 1, abs=0.35), (errs, rate)


def test_periodic_vector_space_and_box():
    """Blocked (vector) space on a box [0,2] x [0,3]: still optimal and correct count."""
    errs = []
    for n in (6, 12):
        e, nred = solve_periodic_reaction_diffusion(
            MPI.COMM_WORLD, 2, "quadrilateral", n, 2, lengths=[2.0, 3.0], shape=(2,)
        )
        assert nred == 2 * (2 * n) ** 2
        errs.append(e)
    assert np.log2(errs[0] / errs[1]) == pytest.approx(3, abs=0.35)


def test_non_periodic_mesh_is_rejected():
    """Moving upper-face nodes breaks the face matching: clear MeshError."""
    mesh = periodic_box_mesh(MPI.COMM_WORLD, 2, "triangle", 6)
    x = mesh.geometry.x
    on_right = np.isclose(x[:, 0], 1.0) & (x[:, 1] > 1e-8) & (x[:, 1] < 1 - 1e-8)
    x[on_right, 1] += 0.02
    V = dolfinx.fem.functionspace(mesh, ("Lagrange", 1))
    with pytest.raises(MeshError, match="not periodic-compatible"):
        periodic_constraint(V)


@pytest.mark.mpi
@pytest.mark.parametrize("dim,cell_type", CELLS)
def test_periodic_parallel_equals_serial(dim, cell_type):
    """Same reduced size and same discrete solution on COMM_WORLD and COMM_SELF."""
    n = {1: 16, 2: 8, 3: 4}[dim]
    e_par, n_par = solve_periodic_reaction_diffusion(MPI.COMM_WORLD, dim, cell_type, n, 2)
    e_ser, n_ser = solve_periodic_reaction_diffusion(MPI.COMM_SELF, dim, cell_type, n, 2)
    assert n_par == n_ser == (2 * n) ** dim
    assert e_par == pytest.approx(e_ser, rel=1e-10)


@pytest.mark.mpi
def test_non_periodic_mesh_rejected_on_every_rank():
    mesh = periodic_box_mesh(MPI.COMM_WORLD, 2, "quadrilateral", 8)
    x = mesh.geometry.x
    sel = np.isclose(x[:, 1], 1.0) & (x[:, 0] > 0.3) & (x[:, 0] < 0.7)
    x[sel, 0] += 0.01
    V = dolfinx.fem.functionspace(mesh, ("Lagrange", 1))
    with pytest.raises(MeshError, match="not periodic-compatible"):
        periodic_constraint(V)
