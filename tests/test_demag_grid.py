"""FFT stray field on a grid (``demag.method = "fft"``) against independent truths.

* Newell's tensor (pure numpy): the self term is Aharoni's prism factors; the sum
  over a box of cells is the box's factors; ``tr N(X) = 0`` off the self term
  (the cell-averaged field of another cell is divergence-free); the closed form
  and the cell-averaged dipole quadrature agree where they switch; the padded FFT
  equals the direct O(n^2) sum;
* on a P1 mesh: a box magnet aligned with the grid has exactly Aharoni's factors;
  a ball converges to ``N = 1/3`` (first order: the staircase); the operator is
  symmetric and its energy positive; the field converges to the FEM-BEM field
  under refinement (difference halves with h);
* damped LLG with exchange + FFT stray field: energy decreases, ``|m| = 1``;
* config and CLI errors are one line; the same field on 1 and 2 ranks.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from helpers import assert_one_error_line, run_cli, write_toml

from femhomog import (
    ConfigError,
    MeshError,
    _fenicsx,  # noqa: F401
)

# isort: split
import dolfinx
import ufl
from mpi4py import MPI

from femhomog.meshes import magnets
from femhomog.micromag.demag.analytic import prism_demag_factors
from femhomog.micromag.demag.fembem import FredkinKoehler
from femhomog.micromag.demag.grid import GridConvolution, grid_shape
from femhomog.micromag.demag.newell import (
    COMPONENTS,
    NewellConvolution,
    _dipole_average,
    _second_difference,
    demag_tensor,
    newell_f,
    newell_g,
)


def box(comm, lengths, cells):
    return dolfinx.mesh.create_box(
        comm, [[0.0, 0.0, 0.0], list(lengths)], list(cells), dolfinx.mesh.CellType.tetrahedron
    )


def swirl(x):
    v = np.vstack([1.0 + 0 * x[0], np.sin(3 * x[2]), np.cos(2 * x[0] + x[1])])
    return v / np.linalg.norm(v, axis=0)


def integral(mesh, expr) -> float:
    local = dolfinx.fem.assemble_scalar(dolfinx.fem.form(expr * ufl.dx(domain=mesh)))
    return mesh.comm.allreduce(local, op=MPI.SUM)


def demag_factors(solver: GridConvolution) -> np.ndarray:
    """``-<H_k>`` for ``m = e_k`` (volume averages over the mesh)."""
    mesh = solver.mesh
    W = dolfinx.fem.functionspace(mesh, ("Lagrange", 1, (3,)))
    m, H = dolfinx.fem.Function(W), dolfinx.fem.Function(W)
    volume = integral(mesh, dolfinx.fem.Constant(mesh, 1.0))
    out = []
    for k in range(3):
        m.x.array.reshape(-1, 3)[:] = np.eye(3)[k]
        solver.compute(m, H)
        out.append(-integral(mesh, H[k]) / volume)
    return np.array(out)


def full_tensor(octant: np.ndarray, offset: tuple[int, int, int]) -> np.ndarray:
    """The 3 x 3 tensor at a signed offset from the octant (parity of the components)."""
    N = np.zeros((3, 3))
    a = tuple(abs(o) for o in offset)
    for c, (i, j) in enumerate(COMPONENTS):
        sign = 1.0
        if i != j:
            sign = np.sign(offset[i]) * np.sign(offset[j]) if offset[i] and offset[j] else 0.0
        N[i, j] = N[j, i] = sign * octant[c][a]
    return N


# ---------------------------------------------------------------- Newell's tensor
@pytest.mark.parametrize("cell", [(1.0, 1.0, 1.0), (4.0, 4.0, 3.0), (2.0, 1.0, 0.5)])
def test_self_term_is_the_prism_factors(cell):
    N0 = demag_tensor((1, 1, 1), np.array(cell))[:, 0, 0, 0]
    np.testing.assert_allclose(N0[:3], prism_demag_factors(cell), rtol=0, atol=1e-13)
    np.testing.assert_allclose(N0[3:], 0.0, atol=1e-13)


def test_box_of_cells_has_the_box_factors():
    shape, cell = (6, 5, 4), np.array([1.0, 1.3, 0.7])
    conv = NewellConvolution(shape, cell)
    truth = prism_demag_factors(np.array(shape) * cell)
    for k in range(3):
        M = np.zeros((3, *shape))
        M[k] = 1.0
        mean = -conv.field(M).mean(axis=(1, 2, 3))
        np.testing.assert_allclose(mean, np.eye(3)[k] * truth[k], rtol=0, atol=1e-12)


def test_trace_vanishes_off_the_self_term_and_near_far_agree():
    """``tr N(X) = 0`` for ``X != 0`` (Newell near, quadrature far); and at the switch
    radius both evaluations agree to 1e-8 of the dipole scale ``1/(4 pi r^3)``."""
    cell = np.array([1.0, 0.8, 0.6])
    N = demag_tensor((12, 12, 12), cell)
    trace = N[0] + N[1] + N[2]
    assert trace[0, 0, 0] == pytest.approx(1.0, abs=1e-13)
    trace[0, 0, 0] = 0.0
    assert np.abs(trace).max() < 1e-10 * np.abs(N[0]).max()
    X, Y, Z = np.array([5.6]), np.array([3.5]), np.array([2.1])  # 7 cells away
    quad = _dipole_average(X, Y, Z, cell, 5)[:, 0]
    scale = -1.0 / (4 * math.pi * cell.prod())
    closed = []
    for func, perm in ((newell_f, (0, 1, 2)), (newell_f, (1, 0, 2)), (newell_f, (2, 1, 0)),
                       (newell_g, (0, 1, 2)), (newell_g, (0, 2, 1)), (newell_g, (1, 2, 0))):
        def permuted(a, b, e, func=func, perm=perm):
            args = (a, b, e)
            return func(args[perm[0]], args[perm[1]], args[perm[2]])

        closed.append(scale * _second_difference(permuted, X, Y, Z, cell)[0])
    r = math.sqrt(X[0] ** 2 + Y[0] ** 2 + Z[0] ** 2)
    dipole = cell.prod() / (4 * math.pi * r**3)
    assert np.abs(np.array(closed) - quad).max() < 1e-8 * dipole


def direct_sum(shape, cell, M):
    """``H_c = -sum_c' N(c - c') M_c'`` by the O(n^2) double loop."""
    octant = demag_tensor(shape, cell)
    cells = list(itertools.product(*[range(n) for n in shape]))
    H = np.zeros((3, *shape))
    for a in cells:
        for b in cells:
            offset = tuple(int(p - q) for p, q in zip(a, b, strict=True))
            H[(slice(None), *a)] -= full_tensor(octant, offset) @ M[(slice(None), *b)]
    return H


