"""First-order cell problems (23a) and the homogenized tensor a^0 = A^H (26).

Independent truths:
* 1D: a^0 is the harmonic mean <1/a>^{-1} (closed form);
* laminates a = a(y_d): a^0 has the classical closed form (arithmetic mean along the
  layers, harmonic mean across; for matrix coefficients the Backus-type formula);
* smooth non-separable coefficients: measured convergence O(h^{2p}) of a^0_h against a
  reference on a much finer, higher-degree discretization;
* inclusion cells: symmetry, Voigt/Reuss and Hashin-Shtrikman bounds (a^0 of a square /
  cubic array is isotropic, so the HS bounds apply);
* 1 rank vs N ranks (``mpi`` marker).
"""

from __future__ import annotations

import numpy as np
import pytest

from femhomog import _fenicsx  # noqa: F401

# isort: split
import dolfinx
import ufl
from mpi4py import MPI

from femhomog.cell.correctors import first_order_correctors, homogenized_tensor
from femhomog.cell.problem import PeriodicCell
from femhomog.coefficients import CellCoefficient
from femhomog.meshes import (
    INCLUSION_TAG,
    MATRIX_TAG,
    inclusion_cell,
    laminate_cell,
    periodic_box_mesh,
)


def a0_structured(comm, dim, cell_type, n, degree, spec, solver_type="direct", qdeg=None):
    mesh = periodic_box_mesh(comm, dim, cell_type, n)
    cell = PeriodicCell.create(
        mesh,
        CellCoefficient.from_expression(spec, dim),
        degree=degree,
        quadrature_degree=qdeg,
        solver_type=solver_type,
    )
    return homogenized_tensor(cell, first_order_correctors(cell))


def a0_tagged(comm, data, materials, degree=1, solver_type="direct"):
    dim = data.mesh.topology.dim
    cell = PeriodicCell.create(
        data.mesh,
        CellCoefficient.from_materials(materials, dim),
        degree=degree,
        cell_tags=data.cell_tags,
        solver_type=solver_type,
    )
    return homogenized_tensor(cell, first_order_correctors(cell)), cell


def volume_fraction(data, tag):
    mesh = data.mesh
    dx = ufl.Measure("dx", domain=mesh, subdomain_data=data.cell_tags)
    one = dolfinx.fem.Constant(mesh, 1.0)
    vol = dolfinx.fem.assemble_scalar(dolfinx.fem.form(one * dx(tag)))
    return mesh.comm.allreduce(vol)


# ---------------------------------------------------------------- closed forms
@pytest.mark.parametrize("solver_type", ["direct", "iterative"])
def test_1d_harmonic_mean_paper_coefficient(solver_type):
    """a = sqrt(2) - cos(2 pi y): <1/a>^{-1} = 1 exactly (DESIGN.md verification fact)."""
    a0 = a0_structured(MPI.COMM_WORLD, 1, "interval", 64, 4, "sqrt(2) - cos(2*pi*y[0])", solver_type)
    assert a0.shape == (1, 1)
    assert abs(a0[0, 0] - 1.0) < 1e-10


def test_1d_harmonic_mean_other_coefficient():
    """a = 1/(2 + sin 2 pi y): <1/a>^{-1} = 1/2."""
    a0 = a0_structured(MPI.COMM_WORLD, 1, "interval", 64, 4, "1/(2 + sin(2*pi*y[0]))")
    assert abs(a0[0, 0] - 0.5) < 1e-10


@pytest.mark.parametrize("cell_type,n,degree", [("quadrilateral", 32, 4), ("triangle", 32, 4)])
def test_2d_smooth_laminate(cell_type, n, degree):
    """a = 2 + sin(2 pi y_2): a^0 = diag(<a>, <1/a>^{-1}) = diag(2, sqrt(3))."""
    a0 = a0_structured(MPI.COMM_WORLD, 2, cell_type, n, degree, "2 + sin(2*pi*y[1])")
    assert np.abs(a0 - np.diag([2.0, np.sqrt(3.0)])).max() < 1e-10


