"""The SLURM template hpc/slurm/llg.sbatch, without SLURM.

``srun`` and ``scontrol`` are replaced by stand-ins on PATH (``srun`` drops its
options and runs the command; ``scontrol`` records its arguments).  Checked: the
script parses; it starts with ``--out DIR`` and continues with ``--restart DIR``
when ``DIR/checkpoint/checkpoint.npz`` exists; it forwards SIGTERM from the batch
shell (``--signal=B:TERM@120``) to the job step; it requeues itself after a stop
by a signal (exit 130/138/143) and not after success or an error; and, end to end
with the real ``femhomog``, a run stopped by SIGTERM is requeued and completed by
the next start.  What SLURM itself does (delivering the signal, requeueing,
``srun --mpi=pmi2`` with the wheel's MPICH) cannot be checked here.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import BIN, ROOT, clean_env

SCRIPT = ROOT / "hpc" / "slurm" / "llg.sbatch"

FAKE_SRUN = """#!/bin/bash
while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do shift; done
exec "$@"
"""
FAKE_SCONTROL = """#!/bin/bash
echo "$@" >> "$FAKE_LOG/scontrol.log"
"""
# Records its arguments; FAKE_EXIT: exit status, or "term": wait for SIGTERM -> 143.
FAKE_FEMHOMOG = """#!/bin/bash
echo "$@" >> "$FAKE_LOG/femhomog.log"
if [ "$FAKE_EXIT" = term ]; then
    trap 'echo got-TERM >> "$FAKE_LOG/femhomog.log"; exit 143' TERM
    touch "$FAKE_LOG/started"
    while true; do sleep 0.05; done
fi
exit "$FAKE_EXIT"
"""


@pytest.fixture
def fakes(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in [("srun", FAKE_SRUN), ("scontrol", FAKE_SCONTROL),
                       ("femhomog", FAKE_FEMHOMOG)]:
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return tmp_path


def env_for(d: Path, **extra: str) -> dict[str, str]:
    env = clean_env(FAKE_LOG=str(d), SLURM_JOB_ID="4242", **extra)
    env["PATH"] = f"{d / 'bin'}:{env['PATH']}"
    env.setdefault("FEMHOMOG", str(d / "bin" / "femhomog"))
    return env


def sbatch(d: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], check=False, cwd=d,
                          env=env_for(d, **extra), capture_output=True, text=True, timeout=300)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_parses_and_has_the_slurm_options():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    text = SCRIPT.read_text()
    for option in ("#SBATCH --signal=B:TERM@120", "#SBATCH --requeue", "--mpi=pmi2"):
        assert option in text
    assert os.access(SCRIPT, os.X_OK)


def test_new_run_then_restart_when_a_checkpoint_exists(fakes):
    d = fakes
    res = sbatch(d, "c.toml", "out", "-q", FAKE_EXIT="0")
    assert res.returncode == 0, res.stderr
    assert lines(d / "femhomog.log") == ["llg c.toml --out out -q"]
    (d / "out" / "checkpoint").mkdir(parents=True)
    (d / "out" / "checkpoint" / "checkpoint.npz").write_bytes(b"")
    res = sbatch(d, "c.toml", "out", FAKE_EXIT="0")
    assert res.returncode == 0 and "continuing out" in res.stdout
    assert lines(d / "femhomog.log")[-1] == "llg c.toml --restart out"
    assert not (d / "scontrol.log").exists()  # success: no requeue


@pytest.mark.parametrize(("status", "requeued"), [(143, True), (138, True), (130, True),
                                                  (2, False), (1, False)])
def test_requeue_only_after_a_signal_stop(fakes, status, requeued):
    d = fakes
    res = sbatch(d, "c.toml", "out", FAKE_EXIT=str(status))
    assert lines(d / "scontrol.log") == (["requeue 4242"] if requeued else [])
    assert res.returncode == (0 if requeued else status)
    # the requeue limit
    res = sbatch(d, "c.toml", "out", FAKE_EXIT=str(status), SLURM_RESTART_COUNT="3",
                 FEMHOMOG_MAX_REQUEUES="3")
    assert res.returncode == status
    assert len(lines(d / "scontrol.log")) == int(requeued)


def test_sigterm_to_the_batch_shell_reaches_the_step(fakes):
    d = fakes
    proc = subprocess.Popen(["bash", str(SCRIPT), "c.toml", "out"], cwd=d,
                            env=env_for(d, FAKE_EXIT="term"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (d / "started").exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert lines(d / "femhomog.log")[-1] == "got-TERM"
    assert lines(d / "scontrol.log") == ["requeue 4242"]
    assert "requeueing" in out


CONFIG = """
[mesh]
dim = 1
cells_per_side = 8
[material]
alpha = 0.1
exchange = 1.0
[initial]
type = "expression"
expressions = ["cos(2*pi*x[0])", "sin(2*pi*x[0])", "0.3"]
normalize = true
[zeeman]
h = [0, 0, 1.0]
[time]
dt = 0.01
t_end = 3.0
[output]
every = 10
checkpoint_every = 50
"""


@pytest.mark.skipif(shutil.which("femhomog", path=str(BIN)) is None,
                    reason="no femhomog console script next to the interpreter")
def test_end_to_end_terminated_requeued_and_completed(fakes):
    """The real femhomog through the template: SIGTERM to the batch shell once the run
    steps -> checkpoint, status terminated, requeue; the next start continues it."""
    d = fakes
    (d / "c.toml").write_text(CONFIG)
    extra = {"FEMHOMOG": str(BIN / "femhomog")}
    proc = subprocess.Popen(["bash", str(SCRIPT), "c.toml", "out", "-q"], cwd=d,
                            env=env_for(d, **extra), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    ckpt = d / "out" / "checkpoint" / "checkpoint.npz"
    deadline = time.monotonic() + 120
    while not ckpt.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    info = json.loads((d / "out" / "run.json").read_text())
    assert info["status"] == "terminated" and info["steps"] < 300
    assert "femhomog: terminated by SIGTERM" in err
    assert lines(d / "scontrol.log") == ["requeue 4242"]
    res = sbatch(d, "c.toml", "out", "-q", SLURM_RESTART_COUNT="1", **extra)
    assert res.returncode == 0, res.stderr
    assert "continuing out" in res.stdout
    info = json.loads((d / "out" / "run.json").read_text())
    assert info["status"] == "completed" and info["restarts"] == 1 and info["steps"] == 300