@pytest.mark.parametrize("shape", [(4, 3, 5), (5, 4, 1)])
def test_fft_equals_the_direct_sum(shape):
    """Also with one cell through the thickness (no padding along that axis)."""
    cell = np.array([1.0, 0.7, 1.2])
    M = np.random.default_rng(3).standard_normal((3, *shape))
    conv = NewellConvolution(shape, cell)
    assert conv.padded == tuple(2 * n if n > 1 else 1 for n in shape)
    direct = direct_sum(shape, cell, M)
    assert np.abs(conv.field(M) - direct).max() < 1e-12 * np.abs(direct).max()


def test_grid_shape():
    assert grid_shape([500.0, 125.0, 3.0], [4.0, 4.0, 3.0]) == (125, 31, 1)
    assert grid_shape([1.0, 1.0, 0.1], [0.3, 0.3, 0.3]) == (3, 3, 1)


# ---------------------------------------------------------------- on the mesh
def test_aligned_box_has_the_prism_factors():
    lengths = (1.0, 0.8, 0.6)
    solver = GridConvolution(box(MPI.COMM_WORLD, lengths, (10, 8, 6)), 0.1)
    assert solver.shape == (10, 8, 6)
    np.testing.assert_allclose(demag_factors(solver), prism_demag_factors(lengths),
                               rtol=0, atol=1e-12)
    # a grid finer than the mesh and not a multiple of it: the same (m uniform is exact)
    solver = GridConvolution(box(MPI.COMM_WORLD, lengths, (5, 4, 3)), 0.07)
    np.testing.assert_allclose(demag_factors(solver), prism_demag_factors(lengths),
                               rtol=0, atol=1e-12)


