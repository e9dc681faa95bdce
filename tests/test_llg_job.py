"""End-to-end ``femhomog llg``: averages.csv, run.json, SI output, rank independence, bad input.

The CLI runs as a subprocess (as users run it) on tiny problems.  Independent truths:

* macrospin in a field h(t) e_z (LL form (3.1a), uniform m): with Phi(t) = int_0^t h,
  the azimuth is phi0 + Phi(t) and tan(theta/2) = tan(theta0/2) exp(-alpha Phi(t));
  in SI the same with Phi = gamma/(1 + alpha^2) int H dt;
* Zeeman energy of a uniform state -mu0 Ms H . m |Omega| (SI), exchange energy of the
  nodal interpolant of m = (cos 2 pi x, sin 2 pi x, 0) on N cells: 1/2 a (2 N sin(pi/N))^2;
* damped LLG with time-independent input (tangent plane, theta = 1) never gains energy.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from helpers import MPIRUN, assert_one_error_line, run_cli, run_ok

TH0 = 1.0  # initial polar angle of the macrospin
MU0 = 4e-7 * math.pi


def read_table(path: Path) -> tuple[list[str], np.ndarray]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], np.array([[float(v) for v in r] for r in rows[1:]])


def macrospin(t, phi_of_t, alpha):
    """Exact m(t) for the field h(t) e_z, Phi = int_0^t h, m(0) at polar angle TH0."""
    phi = phi_of_t(t)
    th = 2.0 * np.arctan(np.tan(TH0 / 2.0) * np.exp(-alpha * phi))
    return np.stack([np.sin(th) * np.cos(phi), np.sin(th) * np.sin(phi), np.cos(th)], axis=-1)


MACROSPIN = f"""
[mesh]
dim = 1
cells_per_side = 2
[material]
alpha = 0.3
exchange = 1.0
[zeeman]
h = [0, 0, 2.0]
[initial]
value = [{math.sin(TH0)!r}, 0.0, {math.cos(TH0)!r}]
[time]
integrator = "midpoint"
dt = 0.01
t_end = 1.0
[output]
dt_out = 0.1
progress = 0
"""


def test_macrospin_precession_averages_and_run_json(tmp_path):
    cfg = tmp_path / "m.toml"
    cfg.write_text(MACROSPIN)
    res = run_ok(["llg", cfg, "--out", tmp_path / "out"], tmp_path)
    out = tmp_path / "out"
    header, rows = read_table(out / "averages.csv")
    assert header == ["t", "mx", "my", "mz", "E_exchange", "E_zeeman", "E_total", "norm_dev"]
    t = rows[:, 0]
    assert np.allclose(t, 0.1 * np.arange(11), rtol=0, atol=1e-14)
    exact = macrospin(t, lambda s: 2.0 * s, 0.3)
    err = np.abs(rows[:, 1:4] - exact).max()
    assert err < 1e-4, err  # midpoint: 4e-5 = O(dt^2) at dt = 0.01
    # uniform state: no exchange energy, Zeeman -h m_z |Omega|; damping: energy decreases
    assert np.all(rows[:, 4] == 0.0)
    assert np.allclose(rows[:, 5], -2.0 * rows[:, 3], rtol=1e-13)
    assert np.allclose(rows[:, 6], rows[:, 4] + rows[:, 5], rtol=1e-13)
    assert np.all(np.diff(rows[:, 6]) <= 0)
    assert rows[:, 7].max() <= 1e-12

    run = json.loads((out / "run.json").read_text())
    for key in ("status", "config", "femhomog_version", "ranks", "wall_time_s", "steps",
                "rejected_steps", "integrator", "units", "mesh", "t_final", "final"):
        assert key in run, key
    assert run["status"] == "completed" and run["ranks"] == 1
    assert run["steps"] == 100 and run["rejected_steps"] == 0 and run["t_final"] == 1.0
    assert run["integrator"]["name"] == "midpoint" and run["integrator"]["iterations"] > 0
    assert run["integrator"]["dt_min"] == run["integrator"]["dt_max"] == 0.01
    assert run["config"]["time"]["dt"] == 0.01 and run["rows"] == 11
    assert "LLG: 100 steps" in res.stdout
    # progress = 0: one log line per output row (rank 0)
    assert sum("max||m|-1|" in ln for ln in res.stderr.splitlines()) == 11
    state = np.load(out / "m_final.npz")
    assert np.allclose(state["m"], rows[-1, 1:4], atol=1e-15) and state["x"].shape == (3, 3)


def test_set_overrides_tangent_plane_first_order(tmp_path):
    """--set time.integrator/time.dt: the tangent-plane scheme errs O(dt), 100 x midpoint."""
    cfg = tmp_path / "m.toml"
    cfg.write_text(MACROSPIN)
    res = run_ok(["llg", cfg, "--out", tmp_path / "tp", "--set", "time.integrator=tangent_plane",
                  "--set", "time.dt=0.02", "--set", "output.progress=false"], tmp_path)
    assert "max||m|-1|" not in res.stderr
    run = json.loads((tmp_path / "tp" / "run.json").read_text())
    assert run["steps"] == 50 and run["config"]["time"]["dt"] == 0.02
    assert run["integrator"]["name"] == "tangent_plane" and run["integrator"]["theta"] == 1.0
    _, rows = read_table(tmp_path / "tp" / "averages.csv")
    err = np.abs(rows[:, 1:4] - macrospin(rows[:, 0], lambda s: 2.0 * s, 0.3)).max()
    assert 1e-3 < err < 0.05, err  # first order: ~ dt
    assert rows[:, 7].max() <= 1e-12 and np.all(np.diff(rows[:, 6]) <= 0)


def test_time_dependent_field_adaptive_midpoint(tmp_path):
    """h(t) = 2 + cos(2 pi t) given as an expression of t; step doubling to tol 1e-7."""
    cfg = tmp_path / "m.toml"
    cfg.write_text(MACROSPIN.replace("h = [0, 0, 2.0]", 'h = ["0", 0, "2 + cos(2*pi*t)"]'))
    run_ok(["llg", cfg, "--out", tmp_path / "o", "--set", "time.adaptive=true",
            "--set", "time.tol=1e-7", "--set", "time.dt=0.1"], tmp_path)
    _, rows = read_table(tmp_path / "o" / "averages.csv")
    assert np.allclose(rows[:, 0], 0.1 * np.arange(11), rtol=0, atol=1e-14)
    exact = macrospin(rows[:, 0], lambda s: 2.0 * s + np.sin(2 * np.pi * s) / (2 * np.pi), 0.3)
    err = np.abs(rows[:, 1:4] - exact).max()
    assert err < 2e-5, err
    run = json.loads((tmp_path / "o" / "run.json").read_text())
    assert run["integrator"]["adaptive"] and run["steps"] > 10
    assert run["problem"]["terms"][1]["h"] == "callable"


ENERGY_2D = """
[mesh]
dim = 2
cell_type = "triangle"
cells_per_side = 8
[material]
alpha = 0.5
exchange = "1 + 0.5*sin(2*pi*y[0])"
eps = 0.5
[anisotropy]
q = 2.0
axis = [1, 1, 0]
[initial]
type = "random"
seed = 1
[time]
dt = 0.05
t_end = 0.5
[output]
every = 2
fields = true
"""


def test_energy_decreases_fields_and_restart(tmp_path):
    cfg = tmp_path / "e.toml"
    cfg.write_text(ENERGY_2D)
    run_ok(["llg", cfg, "--out", tmp_path / "e"], tmp_path)
    header, rows = read_table(tmp_path / "e" / "averages.csv")
    assert header == ["t", "mx", "my", "mz", "E_exchange", "E_anisotropy", "E_total",
                      "norm_dev"]
    assert np.allclose(rows[:, 0], [0.0, 0.1, 0.2, 0.3, 0.4, 0.5], atol=1e-14)  # every 2 steps
    e = rows[:, 6]
    assert np.all(np.diff(e) <= 1e-12 * abs(e[0])), np.diff(e)
    assert e[-1] < 0.5 * e[0]  # it really relaxes (random start: large exchange energy)
    assert rows[:, 7].max() <= 1e-12
    assert (tmp_path / "e" / "m.bp").is_dir()

    # continue from m_final.npz: the first row is the last row of the previous run
    restart = ENERGY_2D.replace('type = "random"\nseed = 1', 'type = "file"\nfile = "e/m_final.npz"')
    (tmp_path / "r.toml").write_text(restart)
    run_ok(["llg", tmp_path / "r.toml", "--out", tmp_path / "r", "--set", "time.t_end=0.05",
            "--set", "output.fields=false"], tmp_path)
    _, again = read_table(tmp_path / "r" / "averages.csv")
    assert np.allclose(again[0, 1:7], rows[-1, 1:7], rtol=1e-13, atol=1e-15)


SI = """
[mesh]
dim = 1
cells_per_side = 2
lengths = 1e-8
[material]
units = "SI"
Ms = 8.0e5
A = 1.3e-11
alpha = 0.1
[zeeman]
h = [0, 0, 8.0e4]
[initial]
value = [0.8414709848078965, 0.0, 0.5403023058681398]
[time]
integrator = "midpoint"
dt = 1e-12
t_end = 1e-10
[output]
dt_out = 1e-11
"""


def test_si_run_seconds_and_joules(tmp_path):
    cfg = tmp_path / "si.toml"
    cfg.write_text(SI)
    run_ok(["llg", cfg, "--out", tmp_path / "si"], tmp_path)
    _, rows = read_table(tmp_path / "si" / "averages.csv")
    Ms, gamma, alpha, H, L = 8.0e5, 2.211e5, 0.1, 8.0e4, 1e-8
    T = (1 + alpha**2) / (gamma * Ms)  # time unit of the LL scaling
    t = rows[:, 0]
    assert np.allclose(t, 1e-11 * np.arange(11), rtol=1e-12, atol=0)  # seconds
    run = json.loads((tmp_path / "si" / "run.json").read_text())
    assert run["units"]["time"] == "s" and run["units"]["energy"] == "J/m^2"
    assert run["units"]["time_unit_s"] == pytest.approx(T, rel=1e-14)
    assert run["steps"] == 100  # dt = 1e-12 s, i.e. 1e-12/T nondimensional
    assert run["integrator"]["dt_min"] == pytest.approx(1e-12, rel=1e-12)
    w = gamma * H / (1 + alpha**2)  # precession frequency (rad/s) of the LL form
    err = np.abs(rows[:, 1:4] - macrospin(t, lambda s: w * s, alpha)).max()
    assert err < 1e-4, err
    # 1D: energy per cross-section (J/m^2) = -mu0 Ms H m_z * length of the box
    assert np.allclose(rows[:, 5], -MU0 * Ms * H * rows[:, 3] * L, rtol=1e-12)
    assert np.all(np.diff(rows[:, 6]) <= 0) and rows[:, 7].max() <= 1e-12


def test_homogenized_exchange_from_cell_tensors(tmp_path):
    """A^H flows from `femhomog cell` (1D: harmonic mean of sqrt(2) - cos = 1) into llg."""
    (tmp_path / "cell.toml").write_text(
        '[cell]\ndim = 1\ncoefficient = "sqrt(2) - cos(2*pi*y[0])"\ncells_per_side = 32\n'
        "degree = 3\n")
    run_ok(["cell", tmp_path / "cell.toml", "--out", tmp_path / "cell"], tmp_path)
    a0 = json.loads((tmp_path / "cell" / "tensors.json").read_text())["a0"]
    n = 16
    (tmp_path / "h.toml").write_text(
        f"[mesh]\ndim = 1\ncells_per_side = {n}\n[material]\nalpha = 0.1\n"
        '[homogenized]\nmatrix_from = "cell/tensors.json"\nfactor = 2.0\n'
        '[initial]\ntype = "expression"\nexpressions = ["cos(2*pi*x[0])", "sin(2*pi*x[0])", 0]\n'
        "[time]\ndt = 1e-3\nt_end = 1e-3\n")
    run_ok(["llg", tmp_path / "h.toml", "--out", tmp_path / "h"], tmp_path)
    run = json.loads((tmp_path / "h" / "run.json").read_text())
    assert run["problem"]["terms"][0]["a"] == [[2.0 * a0[0][0]]]
    assert run["config"]["homogenized"]["matrix"] == a0
    _, rows = read_table(tmp_path / "h" / "averages.csv")
    exact = 0.5 * 2.0 * a0[0][0] * (2 * n * math.sin(math.pi / n)) ** 2
    assert rows[0, 4] == pytest.approx(exact, rel=1e-12)


@pytest.mark.skipif(MPIRUN is None, reason="no mpirun")
def test_two_ranks_same_averages(tmp_path):
    cfg = tmp_path / "p.toml"
    cfg.write_text(
        ENERGY_2D.replace("seed = 1", "seed = 3").replace("every = 2\nfields = true", "every = 1")
        .replace("t_end = 0.5", "t_end = 0.15")
        + '[zeeman]\nh = ["0.1", 0, "0.3*cos(2*pi*t)"]\n')
    run_ok(["llg", cfg, "--out", tmp_path / "one"], tmp_path)
    run_ok(["llg", cfg, "--out", tmp_path / "two"], tmp_path, nproc=2)
    h1, one = read_table(tmp_path / "one" / "averages.csv")
    h2, two = read_table(tmp_path / "two" / "averages.csv")
    assert h1 == h2 and one.shape == two.shape == (4, 9)
    assert np.allclose(one, two, rtol=1e-10, atol=1e-12), np.abs(one - two).max()
    assert json.loads((tmp_path / "two" / "run.json").read_text())["ranks"] == 2


# ---------------------------------------------------------------------- bad input
BASE = {
    "mesh": "dim = 1\ncells_per_side = 4",
    "material": "alpha = 0.1\nexchange = 1.0",
    "initial": "value = [0, 0, 1]",
    "time": "dt = 0.1\nt_end = 0.2",
}


def config_text(**sections: str) -> str:
    merged = {**BASE, **sections}
    return "".join(f"[{name}]\n{body}\n" for name, body in merged.items() if body is not None)


BAD_INPUTS = {
    "non_unit_uniform": ({"initial": "value = [0, 0, 2]"}, [],
                         "initial.value must be a unit vector, but |m| = 2"),
    "zero_uniform": ({"initial": "value = [0, 0, 0]"}, [], "initial.value is the zero vector"),
    "non_unit_expression": (
        {"initial": 'type = "expression"\nexpressions = ["2*cos(x[0])", "2*sin(x[0])", 0]'}, [],
        "|m| = 1 at every node, but |m| = 2"),
    "zero_expression": (
        {"initial": 'type = "expression"\nexpressions = ["x[0] - 0.5", 0, 0]'}, [], "vanishes"),
    "negative_alpha": ({"material": "alpha = -0.1\nexchange = 1.0"}, [],
                       "material.alpha must be a number >= 0, got -0.1"),
    "unknown_integrator": ({"time": 'dt = 0.1\nt_end = 1.0\nintegrator = "euler"'}, [],
                           "time.integrator must be one of 'tangent_plane', 'tangent_plane_bdf2', 'midpoint'"),
    "missing_alpha": ({"material": "exchange = 1.0"}, [], "material.alpha is required"),
    "missing_exchange": ({"material": "alpha = 0.1"}, [], "material.exchange is required"),
    "missing_si_Ms": ({"material": 'units = "SI"\nalpha = 0.1\nA = 1e-11'}, [],
                      "material.Ms is required for material.units = 'SI'"),
    "unknown_key": ({"time": "dt = 0.1\nt_end = 1.0\nsteps = 3"}, [],
                    "unknown key 'time.steps'"),
    "unknown_set_key": ({}, ["--set", "time.dtt=0.1"], "unknown key 'time.dtt'"),
    "missing_a0": ({"material": "alpha = 0.1", "homogenized": 'matrix_from = "empty.json"'}, [],
                   "has no 'a0'"),
    "adaptive_tangent_plane": ({"time": "dt = 0.1\nt_end = 1.0\nadaptive = true"}, [],
                               "time.adaptive = true needs time.integrator = 'midpoint'"),
    "theta_with_bdf2": ({"time": 'dt = 0.1\nt_end = 1.0\nintegrator = "tangent_plane_bdf2"\n'
                                 'theta = 0.5'}, [],
                        ("time.theta is only used with time.integrator = 'tangent_plane' "
                         "(time.integrator is 'tangent_plane_bdf2')")),
    "bad_field_expression": ({"zeeman": 'h = [0, 0, "cos(2*pi*s)"]'}, [],
                             "zeeman.h[2] 'cos(2*pi*s)': unknown name 's'"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_one_line_error(tmp_path, name):
    sections, extra, needle = BAD_INPUTS[name]
    (tmp_path / "empty.json").write_text('{"dim": 1}')
    cfg = tmp_path / f"{name}.toml"
    cfg.write_text(config_text(**sections))
    res = run_cli(["llg", cfg, "--out", tmp_path / "out", "-q", *extra], tmp_path)
    assert_one_error_line(res, needle)
    assert not (tmp_path / "out" / "run.json").exists()  # nothing written for bad input


def test_print_config_round_trips(tmp_path):
    """The annotated template is a valid configuration of the llg schema."""
    from femhomog.micromag.config import load_llg_config

    res = run_ok(["llg", "--print-config"], tmp_path)
    assert "[material]" in res.stdout and "[homogenized]" in res.stdout
    (tmp_path / "t.toml").write_text(res.stdout)
    cfg = load_llg_config(tmp_path / "t.toml")
    assert cfg.material.alpha == 0.1 and cfg.time.integrator == "tangent_plane"


def test_simulation_facade_checkpoint_and_restart(tmp_path):
    """The Python route of the CLI job: Simulation + ScalarLog + Checkpointer; a run to
    t = 0.2 continued by Simulation.restart to t = 0.4 writes the uninterrupted run's
    table (same ranks, same operations: bitwise)."""
    from mpi4py import MPI

    from femhomog import Checkpointer, ScalarLog, Simulation
    from femhomog.meshes import periodic_box_mesh
    from femhomog.micromag import LLGProblem, MidpointIntegrator, Zeeman, llg_columns, llg_state

    def build(out: Path):
        mesh = periodic_box_mesh(MPI.COMM_SELF, 1, "interval", 2, [1.0])
        prob = LLGProblem(mesh, [Zeeman((0.0, 0.0, 2.0))], 0.3, periodic=True,
                          m0=(math.sin(TH0), 0.0, math.cos(TH0)))
        sim = Simulation(prob, MidpointIntegrator(prob), tol=1e-6,
                         outputs=[ScalarLog(out / "averages.csv", llg_columns(prob))],
                         checkpoint=Checkpointer(out, llg_state(prob), every=3))
        return prob, sim

    _, full = build(tmp_path / "full")
    full.run(0.4, dt=0.01, dt_out=0.05)
    _, part = build(tmp_path / "part")
    part.run(0.2, dt=0.01, dt_out=0.05)
    _, cont = build(tmp_path / "part")
    meta = cont.restart(tmp_path / "part")
    assert meta["t_out"] == 0.2 and meta["rows"] == 5
    cont.run(0.4, dt=0.01, dt_out=0.05)
    a = (tmp_path / "part" / "averages.csv").read_bytes()
    assert a == (tmp_path / "full" / "averages.csv").read_bytes()
    _, rows = read_table(tmp_path / "full" / "averages.csv")
    assert np.abs(rows[:, 1:4] - macrospin(rows[:, 0], lambda s: 2.0 * s, 0.3)).max() < 1e-4
