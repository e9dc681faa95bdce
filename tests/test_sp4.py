"""muMAG standard problem 4 (CI-sized) through ``femhomog llg``: relaxation + field 1.

The job is ``demos/sp4/field1.toml`` (film 500 x 125 x 3 nm, Ms = 8e5 A/m,
A = 1.3e-11 J/m, alpha = 0.02, FFT stray field, relaxation from [1, 1, 1],
mu0 H = (-24.6, 4.3, 0) mT) with a coarse mesh and a shortened time
(:data:`COARSE`).  Independent truths: the published reference behaviour of
SP4 (:mod:`femhomog.micromag.experiments.sp4`): relaxed S-state ``<m> ~ (0.967, 0.125, 0)``
and the first zero crossing of ``<mx>`` near 0.14 ns; damped dynamics without
field never gains energy (Boltzmann-LLG paper (1.7) with (1.8)-(1.9)); |m| = 1.

Tolerances, from runs of the same job (tangent plane, theta = 1/2, field phase
dt = 0.5 ps unless noted; commands in benchmarks/README.md, SP4 section):

===============  ===============================  ==========================
mesh (in-plane)  relaxed <m> (torque < 1e-4)      field-1 first zero of <mx>
===============  ===============================  ==========================
25 nm            (0.9830, 0.0854, 0.0000)         -
12.5 nm          (0.9762, 0.1062, 0.0000)         0.1405 ns (0.1403, dt 0.25 ps)
10 nm            (0.9750, 0.1094, 0.0000)         0.1387 ns (dt 0.28 ps)
===============  ===============================  ==========================

The coarse film under-resolves the S-state's edge domains: <my> is low by 0.019 at
12.5 nm (0.016 at 10 nm, 0.040 at 25 nm) and <mx> high by 0.009, converging to the
reference with refinement; the S-state is checked to 0.015 in <mx> and 0.025 in
<my> (the 12.5 nm deficit plus margin for the torque tolerance), <mz> (zero by the
film's symmetry) to 1e-3.  The crossing time moved by 1.8 ps from 12.5 to 10 nm and
by 0.3 ps when halving dt, while the published solutions differ by a few ps among
themselves: we accept 0.14 ns +- 0.01 ns, which holds every run above with a margin
of 5 ps for the resolution trend and still excludes gross errors such as a wrong
field unit (a 10x field reverses several times faster).  The 4 nm
value was not measured in the session that wrote this test (see benchmarks/README.md).
The demo's field phase is now the second-order BDF2 tangent plane at dt = 1 ps; the
same tolerances hold (its dt error at 8 nm is below 0.1 ps, demos/sp4/README.md).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from femhomog import SolverError, _fenicsx  # noqa: F401

# isort: split
from mpi4py import MPI

from femhomog.micromag.config import load_llg_config
from femhomog.micromag.experiments.sp4 import (
    REF_FIELD1_CROSSING_NS,
    REF_S_STATE,
    first_zero_crossing,
    read_table,
)
from femhomog.micromag.job import run_llg_job

DEMO = Path(__file__).resolve().parents[1] / "demos" / "sp4" / "field1.toml"

#: CI-sized SP4: 12.5 nm in-plane, one layer, field phase to 0.16 ns.
COARSE = [
    "mesh.mesh_size=12.5e-9",
    "mesh.z_layers=1",
    "relax.torque_tol=1e-4",
    "relax.dt=1e-11",
    "time.t_end=1.6e-10",
    "output.dt_out=2e-12",
    "output.checkpoint_wall=0",
    "output.progress=false",
]
#: Tiny film for the rank and restart tests (25 nm, about 300 nodes).
TINY = [
    "mesh.mesh_size=25e-9",
    "mesh.z_layers=1",
    "relax.torque_tol=1e-3",
    "relax.dt=1e-11",
    "demag.rtol=1e-10",
    # the demo's inexact tangent-plane solves (rtol 1e-6) differ between the serial ILU and
    # the parallel block-Jacobi ILU at that level; rank equality to 1e-8 needs tight solves
    "solver.rtol=1e-10",
    "time.t_end=1e-11",
    "output.dt_out=1e-12",
    "output.checkpoint_wall=0",
    "output.progress=false",
]


def run_job(out: Path, overrides: list[str], comm: MPI.Comm = MPI.COMM_WORLD,
            restart: Path | None = None) -> dict:
    cfg = load_llg_config(DEMO, overrides)
    return run_llg_job(cfg, out_dir=out, comm=comm, restart=restart)


@pytest.fixture(scope="module")
def coarse(tmp_path_factory):
    out = tmp_path_factory.mktemp("sp4") / "field1"
    summary = run_job(out, COARSE, MPI.COMM_SELF)
    return out, summary


def test_relaxed_s_state(coarse):
    out, summary = coarse
    relax = read_table(out / "relax.csv")
    info = summary["relax"]
    assert info["converged"] and info["torque"] < 1e-4
    m = np.array([relax["mx"][-1], relax["my"][-1], relax["mz"][-1]])
    assert np.allclose(m, info["average"], atol=1e-12)
    ref = np.array(REF_S_STATE)
    assert abs(m[0] - ref[0]) < 0.015 and abs(m[1] - ref[1]) < 0.025, m
    assert abs(m[2]) < 1e-3, m
    # the field phase starts from the relaxed state at t = 0
    avg = read_table(out / "averages.csv")
    assert avg["t"][0] == 0.0
    assert np.allclose([avg["mx"][0], avg["my"][0], avg["mz"][0]], m, atol=1e-12)
    # m_relaxed.npz is a valid initial state (x in metres on the film)
    with np.load(out / "m_relaxed.npz") as data:
        x, mr = data["x"], data["m"]
    assert np.allclose(np.ptp(x, axis=0), [500e-9, 125e-9, 3e-9], rtol=1e-9)
    assert np.allclose(np.linalg.norm(mr, axis=1), 1.0, atol=1e-12)


def test_relaxation_energy_never_increases(coarse):
    out, _ = coarse
    relax = read_table(out / "relax.csv")
    e = relax["E_total"]
    # round-off relative to the data (the initial energy), not to E_total(t), which shrinks
    assert np.all(np.diff(e) <= 1e-12 * abs(e[0])), np.diff(e).max()
    assert np.all(relax["E_demag"] > 0)
    # saturation along [1,1,1] -> S-state: the energy drops by more than 10x
    assert e[-1] < 0.1 * e[0]
    np.testing.assert_allclose(relax["E_exchange"] + relax["E_demag"], e, rtol=1e-12)


def test_field1_first_zero_crossing(coarse):
    out, summary = coarse
    avg = read_table(out / "averages.csv")
    assert "E_demag" in avg and "E_zeeman" in avg
    crossing = first_zero_crossing(avg["t"] * 1e9, avg["mx"])
    assert crossing is not None
    assert abs(crossing - REF_FIELD1_CROSSING_NS) < 0.01, crossing
    assert np.max(avg["norm_dev"]) < 1e-12
    assert summary["status"] == "completed"
    assert summary["demag"]["method"] == "fft"


def test_relaxation_not_converged_is_an_error(tmp_path):
    out = tmp_path / "x"
    with pytest.raises(SolverError, match="relaxation did not converge"):
        run_job(out, [*TINY, "relax.max_steps=3", "relax.check_every=1"], MPI.COMM_SELF)
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "failed" and not info["relax"]["converged"]
    assert len(read_table(out / "relax.csv")["step"]) == 4  # steps 0..3
    assert not (out / "m_relaxed.npz").exists() and not (out / "averages.csv").exists()


def test_restart_continues_the_field_phase(tmp_path):
    """A field-phase checkpoint restarts the field phase (no second relaxation) and gives
    the uninterrupted run's rows, to the CG tolerance of the stray field: its solves start
    from the previous potential, which a checkpoint does not hold (3e-12 measured)."""
    every = ["output.checkpoint_every=3"]
    run_job(tmp_path / "full", [*TINY, *every, "time.t_end=2e-11"], MPI.COMM_SELF)
    part = tmp_path / "part"
    run_job(part, [*TINY, *every], MPI.COMM_SELF)
    relax_before = (part / "relax.csv").read_bytes()
    os.utime(part / "relax.csv", (0, 0))
    summary = run_job(part, [*TINY, *every, "time.t_end=2e-11"], MPI.COMM_SELF, restart=part)
    assert summary["restarts"] == 1 and summary["relax"]["converged"]
    assert (part / "relax.csv").read_bytes() == relax_before
    assert (part / "relax.csv").stat().st_mtime == 0
    a = read_table(tmp_path / "full" / "averages.csv")
    b = read_table(part / "averages.csv")
    assert len(a["t"]) == len(b["t"]) == 21
    for key in a:
        if key == "norm_dev":  # round-off (~1e-16) on both sides, not comparable relatively
            assert max(a[key]) < 1e-14 and max(b[key]) < 1e-14
            continue
        # data scale of a column, not its own size (a component or E_zeeman may stay near 0):
        # |m| = 1 for mx/my/mz, the largest energy term for E_*, the time span for t
        cols = [k for k in a if k.startswith("E_")] if key.startswith("E_") else [key]
        scale = 1.0 if key in ("mx", "my", "mz") else max(np.abs(a[k]).max() for k in cols)
        np.testing.assert_allclose(a[key], b[key], rtol=1e-9, atol=1e-12 * scale, err_msg=key)


@pytest.mark.mpi
def test_two_ranks_same_averages(shared_tmp_path):
    comm = MPI.COMM_WORLD
    base = shared_tmp_path
    run_job(base / "par", TINY, comm)
    ser_dir = base / f"ser{comm.rank}"  # every rank its own serial run
    run_job(ser_dir, TINY, MPI.COMM_SELF)
    par_r, ser_r = read_table(base / "par" / "relax.csv"), read_table(ser_dir / "relax.csv")
    par, ser = read_table(base / "par" / "averages.csv"), read_table(ser_dir / "averages.csv")
    assert len(par_r["step"]) == len(ser_r["step"]) and len(par["t"]) == len(ser["t"]) == 11
    for key in ("mx", "my", "mz", "E_total"):
        # data scale: |m| = 1 for components (mz of the thin film stays near 0), the largest
        # energy term for E_total (it may cross 0), not the column's own size
        scale = 1.0 if key != "E_total" else max(
            np.abs(t[k]).max() for t in (ser, ser_r) for k in t if k.startswith("E_"))
        np.testing.assert_allclose(par[key], ser[key], atol=1e-8 * scale, err_msg=key)
        np.testing.assert_allclose(par_r[key], ser_r[key], atol=1e-8 * scale, err_msg=key)


_BASE = """
[material]
alpha = 0.1
exchange = 1.0
[time]
dt = 0.1
t_end = 0.2
[initial]
value = [0, 0, 1]
"""
BAD_CONFIGS = {
    "shell_needs_builder": (('[mesh]\ndim = 3\ncell_type = "tetrahedron"\nperiodic = false\n'
                            '[demag]\nmethod = "shell"'), "needs mesh.builder"),
    "demag_periodic": ('[mesh]\ndim = 3\ncell_type = "tetrahedron"\n[demag]\nmethod = "fembem"',
                       "mesh.periodic = false"),
    "demag_hexahedra": ('[mesh]\ndim = 3\nperiodic = false\n[demag]\nmethod = "fembem"',
                        "needs tetrahedra"),
    "builder_foreign_key": (('[mesh]\nbuilder = "sphere"\nradius = 1.0\nmesh_size = 0.3\n'
                            'lengths = [1, 1, 1]'), "mesh.lengths is not a parameter"),
    "builder_no_size": ('[mesh]\nbuilder = "cuboid"\nlengths = [1, 1, 1]',
                        "mesh.mesh_size is required"),
    "builder_periodic": (('[mesh]\nbuilder = "sphere"\nradius = 1.0\nmesh_size = 0.3\n'
                         'periodic = true'), "remove mesh.periodic = true"),
    "relax_no_dt": ('[mesh]\ndim = 1\n[relax]\nenabled = true', "relax.dt is required"),
    "shell_key_without_shell": (('[mesh]\nbuilder = "sphere"\nradius = 1.0\nmesh_size = 0.3\n'
                                '[demag]\nmethod = "fembem"\nair_size = 2.0'),
                                "demag.air_size is a parameter of demag.method = 'shell'"),
}


@pytest.mark.parametrize("name", sorted(BAD_CONFIGS))
def test_bad_sp4_style_configs(name):
    from femhomog import ConfigError

    text, needle = BAD_CONFIGS[name]
    with pytest.raises(ConfigError, match=re.escape(needle)):
        load_llg_config(None, text=_BASE + text)


def test_builder_config_defaults():
    cfg = load_llg_config(None, text=_BASE + '[mesh]\nbuilder = "sphere"\nradius = 1.0\n'
                          'mesh_size = 0.3\n[demag]\nmethod = "shell"')
    assert cfg.mesh.periodic is False and cfg.mesh.dim == 3
    assert (cfg.demag.degree, cfg.demag.shell_kind, cfg.demag.air_size) == (1, "box", 1.5)
    assert cfg.relax.enabled is False