def test_2d_piecewise_laminate_gmsh_exact():
    """Two-phase gmsh laminate (interface resolved): P1 is exact, a^0 = diag(arith, harm)."""
    data = laminate_cell(MPI.COMM_WORLD, 2, fraction=0.3, mesh_size=0.1)
    a0, _ = a0_tagged(MPI.COMM_WORLD, data, {1: 1.0, 2: 10.0})
    f1, f2 = 0.3, 0.7
    arith = f1 * 1.0 + f2 * 10.0
    harm = 1.0 / (f1 / 1.0 + f2 / 10.0)
    assert np.abs(a0 - np.diag([arith, harm])).max() < 1e-10


def test_matrix_laminate_closed_form():
    """Full matrix a(y_2): a^0_22 = <1/a22>^-1, a^0_12 = <a12/a22>/<1/a22>,
    a^0_11 = <a11 - a12^2/a22> + <a12/a22>^2/<1/a22> (layered media)."""
    a11, a12, a22 = "3 + cos(2*pi*y[1])", "0.5*sin(2*pi*y[1])", "2 + sin(2*pi*y[1])"
    a0 = a0_structured(MPI.COMM_WORLD, 2, "quadrilateral", 32, 4, [[a11, a12], [a12, a22]])
    # Reference means by high-order Gauss quadrature of the 1D closed form.
    t, w = np.polynomial.legendre.leggauss(200)
    y = 0.5 * (t + 1)
    w = 0.5 * w
    A11 = 3 + np.cos(2 * np.pi * y)
    A12 = 0.5 * np.sin(2 * np.pi * y)
    A22 = 2 + np.sin(2 * np.pi * y)
    inv22 = w @ (1 / A22)
    r12 = w @ (A12 / A22)
    ref = np.array(
        [[w @ (A11 - A12**2 / A22) + r12**2 / inv22, r12 / inv22], [r12 / inv22, 1 / inv22]]
    )
    assert np.abs(a0 - ref).max() < 1e-9


def test_constant_matrix_is_its_own_homogenization():
    A = [["2.0", "0.3", "0.1"], ["0.3", "1.5", "-0.2"], ["0.1", "-0.2", "1.0"]]
    a0 = a0_structured(MPI.COMM_WORLD, 3, "hexahedron", 2, 1, A)
    assert np.abs(a0 - np.array(A, dtype=float)).max() < 1e-12


# ------------------------------------------------------------- convergence
SMOOTH_2D = "1 + 0.5*sin(2*pi*y[0])*sin(2*pi*y[1]) + 0.25*cos(2*pi*(y[0] + 2*y[1]))"
SMOOTH_3D = "2 + sin(2*pi*y[0])*cos(2*pi*y[1]) + 0.5*sin(2*pi*(y[1] + y[2]))"


@pytest.fixture(scope="module")
def reference_2d():
    """Q4 on 64 x 64 (error ~1e-11, far below the errors measured against it)."""
    return a0_structured(MPI.COMM_WORLD, 2, "quadrilateral", 64, 4, SMOOTH_2D)


@pytest.fixture(scope="module")
def reference_3d():
    """Q3 on 10^3 (error ~4e-7, 2% of the smallest error measured against it)."""
    return a0_structured(MPI.COMM_WORLD, 3, "hexahedron", 10, 3, SMOOTH_3D)


@pytest.mark.parametrize("cell_type", ["quadrilateral", "triangle"])
@pytest.mark.parametrize("degree,ns", [(1, (16, 32, 64)), (2, (8, 16, 32))])
def test_2d_convergence_order(reference_2d, cell_type, degree, ns):
    """|a^0_h - a^0| = O(h^{2p}) for a smooth non-separable coefficient."""
    errs = [
        np.abs(a0_structured(MPI.COMM_WORLD, 2, cell_type, n, degree, SMOOTH_2D) - reference_2d).max()
        for n in ns
    ]
    rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert rates[-1] == pytest.approx(2 * degree, abs=0.3), (errs, rates)
    assert np.all(np.diff(errs) < 0)


