"""Checkpoint/restart of ``femhomog llg`` and the progress display.

Truth: the uninterrupted run.  A run killed with SIGKILL (test hooks
``FEMHOMOG_TEST_KILL_AT_STEP``: every rank kills itself after step k, which is
neither an output nor a checkpoint step, so averages.csv has rows after the
checkpoint; ``FEMHOMOG_TEST_KILL_IN_CHECKPOINT``: rank 0 dies inside the n-th
checkpoint write, after its data went to the temporary file and before the
rename) and restarted with ``--restart`` must give

* on the same ranks: the same averages.csv and m_final.npz to 1e-10 (on one rank
  in fact bitwise: same operations in the same order; on several ranks MUMPS does
  not reduce in a fixed order, so even two uninterrupted runs differ by ~1e-14);
* on another number of ranks (checkpoint of 2 ranks restarted on 1 and vice
  versa): the uninterrupted run to solver tolerance (direct solver: round-off);
* outputs not corrupted: CSV parses, times strictly increasing (no duplicates),
  run.json valid with the restart recorded.

Damaged, missing and mismatched checkpoints give one-line errors (exit 2).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import MPIRUN, clean_env, cli_command, error_lines, run_cli, run_ok

KILL_STEP = "FEMHOMOG_TEST_KILL_AT_STEP"
KILL_CKPT = "FEMHOMOG_TEST_KILL_IN_CHECKPOINT"

# Oscillating exchange, a time-dependent field and a non-uniform m(0): nothing
# about the state is trivial.  Fixed steps: rows every 2 steps, checkpoints every 5.
TANGENT = """
[mesh]
dim = 2
cells_per_side = 6
[material]
alpha = 0.1
exchange = "1 + 0.5*sin(2*pi*y[0])"
eps = 0.5
[initial]
type = "expression"
expressions = ["cos(2*pi*x[0])", "sin(2*pi*x[0])*cos(2*pi*x[1])",
               "sin(2*pi*x[0])*sin(2*pi*x[1])"]
[zeeman]
h = [0, 0, "0.5*sin(3*t)"]
[time]
integrator = "tangent_plane"
dt = 0.01
t_end = 0.3
[output]
every = 2
checkpoint_every = 5
final = true
"""

# Adaptive midpoint: the controller's next step is state; rows at multiples of dt_out.
MIDPOINT = """
[mesh]
dim = 1
cells_per_side = 8
[material]
alpha = 0.2
exchange = "1 + 0.5*sin(2*pi*y[0])"
eps = 0.25
[initial]
type = "expression"
expressions = ["cos(2*pi*x[0])", "sin(2*pi*x[0])", "0.3"]
normalize = true
[zeeman]
h = [0, "0.3*cos(5*t)", 1.0]
[time]
integrator = "midpoint"
adaptive = true
tol = 1e-4
dt = 0.005
t_end = 0.25
[output]
dt_out = 0.05
checkpoint_every = 3
"""


def run_killed(args, cwd, nproc=1, **hook):
    res = run_cli(args, cwd, nproc, env=clean_env(**{k: str(v) for k, v in hook.items()}))
    # serial: -SIGKILL; mpirun (hydra) reports the signal as exit status 9 or 137
    assert res.returncode in (-9, 9, 137), (res.returncode, res.stderr[-2000:])
    return res


def read_table(path: Path) -> np.ndarray:
    """Parse averages.csv strictly: header, complete numeric rows, increasing times."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][:4] == ["t", "mx", "my", "mz"] and rows[0][-2:] == ["E_total", "norm_dev"]
    data = np.array([[float(v) for v in r] for r in rows[1:]])
    assert data.shape[1] == len(rows[0])
    assert np.all(np.diff(data[:, 0]) > 0), "times must increase strictly (no duplicate rows)"
    return data


def by_position(x: np.ndarray) -> np.ndarray:
    """The node order sorted by coordinates rounded to 1e-10: coordinates that are zero
    up to round-off (+-1e-17, which differ between builds) must not reorder the nodes."""
    return np.lexsort(np.round(x, 10).T[::-1] + 0.0)


def final_m(out: Path) -> np.ndarray:
    with np.load(out / "m_final.npz") as d:
        return d["m"][by_position(d["x"])]


def assert_same_run(out: Path, ref: Path, tol: float, allow_fresh: bool = False) -> None:
    a, b = read_table(out / "averages.csv"), read_table(ref / "averages.csv")
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=0, atol=tol)
    np.testing.assert_allclose(final_m(out), final_m(ref), rtol=0, atol=tol)
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "completed" and info["restarts"] >= 1 - allow_fresh
    assert info["rows"] == len(a)
    ref_info = json.loads((ref / "run.json").read_text())
    assert info["steps"] == ref_info["steps"]


