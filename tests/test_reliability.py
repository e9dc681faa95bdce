"""Reliability of ``femhomog`` runs: signals, failures outside the solver, lost outputs.

* SIGTERM / SIGINT sent to ``mpirun -n 2`` (which forwards them to every rank) and
  SIGUSR1 raised on one rank only stop all ranks at the next step: ``run.json``
  says ``terminated``/``interrupted`` with a one-line reason, a final checkpoint
  is written, the exit status is 128 + signal, and ``--restart`` completes the run
  to the uninterrupted one (same ranks: to MUMPS round-off in parallel, bitwise on
  one rank).
* The output directory deleted mid-run: non-zero exit, one error line, no
  "completed" anywhere, the directory is not silently recreated.
* Disk full (a file size limit, ``RLIMIT_FSIZE``, on the run): ``failed`` with the
  reason, no partial row, the previous checkpoint intact and restartable.
* A field that becomes infinite at run time, a PETSc error in a step: ``failed``,
  one line, exit 2.
* ``--out`` unusable (under a file, in /proc or /sys) or locked by a live run: one
  line, exit 2, nothing computed; the lock of a dead run is taken over.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import (
    MPIRUN,
    assert_one_error_line,
    clean_env,
    cli_command,
    error_lines,
    mpirun_command,
    run_cli,
    run_ok,
)

SIGNAL_HOOK = "FEMHOMOG_TEST_SIGNAL_AT_STEP"

# Non-trivial state (variable exchange, time-dependent field), 1D: ~10 ms a step.
CONFIG = """
[mesh]
dim = 1
cells_per_side = 8
[material]
alpha = 0.1
exchange = "1 + 0.5*sin(2*pi*y[0])"
eps = 0.5
[initial]
type = "expression"
expressions = ["cos(2*pi*x[0])", "sin(2*pi*x[0])", "0.3"]
normalize = true
[zeeman]
h = [0, "0.3*cos(5*t)", 1.0]
[time]
dt = 0.01
t_end = 1.5
[output]
every = 5
checkpoint_every = 20
final = true
"""


def read_table(path: Path) -> np.ndarray:
    lines = path.read_text().splitlines()
    assert lines[0].startswith("t,mx,my,mz")
    data = np.array([[float(v) for v in ln.split(",")] for ln in lines[1:]])
    assert np.all(np.diff(data[:, 0]) > 0)
    return data


def final_m(out: Path) -> np.ndarray:
    with np.load(out / "m_final.npz") as d:
        return d["m"][np.lexsort(d["x"].T[::-1])]


def run_json(out: Path) -> dict:
    return json.loads((out / "run.json").read_text())


def checkpoint_meta(out: Path) -> dict:
    with np.load(out / "checkpoint" / "checkpoint.npz") as d:
        return json.loads(str(d["meta"][()]))


def assert_same(out: Path, ref: Path, atol: float) -> None:
    a, b = read_table(out / "averages.csv"), read_table(ref / "averages.csv")
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=0, atol=atol)
    np.testing.assert_allclose(final_m(out), final_m(ref), rtol=0, atol=atol)
    assert run_json(out)["status"] == "completed"


def assert_stopped(res: subprocess.CompletedProcess, out: Path, signum: int) -> dict:
    """Exit 128 + signum, one line, run.json final with the reason, checkpoint at the stop."""
    name = signal.Signals(signum).name
    status = "interrupted" if signum == signal.SIGINT else "terminated"
    assert res.returncode == 128 + signum, (res.returncode, res.stderr[-3000:])
    assert "Traceback" not in res.stderr and "PETSC ERROR" not in res.stderr, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith(f"femhomog: {status}")]
    assert len(lines) == 1, res.stderr
    assert f"{status} by {name} at t = " in lines[0] and "--restart" in lines[0]
    info = run_json(out)
    assert info["status"] == status
    assert info["error"].startswith(f"{status} by {name} at t = ")
    assert "\n" not in info["error"]
    meta = checkpoint_meta(out)
    assert meta["loop"]["stats"]["steps"] == info["steps"]  # the checkpoint is the stop
    assert meta["t_out"] == pytest.approx(info["t_final"], abs=1e-15)
    assert info["steps"] < 150
    assert "environment" in info and info["environment"]["numpy"] == np.__version__
    return info


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    d = tmp_path_factory.mktemp("reliab")
    (d / "c.toml").write_text(CONFIG)
    run_ok(["llg", "c.toml", "--out", "full"], d)
    return d


def start(args, cwd: Path, nproc: int = 1, **env: str) -> subprocess.Popen:
    return subprocess.Popen(mpirun_command(nproc, cli_command(args)), cwd=cwd,
                            env=clean_env(**env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.005)


def finish(proc: subprocess.Popen) -> subprocess.CompletedProcess:
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


# ------------------------------------------------------------------ signals, serial
def test_sigint_serial_stops_checkpoints_and_restarts_bitwise(case):
    """A signal at a known step (test hook: the process signals itself after step 33):
    the run stops at the next step boundary, restart equals the uninterrupted run."""
    d = case
    shutil.rmtree(d / "int1", ignore_errors=True)
    res = run_cli(["llg", "c.toml", "--out", "int1"], d,
                  env=clean_env(**{SIGNAL_HOOK: "33:INT"}))
    info = assert_stopped(res, d / "int1", signal.SIGINT)
    assert info["steps"] == 34  # the signal arrived after the agreement of step 33
    assert not (d / "int1" / ".femhomog.lock").exists()
    res = run_ok(["llg", "c.toml", "--restart", "int1"], d)
    assert "restart 1 from t = 0.34 (step 34" in res.stderr
    assert_same(d / "int1", d / "full", 0.0)  # bitwise on one rank


def test_sigterm_during_setup_ends_run_json(case, tmp_path):
    """SIGTERM before the time loop (during the relaxation phase): the record ends
    'terminated', exit 143, one line, no PETSc banner."""
    d = case
    cfg = CONFIG + "[relax]\nenabled = true\ndt = 0.01\ntorque_tol = 1e-14\nmax_steps = 100000\n"
    (tmp_path / "r.toml").write_text(cfg)
    proc = start(["llg", "r.toml", "--out", "relax"], tmp_path)
    wait_for(tmp_path / "relax" / "relax.csv", proc)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    res = finish(proc)
    assert res.returncode == 143, res.stderr
    assert "PETSC ERROR" not in res.stderr and "Traceback" not in res.stderr
    assert res.stderr.splitlines()[-1].startswith("femhomog: terminated by SIGTERM")
    info = run_json(tmp_path / "relax")
    assert info["status"] == "terminated" and info["error"] == "terminated by SIGTERM"
    assert not (tmp_path / "relax" / ".femhomog.lock").exists()
    del d


# ------------------------------------------------------------------ signals, 2 ranks
@pytest.mark.skipif(MPIRUN is None, reason="no mpirun")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_to_mpirun_two_ranks(case, signum):
    """A real signal to mpirun (it forwards SIGTERM/SIGINT to both ranks) once the run
    has started stepping; restart on 2 ranks equals the uninterrupted 2-rank run to
    the parallel direct solver's round-off."""
    d = case
    if not (d / "full2").exists():
        run_ok(["llg", "c.toml", "--out", "full2"], d, nproc=2)
    out = d / f"sig{int(signum)}"
    shutil.rmtree(out, ignore_errors=True)
    proc = start(["llg", "c.toml", "--out", out.name], d, nproc=2)
    wait_for(out / "checkpoint" / "checkpoint.npz", proc)  # step 0 written: stepping
    proc.send_signal(signum)
    res = finish(proc)
    info = assert_stopped(res, out, signum)
    assert info["ranks"] == 2
    run_ok(["llg", "c.toml", "--restart", out.name], d, nproc=2)
    assert_same(out, d / "full2", 1e-12)
    assert run_json(out)["restarts"] == 1


