"""Exact Fourier-mode evolution of the effective wave equations (femhomog.wave.fourier).

Independent truths:

* s = 0 in 1D is d'Alembert's formula (u0(x - c t) + u0(x + c t))/2 + (U1(x + c t) -
  U1(x - c t))/(2c) with c = sqrt(a^0), and a static source gives f/(a0 k^2)(1 - cos);
* the solution satisfies the PDE (14) with Q f of (29): the residual is evaluated with an
  independent operator (repeated spectral first derivatives contracted index by index with
  the full tensors, not the symbols the solver uses) and d_t^2 by central differences;
* the frequency measured from the time series of one mode equals omega(k) of the
  dispersion relation, and in 1D matches the first Bloch eigenvalue of the cell
  lambda_1(eps k)/eps^2 to O((eps k)^(2s+4)) (the tensors come from cell problems);
* well-posedness: the energy of the Lemma 4 equations is conserved to round-off over long
  times, while the unregularized choice b = 0, a^2 = -S(g^2) grows (the paper's point).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from femhomog import ConfigError
from femhomog.tensors import EffectiveTensors, effective_wave_tensors, symmetrize
from femhomog.wave import EffectiveFourierSolver, PeriodicGrid, relative_l2_error


def gaussian(beta: float):
    return lambda x: np.exp(-beta**2 * np.sum(x**2, axis=0))


def homogenized(a0) -> EffectiveTensors:
    return effective_wave_tensors(np.atleast_2d(a0), [])


# ------------------------------------------------------------------ closed forms
def test_s0_1d_is_dalembert():
    a0 = 1.7
    c = math.sqrt(a0)
    grid = PeriodicGrid.box([-30.0], [30.0], 1024)
    solver = EffectiveFourierSolver(homogenized(a0), 0.1, grid)
    x = grid.coordinates()[0]
    u0 = lambda x: np.exp(-4 * x[0] ** 2)
    # u1 = exp(-x^2) has the antiderivative sqrt(pi)/2 erf(x)
    u1 = lambda x: np.exp(-x[0] ** 2)
    t = 7.5
    got = solver.evolve(u0, t, u1=u1)
    erf = np.vectorize(math.erf)
    exact = (0.5 * (np.exp(-4 * (x - c * t) ** 2) + np.exp(-4 * (x + c * t) ** 2))
             + math.sqrt(math.pi) / 4 / c * (erf(x + c * t) - erf(x - c * t)))
    # spectral accuracy: the data are resolved to round-off on this grid
    assert np.max(np.abs(got - exact)) < 1e-11 * np.max(np.abs(exact))


def test_static_source_single_mode():
    """u'' - a0 u_xx = f with f = cos(k x), u(0) = u'(0) = 0: u = f (1 - cos(w t))/w^2."""
    a0, L = 2.0, 2 * math.pi
    grid = PeriodicGrid.box([0.0], [L], 64)
    k = 3.0
    solver = EffectiveFourierSolver(homogenized(a0), 0.1, grid)
    x = grid.coordinates()[0]
    w = math.sqrt(a0) * k
    for t in (0.0, 0.3, 10.0):
        got = solver.evolve(0.0, t, f=lambda x: np.cos(k * x[0]))
        exact = np.cos(k * x) * (1 - math.cos(w * t)) / w**2
        assert np.max(np.abs(got - exact)) < 1e-13 / w**2
    # the mean mode (k = 0) of a source grows like t^2/2
    got = solver.evolve(0.0, 4.0, f=1.0)
    assert np.allclose(got, 8.0, rtol=1e-13)


# ------------------------------------------------------------------ the PDE residual
def _spectral_derivative(values: np.ndarray, grid: PeriodicGrid, axis: int) -> np.ndarray:
    k = 2 * np.pi * np.fft.fftfreq(grid.points[axis], d=grid.spacing[axis])
    shape = [1] * grid.dim
    shape[axis] = -1
    # complex throughout: taking the real part after each derivative would drop the
    # Nyquist mode's odd derivatives, which the symbols (even powers) keep
    return np.fft.ifftn(1j * k.reshape(shape) * np.fft.fftn(values))


