"""``femhomog wave CONFIG --out DIR``: files, errors, restart, 1 vs 2 ranks, bad input.

Independent truths:

* a homogeneous medium (a = 2): the effective equation of order 0 is the fine-scale
  equation, so err_s0 is the space discretization error of u^eps (tiny), and the
  corrections of order 1 vanish with the tensors (g^2 = 0);
* the Chebyshev propagation conserves the energy exactly (fine.csv);
* a killed run restarted from its checkpoint writes bitwise the tables of the
  uninterrupted run (same ranks; Chebyshev and leapfrog, mid-segment checkpoints);
* the effective solutions and the errors do not depend on the number of ranks.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from helpers import MPIRUN, assert_one_error_line, clean_env, run_cli, write_toml

from femhomog import _fenicsx  # noqa: F401

# isort: split
from mpi4py import MPI

from femhomog.wave.config import load_wave_config
from femhomog.wave.job import run_wave_job

TINY = """
[wave]
eps = 0.25
lower = [-4.0]
upper = [4.0]
u0 = "exp(-4*x[0]**2)"
[cell]
dim = 1
coefficient = "sqrt(2) - cos(2*pi*y[0])"
cells_per_side = 16
[homogenization]
order = 1
[fine]
degree = 4
[effective]
points_per_period = 8
[time]
t_end = 2.0
outputs = [0.5, 1.0]
[output]
progress = 0
"""


def read_table(path: Path) -> tuple[list[str], np.ndarray]:
    with open(path) as f:
        rows = list(csv.reader(f))
    return rows[0], np.array(rows[1:], dtype=float)


def run(tmp: Path, name: str, overrides=(), comm=MPI.COMM_SELF, restart=None) -> dict:
    cfg = load_wave_config(None, list(overrides), text=TINY)
    return run_wave_job(cfg, out_dir=tmp / name, comm=comm, restart=restart)


def test_cli_files_and_errors(tmp_path):
    config = write_toml(tmp_path / "tiny.toml", TINY)
    res = run_cli(["wave", config, "--out", tmp_path / "out", "--set", "output.fields=true"])
    assert res.returncode == 0, res.stderr
    assert "errors:" in res.stdout
    out = tmp_path / "out"
    header, errs = read_table(out / "errors.csv")
    assert header == ["t", "err_s0", "err_s1"]
    assert errs[:, 0].tolist() == [0.5, 1.0, 2.0]
    # u0 is not well prepared: an O(eps) part of u^eps lives in the higher Bloch bands
    assert np.all((errs[:, 1:] > 1e-3) & (errs[:, 1:] < 0.3))
    header, fine = read_table(out / "fine.csv")
    assert header == ["t", "norm", "energy", "matmults"]
    assert np.ptp(fine[:, 2]) < 1e-12 * fine[0, 2]  # exact in time: energy conserved
    header, cut = read_table(out / "cuts" / "t_2.csv")
    assert header == ["x0", "u_eps", "u_s0", "u_s1"] and cut.shape == (256, 4)
    assert cut[0, 0] == -4.0 and np.all(np.diff(cut[:, 0]) > 0)
    # the cut is u^eps on the grid line: its l2 difference to u~^s is the error
    err0 = np.linalg.norm(cut[:, 1] - cut[:, 2]) / np.linalg.norm(cut[:, 1])
    assert err0 == pytest.approx(errs[-1, 1], rel=1e-12)
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "completed" and info["job"] == "wave"
    assert info["fine"]["dofs"] == 256 and info["rows"] == 3 and info["matmults"] > 0
    assert (out / "u_eps.bp").is_dir() and (out / "tensors.json").is_file()
    tensors = json.loads((out / "tensors.json").read_text())
    assert tensors["order"] == 1 and len(tensors["a2"]) == 1


def test_homogeneous_medium_is_its_own_effective_equation(tmp_path):
    res = run(tmp_path, "hom", ["cell.coefficient=2.0", "fine.degree=6"])
    _, errs = read_table(tmp_path / "hom" / "errors.csv")
    assert res["status"] == "completed"
    # the space error of degree 6 with h = eps/2 on exp(-4 x^2)
    assert np.all(errs[:, 1:] < 1e-6), errs


def test_tensors_from_file_give_the_same_errors(tmp_path):
    run(tmp_path, "a")
    b = run(tmp_path, "b", [f"wave.tensors_from=\"{tmp_path / 'a' / 'tensors.json'}\""])
    assert b["files"]["tensors"] == "tensors.json"
    _, ea = read_table(tmp_path / "a" / "errors.csv")
    _, eb = read_table(tmp_path / "b" / "errors.csv")
    np.testing.assert_allclose(eb, ea, rtol=1e-10)


def test_leapfrog_with_a_source(tmp_path):
    res = run(tmp_path, "lf", ["fine.propagator=\"leapfrog4\"", "wave.source=\"exp(-x[0]**2)\"",
                               "time.outputs=[0.5]", "time.t_end=1.0"])
    assert res["fine"]["propagator"] == "leapfrog4" and res["steps"] > 0
    _, errs = read_table(tmp_path / "lf" / "errors.csv")
    assert errs[:, 0].tolist() == [0.5, 1.0]
    assert np.all(errs[:, 1:] < 0.3)


@pytest.mark.parametrize("propagator", ["chebyshev", "leapfrog4"])
def test_restart_with_raised_t_end_equals_the_uninterrupted_run(tmp_path, propagator):
    common = [f"fine.propagator=\"{propagator}\"", "output.checkpoint_every=1",
              "time.t_end=4.0", "time.outputs=[1.0, 2.0]"]
    run(tmp_path, "full", common)
    part = run(tmp_path, "part", [*common, "time.t_end=2.0"])
    assert part["status"] == "completed" and part["checkpoints_written"] > 0
    cont = run(tmp_path, "part", common, restart=tmp_path / "part")
    assert cont["restarts"] == 1
    for table in ("errors.csv", "fine.csv"):
        full = (tmp_path / "full" / table).read_text()
        assert (tmp_path / "part" / table).read_text() == full  # bitwise


def test_sigkill_mid_segment_and_restart(tmp_path):
    """Killed after propagation piece 3 (inside the segment 20 -> 40), continued."""
    config = write_toml(tmp_path / "tiny.toml", TINY)
    sets = ["--set", "time.t_end=40.0", "--set", "time.outputs=[10.0, 20.0]",
            "--set", "output.checkpoint_every=1"]
    ref = run_cli(["wave", config, "--out", tmp_path / "ref", *sets])
    assert ref.returncode == 0, ref.stderr
    killed = run_cli(["wave", config, "--out", tmp_path / "run", *sets],
                     env=clean_env(FEMHOMOG_TEST_KILL_AT_STEP="3"))
    assert killed.returncode == -9, killed.stderr
    meta_rows = read_table(tmp_path / "run" / "errors.csv")[1]
    assert len(meta_rows) == 2  # t = 10, 20 written; 40 not reached
    again = run_cli(["wave", config, "--restart", tmp_path / "run", *sets])
    assert again.returncode == 0, again.stderr
    for table in ("errors.csv", "fine.csv"):
        assert ((tmp_path / "run" / table).read_text()
                == (tmp_path / "ref" / table).read_text())
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["restarts"] == 1 and info["restart_history"][0]["pieces"] == 3
    done = run_cli(["wave", config, "--restart", tmp_path / "run", *sets])
    assert done.returncode == 0 and "already completed" in done.stdout


def test_signal_stops_at_a_piece_boundary_and_restart_is_bitwise(tmp_path):
    """SIGINT after propagation piece 3 (test hook), no checkpoint cadence set: the run
    stops at the next boundary (piece 4) with a checkpoint, run.json 'interrupted', exit 130; the
    restart writes the uninterrupted run's tables bitwise."""
    config = write_toml(tmp_path / "tiny.toml", TINY)
    sets = ["--set", "time.t_end=80.0", "--set", "time.outputs=[10.0, 20.0]"]
    ref = run_cli(["wave", config, "--out", tmp_path / "ref", *sets])
    assert ref.returncode == 0, ref.stderr
    res = run_cli(["wave", config, "--out", tmp_path / "run", *sets],
                  env=clean_env(FEMHOMOG_TEST_SIGNAL_AT_STEP="3:INT"))
    assert res.returncode == 130, res.stderr
    assert "Traceback" not in res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("femhomog: interrupted by SIGINT at t = ") and "after 4 " in last
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["status"] == "interrupted" and info["pieces"] == 4
    assert info["files"]["checkpoint"] == "checkpoint/checkpoint.npz"
    assert not (tmp_path / "run" / ".femhomog.lock").exists()
    again = run_cli(["wave", config, "--restart", tmp_path / "run", *sets])
    assert again.returncode == 0, again.stderr
    for table in ("errors.csv", "fine.csv"):
        assert ((tmp_path / "run" / table).read_text()
                == (tmp_path / "ref" / table).read_text())