@pytest.mark.skipif(MPIRUN is None, reason="no mpirun")
def test_sigusr1_on_one_rank_stops_both(case):
    """SIGUSR1 raised on rank 1 only (as a scheduler may signal one process) after
    step 21: both ranks stop at step 22 with a checkpoint (exit 138)."""
    d = case
    out = d / "usr1"
    shutil.rmtree(out, ignore_errors=True)
    res = run_cli(["llg", "c.toml", "--out", out.name], d, nproc=2,
                  env=clean_env(**{SIGNAL_HOOK: "21:USR1:1"}))
    info = assert_stopped(res, out, signal.SIGUSR1)
    assert info["steps"] == 22


# ------------------------------------------------------------------ lost outputs
def test_output_dir_deleted_mid_run_fails_loudly(case):
    d = case
    out = d / "gone"
    shutil.rmtree(out, ignore_errors=True)
    proc = start(["llg", "c.toml", "--out", out.name, "--set", "time.t_end=1000",
                  "--set", "output.every=1"], d)
    table = out / "averages.csv"
    wait_for(table, proc)
    while table.exists() and table.read_bytes().count(b"\n") < 4:
        assert proc.poll() is None
        time.sleep(0.005)
    shutil.rmtree(out)
    res = finish(proc)
    assert res.returncode == 2, res.stderr
    errors = error_lines(res.stderr)
    assert len(errors) == 1 and "vanished" in errors[0], res.stderr
    assert "deleted" in errors[0] or "replaced" in errors[0]
    # the record could not say 'failed': the line says so
    assert re.search(r"cannot write \S*gone/run\.json: the output directory", errors[0])
    assert not out.exists()  # not silently recreated with a 'completed' run.json