def _tensor_operator(t: np.ndarray, u: np.ndarray, grid: PeriodicGrid) -> np.ndarray:
    """t grad^n u = sum_i t_{i1..in} d_{i1} ... d_{in} u, entry by entry (no symmetry used)."""
    out = np.zeros(u.shape, dtype=complex)
    cache: dict[tuple[int, ...], np.ndarray] = {(): u}
    for idx in itertools.product(range(grid.dim), repeat=t.ndim):
        key = tuple(sorted(idx))  # derivatives commute; the tensor entry is taken as is
        if key not in cache:
            v = u
            for ax in key:
                v = _spectral_derivative(v, grid, ax)
            cache[key] = v
        out += t[idx] * cache[key]
    return out.real


def _residual_14(tens: EffectiveTensors, eps, grid, u_of_t, f, t, dt=2e-3):
    """Residual of (14) - Q f (29) at time t; d_t^2 by 4th-order central differences."""
    us = [u_of_t(t + j * dt) for j in (-2, -1, 0, 1, 2)]
    utt = (-us[0] + 16 * us[1] - 30 * us[2] + 16 * us[3] - us[4]) / (12 * dt**2)
    u = us[2]
    res = utt - _tensor_operator(tens.a0, u, grid)
    qf = f.copy()
    for r, (ar, br) in enumerate(zip(tens.a, tens.b, strict=True), start=1):
        sign = (-1) ** r * eps ** (2 * r)
        res -= sign * (_tensor_operator(ar, u, grid) - _tensor_operator(br, utt, grid))
        qf += sign * _tensor_operator(br, f, grid)
    return res - qf, max(np.max(np.abs(utt)), np.max(np.abs(qf)))


@pytest.mark.parametrize("dim,order", [(1, 2), (2, 1), (2, 2), (3, 1)])
def test_solution_satisfies_equation_14(dim, order):
    rng = np.random.default_rng(7 + dim + order)
    a0 = np.eye(dim) + 0.2 * np.diag(rng.random(dim))
    # S(g^2r) > 0 along every direction (DESIGN.md): symmetrized positive data
    g = [symmetrize(np.abs(rng.normal(size=(dim,) * (2 * r + 2))) * 0.05)
         for r in range(1, order + 1)]
    tens = effective_wave_tensors(a0, g)
    eps = 0.2
    # odd counts: no Nyquist mode, whose wave number is ambiguous (see the solver's notes)
    n = {1: 127, 2: 47, 3: 21}[dim]
    grid = PeriodicGrid.box([-6.0] * dim, [6.0] * dim, n)
    solver = EffectiveFourierSolver(tens, eps, grid)
    u0 = gaussian(1.2)
    u1 = lambda x: 0.3 * x[0] * np.exp(-np.sum(x**2, axis=0))
    f_fun = lambda x: np.exp(-2 * np.sum((x - 0.5) ** 2, axis=0))
    f = grid.sample(f_fun)
    res, scale = _residual_14(tens, eps, grid,
                              lambda t: solver.evolve(u0, t, u1=u1, f=f_fun), f, t=0.7)
    # finite-difference error in time ~ dt^4 |u^(6)| ~ 1e-10 relative; round-off of the
    # 2r+2 spectral derivatives grows with (k_max)^(2r+2) eps^2r: both far below 1e-6
    assert np.max(np.abs(res)) < 1e-6 * scale
    # a wrong sign of Q f (29) or of the b-term makes the residual O(1) relative
    res_wrong, _ = _residual_14(tens, eps, grid, lambda t: solver.evolve(u0, t, u1=u1),
                                f, t=0.7)
    assert np.max(np.abs(res_wrong)) > 1e-2 * scale


