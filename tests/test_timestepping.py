"""The generic time-stepping layer on a problem that is not LLG: y' = -y.

Truths: the closed form y(t) = y0 exp(-t); exact output times (multiples of
dt_out, steps shortened to land on them); the every-N schedule; a run resumed
from a checkpointed loop state writes bitwise the same table as the
uninterrupted run; the CSV restart truncation; run.json's final status.  The
layer imports nothing of femhomog.micromag.
"""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from femhomog import ConfigError, SolverError, _fenicsx  # noqa: F401

# isort: split
from mpi4py import MPI

from femhomog.simulation import Simulation
from femhomog.timestepping import (
    AdaptiveStepper,
    FixedStepper,
    RunRecord,
    ScalarLog,
    TimeLoop,
)


# ---------------------------------------------------------------- a toy problem
class Decay:
    """y' = -y: state ``y``, time ``t``, serial communicator."""

    def __init__(self, y0: float = 1.0) -> None:
        self.t = 0.0
        self.y = y0
        self.comm = MPI.COMM_SELF


@dataclass
class Info:
    dt: float
    dt_next: float | None = None
    rejected: int = 0
    iterations: int = 1


class Heun:
    """Second-order Runge-Kutta; ``adaptive_step``: step doubling with error control."""

    def __init__(self, problem: Decay, fail_at: float | None = None) -> None:
        self.problem = problem
        self.fail_at = fail_at

    @staticmethod
    def _heun(y: float, dt: float) -> float:
        k1 = -y
        k2 = -(y + dt * k1)
        return y + 0.5 * dt * (k1 + k2)

    def step(self, dt: float) -> Info:
        if self.fail_at is not None and self.problem.t >= self.fail_at:
            raise SolverError("the toy solver gave up")
        self.problem.y = self._heun(self.problem.y, dt)
        self.problem.t += dt
        return Info(dt=dt)

    def adaptive_step(self, dt: float, tol: float) -> Info:
        y, rejected = self.problem.y, 0
        while True:
            big = self._heun(y, dt)
            fine = self._heun(self._heun(y, 0.5 * dt), 0.5 * dt)
            err = abs(fine - big) / 3.0
            factor = 0.9 * (tol / err) ** (1 / 3) if err > 0 else 2.0
            if err <= tol:
                self.problem.y = fine
                self.problem.t += dt
                return Info(dt=dt, dt_next=dt * min(2.0, max(0.2, factor)), rejected=rejected)
            rejected += 1
            dt *= min(0.9, max(0.2, factor))

    def describe(self) -> dict:
        return {"name": "heun"}


def columns(prob: Decay) -> dict:
    return {"t": lambda: prob.t, "y": lambda: prob.y,
            ("exact", "error"): lambda: {"exact": math.exp(-prob.t),
                                         "error": prob.y - math.exp(-prob.t)}}


def read_csv(path: Path) -> tuple[list[str], np.ndarray]:
    lines = path.read_text().splitlines()
    return lines[0].split(","), np.array([[float(v) for v in ln.split(",")] for ln in lines[1:]])