def test_disk_full_fails_and_keeps_the_checkpoint(case):
    """A file size limit (RLIMIT_FSIZE set with prlimit on the running process; Python
    ignores SIGXFSZ, so writes fail with EFBIG, as on a full disk) that averages.csv reaches mid-run: 'failed' with the reason, no partial
    row, the last checkpoint intact; the restart without the limit completes the run."""
    d = case
    out = d / "full_disk"
    shutil.rmtree(out, ignore_errors=True)
    limit = 16 * 1024  # > run.json and a checkpoint, < the table of the whole run
    proc = start(["llg", "c.toml", "--out", out.name, "--set", "output.every=1"], d)
    # the limit once running (MPI's start-up files exceed it); Python ignores SIGXFSZ
    wait_for(out / "checkpoint" / "checkpoint.npz", proc)
    resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (limit, limit))
    res = finish(proc)
    assert res.returncode == 2, res.stderr
    errors = error_lines(res.stderr)
    assert len(errors) == 1 and "File too large" in errors[0], res.stderr
    info = run_json(out)
    assert info["status"] == "failed" and "File too large" in info["error"]
    text = (out / "averages.csv").read_bytes()
    assert text.endswith(b"\n") and len(text) <= limit  # no partial row
    rows = read_table(out / "averages.csv")
    meta = checkpoint_meta(out)
    assert 0 < meta["loop"]["stats"]["steps"] < info["steps"] + 1
    assert meta["rows"] <= len(rows)
    run_ok(["llg", "c.toml", "--restart", out.name, "--set", "output.every=1"], d)
    ref = d / "full_every1"
    if not ref.exists():
        run_ok(["llg", "c.toml", "--out", ref.name, "--set", "output.every=1"], d)
    assert_same(out, ref, 0.0)


# ------------------------------------------------------------------ failures outside the solver
def test_field_infinite_at_run_time_fails_one_line(tmp_path, monkeypatch, capsys):
    from femhomog.cli.main import main

    (tmp_path / "c.toml").write_text(CONFIG)
    monkeypatch.chdir(tmp_path)
    code = main(["llg", "c.toml", "--out", "inf", "-q", "--set", "time.t_end=0.2",
                 "--set", 'zeeman.h=[0, 0, "1/(0.1-t)"]'])
    err = capsys.readouterr().err
    assert code == 2
    assert len(error_lines(err)) == 1 and "finite" in err
    info = json.loads((tmp_path / "inf" / "run.json").read_text())
    assert info["status"] == "failed" and "t = 0.1" in info["error"]
    assert not (tmp_path / "inf" / ".femhomog.lock").exists()


# ------------------------------------------------------------------ --out
@pytest.mark.parametrize("job", ["llg", "cell"])
def test_unusable_out_one_line_exit_2_nothing_computed(tmp_path, job):
    (tmp_path / "c.toml").write_text(CONFIG if job == "llg" else
                                     "[cell]\ndim = 1\ncells_per_side = 4\ncoefficient = 1.0\n")
    (tmp_path / "afile").write_text("x")
    for out, words in [("afile/sub", "is not a directory"), ("afile", "not a directory"),
                       ("/proc/femhomog-test", "not a writable directory"),
                       ("/sys/femhomog-test", "not a writable directory")]:
        res = run_cli([job, "c.toml", "--out", out], tmp_path, timeout=120)
        line = assert_one_error_line(res, "--out")  # nothing logged: nothing computed
        assert words in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "c.toml"]