# ------------------------------------------------------------------ frequencies
def test_measured_frequency_equals_dispersion_relation():
    """Fit omega from the time series of one mode (2D, s = 2): equals sqrt(A/B)."""
    dim = 2
    rng = np.random.default_rng(3)
    g = [symmetrize(np.abs(rng.normal(size=(dim,) * (2 * r + 2))) * 0.05) for r in (1, 2)]
    tens = effective_wave_tensors(np.array([[1.3, 0.2], [0.2, 0.9]]), g)
    eps, L = 0.15, 2 * math.pi
    grid = PeriodicGrid.box([0.0, 0.0], [L, L], 33)
    solver = EffectiveFourierSolver(tens, eps, grid)
    m = np.array([4, 3])  # mode e^{i m.x}
    mode = lambda x: np.cos(m[0] * x[0] + m[1] * x[1])
    ts = np.linspace(0.0, 3.0, 61)
    amp = np.array([solver.evolve(mode, t)[0, 0] for t in ts])  # x = 0: amplitude
    # least squares for omega on the phase: amp = cos(omega t)
    coarse = np.linspace(0.1, 20.0, 2001)
    w0 = coarse[int(np.argmin([np.sum((np.cos(w * ts) - amp) ** 2) for w in coarse]))]
    fine = np.linspace(w0 - 0.02, w0 + 0.02, 4001)
    w_fit = fine[np.argmin([np.sum((np.cos(w * ts) - amp) ** 2) for w in fine])]
    k = m.astype(float)
    a0 = tens.a0
    A = k @ a0 @ k
    B = 1.0
    for r, (ar, br) in enumerate(zip(tens.a, tens.b, strict=True), start=1):
        kk = k
        for _ in range(2 * r + 1):
            kk = np.multiply.outer(kk, k)
        A += eps ** (2 * r) * float(np.sum(ar * kk))
        kb = k
        for _ in range(2 * r - 1):
            kb = np.multiply.outer(kb, k)
        B += eps ** (2 * r) * float(np.sum(br * kb))
    assert abs(w_fit - math.sqrt(A / B)) < 2e-5 * math.sqrt(A / B)


def test_well_posed_energy_conserved_ill_posed_grows():
    a0, g2, eps = 1.0, 0.02, 0.1
    grid = PeriodicGrid.box([-40.0], [40.0], 2048)  # k_max = pi/h ~ 80: eps k ~ 8
    u0 = gaussian(2.0)
    good = EffectiveFourierSolver(effective_wave_tensors([[a0]], [[[[[g2]]]]]), eps, grid)
    assert good.growth_rate() == 0.0
    # every mode obeys u'' + w^2 u = 0, so sum_k |u_t|^2 + w^2 |u|^2 is conserved
    k = grid.wave_vectors()[..., 0]
    A = good.omega2

    def energy(t, dt=1e-4):
        uh = np.fft.fft(good.evolve(u0, t))
        uth = (np.fft.fft(good.evolve(u0, t + dt)) - np.fft.fft(good.evolve(u0, t - dt))) / (2 * dt)
        return float(np.sum(np.abs(uth) ** 2 + A * np.abs(uh) ** 2))

    e0 = float(np.sum(A * np.abs(np.fft.fft(grid.sample(u0))) ** 2))
    for t in (10.0, 1e4):
        assert abs(energy(t) - e0) < 1e-6 * e0
    u_long = good.evolve(u0, 1e4)
    assert np.max(np.abs(u_long)) <= 1.0 + 1e-9

    # unregularized: b = 0, a^2 = -S(g^2): omega^2 = a0 k^2 - eps^2 g2 k^4 < 0 for large k
    bad_t = EffectiveTensors(a0=np.array([[a0]]), g=[np.full((1,) * 4, g2)],
                             a=[np.full((1,) * 4, -g2)], b=[np.zeros((1, 1))], delta=[0.0],
                             qcheck=[np.full((1,) * 4, -g2)])
    bad = EffectiveFourierSolver(bad_t, eps, grid)
    rate = bad.growth_rate()
    kmax = float(np.max(np.abs(k)))
    assert rate == pytest.approx(math.sqrt(eps**2 * g2 * kmax**4 - a0 * kmax**2), rel=1e-12)
    # round-off content of the high modes (~1e-16) is amplified by exp(rate t)
    u_bad = bad.evolve(u0, 20.0 / rate * 3)
    assert np.max(np.abs(u_bad)) > 1e6