@pytest.mark.skipif(MPIRUN is None, reason="no mpirun")
def test_sigusr1_on_one_rank_stops_both(tmp_path):
    """SIGUSR1 on rank 1 only, after piece 3: both ranks stop at the next boundary
    (exit 138, 'terminated', one checkpoint), and the run continues on 2 ranks."""
    config = write_toml(tmp_path / "tiny.toml", TINY)
    sets = ["--set", "time.t_end=80.0", "--set", "time.outputs=[10.0, 20.0]"]
    res = run_cli(["wave", config, "--out", tmp_path / "run", *sets], nproc=2,
                  env=clean_env(FEMHOMOG_TEST_SIGNAL_AT_STEP="3:USR1:1"))
    assert res.returncode == 138, res.stderr
    assert "Traceback" not in res.stderr and "MPI_ABORT" not in res.stderr
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["status"] == "terminated" and info["pieces"] == 4 and info["ranks"] == 2
    again = run_cli(["wave", config, "--restart", tmp_path / "run", *sets], nproc=2)
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "completed"


@pytest.mark.parametrize("override,message", [
    ("wave.upper=[4.1]", "whole number of periods"),
    ("effective.points_per_period=5", "multiple of fine.cells_per_period"),
])
def test_bad_input_one_line(tmp_path, override, message):
    config = write_toml(tmp_path / "tiny.toml", TINY)
    res = run_cli(["wave", config, "--out", tmp_path / "out", "--set", override])
    assert_one_error_line(res, message)
    assert not (tmp_path / "out" / "run.json").exists()