def test_ball_converges_with_the_grid():
    """Uniform ball: ``N = 1/3``.  The staircase (fractional cells at the surface) makes
    the error first order; measured mean factor errors 0.042, 0.027, 0.020 at
    h = 0.25, 0.17, 0.12 (grid = mesh size)."""
    errors = []
    for h in (0.25, 0.17, 0.12):
        mm = magnets.sphere(MPI.COMM_WORLD, 1.0, mesh_size=h)
        N = demag_factors(GridConvolution(mm.mesh, h))
        errors.append(np.abs(N - 1.0 / 3.0).max())
    assert errors[-1] < 0.025, errors
    assert all(b < a for a, b in itertools.pairwise(errors)), errors
    rate = math.log(errors[0] / errors[-1]) / math.log(0.25 / 0.12)
    assert rate > 0.7, (errors, rate)


def test_grid_must_sample_every_node():
    """Points that cover a node's volume by less than half are refused (a grid much
    coarser than the elements would leave nodes without field); at grid = element size
    the points' share of every node is within 15 % of its volume (SP4 film: 0.94-1.08)."""
    mesh = box(MPI.COMM_WORLD, (1.0, 1.0, 1.0), (12, 12, 12))
    W = dolfinx.fem.functionspace(mesh, ("Lagrange", 1, (3,)))
    m, H = dolfinx.fem.Function(W), dolfinx.fem.Function(W)
    solver = GridConvolution(mesh, 1.0 / 12)
    solver.compute(m, H)
    low, high = solver.describe()["coverage"]
    assert 0.85 < low <= high < 1.15, (low, high)
    with pytest.raises(ConfigError, match="too coarse for the mesh"):
        GridConvolution(mesh, 1.0 / 3)


def test_operator_is_symmetric_and_its_energy_positive():
    mesh = box(MPI.COMM_WORLD, (1.0, 0.7, 0.4), (5, 4, 3))
    solver = GridConvolution(mesh, [0.13, 0.1, 0.15])
    W = dolfinx.fem.functionspace(mesh, ("Lagrange", 1, (3,)))
    m1, m2, H1, H2 = (dolfinx.fem.Function(W) for _ in range(4))
    m1.interpolate(swirl)
    m2.interpolate(lambda x: np.vstack([np.cos(4 * x[1]), x[0] * x[2], 1.0 + 0 * x[0]]))
    solver.compute(m1, H1)
    solver.compute(m2, H2)
    # the lumped inner product sum_i (int phi_i) H_i . m_i is the grid's M^T N M
    v = ufl.TestFunction(W)
    lumped = dolfinx.fem.assemble_vector(
        dolfinx.fem.form(ufl.inner(v, ufl.as_vector((1.0, 1.0, 1.0))) * ufl.dx))
    lumped.scatter_reverse(dolfinx.la.InsertMode.add)
    n = 3 * W.dofmap.index_map.size_local

    def dot(H, m):
        local = float(np.sum(lumped.array[:n] * H.x.array[:n] * m.x.array[:n]))
        return mesh.comm.allreduce(local)

    a, b = dot(H1, m2), dot(H2, m1)
    assert abs(a - b) < 1e-12 * math.sqrt(dot(H1, m1) * dot(H2, m2))
    assert -dot(H1, m1) > 0 and -dot(H2, m2) > 0