# ------------------------------------------------------------------ errors and input
def test_relative_error_and_bad_input():
    assert relative_l2_error([1.0, 0.0], [1.0, 0.0]) == 0.0
    assert relative_l2_error([3.0, 4.0], [3.0, 0.0]) == pytest.approx(0.8)
    with pytest.raises(ConfigError, match="zero reference"):
        relative_l2_error([0.0], [1.0])
    with pytest.raises(ConfigError, match="upper > lower"):
        PeriodicGrid.box([1.0], [0.0], 8)
    with pytest.raises(ConfigError, match="integers >= 2"):
        PeriodicGrid.box([0.0], [1.0], 1)
    grid = PeriodicGrid.box([0.0, 0.0], [1.0, 1.0], 8)
    with pytest.raises(ConfigError, match="1D but the grid is 2D"):
        EffectiveFourierSolver(homogenized(1.0), 0.1, grid)
    with pytest.raises(ConfigError, match="eps must be"):
        EffectiveFourierSolver(homogenized(np.eye(2)), 0.0, grid)
    solver = EffectiveFourierSolver(homogenized(np.eye(2)), 0.1, grid)
    with pytest.raises(ConfigError, match="NaN or inf"):
        solver.evolve(lambda x: np.full(x.shape[1:], np.nan), 1.0)
    with pytest.raises(ConfigError, match="t must be"):
        solver.evolve(0.0, -1.0)


def test_interpolation_is_exact_for_band_limited_fields():
    grid = PeriodicGrid.box([-1.0, 0.0], [1.0, 2.0], (16, 12))
    f = lambda x: np.cos(np.pi * x[0]) * np.sin(2 * np.pi * x[1]) + 0.5 * np.cos(3 * np.pi * x[1])
    solver = EffectiveFourierSolver(homogenized(np.eye(2)), 0.1, grid)
    values = grid.sample(f)
    pts = np.random.default_rng(0).uniform([-1, 0], [1, 2], size=(50, 2))
    assert np.allclose(solver.interpolate(values, pts), f(pts.T), atol=1e-13)


# ------------------------------------------------------------------ against the Bloch band
@pytest.mark.parametrize("order", [0, 1, 2])
def test_mode_frequencies_match_bloch_band_1d(order):
    """eps^2 omega^2(t/eps) of the solver vs lambda_1(t) of the cell: O(t^(2s+4)) (1D).

    The tensors come from the cell problems of a(y) = sqrt(2) - cos(2 pi y) (a^0 = 1);
    the modes t/eps, 2t/eps are on the grid.  The observed order of the difference between
    t = 0.2 and 0.4 must be 2s + 4 (the effective equation of order s matches the Bloch
    band's Taylor series up to t^(2s+2), wave paper Sect. 2-3).
    """
    from femhomog import _fenicsx  # noqa: F401

    # isort: split
    from mpi4py import MPI

    from femhomog.cell.bloch import BlochSolver
    from femhomog.cell.effective import homogenize_cell
    from femhomog.cell.problem import PeriodicCell
    from femhomog.coefficients import CellCoefficient
    from femhomog.meshes import periodic_box_mesh

    mesh = periodic_box_mesh(MPI.COMM_SELF, 1, "interval", 64)
    coefficient = CellCoefficient.from_expression("sqrt(2) - cos(2*pi*y[0])", 1)
    cell = PeriodicCell.create(mesh, coefficient, degree=4)
    tensors = homogenize_cell(cell, order=order).tensors
    eps, t1 = 0.1, 0.2
    grid = PeriodicGrid.box([0.0], [2 * math.pi * eps / t1], 16)  # k_j = j t1 / eps
    solver = EffectiveFourierSolver(tensors, eps, grid)
    bloch = BlochSolver(cell, tol=1e-13)
    try:
        diffs = [abs(bloch.lambda1([j * t1]) - eps**2 * solver.omega2[j]) for j in (1, 2)]
    finally:
        bloch.destroy()
    observed = math.log2(diffs[1] / diffs[0])
    assert observed == pytest.approx(2 * order + 4, abs=0.15)  # measured 4.015, 6.013, 8.012