@pytest.mark.parametrize("degree,ns", [(1, (6, 12, 24)), (2, (4, 8, 12))])
def test_3d_convergence_order(reference_3d, degree, ns):
    """3D hexahedral cells: O(h^{2p})."""
    errs = np.array(
        [np.abs(a0_structured(MPI.COMM_WORLD, 3, "hexahedron", n, degree, SMOOTH_3D) - reference_3d).max()
         for n in ns]
    )
    rate = np.log(errs[-2] / errs[-1]) / np.log(ns[-1] / ns[-2])
    assert rate == pytest.approx(2 * degree, abs=0.3), (errs, rate)
    assert np.all(np.diff(errs) < 0)


# ---------------------------------------------------------- inclusion cells
def hashin_shtrikman(a1, a2, f2, d):
    """HS bounds for isotropic two-phase conductivity, a2 > a1 (phase 2 fraction f2)."""
    f1 = 1 - f2
    lower = a1 + f2 / (1 / (a2 - a1) + f1 / (d * a1))
    upper = a2 + f1 / (1 / (a1 - a2) + f2 / (d * a2))
    return lower, upper


@pytest.mark.parametrize(
    "dim,mesh_size,radius", [(2, 0.04, 0.3), (3, 0.12, 0.3)]
)
def test_inclusion_bounds(dim, mesh_size, radius):
    data = inclusion_cell(MPI.COMM_WORLD, dim, radius=radius, mesh_size=mesh_size)
    a1, a2 = 1.0, 10.0
    a0, cell = a0_tagged(MPI.COMM_WORLD, data, {MATRIX_TAG: a1, INCLUSION_TAG: a2}, degree=2)
    f2 = volume_fraction(data, INCLUSION_TAG) / cell.volume
    # The polyhedral inclusion is smaller than the ball by O((h/r)^2) (see test_meshes).
    assert f2 == pytest.approx(np.pi * radius**2 if dim == 2 else 4 / 3 * np.pi * radius**3, rel=0.1)
    assert np.abs(a0 - a0.T).max() < 1e-12
    eig = np.linalg.eigvalsh(a0)
    reuss = 1 / ((1 - f2) / a1 + f2 / a2)
    voigt = (1 - f2) * a1 + f2 * a2
    assert np.all(eig > reuss) and np.all(eig < voigt)
    lo, hi = hashin_shtrikman(a1, a2, f2, dim)
    # Square/cubic symmetry: a^0 is isotropic up to the (symmetric) mesh error.
    assert np.abs(a0 - np.mean(eig) * np.eye(dim)).max() < 2e-3 * np.mean(eig)
    assert np.all(eig > lo) and np.all(eig < hi), (eig, lo, hi)


# ----------------------------------------------------------------- MPI
@pytest.mark.mpi
@pytest.mark.parametrize(
    "dim,cell_type,n,degree,spec",
    [
        (1, "interval", 32, 3, "sqrt(2) - cos(2*pi*y[0])"),
        (2, "triangle", 12, 2, SMOOTH_2D),
        (2, "quadrilateral", 12, 2, [["2 + sin(2*pi*y[0])", "0.3"], ["0.3", "1.5"]]),
        (3, "tetrahedron", 4, 2, SMOOTH_3D),
        (3, "hexahedron", 5, 2, SMOOTH_3D),
    ],
)
@pytest.mark.parametrize("solver_type", ["direct", "iterative"])
def test_a0_parallel_equals_serial(dim, cell_type, n, degree, spec, solver_type):
    par = a0_structured(MPI.COMM_WORLD, dim, cell_type, n, degree, spec, solver_type)
    ser = a0_structured(MPI.COMM_SELF, dim, cell_type, n, degree, spec, solver_type)
    assert np.abs(par - ser).max() < 1e-10


@pytest.mark.mpi
def test_a0_parallel_gmsh_inclusion():
    materials = {MATRIX_TAG: 1.0, INCLUSION_TAG: 10.0}
    par, _ = a0_tagged(MPI.COMM_WORLD, inclusion_cell(MPI.COMM_WORLD, 2, mesh_size=0.08), materials)
    ser, _ = a0_tagged(MPI.COMM_SELF, inclusion_cell(MPI.COMM_SELF, 2, mesh_size=0.08), materials)
    assert np.abs(par - ser).max() < 1e-10