# ---------------------------------------------------------------- tests
def test_layer_imports_no_physics():
    code = ("import sys, femhomog.timestepping, femhomog.simulation; "
            "bad = [m for m in ('femhomog.micromag', 'femhomog.cell', 'dolfinx') "
            "if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=False, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    lazy = "import sys, femhomog; femhomog.ScalarLog; sys.exit('dolfinx' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", lazy], check=False, timeout=120)
    assert res.returncode == 0


@pytest.mark.parametrize("adaptive", [False, True])
def test_lands_exactly_on_output_times(tmp_path, adaptive):
    prob = Decay()
    heun = Heun(prob)
    stepper = AdaptiveStepper(heun, tol=1e-6) if adaptive else FixedStepper(heun)
    log = ScalarLog(tmp_path / "y.csv", columns(prob))
    loop = TimeLoop(stepper, dt=0.03, t_end=1.0, dt_out=0.1, recorders=[log])
    stats = loop.run()
    loop.close()
    header, rows = read_csv(tmp_path / "y.csv")
    assert header == ["t", "y", "exact", "error"]
    assert rows[:, 0].tolist() == [0.0] + [min(1.0, k * 0.1) for k in range(1, 11)]  # exact
    # Heun: global error ~ dt^2/6 t exp(-t) <= 0.03^2/(6e) = 5.5e-5 for fixed steps
    assert np.abs(rows[:, 3]).max() < 6e-5
    assert stats.t == prob.t == 1.0 and stats.outputs == 11
    if adaptive:
        assert stats.dt_min < stats.dt_max  # the controller varied the step
    else:
        assert stats.steps == 10 * 4  # 0.03, 0.03, 0.03, 0.01 per output interval


def test_every_n_steps(tmp_path):
    prob = Decay()
    loop = TimeLoop(FixedStepper(Heun(prob)), dt=0.1, t_end=1.0, every=3,
                    recorders=[ScalarLog(tmp_path / "y.csv", columns(prob))])
    loop.run()
    loop.close()
    _, rows = read_csv(tmp_path / "y.csv")
    # steps 0, 3, 6, 9 and the last; t = n dt from the anchor (no summed rounding)
    assert rows[:, 0].tolist() == [0.0, 3 * 0.1, 6 * 0.1, 9 * 0.1, 1.0]
    assert loop.stats.steps == 10


class MemoryCheckpointer:
    """A checkpointer holding the loop state and y in memory (the protocol of the loop)."""

    enabled = True
    wall = 0.0

    def __init__(self, prob: Decay, every: int) -> None:
        self.prob, self.every, self.saved = prob, every, None

    def write(self, loop_state: dict) -> None:
        self.saved = (copy.deepcopy(json.loads(json.dumps(loop_state))), self.prob.y)


class Interrupt(Exception):
    pass


def test_resume_is_bitwise_the_uninterrupted_run(tmp_path):
    def setup(name: str, prob: Decay, kill: int | None = None):
        heun = Heun(prob)
        stepper = AdaptiveStepper(heun, tol=1e-5)
        if kill is not None:
            advance = stepper.advance
            count = [0]

            def dying(dt):
                count[0] += 1
                if count[0] > kill:
                    raise Interrupt
                return advance(dt)

            stepper.advance = dying
        ck = MemoryCheckpointer(prob, every=4)
        log = ScalarLog(tmp_path / f"{name}.csv", columns(prob))
        return TimeLoop(stepper, dt=0.05, t_end=2.0, dt_out=0.1, recorders=[log],
                        checkpointer=ck), ck

    full, _ = setup("full", Decay())
    full.run()
    full.close()
    assert full.stats.steps > 15 and full.stats.dt_min < full.stats.dt_max
    killed, ck = setup("run", Decay(), kill=14)  # after the checkpoint of step 12
    with pytest.raises(Interrupt):
        killed.run()
    killed.close()
    state, y = ck.saved
    assert state["loop"]["stats"]["steps"] == 12 and state["rows"] >= 2
    prob = Decay()
    prob.y = y
    resumed, _ = setup("run", prob)
    resumed.resume(state)
    resumed.run()
    resumed.close()
    assert (tmp_path / "run.csv").read_bytes() == (tmp_path / "full.csv").read_bytes()
    assert resumed.stats.steps == full.stats.steps


def test_scalar_log_restart_truncation(tmp_path):
    comm = MPI.COMM_SELF
    prob = Decay()
    path = tmp_path / "y.csv"
    log = ScalarLog(path, columns(prob))
    log.open(comm)
    for k in range(5):
        prob.t = float(k)
        log.record()
    log.close()
    with open(path, "ab") as f:
        f.write(b"5.0,0.1")  # a torn last line (no newline): dropped
    again = ScalarLog(path, columns(prob))
    again.open(comm, keep_rows=3)
    again.record()
    again.close()
    _, rows = read_csv(path)
    assert rows[:, 0].tolist() == [0.0, 1.0, 2.0, 4.0] and again.rows == 4
    with pytest.raises(ConfigError, match="has 4 rows, the checkpoint needs the first 9"):
        ScalarLog(path, columns(prob)).open(comm, keep_rows=9)
    with pytest.raises(ConfigError, match="has the header 't,y,exact,error', expected 't,z'"):
        ScalarLog(path, {"t": lambda: 0.0, "z": lambda: 0.0}).open(comm, keep_rows=1)
    other = ScalarLog(tmp_path / "copy.csv", columns(prob), source=path)
    other.open(comm, keep_rows=2)  # continues another table (restart into a new directory)
    other.close()
    assert len(read_csv(tmp_path / "copy.csv")[1]) == 2 and len(read_csv(path)[1]) == 4


def test_simulation_run_json_completed_and_failed(tmp_path):
    prob = Decay()
    record = RunRecord(tmp_path / "ok" / "run.json", prob.comm)
    record.start({"job": "decay"})
    assert json.loads(record.path.read_text())["status"] == "running"
    sim = Simulation(prob, Heun(prob), tol=1e-7, run_record=record,
                     outputs=[ScalarLog(tmp_path / "ok" / "y.csv", columns(prob))])
    sim.run(1.0, dt=0.1, dt_out=0.5)
    info = json.loads(record.path.read_text())
    assert info["status"] == "completed" and info["job"] == "decay"
    assert info["t_final"] == 1.0 and info["rows"] == 3 and info["steps"] == sim.loop.stats.steps
    assert info["integrator"]["name"] == "heun" and info["integrator"]["adaptive"]
    assert info["final"]["y"] == pytest.approx(math.exp(-1.0), abs=1e-5)
    assert "loop_s" in info["timings"] and info["memory"]["max_rss_mb_per_rank"] > 0

    prob = Decay()
    record = RunRecord(tmp_path / "bad" / "run.json", prob.comm)
    sim = Simulation(prob, Heun(prob, fail_at=0.3), run_record=record, name="decay",
                     outputs=[ScalarLog(tmp_path / "bad" / "y.csv", columns(prob))])
    with pytest.raises(SolverError, match=r"decay time loop failed at t = 0\.3 after 3 steps"):
        sim.run(1.0, dt=0.1, every=1)
    info = json.loads(record.path.read_text())
    assert info["status"] == "failed" and "toy solver gave up" in info["error"]
    assert info["steps"] == 3 and len(read_csv(tmp_path / "bad" / "y.csv")[1]) == 4


# ---------------------------------------------------------------- nodal state files
def _fields(comm):
    import dolfinx

    mesh = dolfinx.mesh.create_unit_square(comm, 5, 4)
    u = dolfinx.fem.Function(dolfinx.fem.functionspace(mesh, ("Lagrange", 1)))
    v = dolfinx.fem.Function(dolfinx.fem.functionspace(mesh, ("Lagrange", 1, (3,))))
    return u, v


def _set(u, v):
    u.interpolate(lambda x: x[0] + 2.0 * x[1])
    v.interpolate(lambda x: np.vstack([x[0], x[1] ** 2, 1.0 + x[0] * x[1]]))
    for w in (u, v):  # ghosts as the owners have them (interpolation may differ in rounding)
        w.x.scatter_forward()


def _state_round_trip(comm, directory: Path) -> None:
    """Checkpoint of a scalar and a vector P1 function on ``comm``; restored on ``comm``
    and, on rank 0, on a serial mesh (another partition: read by the nodes' input keys)."""
    from femhomog.timestepping import Checkpointer, restore_checkpoint
    from femhomog.timestepping.state import NodalLayout, save_state, values_at_nodes

    u, v = _fields(comm)
    _set(u, v)
    ck = Checkpointer(directory, {"u": u, "v": v}, every=1, fingerprint={"a": 1},
                      extra={"note": "toy"})
    loop = {"loop": {"t": 0.5}, "rows": 3, "t_out": 0.5}
    ck.write(loop)
    ref_u, ref_v = u.x.array.copy(), v.x.array.copy()
    u.x.array[:] = 0.0
    v.x.array[:] = 0.0
    meta = restore_checkpoint(directory, {"u": u, "v": v})
    assert meta["note"] == "toy" and meta["loop"] == {"t": 0.5} and meta["ranks"] == comm.size
    assert np.array_equal(u.x.array, ref_u) and np.array_equal(v.x.array, ref_v)
    save_state(directory / "state.npz", NodalLayout({"v": v}), length_scale=2.0, t=0.5)
    if comm.rank == 0:
        su, sv = _fields(MPI.COMM_SELF)
        restore_checkpoint(directory, {"u": su, "v": sv})
        eu, ev = _fields(MPI.COMM_SELF)
        _set(eu, ev)
        assert np.allclose(su.x.array, eu.x.array, rtol=0, atol=1e-15)
        assert np.allclose(sv.x.array, ev.x.array, rtol=0, atol=1e-15)
        got = values_at_nodes(directory / "state.npz", sv.function_space, "v", length_scale=2.0,
                              what="test", example="state.npz")
        assert np.allclose(got.ravel(), ev.x.array, rtol=0, atol=1e-15)
        with pytest.raises(ConfigError, match="test: .* has no array 'w'"):
            values_at_nodes(directory / "state.npz", sv.function_space, "w", what="test",
                            example="state.npz")
    comm.barrier()


def test_state_files_round_trip(tmp_path):
    import dolfinx

    _state_round_trip(MPI.COMM_SELF, tmp_path)
    mesh = dolfinx.mesh.create_unit_square(MPI.COMM_SELF, 2, 2)
    p2 = dolfinx.fem.Function(dolfinx.fem.functionspace(mesh, ("Lagrange", 2)))
    from femhomog.timestepping import NodalLayout

    with pytest.raises(ValueError, match="P1 Lagrange functions only"):
        NodalLayout({"p2": p2})


@pytest.mark.mpi
def test_state_files_written_on_two_ranks_read_on_one(tmp_path):
    comm = MPI.COMM_WORLD
    _state_round_trip(comm, Path(comm.bcast(str(tmp_path), root=0)))
