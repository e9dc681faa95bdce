"""FEM-BEM with the potential on more layers than m (femhomog.micromag.demag.layered).

Independent truths:

* uniform m: the demagnetizing factors are exactly those of the potential mesh (the
  restriction keeps volume averages), and they approach Aharoni's closed form for the
  prism as the potential layers grow while m keeps 2 layers;
* any m: the energy is the potential mesh's energy of the prolonged m (the field is the
  gradient of a discrete energy), and it is positive;
* 1 vs 2 ranks: the same factors and energy;
* bad input: one-line errors (non-extruded magnet, layers < 1, the key with another method).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import assert_one_error_line, run_cli, write_toml
from test_demag_fembem import box, demag_factors

from femhomog import ConfigError, _fenicsx  # noqa: F401

# isort: split
import dolfinx
from mpi4py import MPI

from femhomog.meshes import magnets
from femhomog.micromag.demag.analytic import prism_demag_factors
from femhomog.micromag.demag.fembem import FredkinKoehler
from femhomog.micromag.demag.layered import LayeredPotential

FILM = (64.0, 16.0, 3.0)  # the SP4 aspect, 4 x 4 in-plane elements


def energy(solver, m_expr) -> tuple[float, float]:
    """(E of the layered solver for P1 m = m_expr, E of the potential mesh for P m)."""
    W = dolfinx.fem.functionspace(solver.mesh, ("Lagrange", 1, (3,)))
    m, H = dolfinx.fem.Function(W), dolfinx.fem.Function(W)
    m.interpolate(m_expr)
    solver.compute(m, H)
    n = solver._n_owned
    e = -0.5 * float(np.sum(solver._lumped_owned[:, None] * (H.x.array[: 3 * n].reshape(-1, 3)
                                                              * m.x.array[: 3 * n].reshape(-1, 3))))
    # the same on the potential mesh, with m prolonged by P
    fk = solver.fk
    Wf = dolfinx.fem.functionspace(solver.potential_mesh, ("Lagrange", 1, (3,)))
    mf, hf = dolfinx.fem.Function(Wf), dolfinx.fem.Function(Wf)
    solver.P.mult(m.x.petsc_vec, mf.x.petsc_vec)
    mf.x.scatter_forward()
    fk.compute(mf, hf)
    nf = fk._n_owned
    ef = -0.5 * float(np.sum(fk._lumped_owned[:, None] * (hf.x.array[: 3 * nf].reshape(-1, 3)
                                                          * mf.x.array[: 3 * nf].reshape(-1, 3))))
    comm = solver.comm
    return comm.allreduce(e), comm.allreduce(ef)


def vortexish(x):
    """A non-uniform unit field varying in-plane and (weakly) through the thickness."""
    v = np.vstack([np.cos(x[0] / 9.0), np.sin(x[0] / 9.0) * np.cos(x[1] / 5.0),
                   0.3 * np.sin(x[1] / 5.0) + 0.1 * x[2]])
    return v / np.linalg.norm(v, axis=0)


def layered_figures(comm) -> list[float]:
    lp = LayeredPotential(box(comm, FILM, (16, 4, 2)), 8, solver="direct")
    return [*demag_factors(lp), *energy(lp, vortexish)]


def test_layered_factors_are_the_potential_meshs_and_converge():
    comm = MPI.COMM_WORLD
    exact = prism_demag_factors(FILM)
    coarse = demag_factors(FredkinKoehler(box(comm, FILM, (16, 4, 2)), solver="direct"))
    errs = []
    for layers in (2, 4, 8):
        lp = LayeredPotential(box(comm, FILM, (16, 4, 2)), layers, solver="direct")
        N = demag_factors(lp)
        assert lp.describe()["potential_layers"] == layers
        # the restriction keeps volume averages: the factors of the potential mesh
        assert np.allclose(N, demag_factors(FredkinKoehler(lp.potential_mesh, solver="direct")),
                           rtol=0, atol=1e-12)
        errs.append(abs(N[1] - exact[1]) / exact[1])
    print(f"\nN_y relative error, m on 2 layers, potential on 2/4/8: {np.round(errs, 4)}; "
          f"the 2-layer FEM-BEM: {abs(coarse[1] - exact[1]) / exact[1]:.4f}")
    # measured: 0.061, 0.026, 0.015 (the 2-layer mesh itself: 0.061)
    assert errs[0] == pytest.approx(abs(coarse[1] - exact[1]) / exact[1], rel=1e-8)
    assert errs[0] > 2 * errs[1] > 0 and errs[1] > errs[2]


def test_layered_field_is_the_gradient_of_the_fine_energy():
    lp = LayeredPotential(box(MPI.COMM_WORLD, FILM, (16, 4, 2)), 6, solver="direct")
    e, ef = energy(lp, vortexish)
    assert e > 0
    assert e == pytest.approx(ef, rel=1e-12)


@pytest.mark.mpi
def test_layered_parallel_equals_serial():
    par = layered_figures(MPI.COMM_WORLD)
    ser = layered_figures(MPI.COMM_SELF)
    assert np.allclose(par, ser, rtol=1e-9, atol=1e-12), (par, ser)


def test_layered_bad_input():
    comm = MPI.COMM_WORLD
    with pytest.raises(ConfigError, match="potential_layers must be an integer >= 1"):
        LayeredPotential(box(comm, FILM, (4, 2, 1)), 0)
    cube = magnets.cuboid(comm, [1.0, 1.0, 1.0], mesh_size=0.5).mesh  # not extruded
    with pytest.raises(ConfigError, match="needs a magnet extruded along z"):
        LayeredPotential(cube, 4)


JOB = """
[mesh]
builder = "cuboid"
{layers}
[material]
alpha = 0.5
exchange = 1.0
[initial]
value = [1.0, 0.0, 0.0]
[demag]
method = "{method}"
potential_layers = 4
[time]
dt = 0.01
t_end = 0.02
"""


@pytest.mark.parametrize("layers, method, args, message", [
    ("lengths = [4.0, 2.0, 0.5]\nmesh_size = 1.0\nz_layers = 1", "shell", ["--check"],
     ("demag.potential_layers is a parameter of demag.method = 'fembem' "
      "(demag.method is 'shell')")),
    ("lengths = [2.0, 1.0, 1.0]\nmesh_size = 0.5", "fembem", [],
     "demag.potential_layers needs a magnet extruded along z"),
])
def test_layered_job_errors(tmp_path, layers, method, args, message):
    cfg = write_toml(tmp_path / "job.toml", JOB.format(layers=layers, method=method))
    res = run_cli(["llg", cfg, "--out", tmp_path / "out", *args], cwd=tmp_path)
    assert_one_error_line(res, message)


def test_layered_job_runs(tmp_path):
    cfg = write_toml(tmp_path / "job.toml", JOB.format(
        layers="lengths = [4.0, 2.0, 0.5]\nmesh_size = 1.0\nz_layers = 1", method="fembem"))
    res = run_cli(["llg", cfg, "--out", tmp_path / "out"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    info = json.loads((tmp_path / "out" / "run.json").read_text())
    demag = next(t for t in info["problem"]["terms"] if t["type"] == "StrayField")
    assert demag["potential_layers"] == 4
