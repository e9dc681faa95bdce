"""The Bloch-Floquet fine-scale solver (femhomog.wave.bloch, bloch_fe): the same discrete
solution as the job's direct solver (Chebyshev propagation of FineScaleWave), to
round-off, in 1D (also at t > 10^3) and on a 2D layered medium; its grid evaluation
equals the job's GridSampler; broken invariance is detected."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse

from femhomog import SolverError, _fenicsx  # noqa: F401

# isort: split
from mpi4py import MPI

from femhomog.wave.bloch import BlochWave, extract_blocks
from femhomog.wave.bloch_fe import bloch_from_config, grid_values, tile_shifts, to_vector
from femhomog.wave.build import FineRun, build_wave, nodal_callable
from femhomog.wave.experiments import fig1_config, fig2_config


def _direct_and_bloch(cfg, times, u1=None):
    """Chebyshev (the job's FineRun) and Bloch solutions at ``times`` as vectors."""
    setup = build_wave(cfg, MPI.COMM_SELF)
    ex = setup.expressions
    run = FineRun(setup.wave, "chebyshev", nodal_callable(ex["u0"]),
                  nodal_callable(ex["u1"]), first_output=times[0])
    bloch = bloch_from_config(cfg)
    dim = setup.dim

    def f(name):
        return lambda X: ex[name].evaluate(X.reshape(dim, -1).T).reshape(X.shape[1:])

    sols = bloch.evolve(bloch.nodal(f("u0")), times, bloch.nodal(f("u1")))
    out = []
    for t, U in zip(times, sols, strict=True):
        run.advance_to(t)
        v = to_vector(bloch, U, setup.wave)
        out.append((run.u.array.copy(), v.array.copy()))
        v.destroy()
    samples = setup.sampler.sample(setup.wave.to_function(run.u, setup.wave.work))
    last = (samples, setup.sampler, sols[-1], bloch)
    run.destroy()
    setup.destroy()
    return out, last


def test_bloch_equals_chebyshev_1d():
    cfg = fig1_config(eps=0.25, half_width=2.0, degree=4, points_per_period=8, orders=(),
                      overrides=['wave.u1="x[0]*exp(-8*x[0]**2)"'])
    times = [0.5, 3.0, 17.0]
    pairs, (samples, sampler, U, bloch) = _direct_and_bloch(cfg, times)
    for t, (direct, exact) in zip(times, pairs, strict=True):
        rel = np.linalg.norm(direct - exact) / np.linalg.norm(direct)
        assert rel < 1e-10, (t, rel)
    # the grid evaluation of the Bloch solution is the sampler's
    grid = grid_values(bloch, U, 4, [2], 4).reshape(-1)
    assert np.allclose(grid[sampler.index], samples, rtol=0, atol=1e-10 * np.abs(samples).max())


def test_bloch_long_time_equals_dense_eigensolution():
    """t = 1500 on a tiny box: the Bloch solution equals the exact evolution by a dense
    eigendecomposition of the whole assembled M^-1/2 K M^-1/2 to round-off; the
    Chebyshev propagation of the job drifts slowly (its series truncation, 1e-12 per
    piece, accumulates to ~1e-8 here) and agrees to that level."""
    cfg = fig1_config(eps=0.5, half_width=1.0, degree=3, points_per_period=6, orders=(),
                      cells_per_period=1)
    t = 1500.0
    setup = build_wave(cfg, MPI.COMM_SELF)
    wave, u0 = setup.wave, nodal_callable(setup.expressions["u0"])
    indptr, indices, data = wave.K.getValuesCSR()
    n = wave.num_dofs
    K = scipy.sparse.csr_matrix((data, indices, indptr), shape=(n, n)).toarray()
    sqm = np.sqrt(wave.mass.array)
    lam, Q = np.linalg.eigh(K / sqm[:, None] / sqm[None, :])
    lam[np.abs(lam) < 1e-12 * lam.max()] = 0.0
    x0 = wave.project_nodal(u0).array.copy()
    reference = Q @ (np.cos(np.sqrt(lam) * t) * (Q.T @ (sqm * x0))) / sqm
    bloch = bloch_from_config(cfg)
    U = bloch.evolve(bloch.nodal(lambda X: np.exp(-4 * X[0] ** 2)), [t])[0]
    exact = to_vector(bloch, U, wave).array.copy()
    run = FineRun(wave, "chebyshev", u0, 0.0, first_output=t)
    run.advance_to(t)
    nr = np.linalg.norm(reference)
    assert np.linalg.norm(exact - reference) / nr < 1e-10
    assert np.linalg.norm(run.u.array - reference) / nr < 1e-7
    run.destroy()
    setup.destroy()


def test_bloch_equals_direct_solver_2d_layered():
    # data periodic to round-off on the box, without symmetries
    u0 = "exp(-8*((x[0] - 0.3)**2 + 2*(x[1] + 0.2)**2) + 2*x[0]*x[1])"
    cfg = fig2_config(eps=0.5, half_width=2.5, degree=4, points_per_period=4, orders=(),
                      overrides=[f'wave.u0="{u0}"'])
    # a(y) = 1 - 0.5 cos(2 pi y_2): tiles of one element along x_1, one period along x_2
    assert tile_shifts(cfg) == (0.25, 0.5)
    times = [0.7, 4.0]
    pairs, (samples, sampler, U, bloch) = _direct_and_bloch(cfg, times)
    assert bloch.blocks.shape == (4, 8)
    for t, (direct, exact) in zip(times, pairs, strict=True):
        rel = np.linalg.norm(direct - exact) / np.linalg.norm(direct)
        assert rel < 1e-10, (t, rel)
    grid = grid_values(bloch, U, 4, [1, 2], 2).reshape(-1)
    assert np.allclose(grid[sampler.index], samples, rtol=0, atol=1e-10 * np.abs(samples).max())


def test_truncation_bound():
    cfg = fig1_config(eps=0.25, half_width=4.0, degree=4, points_per_period=8, orders=())
    bloch = bloch_from_config(cfg)
    u0 = bloch.nodal(lambda X: np.exp(-4 * X[0] ** 2))
    full = bloch.evolve(u0, [3.0])[0]
    cut = bloch.evolve(u0, [3.0], tol=1e-3)[0]
    assert 0 < bloch.truncation <= 1e-3 and bloch.solved < 17
    m = np.tile(bloch.blocks.mass, bloch.counts[0])
    norm0 = np.sqrt(np.sum(m * u0.reshape(-1) ** 2))
    err = np.sqrt(np.sum(m * (full - cut).reshape(-1) ** 2))
    assert err <= bloch.truncation * norm0 * (1 + 1e-9)


def test_broken_invariance_is_detected():
    # a 1D chain of 4 tiles of 2 nodes; one spring differs by 1e-6
    n = 8
    K = scipy.sparse.diags([np.full(n, 2.0), np.full(n - 1, -1.0), np.full(n - 1, -1.0)],
                           [0, 1, -1]).tolil()
    K[0, n - 1] = K[n - 1, 0] = -1.0
    coords = np.arange(n, dtype=float)[:, None] * 0.5
    blocks = extract_blocks(K.tocsr(), np.ones(n), coords, [0.0], [1.0], [4])
    assert set(blocks.coupling) == {(-1,), (0,), (1,)}
    # the spectrum of the chain: 2 - 2 cos(2 pi j / 8)
    lam = np.sort(np.concatenate([np.linalg.eigvalsh(blocks.symbol(np.array([[q]]))[0])
                                  for q in 2 * np.pi * np.arange(4) / 4]))
    assert np.allclose(lam, np.sort(2 - 2 * np.cos(2 * np.pi * np.arange(n) / n)))
    K[3, 4] = K[4, 3] = -1.0 - 1e-6
    with pytest.raises(SolverError, match="translation invariant"):
        extract_blocks(K.tocsr(), np.ones(n), coords, [0.0], [1.0], [4])
    assert isinstance(BlochWave(blocks, [4], [0.0]).num_dofs, int)


@pytest.mark.mpi
@pytest.mark.parametrize("figure", [1, 2])
def test_bloch_equals_parallel_direct_solver(figure):
    """On every rank of COMM_WORLD the (serial) Bloch solution is the same, and mapped into
    the distributed vector of the job's operator assembled on all ranks (``to_vector``:
    each rank its own unknowns) it equals the Chebyshev propagation on those ranks; its
    grid values equal the distributed ``GridSampler``'s."""
    comm = MPI.COMM_WORLD
    if figure == 1:
        cfg = fig1_config(eps=0.25, half_width=2.0, degree=4, points_per_period=8, orders=(),
                          overrides=['wave.u1="x[0]*exp(-8*x[0]**2)"'])
        times, cells_per_tile, per_cell = [0.5, 3.0], [2], 4
    else:
        u0 = "exp(-8*((x[0] - 0.3)**2 + 2*(x[1] + 0.2)**2) + 2*x[0]*x[1])"
        cfg = fig2_config(eps=0.5, half_width=2.5, degree=4, points_per_period=4, orders=(),
                          overrides=[f'wave.u0="{u0}"'])
        times, cells_per_tile, per_cell = [0.7, 4.0], [1, 2], 2
    setup = build_wave(cfg, comm)
    ex = setup.expressions
    dim = setup.dim

    def f(name):
        return lambda X: ex[name].evaluate(X.reshape(dim, -1).T).reshape(X.shape[1:])

    bloch = bloch_from_config(cfg)
    sols = bloch.evolve(bloch.nodal(f("u0")), times, bloch.nodal(f("u1")))
    # the redundant serial computation agrees across the ranks bit for bit
    ref = comm.bcast(sols[-1] if comm.rank == 0 else None)
    assert np.array_equal(ref, sols[-1])
    run = FineRun(setup.wave, "chebyshev", nodal_callable(ex["u0"]),
                  nodal_callable(ex["u1"]), first_output=times[0])
    for t, U in zip(times, sols, strict=True):
        run.advance_to(t)
        v = to_vector(bloch, U, setup.wave)
        diff = comm.allreduce(float(np.sum((run.u.array - v.array) ** 2)))
        norm = comm.allreduce(float(np.sum(run.u.array ** 2)))
        v.destroy()
        assert np.sqrt(diff / norm) < 1e-10, (t, np.sqrt(diff / norm))
    samples = setup.sampler.sample(setup.wave.to_function(run.u, setup.wave.work))
    grid = grid_values(bloch, sols[-1], 4, cells_per_tile, per_cell).reshape(-1)
    scale = comm.allreduce(float(np.abs(samples).max(initial=0.0)), op=MPI.MAX)
    assert np.allclose(grid[setup.sampler.index], samples, rtol=0, atol=1e-10 * scale)
    run.destroy()
    setup.destroy()
