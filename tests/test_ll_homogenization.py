"""The LL homogenization experiment (demos/ll_homogenization.py) and its helpers.

The experiment is :mod:`femhomog.micromag.experiments.ll_homogenization`.

Independent truths:

* norms of piecewise-linear fields that P1 represents exactly (linear functions,
  hats), so ``difference_norms`` on nested meshes must reproduce them to rounding;
* the 1D cell corrector of (4.13) in closed form: ``a (1 + chi') = A^H`` with
  ``A^H = <1/a>^{-1} = sqrt(0.75)`` for ``a = 1 + 0.5 sin(2 pi y)``, so
  ``chi(y) = int_0^y (A^H/a - 1) - mean``;
* the lumped-L2 recovered gradient of a P1 field on a uniform periodic 1D grid is
  the central difference, e.g. ``cos(2 pi x) sin(2 pi h)/h`` for ``sin(2 pi x)``;
* Theorem 3.1 (3.8): ``||m^eps - m_0||_L2 = O(eps)``, ``H1`` error ``O(1)``, at
  fixed times; the quick run must show rate ~1 with discretization errors
  (self-convergence under h/2, tol/8) at least 10x below the measured errors.
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

from femhomog import (
    ConfigError,
    _fenicsx,  # noqa: F401
)

# isort: split
import dolfinx
from mpi4py import MPI

from femhomog.cell.correctors import first_order_correctors, homogenized_tensor
from femhomog.cell.problem import PeriodicCell
from femhomog.coefficients import CellCoefficient
from femhomog.meshes import periodic_box_mesh
from femhomog.micromag import LLGProblem
from femhomog.micromag.experiments import ll_homogenization as experiment
from femhomog.micromag.homogenization import (
    difference_norms,
    evaluate_periodic,
    first_order_approximation,
    recovered_gradient,
    transfer,
)
from femhomog.periodic import periodic_constraint

A_1D = "1 + 0.5*sin(2*pi*y[0])"
AH_1D = math.sqrt(0.75)


def p1_vector(mesh, f):
    V = dolfinx.fem.functionspace(mesh, ("Lagrange", 1, (3,)))
    u = dolfinx.fem.Function(V)
    u.interpolate(f)
    u.x.scatter_forward()
    return u


def chi_1d_exact(y):
    """Zero-mean solution of (4.13) for a = 1 + 0.5 sin(2 pi y) (fine trapezoid rule)."""
    s = np.linspace(0.0, 1.0, 200001)
    dchi = AH_1D / (1 + 0.5 * np.sin(2 * np.pi * s)) - 1.0
    chi = np.concatenate([[0.0], np.cumsum(0.5 * (dchi[1:] + dchi[:-1]) * np.diff(s))])
    chi -= np.trapezoid(chi, s)
    return np.interp(np.mod(y, 1.0), s, chi)


def cell_1d():
    mesh = periodic_box_mesh(MPI.COMM_SELF, 1, "interval", 128)
    cell = PeriodicCell.create(mesh, CellCoefficient.from_expression(A_1D, 1), degree=2)
    chis = first_order_correctors(cell)
    return homogenized_tensor(cell, chis), chis


# ---------------------------------------------------------------------- helpers
def test_difference_norms_exact_on_nested_meshes(comm=MPI.COMM_WORLD):
    coarse = periodic_box_mesh(comm, 1, "interval", 8)
    fine = periodic_box_mesh(comm, 1, "interval", 24)
    # linear fields: u - v = (x, -2x, 0), |.|^2 = 5 x^2, gradient (1, -2, 0)
    u = p1_vector(coarse, lambda x: np.vstack([x[0], 0 * x[0], 0 * x[0]]))
    v = p1_vector(fine, lambda x: np.vstack([0 * x[0], 2 * x[0], 0 * x[0]]))
    for a, b in ((u, v), (v, u)):
        l2, h1 = difference_norms(a, b)
        assert l2 == pytest.approx(math.sqrt(5 / 3), rel=1e-13)
        assert h1 == pytest.approx(math.sqrt(5), rel=1e-13)
    # a hat |x - 1/2| is P1 on the coarse mesh: L2^2 = 1/12, |.|_H1 = 1
    hat = p1_vector(coarse, lambda x: np.vstack([np.abs(x[0] - 0.5), 0 * x[0], 0 * x[0]]))
    zero = p1_vector(fine, lambda x: np.zeros((3, x.shape[1])))
    l2, h1 = difference_norms(zero, hat)
    assert l2 == pytest.approx(math.sqrt(1 / 12), rel=1e-13)
    assert h1 == pytest.approx(1.0, rel=1e-13)
    # the coarse field transferred to the fine mesh is the same function
    assert difference_norms(transfer(hat, zero.function_space), hat) == pytest.approx(
        (0.0, 0.0), abs=1e-14
    )


def test_difference_norms_2d_linear():
    coarse = periodic_box_mesh(MPI.COMM_WORLD, 2, "triangle", 4)
    fine = periodic_box_mesh(MPI.COMM_WORLD, 2, "triangle", 8)
    u = p1_vector(coarse, lambda x: np.vstack([x[0] + x[1], 0 * x[0], 0 * x[0]]))
    v = p1_vector(fine, lambda x: np.vstack([0 * x[0], 0 * x[0], x[1]]))
    # int (x+y)^2 + y^2 over the unit square = 7/6 + 1/3; gradients (1,1), (0,1)
    l2, h1 = difference_norms(u, v)
    assert l2 == pytest.approx(math.sqrt(7 / 6 + 1 / 3), rel=1e-12)
    assert h1 == pytest.approx(math.sqrt(3.0), rel=1e-12)


def test_cell_corrector_evaluated_at_x_over_eps():
    AH, chis = cell_1d()
    assert AH[0, 0] == pytest.approx(AH_1D, abs=1e-8)
    x = np.random.default_rng(3).uniform(0.0, 1.0, size=(50, 3))
    x[:3, 0] = (0.0, 1.0, 0.2)  # cell boundaries after wrapping
    eps = 1 / 7
    vals = evaluate_periodic(chis, x, eps)
    assert vals.shape == (50, 1)
    np.testing.assert_allclose(vals[:, 0], chi_1d_exact(x[:, 0] / eps), atol=1e-6)  # P2, h^3


def evaluate_periodic_needs_rank_local_cell():
    mesh = periodic_box_mesh(MPI.COMM_WORLD, 1, "interval", 8)
    f = dolfinx.fem.Function(dolfinx.fem.functionspace(mesh, ("Lagrange", 1)))
    with pytest.raises(ConfigError, match="COMM_SELF"):
        evaluate_periodic([f], np.zeros((1, 3)), 0.5)


def test_recovered_gradient_is_periodic_central_difference(comm=MPI.COMM_WORLD):
    n = 16
    h = 1.0 / n
    mesh = periodic_box_mesh(comm, 1, "interval", n)
    s = 0.2  # phase: no symmetry about the faces of the box
    u = p1_vector(mesh, lambda x: np.vstack([np.sin(2 * np.pi * (x[0] - s)), 0 * x[0], 0 * x[0]]))
    (G,) = recovered_gradient(u, periodic_constraint(u.function_space))
    x = u.function_space.tabulate_dof_coordinates()[:, 0]
    expected = np.cos(2 * np.pi * (x - s)) * np.sin(2 * np.pi * h) / h
    np.testing.assert_allclose(G.x.array.reshape(-1, 3)[:, 0], expected, atol=1e-12)
    # without the identification the end nodes see one cell only (one-sided difference)
    (G,) = recovered_gradient(u)
    ends = np.isclose(x, 0.0) | np.isclose(x, 1.0)
    if ends.any():
        assert np.all(np.abs(G.x.array.reshape(-1, 3)[ends, 0] - expected[ends]) > 1e-2)


def test_first_order_approximation_nodal_values(comm=MPI.COMM_WORLD):
    """m_0 + eps grad m_0 chi(x/eps) (4.12 without v) at the nodes of a finer mesh."""
    _, chis = cell_1d()
    n0, n, eps = 16, 64, 1 / 4
    mesh0 = periodic_box_mesh(comm, 1, "interval", n0)
    prob = LLGProblem(
        mesh0,
        [],
        0.1,
        periodic=True,
        m0=lambda x: np.vstack([np.sin(2 * np.pi * x[0]), np.cos(2 * np.pi * x[0]), 0 * x[0]]),
    )
    V = dolfinx.fem.functionspace(periodic_box_mesh(comm, 1, "interval", n), ("Lagrange", 1, (3,)))
    approx = first_order_approximation(prob.m, chis, eps, V, prob.reduction)
    x = V.tabulate_dof_coordinates()[:, 0]
    # independent evaluation: nodal values and central differences of m_0 on its
    # grid, linear interpolation between its nodes, closed-form chi
    x0 = np.linspace(0.0, 1.0, n0 + 1)
    m0 = np.vstack([np.sin(2 * np.pi * x0), np.cos(2 * np.pi * x0), 0 * x0]).T
    g0 = (np.roll(m0[:-1], -1, axis=0) - np.roll(m0[:-1], 1, axis=0)) * n0 / 2
    g0 = np.vstack([g0, g0[:1]])
    chi = chi_1d_exact(x / eps)
    for c in range(3):
        expected = np.interp(x, x0, m0[:, c]) + eps * np.interp(x, x0, g0[:, c]) * chi
        np.testing.assert_allclose(approx.x.array.reshape(-1, 3)[:, c], expected, atol=2e-6)


@pytest.mark.mpi
def test_helpers_distributed():
    """The helpers on meshes distributed over all ranks (differently partitioned
    nested meshes, ghost nodes, periodic faces owned by different ranks)."""
    test_difference_norms_exact_on_nested_meshes(MPI.COMM_WORLD)
    test_difference_norms_2d_linear()
    test_recovered_gradient_is_periodic_central_difference(MPI.COMM_WORLD)
    test_first_order_approximation_nodal_values(MPI.COMM_WORLD)
    if MPI.COMM_WORLD.size > 1:
        evaluate_periodic_needs_rank_local_cell()


# ---------------------------------------------------------------------- the experiment
def test_quick_run_rates_and_self_convergence(tmp_path):
    """--quick: L2 rate ~1 (Theorem 3.1), H1 error O(1), discretization errors >= 10x smaller."""
    result = experiment.run("1d", out=tmp_path, quick=True, comm=MPI.COMM_WORLD, verbose=False)
    assert result["A_H"][0][0] == pytest.approx(AH_1D, abs=1e-8)

    lines = (tmp_path / "rates.csv").read_text().splitlines()
    assert lines[0] == "eps,T,err_L2,err_H1"
    table = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    assert table.shape == (2, 4) and np.all(table[:, 1] == 0.1)
    eps, l2, h1 = table[:, 0], table[:, 2], table[:, 3]
    rate_l2 = math.log(l2[0] / l2[1]) / math.log(eps[0] / eps[1])
    rate_h1 = math.log(h1[0] / h1[1]) / math.log(eps[0] / eps[1])
    assert 0.7 <= rate_l2 <= 1.3, table
    assert abs(rate_h1) < 0.2, table  # O(1) without correctors
    assert result["rates"]["L2"][0] == pytest.approx(rate_l2)

    # self-convergence (h/2, tol/8) of m_0 and of m^eps at both eps
    conv = result["convergence"]
    assert {c["solution"] for c in conv} == {"m_0", "m_eps"} and len(conv) == 3
    for c in conv:
        assert c["diff_L2"] * 10 <= c["err_L2"], c
        assert c["diff_H1"] * 10 <= c["err_H1"], c
    header = (tmp_path / "convergence.csv").read_text().splitlines()[0]
    assert header == ",".join(experiment.CONVERGENCE_HEADER)

    # the corrector grad m_0 chi(x/eps) removes most of the error once v has decayed
    corrected = np.array(result["corrected"])
    assert np.all(corrected[:, 2] < l2 / 5) and np.all(corrected[:, 3] < h1 / 5)

    assert (tmp_path / "summary.json").exists()
    has_mpl = importlib.util.find_spec("matplotlib") is not None
    assert (tmp_path / "rates.png").exists() == has_mpl


def test_quick_2d_laminate_rate_and_resolved_error(tmp_path):
    """2D laminate a(x_1/eps): A^H = diag(harmonic, arithmetic mean), L2 rate ~1, H1 O(1).

    At the quick sizes (8 cells along the layers) each solution is off by ~1e-2 in L2,
    7x the measured error; the x_2-discretization errors of m^eps and m_0 are the
    same to leading order and cancel in m^eps - m_0, so the measured error itself
    must already be resolved: recomputed with both solutions refined (h/2 along
    both axes, tol/8) it changes by < 10 %.
    """
    result = experiment.run("2d", out=tmp_path, quick=True, comm=MPI.COMM_WORLD, verbose=False)
    np.testing.assert_allclose(result["A_H"], np.diag([AH_1D, 1.0]), atol=1e-6)
    rates = result["rates"]
    assert 0.7 <= rates["L2"][0] <= 1.3, result["rows"]
    assert abs(rates["H1"][0]) < 0.2, result["rows"]
    (row,) = [c for c in result["convergence"] if c["solution"] == "m_eps"]
    assert row["cells"] == "64x8" and row["cells_ref"] == "128x16"
    assert abs(row["err_L2_ref"] - row["err_L2"]) < 0.1 * row["err_L2"], row
    assert abs(row["err_H1_ref"] - row["err_H1"]) < 0.1 * row["err_H1"], row
