"""``femhomog llg`` with ``[spin]``: the schema, the averages columns, restart, one-line errors.

The physics is tested in tests/test_spin_llg.py; here the job: a [spin] run writes
sx, sy, sz, s_rms, rho_mean, the rho mean stays at its initial value (mass
conservation with zero flux), the restart of a spin-coupled run continues it exactly,
configurations without [spin] keep their template, and bad [spin] input fails on one line.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from femhomog import ConfigError
from femhomog.cli.main import main
from femhomog.micromag.config import load_llg_config

BASE = """
[mesh]
dim = 1
cells_per_side = 8
periodic = false
[material]
alpha = 0.5
exchange = 0.1
equation = "gilbert"
gamma = 2.0
[initial]
type = "expression"
expressions = ["cos(x[0])", "sin(x[0])", "0.3"]
normalize = true
[time]
dt = 0.05
t_end = 0.3
integrator = "midpoint"
[output]
dt_out = 0.1
checkpoint_every = 2
[spin]
enabled = true
tau_ex = -0.5
potential = "-0.5*x[0]"
rho_initial = "1 + x[0]"
dirichlet = {1 = [0, 0, 1]}
iterate = true
"""


def with_spin(change: str) -> str:
    """BASE with ``key = value`` of [spin] replaced or added."""
    key = change.split("=")[0].strip()
    lines = [ln for ln in BASE.splitlines()
             if not (ln.split("=")[0].strip() == key and "[" not in ln.split("=")[0])]
    return "\n".join(lines) + "\n" + change + "\n"


def rows(path: Path) -> list[dict[str, float]]:
    with open(path) as f:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]


def test_spin_run_columns_and_restart(tmp_path: Path) -> None:
    cfg = tmp_path / "job.toml"
    cfg.write_text(BASE)
    full, part = tmp_path / "full", tmp_path / "part"
    assert main(["llg", str(cfg), "--out", str(full), "-q"]) == 0
    table = rows(full / "averages.csv")
    assert list(table[0]) == ["t", "mx", "my", "mz", "E_exchange", "E_spin", "E_total",
                              "norm_dev", "sx", "sy", "sz", "s_rms", "rho_mean"]
    assert len(table) == 4
    # zero total flux: the lumped mass of rho is conserved (mean of 1 + x on [0, 1])
    assert all(r["rho_mean"] == pytest.approx(1.5, rel=1e-12) for r in table)
    assert table[-1]["sz"] > 0.1  # injected at x = 0
    assert main(["llg", str(cfg), "--out", str(part), "-q", "--set", "time.t_end=0.2"]) == 0
    assert main(["llg", str(cfg), "--restart", str(part), "-q"]) == 0
    assert rows(part / "averages.csv") == table


def test_computed_potential_equals_the_expression(tmp_path: Path) -> None:
    """Electrodes phi(0) = 0, phi(1) = -0.5 and sigma = 2: the potential is BASE's -0.5 x,
    so the run equals the expression's; current = "computed" is the source j = 1."""
    given, computed = tmp_path / "given", tmp_path / "computed"
    for out, text in ((given, with_spin("current = [1.0]")),
                      (computed, with_spin('potential = "computed"') + "electrodes = "
                       "{1 = 0.0, 2 = -0.5}\nsigma = 2.0\ncurrent = \"computed\"\n")):
        (tmp_path / "job.toml").write_text(text)
        assert main(["llg", str(tmp_path / "job.toml"), "--out", str(out), "-q"]) == 0
    a, b = rows(given / "averages.csv"), rows(computed / "averages.csv")
    assert len(a) == len(b) == 4
    for ra, rb in zip(a, b, strict=True):
        assert all(rb[k] == pytest.approx(ra[k], rel=1e-8, abs=1e-11) for k in ra)


def test_template_without_spin_is_unchanged_but_lists_it(capsys) -> None:
    assert main(["llg", "--print-config"]) == 0
    text = capsys.readouterr().out
    assert "[spin]\n" in text and "enabled = false" in text
    cfg = load_llg_config(None, text=text)
    assert not cfg.spin.enabled and cfg.material.equation == "landau_lifshitz"


@pytest.mark.parametrize(("change", "needle"), [
    ("tau_sf = -1.0", "spin.tau_sf must be a number > 0 (inf: no spin flip), got -1.0"),
    ("tau_ex = 0", "spin.tau_ex must be a non-zero number"),
    ("D = [[1.0, 2.0], [2.0, 1.0]]", "spin.D"),
    ("tau_fs = 1.0", "did you mean 'tau_sf'?"),
    ("mode = \"steady\"", "spin.mode must be one of 'dynamic', 'quasistatic'"),
    ("magnet = [1]", "spin.magnet selects cell tags: it needs mesh.file or mesh.builder"),
    ("potential = \"x[0] +\"", "spin.potential"),
    ('potential = "computed"', 'spin.potential = "computed" needs spin.electrodes'),
    ("electrodes = {1 = 1.0}", 'spin.electrodes is for spin.potential = "computed"'),
    ('current = "computed"', 'spin.current = "computed" is for spin.potential = "computed"'),
    ("sigma = 0.0", "spin.sigma must be > 0, got 0.0"),
    ('potential = "computed"\nelectrodes = {1 = 0.0}\nsigma = {1 = 1.0}',
     "spin.sigma per cell tag needs mesh.file or mesh.builder"),
    ("electrodes = {}", "spin.electrodes must name at least one electrode"),
    ("electrodes = {a = 1.0}", "spin.electrodes: keys must be integer tags"),
])
def test_bad_spin_input_at_load(tmp_path: Path, change: str, needle: str) -> None:
    cfg = tmp_path / "job.toml"
    cfg.write_text(with_spin(change))
    with pytest.raises(ConfigError, match=None) as err:
        load_llg_config(cfg)
    msg = str(err.value)
    assert needle in msg and "\n" not in msg, msg


def test_periodic_box_with_spin_is_an_error(tmp_path: Path) -> None:
    cfg = tmp_path / "job.toml"
    cfg.write_text(BASE.replace("periodic = false", "periodic = true"))
    with pytest.raises(ConfigError, match="set mesh.periodic = false"):
        load_llg_config(cfg)


@pytest.mark.parametrize(("change", "needle"), [
    ("dirichlet = {7 = [0, 0, 1]}", "unknown facet tag 7 for a spin Dirichlet condition"),
    ("D = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]", "spin.D must be a 1 x 1"),
    ('potential = "computed"\nelectrodes = {1 = 0.0, 9 = 1.0}',
     "unknown facet tag 9 for an electrode"),
])
def test_bad_spin_input_on_the_mesh(tmp_path: Path, capsys, change: str, needle: str) -> None:
    cfg = tmp_path / "job.toml"
    cfg.write_text(with_spin(change))
    assert main(["llg", str(cfg), "--out", str(tmp_path / "out"), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err, err
    assert not (tmp_path / "out" / "run.json").exists()