@pytest.fixture(scope="module")
def tangent(tmp_path_factory):
    """Config and the uninterrupted serial run."""
    d = tmp_path_factory.mktemp("tangent")
    (d / "tp.toml").write_text(TANGENT)
    run_ok(["llg", "tp.toml", "--out", "full"], d)
    return d


def test_sigkill_and_restart_same_ranks_serial(tangent):
    d = tangent
    shutil.rmtree(d / "killed", ignore_errors=True)
    run_killed(["llg", "tp.toml", "--out", "killed"], d, **{KILL_STEP: 13})
    rows_at_kill = len(read_table(d / "killed" / "averages.csv"))
    assert rows_at_kill == 1 + 13 // 2  # t = 0 and every 2nd step up to step 12
    meta_rows = 1 + 10 // 2  # checkpoint at step 10
    res = run_ok(["llg", "tp.toml", "--restart", "killed"], d)
    assert f"restart 1 from t = 0.1 (step 10, {meta_rows} rows)" in res.stderr
    assert_same_run(d / "killed", d / "full", 1e-10)
    assert np.array_equal(read_table(d / "killed" / "averages.csv"),
                          read_table(d / "full" / "averages.csv"))  # bitwise, in fact
    info = json.loads((d / "killed" / "run.json").read_text())
    assert info["restart_history"][0]["step"] == 10