def test_approaches_fembem():
    """Non-uniform m on a cube (no closed form): FFT and FEM-BEM on the same mesh, grid
    = mesh size.  Measured field difference (L2, relative) 0.120, 0.057, 0.027 at
    n = 4, 8, 16 (first order) and energies 0.1421 vs 0.1314, 0.1514 vs 0.1477."""
    gaps, energies = [], []
    for n in (4, 8):
        mesh = box(MPI.COMM_WORLD, (1.0, 1.0, 1.0), (n, n, n))
        W = dolfinx.fem.functionspace(mesh, ("Lagrange", 1, (3,)))
        m, H_fft, H_bem = (dolfinx.fem.Function(W) for _ in range(3))
        m.interpolate(swirl)
        GridConvolution(mesh, 1.0 / n).compute(m, H_fft)
        bem = FredkinKoehler(mesh, rtol=1e-12)
        bem.compute(m, H_bem)
        bem.destroy()
        d = H_fft - H_bem
        gaps.append(math.sqrt(integral(mesh, ufl.inner(d, d))
                              / integral(mesh, ufl.inner(H_bem, H_bem))))
        energies.append([-0.5 * integral(mesh, ufl.inner(H, m)) for H in (H_fft, H_bem)])
    assert gaps[1] < 0.07 and gaps[1] < 0.6 * gaps[0], gaps
    (e_fft0, e_bem0), (e_fft1, e_bem1) = energies
    assert abs(e_fft1 - e_bem1) < 0.5 * abs(e_fft0 - e_bem0), energies
    assert abs(e_fft1 - e_bem1) < 0.03 * e_bem1, energies


def test_llg_with_fft_stray_field_dissipates():
    """Damped LLG, exchange + FFT stray field: E decreases, ``|m| = 1``."""
    from test_demag_fembem import assert_damped_llg_dissipates

    mesh = box(MPI.COMM_WORLD, (1.0, 1.0, 1.0), (4, 4, 4))
    info = assert_damped_llg_dissipates(GridConvolution(mesh, 0.25)).describe()
    assert info["method"] == "fft" and info["grid_shape"] == [4, 4, 4]
    assert info["evaluations"] > 0


def test_bad_input():
    comm = MPI.COMM_WORLD
    hexes = dolfinx.mesh.create_unit_cube(comm, 2, 2, 2, dolfinx.mesh.CellType.hexahedron)
    with pytest.raises(MeshError, match="tetrahedra"):
        GridConvolution(hexes, 0.5)
    mesh = box(comm, (1, 1, 1), (2, 2, 2))
    with pytest.raises(ConfigError, match="grid_size must be > 0"):
        GridConvolution(mesh, [0.5, -1.0, 0.5])
    with pytest.raises(ConfigError, match="increase demag.grid_size"):
        GridConvolution(mesh, 1e-3)
    with pytest.raises(ConfigError, match="points_per_axis"):
        GridConvolution(mesh, 0.5, points_per_axis=0)
    solver = GridConvolution(mesh, 0.5)
    S = dolfinx.fem.functionspace(mesh, ("Lagrange", 1))
    with pytest.raises(ConfigError, match="P1 vector"):
        solver.compute(dolfinx.fem.Function(S), dolfinx.fem.Function(S))


FILM = """
[mesh]
builder = "cuboid"
lengths = [60e-9, 20e-9, 3e-9]
mesh_size = 10e-9
z_layers = 1
[material]
units = "SI"
Ms = 8.0e5
A = 1.3e-11
alpha = 0.5
[initial]
type = "uniform"
value = [1.0, 0.2, 0.0]
normalize = true
[time]
integrator = "tangent_plane_bdf2"
dt = 1e-12
t_end = 3e-12
[output]
dt_out = 1e-12
progress = false
checkpoint_wall = 0
"""


def test_job_with_fft_and_config_errors(tmp_path):
    cfg = write_toml(tmp_path / "film.toml", FILM + '[demag]\nmethod = "fft"\n')
    res = run_cli(["llg", cfg, "--out", tmp_path / "run"])
    assert res.returncode == 0, res.stderr
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["status"] == "completed"
    # the grid defaults to mesh.mesh_size: 6 x 2 x 1 cells of 10 x 10 x 3 nm
    assert info["demag"]["method"] == "fft" and info["demag"]["grid_shape"] == [6, 2, 1]
    # fewer transfer points: the same grid, a cheaper transfer
    cfg = write_toml(tmp_path / "film2.toml", FILM + '[demag]\nmethod = "fft"\ngrid_points = 2\n')
    res = run_cli(["llg", cfg, "--out", tmp_path / "run2"])
    assert res.returncode == 0, res.stderr
    info2 = json.loads((tmp_path / "run2" / "run.json").read_text())
    assert info2["demag"]["points_per_axis"] == [2, 2, 2]
    assert info["demag"]["points_per_axis"] == [4, 4, 4]
    assert info2["demag"]["grid_points_in_magnet"] * 8 == info["demag"]["grid_points_in_magnet"]
    cases = {
        '[demag]\nmethod = "fembem"\ngrid_size = 1e-9\n': "demag.grid_size is a parameter",
        '[demag]\nmethod = "fembem"\ngrid_points = 2\n': "demag.grid_points is a parameter",
        '[demag]\nmethod = "fft"\ngrid_points = 9\n': "demag.grid_points",
        '[demag]\nmethod = "fft"\ngrid_size = [1e-9, 1e-9]\n': "3 numbers",
        '[demag]\nmethod = "fft"\ngrid_size = -1e-9\n': "demag.grid_size",
        '[demag]\nmethod = "fft"\ngrid_size = 1e-12\n': "increase demag.grid_size",
        '[demag]\nmethod = "fft"\ngrid_size = 60e-9\n': "too coarse for the mesh",
    }
    for i, (text, needle) in enumerate(cases.items()):
        bad = write_toml(tmp_path / f"bad{i}.toml", FILM + text)
        assert_one_error_line(run_cli(["llg", bad, "--out", tmp_path / f"bad{i}"]), needle)


