"""Every demo runs: the Python documents in their quick mode (1 and 2 ranks), the TOML jobs.

Discovery, so that a new demo is tested without editing this file:

* Python demos are ``demos/**/*.py`` except helpers (``plot*.py``, ``_*.py``).  By
  convention each accepts ``--out DIR`` and ``--quick`` (a CI-sized case of well
  under 30 s on one rank) and exits 0; it runs as users run it,
  ``python demos/X.py --quick --out DIR`` and
  ``.venv/bin/mpirun -n 2 .venv/bin/python demos/X.py --quick --out DIR``.
* TOML demos are ``demos/**/*.toml``: a file with a ``[cell]`` section is a
  ``femhomog cell`` job, any other a ``femhomog llg`` job.  They run serially
  through the command line, shrunk by the ``--set`` overrides in :data:`QUICK_SETS`
  (a new TOML demo must get an entry there: the full jobs take minutes to hours).

The two-rank runs are not ``mpi``-marked: this process stays serial and starts
mpirun itself (a test of the ``mpi`` pass would run once per rank and nest the
launchers), as the other end-to-end tests do (tests/test_cell_job.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from helpers import MPIRUN, ROOT, clean_env, mpirun_command, run_cli

DEMOS = ROOT / "demos"


def _is_helper(path: Path) -> bool:
    """Plotting and other helper modules of the demos (not runnable as demos)."""
    return path.name.startswith(("plot", "_"))


PY_DEMOS = sorted(p.relative_to(DEMOS) for p in DEMOS.rglob("*.py") if not _is_helper(p))
TOML_DEMOS = sorted(p.relative_to(DEMOS) for p in DEMOS.rglob("*.toml"))

#: Files every run of a Python demo must write into ``--out`` (demos not listed:
#: at least one file).
PY_OUTPUTS = {
    "ll_homogenization.py": ["rates.csv", "corrected.csv", "convergence.csv", "summary.json"],
    "sp3.py": ["sp3.csv", "sp3.json"],
    "wave_fig1.py": ["errors.csv", "convergence.csv", "fig1_errors.png", "fig1_solutions.png",
                     "summary.json"],
    "wave_fig2.py": ["errors.csv", "domain.csv", "convergence.csv", "fig2_cut.png",
                     "summary.json"],
    "spin_valve.py": ["spin_valve_forward.csv", "spin_valve_reverse.csv", "spin_valve.png"],
}

#: CI-sized forms of the TOML demos (``--set`` overrides; seconds instead of minutes).
#: ``{out}`` is replaced by the directory that holds the outputs of all TOML runs.
QUICK_SETS: dict[str, list[str]] = {
    "inclusion3d.toml": ["geometry.mesh_size=0.2", "geometry.inclusion_mesh_size=0.12"],
    "laminate2d.toml": [],
    "smooth2d.toml": ["cell.cells_per_side=8"],
    "llg_macrospin.toml": ["time.t_end=0.2"],
    "llg_oscillating2d.toml": ["mesh.cells_per_side=8", "time.t_end=0.005"],
    # A^H of the quick smooth2d run (the demo reads the one of results/smooth2d)
    "llg_homogenized2d.toml": ["mesh.cells_per_side=8", "time.t_end=0.005",
                               'homogenized.matrix_from="{out}/smooth2d/tensors.json"'],
    "llg_si_film.toml": ["mesh.cells_per_side=6", "time.t_end=2e-11",
                         "output.progress=false"],
    "sp4/field1.toml": ["mesh.mesh_size=25e-9", "mesh.z_layers=1", "relax.torque_tol=1e-3",
                        "relax.dt=1e-11", "time.t_end=1e-11", "output.dt_out=1e-12",
                        "output.checkpoint_wall=0", "output.progress=false"],
}
QUICK_SETS["sp4/field2.toml"] = QUICK_SETS["sp4/field1.toml"]


def _run_demo(demo: Path, out: Path, nproc: int) -> None:
    cmd = mpirun_command(nproc, [sys.executable, DEMOS / demo, "--quick", "--out", out])
    res = subprocess.run(cmd, cwd=ROOT, env=clean_env(), capture_output=True, text=True,
                         timeout=900, check=False)
    assert res.returncode == 0, f"{' '.join(cmd)}\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    expected = PY_OUTPUTS.get(str(demo), [])
    missing = [name for name in expected if not (out / name).is_file()]
    assert not missing, f"{demo} did not write {missing}"
    assert out.is_dir() and any(out.iterdir()), f"{demo} wrote nothing into --out"


def test_discovery():
    """The known demos are found and nothing is mistaken for one."""
    names = {str(p) for p in PY_DEMOS}
    assert {"ll_homogenization.py", "sp3.py"} <= names
    assert "sp4/plot.py" not in names
    assert {"inclusion3d.toml", "llg_macrospin.toml", "sp4/field1.toml"} <= {
        str(p) for p in TOML_DEMOS}


@pytest.mark.parametrize("demo", PY_DEMOS, ids=str)
def test_python_demo_quick_serial(demo, tmp_path):
    _run_demo(demo, tmp_path / "out", nproc=1)


@pytest.mark.slow
@pytest.mark.skipif(MPIRUN is None, reason="no mpirun")
@pytest.mark.parametrize("demo", PY_DEMOS, ids=str)
def test_python_demo_quick_two_ranks(demo, tmp_path):
    _run_demo(demo, tmp_path / "out", nproc=2)


@pytest.fixture(scope="module")
def toml_out(tmp_path_factory) -> Path:
    """One directory for the outputs of all TOML runs (llg_homogenized2d reads smooth2d's)."""
    return tmp_path_factory.mktemp("toml_demos")


# smooth2d first: llg_homogenized2d reads its tensors.json
_TOML_ORDER = sorted(TOML_DEMOS, key=lambda p: (str(p) != "smooth2d.toml", str(p)))


@pytest.mark.parametrize("config", _TOML_ORDER, ids=str)
def test_toml_demo_quick(config, toml_out):
    key = str(config)
    assert key in QUICK_SETS, f"demos/{key}: add its CI-sized --set overrides to QUICK_SETS"
    path = DEMOS / config
    job = "cell" if "cell" in tomllib.loads(path.read_text()) else "llg"
    out = toml_out / key.removesuffix(".toml")
    sets = [s.format(out=toml_out) for s in QUICK_SETS[key]]
    args = [job, path, "--out", out, "-q", *(a for s in sets for a in ("--set", s))]
    res = run_cli(args, ROOT)
    assert res.returncode == 0, f"femhomog {' '.join(map(str, args))}\n{res.stderr[-3000:]}"
    if job == "cell":
        assert "a0" in json.loads((out / "tensors.json").read_text())
    else:
        assert json.loads((out / "run.json").read_text())["status"] == "completed"
        assert (out / "averages.csv").is_file()