def test_sigkill_at_a_random_moment(tangent):
    """A real kill from outside once averages.csv has 4 rows, with a checkpoint after
    every step (so the kill likely lands inside a write).  Whatever the moment (even
    after the run finished), the restart completes the uninterrupted run."""
    import signal
    import time

    d = tangent
    out = d / "random"
    shutil.rmtree(out, ignore_errors=True)
    proc = subprocess.Popen(
        cli_command(["llg", "tp.toml", "--out", out.name, "--set", "output.checkpoint_every=1"]),
        cwd=d, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    table = out / "averages.csv"
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if table.is_file() and table.read_bytes().count(b"\n") >= 5:  # header + 4 rows
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    proc.wait(timeout=60)
    run_ok(["llg", "tp.toml", "--restart", out.name], d)
    # restarts = 0 if the kill came after the run had completed
    assert_same_run(out, d / "full", 1e-10, allow_fresh=True)


def test_kill_inside_checkpoint_write_then_raise_t_end(tangent):
    """Checkpoints by wall time only (a tiny checkpoint_wall: one after every step).
    Killed between the data write and the rename of checkpoint 4 (after step 3): the
    step-2 checkpoint is intact.  The restart (default cadence) ends at t_end = 0.2, a
    second one is raised to 0.3 and must match the uninterrupted 0.3 run; a third says
    'done'."""
    d = tangent
    out = d / "inckpt"
    shutil.rmtree(out, ignore_errors=True)
    cadence = ["--set", "output.checkpoint_every=0", "--set", "output.checkpoint_wall=1e-9"]
    run_killed(["llg", "tp.toml", "--out", out.name, "--set", "time.t_end=0.2", *cadence], d,
               **{KILL_CKPT: 4})
    stray = list((out / "checkpoint").glob(".checkpoint.npz.*.tmp"))
    assert len(stray) == 1  # the interrupted write, never renamed
    res = run_ok(["llg", "tp.toml", "--restart", out.name, "--set", "time.t_end=0.2"], d)
    assert "from t = 0.02 (step 2, 2 rows)" in res.stderr
    assert not list((out / "checkpoint").glob(".*.tmp"))
    assert read_table(out / "averages.csv")[-1, 0] == pytest.approx(0.2, abs=1e-15)
    run_ok(["llg", "tp.toml", "--restart", out.name], d)  # t_end = 0.3 from the file
    assert_same_run(out, d / "full", 1e-10)
    assert json.loads((out / "run.json").read_text())["restarts"] == 2
    before = (out / "averages.csv").read_bytes()
    res = run_ok(["llg", "tp.toml", "--restart", out.name], d)
    assert "already completed at t = 0.3" in res.stdout
    assert (out / "averages.csv").read_bytes() == before


def test_adaptive_midpoint_restart_is_exact(tmp_path):
    (tmp_path / "mid.toml").write_text(MIDPOINT)
    run_ok(["llg", "mid.toml", "--out", "full"], tmp_path)
    ref = json.loads((tmp_path / "full" / "run.json").read_text())
    steps = ref["steps"]
    assert steps >= 30 and ref["integrator"]["dt_min"] < ref["integrator"]["dt_max"]
    kill = 40 if steps > 40 else steps - 1  # not a multiple of checkpoint_every = 3
    run_killed(["llg", "mid.toml", "--out", "killed"], tmp_path, **{KILL_STEP: kill})
    run_ok(["llg", "mid.toml", "--restart", "killed"], tmp_path)
    assert_same_run(tmp_path / "killed", tmp_path / "full", 1e-10)
    assert np.array_equal(read_table(tmp_path / "killed" / "averages.csv"),
                          read_table(tmp_path / "full" / "averages.csv"))


@pytest.mark.slow
@pytest.mark.skipif(MPIRUN is None, reason="no mpirun")
def test_two_ranks_kill_restart_and_change_rank_count(tangent):
    """2 ranks killed, restarted on 2 (to 1e-10 of the 2-rank run) and on 1 (to solver
    tolerance of the serial run); a serial checkpoint restarted on 2 ranks."""
    d = tangent
    for name in ("full2", "k2", "k2to1", "k1to2"):
        shutil.rmtree(d / name, ignore_errors=True)
    run_ok(["llg", "tp.toml", "--out", "full2"], d, nproc=2)
    run_killed(["llg", "tp.toml", "--out", "k2"], d, nproc=2, **{KILL_STEP: 17})
    # into another directory: k2 is only read
    run_ok(["llg", "tp.toml", "--restart", "k2", "--out", "k2to1"], d, nproc=1)
    assert_same_run(d / "k2to1", d / "full", 1e-11)
    run_ok(["llg", "tp.toml", "--restart", "k2"], d, nproc=2)
    assert_same_run(d / "k2", d / "full2", 1e-10)
    info = json.loads((d / "k2to1" / "run.json").read_text())
    assert info["restart_history"][0]["checkpoint_ranks"] == 2 and info["ranks"] == 1
    run_killed(["llg", "tp.toml", "--out", "k1to2"], d, **{KILL_STEP: 8})
    run_ok(["llg", "tp.toml", "--restart", "k1to2"], d, nproc=2)
    assert_same_run(d / "k1to2", d / "full2", 1e-11)


# ---------------------------------------------------------------- one-line errors
def test_bad_checkpoints_one_line_errors(tangent, tmp_path, monkeypatch, capsys):
    """In-process (one import of dolfinx for all cases)."""
    from femhomog.cli.main import main

    d = tangent
    base = tmp_path / "base"
    shutil.copytree(d / "full", base)
    shutil.copy(d / "tp.toml", tmp_path / "tp.toml")
    monkeypatch.chdir(tmp_path)
    ckpt = base / "checkpoint" / "checkpoint.npz"

    def restart(case: str, *extra: str) -> str:
        capsys.readouterr()
        assert main(["llg", "tp.toml", "--restart", case, *extra]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        errors = error_lines("\n".join(lines))
        assert len(errors) == 1, lines
        return errors[0]

    # configuration differs in keys that matter: named in the message
    msg = restart("base", "--set", "material.alpha=0.2", "--set", "zeeman.h=[0, 0, 1]")
    assert "material.alpha" in msg and "zeeman.h" in msg and "time.t_end" in msg
    assert "mesh.cells_per_side" in restart("base", "--set", "mesh.cells_per_side=5")
    # damaged file (truncated, as a non-atomic write on a full disk would leave it)
    shutil.copytree(base, tmp_path / "trunc")
    p = tmp_path / "trunc" / "checkpoint" / "checkpoint.npz"
    p.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    assert "damaged" in restart("trunc")
    # flipped bytes in the data of m: caught by the zip CRC when m is read
    shutil.copytree(base, tmp_path / "flip")
    p = tmp_path / "flip" / "checkpoint" / "checkpoint.npz"
    raw = bytearray(ckpt.read_bytes())
    i = raw.find(b"m.npy")
    raw[i + 200: i + 208] = b"\x00\x01\x02\x03\x04\x05\x06\x07"
    p.write_bytes(bytes(raw))
    assert "damaged" in restart("flip", "--set", "time.t_end=0.4")  # read past the metadata
    # missing checkpoint
    shutil.copytree(base, tmp_path / "none")
    shutil.rmtree(tmp_path / "none" / "checkpoint")
    assert "no checkpoint" in restart("none")
    # averages.csv shorter than the checkpoint says
    shutil.copytree(base, tmp_path / "short")
    lines = (base / "averages.csv").read_text().splitlines(keepends=True)
    (tmp_path / "short" / "averages.csv").write_text("".join(lines[:3]))
    msg = restart("short", "--set", "time.t_end=0.4")
    assert "has 2 rows, the checkpoint needs the first 16" in msg
    # another format version
    shutil.copytree(base, tmp_path / "fmt")
    with np.load(ckpt) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["meta"][()]))
    meta["format"] = 99
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "fmt" / "checkpoint" / "checkpoint.npz", **arrays)
    assert "format 99" in restart("fmt")
    # not a directory
    assert "not a directory" in restart("nowhere")
    # the good one still restarts (completed, nothing to do)
    capsys.readouterr()
    assert main(["llg", "tp.toml", "--restart", "base"]) == 0
    assert "already completed" in capsys.readouterr().out


