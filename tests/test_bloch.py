"""Bloch eigenvalues lambda_j(k) of -div(a grad) on the periodic cell (femhomog.cell.bloch).

* the real 2N x 2N form: the expansion (B4) K0 + k K1 + k k K2 equals the definition form
  (a G_k(v), G_k(w)) with k a Constant (scalar and matrix a);
* closed forms: a constant gives lambda_1 = a k.k (v = const is exact), in 1D
  lambda_2 = (2 pi - |k|)^2, and k = 0 gives the periodic Laplacian (0, 4 pi^2 twice);
* the dispersion identity (B3): the Taylor coefficients of lambda_1(t theta) are
  a^0:theta^2, -S(g^2):theta^4 and +S(g^4):theta^6 from the correctors (1D), and the
  first two along several directions for a smooth non-laminate 2D coefficient;
* 1 rank vs N ranks (``mpi`` marker).
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
from mpi4py import MPI

from femhomog.cell.bloch import BlochSolver, bloch_eigenvalues, bloch_taylor_coefficients
from femhomog.cell.correctors import CellCorrectors
from femhomog.cell.problem import PeriodicCell
from femhomog.coefficients import CellCoefficient
from femhomog.meshes import periodic_box_mesh
from femhomog.tensors import apply, effective_wave_tensors, p_tensors

SPEC_1D = "sqrt(2) - cos(2*pi*y[0])"  # a^0 = 1 (harmonic mean)
SMOOTH_2D = "1 + 0.5*sin(2*pi*y[0])*sin(2*pi*y[1]) + 0.25*cos(2*pi*(y[0] + 2*y[1]))"
MATRIX_2D = [["2", "0.5"], ["0.5", "1"]]


def make_cell(comm, dim, cell_type, n, degree, spec):
    mesh = periodic_box_mesh(comm, dim, cell_type, n)
    return PeriodicCell.create(mesh, CellCoefficient.from_expression(spec, dim), degree=degree)


def corrector_tensors(cell, delta=None):
    """a^0, S(g^2), S(g^4) by the naive formula (40) (recipe of the wave paper Sect. 3)."""
    C = CellCorrectors(cell)
    C.solve_next([])
    a0 = C.homogenized_tensor()
    C.ensure_order(3, p_tensors(a0, [], []))
    g2 = C.g_naive(1)
    eff = effective_wave_tensors(a0, [g2], delta=delta)
    C.ensure_order(5, p_tensors(a0, eff.a, eff.b))
    return a0, g2, C.g_naive(2)


# ----------------------------------------------------------------- the real form
@pytest.mark.parametrize(
    "dim,cell_type,n,spec,k",
    [
        (1, "interval", 8, SPEC_1D, [0.7]),
        (2, "triangle", 4, SMOOTH_2D, [0.7, -1.3]),
        (2, "quadrilateral", 4, MATRIX_2D, [0.7, -1.3]),
    ],
)
def test_expansion_equals_definition_form(dim, cell_type, n, spec, k):
    bs = BlochSolver(make_cell(MPI.COMM_WORLD, dim, cell_type, n, 2, spec))
    K = bs.operator(k)
    D = bs.assemble_definition(k)
    assert K.isSymmetric(1e-12 * K.norm())
    D.axpy(-1.0, K)
    assert D.norm() < 1e-13 * K.norm()
    D.destroy()
    bs.destroy()


# ----------------------------------------------------------------- closed forms
def test_constant_1d_first_two_bands():
    cell = make_cell(MPI.COMM_WORLD, 1, "interval", 16, 3, "1")
    bs = BlochSolver(cell)
    for k in (0.3, -2.0, 3.0):
        lam = bs.eigenvalues([k], 2)
        assert abs(lam[0] - k * k) < 1e-12 * max(1.0, k * k)
        assert abs(lam[1] - (2 * math.pi - abs(k)) ** 2) < 1e-6 * lam[1]  # P3 error ~4e-8
    # k = 0: the periodic Laplacian, 0 and 4 pi^2 twice (e^{+-2 pi i y})
    lam = bs.eigenvalues([0.0], 3)
    assert abs(lam[0]) < 1e-12
    np.testing.assert_allclose(lam[1:], 4 * math.pi**2, rtol=1e-6)
    bs.destroy()


@pytest.mark.parametrize(
    "cell_type,spec,a",
    [
        ("triangle", "1", np.eye(2)),
        ("quadrilateral", MATRIX_2D, np.array([[2.0, 0.5], [0.5, 1.0]])),
    ],
)
def test_constant_2d_first_band(cell_type, spec, a):
    bs = BlochSolver(make_cell(MPI.COMM_WORLD, 2, cell_type, 6, 2, spec))
    for k in ([0.3, -0.5], [math.pi, 0.0], [-1.0, 2.5]):
        k = np.asarray(k)
        assert abs(bs.lambda1(k) - k @ a @ k) < 1e-12 * max(1.0, k @ a @ k)
    bs.destroy()


def test_one_off_function_and_errors():
    cell = make_cell(MPI.COMM_WORLD, 1, "interval", 8, 2, "1")
    lam = bloch_eigenvalues(cell, [0.5], n=2)
    assert lam.shape == (2,) and abs(lam[0] - 0.25) < 1e-12
    with pytest.raises(ConfigError):
        bloch_eigenvalues(cell, [0.5, 0.1])
    with pytest.raises(ConfigError):
        bloch_eigenvalues(cell, [0.5], n=0)
    with pytest.raises(ConfigError):
        bloch_taylor_coefficients(cell, [0.0])
    with pytest.raises(ConfigError):
        bloch_taylor_coefficients(cell, [1.0], orders=(2, 3))
    with pytest.raises(ConfigError):
        bloch_taylor_coefficients(cell, [1.0], h=4.0)  # outside the Brillouin zone


# ----------------------------------------------------------------- dispersion (B3)
def test_taylor_coefficients_1d_match_correctors():
    """c_2 = a^0, c_4 = -S(g^2), c_6 = +S(g^4): the sign convention of DESIGN.md errata."""
    cell = make_cell(MPI.COMM_WORLD, 1, "interval", 32, 3, SPEC_1D)
    a0, g2, g4 = corrector_tensors(cell)
    a0, g2, g4 = float(a0.ravel()[0]), float(g2.ravel()[0]), float(g4.ravel()[0])
    c = bloch_taylor_coefficients(cell, [1.0])
    assert abs(c[2] - a0) < 1e-11 * abs(a0)
    assert abs(c[4] + g2) < 1e-8 * abs(g2)  # measured ~1e-10
    assert abs(c[6] - g4) < 1e-6 * abs(g4)  # measured ~1e-8
    # the opposite sign of the t^6 term is off by 2 |S(g^4)|: the convention is decided
    assert abs(c[6] + g4) > abs(g4)
    # S(g^4) does not depend on the choice of a^2, b^2 (delta* vs a larger delta)
    _, _, g4_delta = corrector_tensors(cell, delta=0.5)
    assert abs(float(g4_delta.ravel()[0]) - g4) < 1e-10 * abs(g4)


def test_taylor_coefficients_2d_directions():
    cell = make_cell(MPI.COMM_WORLD, 2, "quadrilateral", 8, 2, SMOOTH_2D)
    C = CellCorrectors(cell)
    C.solve_next([])
    a0 = C.homogenized_tensor()
    C.ensure_order(3, p_tensors(a0, [], []))
    g2 = C.g_naive(1)
    assert abs(a0[0, 1]) > 1e-3  # non-laminate, anisotropic: a real test of the directions
    bs = BlochSolver(cell)
    for theta in ([1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, -2.0]):
        th = np.asarray(theta) / np.linalg.norm(theta)
        c = bloch_taylor_coefficients(cell, theta, orders=(2, 4), solver=bs)
        assert abs(c[2] - apply(a0, th)) < 1e-11 * apply(a0, th)
        assert abs(c[4] + apply(g2, th)) < 1e-6 * apply(g2, th)  # measured <= 5e-9
    bs.destroy()


# ----------------------------------------------------------------- MPI
@pytest.mark.mpi
def test_bloch_parallel_equals_serial():
    k = [0.7, -0.4]
    par = bloch_eigenvalues(make_cell(MPI.COMM_WORLD, 2, "triangle", 8, 2, SMOOTH_2D), k, n=2)
    ser = bloch_eigenvalues(make_cell(MPI.COMM_SELF, 2, "triangle", 8, 2, SMOOTH_2D), k, n=2)
    np.testing.assert_allclose(par, ser, rtol=1e-9)
