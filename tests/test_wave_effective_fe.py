"""Finite elements for the effective wave equations (14), s = 0 and 1 (C0 interior penalty).

Independent truths:

* a standing wave ``sin(k.x) cos(omega t)`` on a box with u = 0, ``omega^2`` from the
  dispersion relation of (14) (``A(k)/B(k)``, DESIGN.md): measured orders 2 (P2) and 4
  (P3) in space, 2 in time (trapezoidal rule), in 1D and 2D with an anisotropic ``a^2``;
* the energy ``1/2 v.M v + 1/2 u.K u`` the scheme conserves, to round-off, over hundreds
  of steps (Neumann boundary, 2D);
* the exact Fourier-mode solver on a periodic box (a localized pulse that does not reach
  the boundary): the FE solution converges to it, for s = 0 and s = 1;
* a source ``f = sin(k x)``: the mode obeys ``u_k'' + omega^2 u_k = f_k`` (``Q f`` of (29)
  cancels the ``b^2`` symbol, as in the Fourier solver);
* 1 rank vs 2 ranks (``mpi``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from femhomog import ConfigError, _fenicsx  # noqa: F401

# isort: split
import dolfinx
from mpi4py import MPI

from femhomog.tensors.effective import EffectiveTensors, dispersion_effective
from femhomog.wave import EffectiveFourierSolver, EffectiveWaveFE, PeriodicGrid


def tensors_1d(a0=1.2, a2=0.3, b2=0.5, order=1) -> EffectiveTensors:
    A2 = np.full((1, 1, 1, 1), a2)
    if order == 0:
        return EffectiveTensors(np.array([[a0]]), [], [], [], [], [])
    return EffectiveTensors(np.array([[a0]]), [0 * A2], [A2], [np.array([[b2]])], [1.0], [0 * A2])


def tensors_2d(order=1) -> EffectiveTensors:
    """Anisotropic a^0, b^2 and a fully symmetric, positive semidefinite a^2 without odd
    mixed components (so sin modes stay eigenfunctions with u = 0 on the box)."""
    a0 = np.diag([1.3, 0.8])
    if order == 0:
        return EffectiveTensors(a0, [], [], [], [], [])
    A = np.zeros((2, 2, 2, 2))
    A[0, 0, 0, 0], A[1, 1, 1, 1] = 0.3, 0.2
    for idx in [(0, 0, 1, 1), (0, 1, 0, 1), (0, 1, 1, 0), (1, 0, 0, 1), (1, 0, 1, 0), (1, 1, 0, 0)]:
        A[idx] = 0.05
    return EffectiveTensors(a0, [0 * A], [A], [np.diag([0.5, 0.25])], [1.0], [0 * A])


def rates(errors):
    return [math.log2(errors[i] / errors[i + 1]) for i in range(len(errors) - 1)]


def standing_wave_error(comm, tensors, eps, n, degree, dt, T, k):
    """L2 error at T of the standing wave prod sin(k_i x_i) cos(omega t), relative to the
    amplitude (not to the solution at T, which vanishes where cos(omega T) does)."""
    d = tensors.dim
    L = [math.pi] * d
    if d == 1:
        mesh = dolfinx.mesh.create_interval(comm, n, [0.0, L[0]])
    else:
        mesh = dolfinx.mesh.create_rectangle(comm, [[0.0, 0.0], L], [n, n],
                                             dolfinx.mesh.CellType.triangle)
    fe = EffectiveWaveFE(mesh, tensors, eps, degree=degree, boundary="dirichlet")
    omega = math.sqrt(float(dispersion_effective(tensors, np.asarray(k, float), eps)))

    def mode(x):
        return np.prod([np.sin(k[i] * x[i]) for i in range(d)], axis=0)

    fe.set_initial(mode)
    _, amplitude = fe.l2_error(mode)
    fe.advance(T, dt)
    err, _ = fe.l2_error(lambda x: mode(x) * math.cos(omega * T))
    fe.destroy()
    return err / amplitude


@pytest.mark.parametrize("dim,degree,k,cells,order", [
    (1, 2, [3.0], (16, 32, 64), 2.0),
    (2, 2, [2.0, 1.0], (8, 16, 32), 2.0),
    (2, 3, [2.0, 1.0], (4, 8, 16), 4.0),
])
def test_standing_wave_space_order(dim, degree, k, cells, order):
    """The interior penalty form converges like h^{p-1} in the broken H^2 norm, so the
    eigenvalues (the phase) err by h^{2(p-1)} and the L2 error at a fixed time is of order
    min(p + 1, 2(p - 1)): 2 for P2 (measured 2.08, 2.03 in 1D), 4 for P3 (3.79, 3.85)."""
    tensors = tensors_1d() if dim == 1 else tensors_2d()
    errors = [standing_wave_error(MPI.COMM_WORLD, tensors, 0.2, n, degree, 1e-3, 0.5, k)
              for n in cells]
    assert errors[-1] < 1e-3
    assert min(rates(errors)) > order - 0.25, errors


def test_standing_wave_time_order():
    """omega T = 1.58: the solution passes through zero, so the error measures the phase
    (at an extremum of cos a phase error would only show in second order)."""
    tensors = tensors_1d()
    errors = [standing_wave_error(MPI.COMM_WORLD, tensors, 0.2, 64, 3, dt, 0.5, [3.0])
              for dt in (0.1, 0.05, 0.025)]
    assert rates(errors) == pytest.approx([2.0, 2.0], abs=0.1), errors


def test_order_zero_is_the_homogenized_equation():
    """s = 0 needs no penalty and converges with P1 too (order 2)."""
    errors = [standing_wave_error(MPI.COMM_WORLD, tensors_2d(order=0), 0.2, n, 1, 2e-3, 0.5,
                                  [2.0, 1.0]) for n in (8, 16, 32)]
    assert min(rates(errors)) > 1.8, errors


def test_energy_conserved_neumann_2d():
    comm = MPI.COMM_WORLD
    mesh = dolfinx.mesh.create_rectangle(comm, [[-2.0, -2.0], [2.0, 2.0]], [12, 12],
                                         dolfinx.mesh.CellType.triangle)
    fe = EffectiveWaveFE(mesh, tensors_2d(), 0.3, degree=2, boundary="neumann")
    fe.set_initial(lambda x: np.exp(-2 * (x[0] ** 2 + (x[1] - 0.3) ** 2)),
                   lambda x: np.sin(x[0]) * np.cos(0.5 * x[1]))
    e0 = fe.energy()
    energies = []
    for _ in range(10):
        fe.advance(2.0, 0.05)
        energies.append(fe.energy())
    # the trapezoidal rule conserves it exactly; the factorized solve adds round-off
    assert max(abs(e - e0) for e in energies) < 1e-10 * e0
    assert fe.steps == 400
    fe.destroy()


def test_penalty_is_needed_for_s1_only():
    with pytest.raises(ConfigError, match="degree must be >= 2"):
        EffectiveWaveFE(dolfinx.mesh.create_unit_interval(MPI.COMM_WORLD, 4), tensors_1d(),
                        0.1, degree=1)
    tensors = tensors_1d()
    two = EffectiveTensors(tensors.a0, tensors.g * 2, tensors.a * 2, tensors.b * 2,
                           [1.0, 1.0], tensors.qcheck * 2)
    with pytest.raises(ConfigError, match="s = 0 and s = 1"):
        EffectiveWaveFE(dolfinx.mesh.create_unit_interval(MPI.COMM_WORLD, 4), two, 0.1)
    with pytest.raises(ConfigError, match="boundary"):
        EffectiveWaveFE(dolfinx.mesh.create_unit_interval(MPI.COMM_WORLD, 4), tensors, 0.1,
                        boundary="periodic")


@pytest.mark.parametrize("order,degree", [(0, 2), (1, 3)])
def test_agrees_with_fourier_solver(order, degree):
    """A pulse far from the boundary: the bounded-box FE solution converges to the exact
    periodic Fourier solution (it is 6e-7 (s = 0) and 1.4e-3 (s = 1) of its maximum at the
    boundary at t = T).  Measured: s = 0, P2: 0.068 -> 0.0058; s = 1, P3: 0.131 -> 0.0137."""
    eps, T, L = 0.25, 1.5, 4.0
    tensors = tensors_2d(order)
    grid = PeriodicGrid.box([-L, -L], [L, L], [48, 48])

    def pulse(x):
        return np.exp(-3.0 * (x[0] ** 2 + x[1] ** 2))

    fourier = EffectiveFourierSolver(tensors, eps, grid)
    values = fourier.evolve(pulse, T)
    assert np.abs(values).max() > 0.1  # the solution has not dispersed to nothing
    assert np.abs(values[0, :]).max() < 2e-3 * np.abs(values).max()

    def exact(x):
        return fourier.interpolate(values, x[:2].T)

    errors = []
    for n in (12, 24) if order else (16, 32):
        mesh = dolfinx.mesh.create_rectangle(MPI.COMM_WORLD, [[-L, -L], [L, L]], [n, n],
                                             dolfinx.mesh.CellType.triangle)
        fe = EffectiveWaveFE(mesh, tensors, eps, degree=degree, boundary="neumann")
        fe.set_initial(pulse)
        fe.advance(T, 0.01)
        err, ref = fe.l2_error(exact, degree_raise=0)
        errors.append(err / ref)
        fe.destroy()
    assert errors[-1] < 2e-2, errors
    assert errors[0] / errors[1] > 6.0, errors  # order > 2.5


def test_source_acts_unmodified():
    """u'' + omega^2 u = f for the mode sin(kx): Q f of (29) cancels the b^2 symbol.

    With f = sin(kx) (theta = 1) and u(0) = u'(0) = 0 the mode amplitude is
    (1 - cos(omega t)) / omega^2."""
    tensors, eps, k, T = tensors_1d(), 0.2, 3.0, 1.0
    omega2 = float(dispersion_effective(tensors, k, eps))
    mesh = dolfinx.mesh.create_interval(MPI.COMM_WORLD, 64, [0.0, math.pi])
    fe = EffectiveWaveFE(mesh, tensors, eps, degree=3, boundary="dirichlet",
                         source=(lambda x: np.sin(k * x[0]), lambda t: 1.0))
    fe.set_initial(0.0)
    fe.advance(T, 2e-3)
    amplitude = (1 - math.cos(math.sqrt(omega2) * T)) / omega2
    err, ref = fe.l2_error(lambda x: amplitude * np.sin(k * x[0]))
    assert err < 1e-4 * ref
    fe.destroy()


@pytest.mark.mpi
def test_parallel_equals_serial():
    results = []
    for comm in (MPI.COMM_WORLD, MPI.COMM_SELF):
        mesh = dolfinx.mesh.create_rectangle(comm, [[-2.0, -2.0], [2.0, 2.0]], [10, 10],
                                             dolfinx.mesh.CellType.triangle)
        fe = EffectiveWaveFE(mesh, tensors_2d(), 0.3, degree=2, boundary="neumann")
        fe.set_initial(lambda x: np.exp(-2 * (x[0] ** 2 + x[1] ** 2)))
        fe.advance(1.0, 0.05)
        results.append((fe.energy(), fe.u.norm(), fe.num_dofs))
        fe.destroy()
    (e_w, n_w, d_w), (e_s, n_s, d_s) = results
    assert d_w == d_s
    assert e_w == pytest.approx(e_s, rel=1e-10)
    assert n_w == pytest.approx(n_s, rel=1e-10)