def test_job_with_fft_restarts_bitwise(tmp_path):
    """A killed job with the FFT stray field restarts from its checkpoint and repeats the
    uninterrupted run bitwise on one rank (the field has no solver state to lose)."""
    from test_llg_restart import KILL_STEP, read_table, run_killed

    text = (FILM.replace("t_end = 3e-12", "t_end = 2e-11").replace("checkpoint_wall = 0",
                                                                   "checkpoint_every = 4")
            + '[demag]\nmethod = "fft"\n')
    cfg = write_toml(tmp_path / "film.toml", text)
    assert run_cli(["llg", cfg, "--out", tmp_path / "full"]).returncode == 0
    run_killed(["llg", cfg, "--out", tmp_path / "killed"], tmp_path, **{KILL_STEP: 11})
    res = run_cli(["llg", cfg, "--restart", tmp_path / "killed"])
    assert res.returncode == 0, res.stderr
    info = json.loads((tmp_path / "killed" / "run.json").read_text())
    assert info["status"] == "completed" and info["restarts"] == 1
    full = read_table(tmp_path / "full" / "averages.csv")
    assert full.shape[0] == 21
    assert np.array_equal(read_table(tmp_path / "killed" / "averages.csv"), full)


# ---------------------------------------------------------------- parallel
def gathered_field(comm):
    mesh = box(comm, (1.0, 0.8, 0.6), (6, 5, 4))
    solver = GridConvolution(mesh, [0.11, 0.1, 0.13])
    W = dolfinx.fem.functionspace(mesh, ("Lagrange", 1, (3,)))
    m, H = dolfinx.fem.Function(W), dolfinx.fem.Function(W)
    m.interpolate(swirl)
    solver.compute(m, H)
    n = W.dofmap.index_map.size_local
    data = np.hstack([W.tabulate_dof_coordinates()[:n], H.x.array.reshape(-1, 3)[:n]])
    allx = np.vstack(comm.allgather(data))
    return allx[np.lexsort(np.round(allx[:, :3], 10).T)], solver.num_points


@pytest.mark.mpi
def test_parallel_equals_serial():
    """Same grid points and nodal field on COMM_WORLD and COMM_SELF (by coordinates)."""
    par, points_par = gathered_field(MPI.COMM_WORLD)
    ser, points_ser = gathered_field(MPI.COMM_SELF)
    assert points_par == points_ser
    assert np.allclose(par[:, :3], ser[:, :3], atol=1e-12)
    scale = np.abs(ser[:, 3:]).max()
    assert np.abs(par[:, 3:] - ser[:, 3:]).max() < 1e-12 * scale


@pytest.mark.mpi
def test_parallel_ball_factors():
    mm = magnets.sphere(MPI.COMM_WORLD, 1.0, mesh_size=0.3)
    par = demag_factors(GridConvolution(mm.mesh, 0.3))
    mm = magnets.sphere(MPI.COMM_SELF, 1.0, mesh_size=0.3)
    ser = demag_factors(GridConvolution(mm.mesh, 0.3))
    np.testing.assert_allclose(par, ser, rtol=0, atol=1e-12)
