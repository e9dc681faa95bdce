"""End-to-end ``femhomog cell``: tensors.json content, rank independence, bad input.

The CLI is run as a subprocess (as users run it), serially and under the venv's
``mpirun -n 2``; the numbers are checked against closed forms.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import MPIRUN, assert_one_error_line, error_lines, run_cli, write_toml

LAMINATE_1D = """
[cell]
dim = 1
coefficient = "sqrt(2) - cos(2*pi*y[0])"
cells_per_side = 64
degree = 4
"""

SMOOTH_2D = """
[cell]
dim = 2
coefficient = [["2 + sin(2*pi*y[0])*cos(2*pi*y[1])", "0.2"], ["0.2", "1.5 + 0.5*cos(2*pi*y[0])"]]
cell_type = "triangle"
cells_per_side = 12
degree = 2
"""


def test_cell_job_tensors_json(tmp_path):
    cfg = write_toml(tmp_path / "c.toml", LAMINATE_1D)
    res = run_cli(["cell", cfg, "--out", tmp_path / "out"], tmp_path)
    assert res.returncode == 0, res.stderr
    data = json.loads((tmp_path / "out" / "tensors.json").read_text())
    for key in ("a0", "dim", "dofs", "ranks", "wall_time_s", "femhomog_version"):
        assert key in data
    assert data["dim"] == 1 and data["ranks"] == 1 and data["dofs"] == 64 * 4 + 1
    assert abs(data["a0"][0][0] - 1.0) < 1e-10  # harmonic mean of sqrt(2) - cos
    assert "a^0" in res.stdout


def test_cell_job_set_overrides(tmp_path):
    """--set changes the coefficient: 1/(2 + sin) has harmonic mean 1/2."""
    cfg = write_toml(tmp_path / "c.toml", LAMINATE_1D)
    res = run_cli(
        ["cell", cfg, "--out", tmp_path / "o", "--set", 'cell.coefficient="1/(2 + sin(2*pi*y[0]))"'],
        tmp_path,
    )
    assert res.returncode == 0, res.stderr
    data = json.loads((tmp_path / "o" / "tensors.json").read_text())
    assert abs(data["a0"][0][0] - 0.5) < 1e-10


@pytest.mark.skipif(MPIRUN is None, reason="no mpirun")
def test_cell_job_two_ranks_same_a0(tmp_path):
    cfg = write_toml(tmp_path / "c.toml", SMOOTH_2D)
    one = run_cli(["cell", cfg, "--out", tmp_path / "one"], tmp_path)
    two = run_cli(["cell", cfg, "--out", tmp_path / "two"], tmp_path, nproc=2)
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    d1 = json.loads((tmp_path / "one" / "tensors.json").read_text())
    d2 = json.loads((tmp_path / "two" / "tensors.json").read_text())
    assert d2["ranks"] == 2 and d1["dofs"] == d2["dofs"]
    assert np.abs(np.array(d1["a0"]) - np.array(d2["a0"])).max() < 1e-10


def _non_periodic_msh(path: Path) -> Path:
    """A unit square meshed finer on the left than on the right: faces do not match."""
    import gmsh

    gmsh.initialize()
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("nonperiodic")
        gmsh.model.occ.addRectangle(0, 0, 0, 1, 1)
        gmsh.model.occ.synchronize()
        gmsh.model.addPhysicalGroup(2, [1], 1)
        for _, tag in gmsh.model.getEntities(0):
            x = gmsh.model.getValue(0, tag, [])[0]
            gmsh.model.mesh.setSize([(0, tag)], 0.05 if x < 0.5 else 0.15)
        gmsh.model.mesh.generate(2)
        gmsh.write(str(path))
    finally:
        gmsh.finalize()
    return path


BAD_INPUTS = {
    "unknown_key": ("[cell]\ndim = 2\ncoefficient = '1'\nfoo = 3\n", "unknown key 'cell.foo'"),
    "dim4": ("[cell]\ndim = 4\ncoefficient = '1'\n", "cell.dim must be 1, 2 or 3"),
    "negative": ("[cell]\ndim = 2\ncoefficient = 'sin(2*pi*y[0])'\ncells_per_side = 4\n",
                 "not positive"),
    "indefinite": ("[cell]\ndim = 2\ncoefficient = [['1', '2'], ['2', '1']]\ncells_per_side = 4\n",
                   "positive definite"),
    "non_periodic_coefficient": ("[cell]\ndim = 2\ncoefficient = '2 + y[0]'\ncells_per_side = 4\n",
                                 "not periodic"),
    "unsafe_expression": ("[cell]\ndim = 1\ncoefficient = \"__import__('os').getcwd()\"\n",
                          "coefficient"),
    "unreadable_mesh": ("[cell]\nmesh = 'garbage.msh'\nmaterials = {1 = 1.0}\n", "mesh"),
    "missing_mesh": ("[cell]\nmesh = 'nope.msh'\nmaterials = {1 = 1.0}\n", "not found"),
    "non_periodic_mesh": ("[cell]\nmesh = 'nonper.msh'\nmaterials = {1 = 1.0}\n",
                          "not periodic-compatible"),
    "missing_material": ("[cell]\nmesh = 'nonper.msh'\nmaterials = {2 = 1.0}\n", "material"),
}


@pytest.fixture(scope="module")
def bad_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    (d / "garbage.msh").write_text("$MeshFormat\nthis is not a mesh\n")
    _non_periodic_msh(d / "nonper.msh")
    return d


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_one_line_error(bad_dir, name):
    text, needle = BAD_INPUTS[name]
    cfg = write_toml(bad_dir / f"{name}.toml", text)
    res = run_cli(["cell", cfg, "--out", bad_dir / f"out_{name}"], bad_dir)
    assert_one_error_line(res, needle)


@pytest.mark.skipif(MPIRUN is None, reason="no mpirun")
@pytest.mark.parametrize("name", ["negative", "non_periodic_mesh", "unreadable_mesh"])
def test_bad_input_under_mpirun(bad_dir, name):
    """Errors detected collectively: every rank exits, one message, no hang."""
    text, needle = BAD_INPUTS[name]
    cfg = write_toml(bad_dir / f"{name}_mpi.toml", text)
    res = run_cli(["cell", cfg, "--out", bad_dir / f"outmpi_{name}"], bad_dir, nproc=2, timeout=300)
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    errors = error_lines(res.stderr)
    assert len(errors) == 1 and needle in errors[0], res.stderr


def test_cell_job_gmsh_laminate_builder(tmp_path):
    """[geometry] builder = laminate: P1 is exact for layers, a^0 = diag(arith, harm)."""
    cfg = write_toml(
        tmp_path / "lam.toml",
        "[cell]\ndim = 2\ndegree = 1\nmaterials = {1 = 2.0, 2 = 8.0}\n"
        "[geometry]\nbuilder = 'laminate'\nfraction = 0.25\naxis = 0\nmesh_size = 0.1\n",
    )
    res = run_cli(["cell", cfg, "--out", tmp_path / "o"], tmp_path)
    assert res.returncode == 0, res.stderr
    a0 = np.array(json.loads((tmp_path / "o" / "tensors.json").read_text())["a0"])
    harm = 1 / (0.25 / 2.0 + 0.75 / 8.0)
    arith = 0.25 * 2.0 + 0.75 * 8.0
    assert np.abs(a0 - np.diag([harm, arith])).max() < 1e-10


def test_cell_job_effective_tensors_theorem3_vs_naive(tmp_path):
    """[homogenization] through the CLI: both methods write the same S(g^2), S(g^4)."""
    cfg = write_toml(tmp_path / "h.toml", SMOOTH_2D + "[homogenization]\norder = 2\n")
    out = {}
    for method in ("theorem3", "naive"):
        res = run_cli(
            ["cell", cfg, "--out", tmp_path / method, "--set", f'homogenization.method="{method}"',
             "--set", "output.fields=true"],
            tmp_path,
        )
        assert res.returncode == 0, res.stderr
        out[method] = json.loads((tmp_path / method / "tensors.json").read_text())
    thm, naive = out["theorem3"], out["naive"]
    assert (thm["cell_problems_solved"], naive["cell_problems_solved"]) == (9, 20)
    a0_scale = np.abs(np.array(naive["a0"])).max()
    for key in ("g2", "g4", "a2", "b2", "a4", "b4"):
        x, y = np.array(thm[key]), np.array(naive[key])
        assert x.shape == (2,) * x.ndim
        # Scale of order 2r: the data S(g^2r) and b^2r a^0 of a^2r = qcheck + S(b (x) a^0) (38)
        # (a^2r and b^2r themselves may vanish); b^2r is measured in units of that / a^0.
        r = key[1]
        scale = max(np.abs(naive[f"g{r}"]).max(), np.abs(naive[f"b{r}"]).max() * a0_scale)
        scale /= a0_scale if key[0] == "b" else 1.0
        assert np.abs(x - y).max() <= 1e-8 * scale, key
    assert np.array(thm["g4"]).ndim == 6 and np.array(thm["b4"]).ndim == 4
    assert (tmp_path / "naive" / "correctors.bp").is_dir()


def test_cell_job_dispersion_table(tmp_path):
    """dispersion.csv: |lambda_1 - omega^2_s| = O(t^{2s+4}) (Bloch band vs order-s equation).

    Independent truth: the Bloch eigenvalue (SLEPc, quasi-periodic cell problem) against
    the tensors of the corrector recursion.  The homogenized relation a^0 t^2 is off at
    O(t^4), the effective relations of order s = 1, 2 at O(t^6), O(t^8).
    """
    rates = {}
    for s in (0, 1, 2):
        cfg = write_toml(
            tmp_path / f"d{s}.toml",
            LAMINATE_1D + f"[homogenization]\norder = {s}\n"
            "[dispersion]\ndirections = [[1.0]]\nt_max = 1.2\nsamples = 2\n",
        )
        res = run_cli(["cell", cfg, "--out", tmp_path / f"o{s}"], tmp_path)
        assert res.returncode == 0, res.stderr
        lines = (tmp_path / f"o{s}" / "dispersion.csv").read_text().splitlines()
        assert lines[0].startswith("direction,theta0,t,lambda_bloch,omega2_effective")
        rows = np.array([[float(x) for x in ln.split(",")] for ln in lines[1:]])
        t, lam, eff = rows[:, 2], rows[:, 3], rows[:, 4]
        err = np.abs(lam - eff)
        rates[s] = np.log(err[1] / err[0]) / np.log(t[1] / t[0])
    for s, rate in rates.items():
        assert rate == pytest.approx(2 * s + 4, abs=0.5), rates