def test_second_run_into_same_out_is_refused_and_stale_lock_taken_over(tmp_path, monkeypatch,
                                                                       capsys):
    from femhomog.cli.main import main
    from femhomog.io.output import LOCK_FILE

    (tmp_path / "c.toml").write_text(CONFIG)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "o"
    out.mkdir()
    live = subprocess.Popen(["sleep", "60"])
    try:
        (out / LOCK_FILE).write_text(json.dumps({"host": os.uname().nodename,
                                                 "pid": live.pid}))
        assert main(["llg", "c.toml", "--out", "o", "--set", "time.t_end=0.02"]) == 2
        err = capsys.readouterr().err
        assert len(error_lines(err)) == 1 and "in use by another run" in err
        assert f"pid {live.pid}" in err and not (out / "run.json").exists()
    finally:
        live.kill()
        live.wait()
    # the same lock, its process now dead: stale, taken over, removed at the end
    assert main(["llg", "c.toml", "--out", "o", "--set", "time.t_end=0.02", "-q"]) == 0
    assert run_json(out)["status"] == "completed"
    assert not (out / LOCK_FILE).exists()


def test_claim_output_dir_unit(tmp_path):
    """The helper jobs use: guard against a vanished directory, lock released."""
    from femhomog import ConfigError
    from femhomog.io.output import LOCK_FILE, claim_output_dir, write_atomic

    out = tmp_path / "a" / "b"
    with claim_output_dir(out) as claimed:
        assert (out / LOCK_FILE).is_file()
        with pytest.raises(ConfigError, match="in use by another run"):
            claim_output_dir(out)
        write_atomic(out / "x.txt", "ok")
        shutil.rmtree(out)
        with pytest.raises(OSError, match="vanished"):
            write_atomic(out / "x.txt", "lost")
        assert not out.exists()
        out.mkdir()  # a new directory of the same name is not the run's
        with pytest.raises(OSError, match="vanished"):
            write_atomic(out / "x.txt", "lost")
    assert claimed.lock is None
    write_atomic(out / "x.txt", "fine after the run")


# ------------------------------------------------------------------ smaller items
def test_small_input_checks(tmp_path, monkeypatch, capsys):
    from femhomog.cli.main import main

    monkeypatch.chdir(tmp_path)

    def error(*args: str) -> str:
        capsys.readouterr()
        assert main(list(args)) == 2
        lines = error_lines(capsys.readouterr().err)
        assert len(lines) == 1
        return lines[0]

    (tmp_path / "empty.toml").write_text("")
    assert "empty.toml is empty" in error("llg", "empty.toml", "--out", "o")
    (tmp_path / "c.toml").write_text(CONFIG)
    msg = error("llg", "c.toml", "--out", "o", "--set", "time.dt=inf")
    assert "must be a finite number > 0, got inf" in msg
    msg = error("llg", "c.toml", "--out", "big", "--set", "mesh.cells_per_side=10000000000")
    assert "cells_per_side = 10000000000" in msg and "use fewer cells" in msg
    assert not (tmp_path / "big" / "run.json").exists()
    # initial.file of a run on another mesh whose nodes coincide with this one's
    assert main(["llg", "c.toml", "--out", "tri", "-q", "--set", "mesh.dim=2",
                 "--set", "mesh.cells_per_side=2", "--set", 'mesh.cell_type="triangle"',
                 "--set", "time.t_end=0.01"]) == 0
    (tmp_path / "q.toml").write_text(
        '[mesh]\ndim = 2\ncells_per_side = 2\ncell_type = "quadrilateral"\n'
        '[material]\nalpha = 0.1\nexchange = 1.0\n'
        '[initial]\ntype = "file"\nfile = "tri/m_final.npz"\n'
        '[time]\ndt = 0.01\nt_end = 0.01\n')
    msg = error("llg", "q.toml", "--out", "quad")
    assert "another mesh" in msg and "quadrilateral" in msg
    capsys.readouterr()
    assert main(["llg", "c.toml", "--check"]) == 0
    assert "valid femhomog llg configuration" in capsys.readouterr().out


def test_llg_help_examples_are_llg_keys(capsys):
    from femhomog.cli.main import main

    with pytest.raises(SystemExit):
        main(["llg", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--set time.t_end=" in text and "cell.degree" not in text
    assert "128+N stopped by signal N" in text