def test_tensors_of_too_low_order_one_line(tmp_path):
    run(tmp_path, "a", ["homogenization.order=0", "effective.orders=[0]"])
    config = write_toml(tmp_path / "tiny.toml", TINY)
    res = run_cli(["wave", config, "--out", tmp_path / "out", "--set",
                   f"wave.tensors_from=\"{tmp_path / 'a' / 'tensors.json'}\""])
    assert_one_error_line(res, "has tensors up to order 0")


def test_restart_without_checkpoint_one_line(tmp_path):
    config = write_toml(tmp_path / "tiny.toml", TINY)
    assert run_cli(["wave", config, "--out", tmp_path / "out"]).returncode == 0
    res = run_cli(["wave", config, "--restart", tmp_path / "out"])
    assert_one_error_line(res, "no checkpoint")


@pytest.mark.mpi
def test_two_ranks_equal_one(shared_tmp_path, tmp_path):
    """Errors and cuts on 2 ranks equal those of 1 rank; a 2-rank checkpoint restarts
    on 1 rank (the state is keyed by node coordinates)."""
    common = ["output.checkpoint_every=1", "time.t_end=4.0", "time.outputs=[1.0, 2.0]"]
    run(shared_tmp_path, "world", common, comm=MPI.COMM_WORLD)
    run(tmp_path, "self", common)
    _, ew = read_table(shared_tmp_path / "world" / "errors.csv")
    _, es = read_table(tmp_path / "self" / "errors.csv")
    # lambda_max (SLEPc) differs to its tolerance: another series, the same exact evolution
    np.testing.assert_allclose(ew, es, rtol=1e-8)
    _, cw = read_table(shared_tmp_path / "world" / "cuts" / "t_4.csv")
    _, cs = read_table(tmp_path / "self" / "cuts" / "t_4.csv")
    np.testing.assert_allclose(cw, cs, rtol=1e-8, atol=1e-12)
    run(shared_tmp_path, "part", [*common, "time.t_end=2.0"], comm=MPI.COMM_WORLD)
    MPI.COMM_WORLD.Barrier()
    run(tmp_path, "cont", common, restart=shared_tmp_path / "part")
    _, ec = read_table(tmp_path / "cont" / "errors.csv")
    np.testing.assert_allclose(ec, es, rtol=1e-8)