def test_checkpoints_off_writes_none(tmp_path, monkeypatch, capsys):
    from femhomog.cli.main import main

    (tmp_path / "mid.toml").write_text(MIDPOINT)
    monkeypatch.chdir(tmp_path)
    assert main(["llg", "mid.toml", "--out", "off", "--set", "output.checkpoint_every=false",
                 "--set", "output.checkpoint_wall=0", "--set", "time.t_end=0.02"]) == 0
    assert not (tmp_path / "off" / "checkpoint").exists()
    info = json.loads((tmp_path / "off" / "run.json").read_text())
    assert info["files"]["checkpoint"] is None and info["restarts"] == 0
    capsys.readouterr()
    assert main(["llg", "mid.toml", "--restart", "off"]) == 2
    assert "no checkpoint" in capsys.readouterr().err


# ---------------------------------------------------------------- progress
class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


ROW = {"t": 0.5, "mx": 0.1, "my": 0.2, "mz": 0.3, "E_total": 1.25, "norm_dev": 1e-16}


def test_progress_bar_when_stderr_is_a_tty(monkeypatch):
    from mpi4py import MPI

    from femhomog.timestepping import Progress

    stream = _Stream(tty=True)
    monkeypatch.setattr(sys, "stderr", stream)
    prog = Progress(5.0, 1.0, "nondimensional", MPI.COMM_SELF)
    assert prog.interactive and prog.bar is not None
    prog.step(0.25)
    prog.row(ROW, steps=10, rejected=0, final=False)
    prog.row({**ROW, "t": 1.0}, steps=20, rejected=0, final=True)
    text = stream.getvalue()
    assert "100.0%|" in text and "t = 1/1" in text and "steps 20" in text
    assert prog.bar is None  # closed after the final row


def test_progress_lines_in_batch(monkeypatch, caplog):
    from mpi4py import MPI

    from femhomog.timestepping import Progress

    monkeypatch.setattr(sys, "stderr", _Stream(tty=False))
    caplog.set_level(logging.INFO, logger="femhomog")
    prog = Progress(0.0, 1.0, "s", MPI.COMM_SELF)
    assert not prog.interactive and prog.bar is None
    prog.row(ROW, steps=3, rejected=1, final=False)
    prog.row({**ROW, "t": 1.0}, steps=6, rejected=1, final=True)
    lines = [r.getMessage() for r in caplog.records if "steps" in r.getMessage()]
    assert len(lines) == 2
    assert lines[0].startswith("t = 0.5 s ( 50.0 %), steps 3 (rejected 1)")
    # progress = None: silent whatever stderr is
    assert not Progress(None, 1.0, "s", MPI.COMM_SELF).enabled
    monkeypatch.setattr(sys, "stderr", _Stream(tty=True))
    assert Progress(None, 1.0, "s", MPI.COMM_SELF).bar is None


# ---------------------------------------------------------------- old checkpoints
OLD = Path(__file__).resolve().parent / "data" / "llg_checkpoint_v1"


def test_checkpoint_of_format_1_restarts(tmp_path, monkeypatch):
    """tests/data/llg_checkpoint_v1: written by femhomog 0.1.0 before the time loop became
    generic (LLGDriver), a run killed after step 7 with its checkpoint of step 6, and that
    version's uninterrupted run.  The restart completes it to the same averages.csv and
    m_final.npz (same ranks: same operations, bitwise up to the last digit written)."""
    from femhomog.cli.main import main

    shutil.copytree(OLD / "run", tmp_path / "run")
    shutil.copy(OLD / "config.toml", tmp_path / "config.toml")
    monkeypatch.chdir(tmp_path)
    assert main(["llg", "config.toml", "--restart", "run", "-q"]) == 0
    got = read_table(tmp_path / "run" / "averages.csv")
    ref = read_table(OLD / "reference_averages.csv")
    assert got.shape == ref.shape == (6, 8)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    with np.load(OLD / "reference_m_final.npz") as d:
        ref_m = d["m"][by_position(d["x"])]
    np.testing.assert_allclose(final_m(tmp_path / "run"), ref_m, rtol=0, atol=1e-12)
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["status"] == "completed" and info["restarts"] == 1
    assert info["restart_history"][0]["step"] == 6 and info["restart_history"][0]["rows"] == 4
