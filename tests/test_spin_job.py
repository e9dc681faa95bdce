"""``femhomog llg`` with ``[spin]``: the schema, the averages columns, restart, one-line errors.

The physics is tested in tests/test_spin_llg.py; here the job: a [spin] run writes
sx, sy, sz, s_rms, rho_mean, the rho mean stays at its initial value (mass
conservation with zero flux), the restart of a spin-coupled run continues it exactly,
configurations without [spin] keep their template, and bad [spin] input fails on one line.
"""

from __future__ import annotations

import csv
import json
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


def test_quasistatic_run_restarts_exactly(tmp_path: Path) -> None:
    """Quasi-static s: the steady solve's initial guess extrapolates the two previous
    solutions, which the checkpoint holds (s, s_prev): the restart is exact."""
    cfg = tmp_path / "job.toml"
    cfg.write_text(BASE + 'mode = "quasistatic"\n')
    full, part = tmp_path / "full", tmp_path / "part"
    assert main(["llg", str(cfg), "--out", str(full), "-q"]) == 0
    assert main(["llg", str(cfg), "--out", str(part), "-q", "--set", "time.t_end=0.2"]) == 0
    assert main(["llg", str(cfg), "--restart", str(part), "-q"]) == 0
    assert rows(part / "averages.csv") == rows(full / "averages.csv")


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
    ("anisotropy = 1.0", "spin.anisotropy must be a number < 1"),
])
def test_bad_spin_input_at_load(tmp_path: Path, change: str, needle: str) -> None:
    cfg = tmp_path / "job.toml"
    cfg.write_text(with_spin(change))
    with pytest.raises(ConfigError, match=None) as err:
        load_llg_config(cfg)
    msg = str(err.value)
    assert needle in msg and "\n" not in msg, msg


SI_BASE = """
[mesh]
dim = 1
cells_per_side = 8
lengths = 2e-8
periodic = false
[material]
units = "SI"
Ms = 8.0e5
A = 1.3e-11
alpha = 0.1
length = 1e-9
[initial]
type = "expression"
expressions = ["cos(5e7*x[0])", "sin(5e7*x[0])", "0.3"]
normalize = true
[time]
dt = 2e-14
t_end = 1e-13
integrator = "midpoint"
[output]
dt_out = 2e-14
[spin]
enabled = true
scheme = "crank_nicolson"
"""


def test_si_spin_section_equals_its_nondimensional_conversion(tmp_path: Path) -> None:
    """spin.units = "SI" (Zhang-Levy-Fert D0, lambda_sf, lambda_J, beta, beta', j_e in
    A/m^2) runs as the nondimensional [spin] computed by hand from magnum.fe's formulas:
    D = 2 D0 T/L^2, tau_sf = lambda_sf^2/(2 D0 T), tau_ex = -lambda_J^2/(D0 T) (< 0),
    c_s = 2 D0/(lambda_J^2 gamma Ms), a = beta beta', j = beta mu_B T j_e/(e Ms L)."""
    D0, lsf, lJ, beta, betap, je = 1e-3, 1e-8, 4e-9, 0.5, 0.6, 2e12
    si = tmp_path / "si.toml"
    si.write_text(SI_BASE + f'units = "SI"\nD0 = {D0}\nlambda_sf = {lsf}\nlambda_J = {lJ}\n'
                  f"beta = {beta}\nbeta_prime = {betap}\ncurrent = [{je}]\n")
    Ms, gamma, alpha, L = 8.0e5, 2.211e5, 0.1, 1e-9
    T = (1 + alpha**2) / (gamma * Ms)
    mu_B, e = 9.2740100783e-24, 1.602176634e-19
    nd = tmp_path / "nd.toml"
    nd.write_text(SI_BASE + f"D = {2 * D0 * T / L**2!r}\ntau_sf = {lsf**2 / (2 * D0 * T)!r}\n"
                  f"tau_ex = {-(lJ**2) / (D0 * T)!r}\n"
                  f"coupling = {2 * D0 / (lJ**2 * gamma * Ms)!r}\n"
                  f"anisotropy = {beta * betap!r}\n"
                  f"current = [{beta * mu_B * T * je / (e * Ms * L)!r}]\n")
    for cfg in (si, nd):
        assert main(["llg", str(cfg), "--out", str(tmp_path / cfg.stem), "-q"]) == 0
    a, b = rows(tmp_path / "si" / "averages.csv"), rows(tmp_path / "nd" / "averages.csv")
    assert len(a) == len(b) == 6
    assert max(abs(r["sx"]) + abs(r["sy"]) + abs(r["sz"]) for r in a) > 1e-5  # polarized
    assert abs(a[-1]["mz"] - a[0]["mz"]) > 1e-6  # the spin torque moves m
    for ra, rb in zip(a, b, strict=True):
        for k in ("mx", "my", "mz", "sx", "sy", "sz", "s_rms"):
            assert ra[k] == pytest.approx(rb[k], rel=1e-9, abs=1e-12 * max(1.0, abs(rb[k])))
    run = json.loads((tmp_path / "si" / "run.json").read_text())
    assert run["integrator"]["spin"]["si"]["lambda_J"] == pytest.approx(lJ, rel=1e-14)
    assert run["integrator"]["spin"]["tau_ex"] < 0


@pytest.mark.parametrize(("change", "needle"), [
    ('units = "SI"', 'spin.units = "SI" needs material.units = "SI"'),
    ("D0 = 1e-3", 'spin.D0 is for spin.units = "SI"'),
    ('units = "SI"\nD0 = 1e-3\nlambda_sf = 1e-8', 'spin.units = "SI" needs spin.lambda_J'),
    ('units = "SI"\nD0 = 1e-3\nlambda_sf = 1e-8\nlambda_J = 4e-9\ntau_sf = 2.0',
     'spin.tau_sf is derived for spin.units = "SI"'),
    ('units = "SI"\nD0 = 1e-3\nlambda_sf = 1e-8\nlambda_J = 4e-9\nbeta = 1\nbeta_prime = 1',
     "spin.beta * spin.beta_prime must be < 1"),
    ('units = "SI"\nD0 = 1e-3\nlambda_sf = 1e-8\nlambda_J = 4e-9\npotential = "x[0]"',
     'spin.potential with spin.units = "SI" must be "computed"'),
    ('units = "SI"\nD0 = -1e-3\nlambda_sf = 1e-8\nlambda_J = 4e-9', "spin.D0 must be"),
    ("beta = 2", "spin.beta must be"),
])
def test_bad_si_spin_input_at_load(tmp_path: Path, change: str, needle: str) -> None:
    cfg = tmp_path / "job.toml"
    cfg.write_text((SI_BASE if "D0" in change and "units" in change else BASE) + change + "\n")
    with pytest.raises(ConfigError) as err:
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


# ------------------------------------------------------------------ degree and pinned layers
def test_p2_spin_run_is_close_to_p1_and_restarts(tmp_path: Path) -> None:
    """spin.degree = 2: same run, averages within the P1 discretization error; the vertex
    values of s in the outputs; a restart from a checkpoint (which holds every P2 dof of
    s and s_prev) reproduces the uninterrupted run exactly."""
    p1, p2, part = tmp_path / "p1", tmp_path / "p2", tmp_path / "part"
    (tmp_path / "job.toml").write_text(BASE)
    assert main(["llg", str(tmp_path / "job.toml"), "--out", str(p1), "-q"]) == 0
    (tmp_path / "job.toml").write_text(BASE + "degree = 2\nscheme = \"bdf2\"\n")
    assert main(["llg", str(tmp_path / "job.toml"), "--out", str(p2), "-q"]) == 0
    a, b = rows(p1 / "averages.csv"), rows(p2 / "averages.csv")
    assert len(a) == len(b) == 4
    for ra, rb in zip(a, b, strict=True):
        for k in ("sx", "sy", "sz", "mx", "my", "mz"):
            assert rb[k] == pytest.approx(ra[k], abs=5e-3), (k, ra[k], rb[k])
    assert any(abs(rb["sz"] - ra["sz"]) > 1e-8 for ra, rb in zip(a, b, strict=True))
    assert main(["llg", str(tmp_path / "job.toml"), "--out", str(part), "-q",
                 "--set", "time.t_end=0.2"]) == 0
    assert main(["llg", str(tmp_path / "job.toml"), "--restart", str(part), "-q"]) == 0
    assert rows(part / "averages.csv") == b
    # BDF2 continued from the checkpointed history: without s_prev's P2 dofs the restarted
    # steps would differ (a restart step, or s_prev at the vertices only)
    (tmp_path / "job.toml").write_text(BASE + "degree = 3\n")
    with pytest.raises(ConfigError, match="spin.degree must be 1 or 2"):
        load_llg_config(tmp_path / "job.toml")


def two_region_msh(path: Path) -> Path:
    """[0, 2] x [0, 1]: cells x < 1 tag 1, x > 1 tag 2; facets x = 0 tag 5, x = 2 tag 6."""
    import gmsh

    gmsh.initialize()
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("two_regions")
        left = gmsh.model.occ.addRectangle(0, 0, 0, 1, 1)
        right = gmsh.model.occ.addRectangle(1, 0, 0, 1, 1)
        gmsh.model.occ.fragment([(2, left)], [(2, right)])
        gmsh.model.occ.synchronize()
        for dim_tag in gmsh.model.getEntities(2):
            x = gmsh.model.occ.getCenterOfMass(*dim_tag)[0]
            gmsh.model.addPhysicalGroup(2, [dim_tag[1]], 1 if x < 1 else 2)
        for _, tag in gmsh.model.getEntities(1):
            x = gmsh.model.occ.getCenterOfMass(1, tag)[0]
            if abs(x) < 1e-9 or abs(x - 2) < 1e-9:
                gmsh.model.addPhysicalGroup(1, [tag], 5 if x < 1 else 6)
        gmsh.option.setNumber("Mesh.MeshSizeMax", 0.25)
        gmsh.model.mesh.generate(2)
        gmsh.write(str(path))
    finally:
        gmsh.finalize()
    return path


PINNED = """
[mesh]
file = "two.msh"
periodic = false
[material]
alpha = 0.5
exchange = 0.1
[initial]
type = "uniform"
value = [0.0, 0.0, 1.0]
[time]
dt = 0.05
t_end = 0.2
integrator = "tangent_plane"
[output]
dt_out = 0.1
fields = false
[spin]
enabled = true
magnet = [2]
initial = [0.0, 1.0, 0.0]
tau_sf = 5.0
coupling = 0.0
"""


def test_pinned_layer_key(tmp_path: Path, capsys) -> None:
    """spin.pinned = {1 = [2, 0, 0]} (normalized): s precesses in the pinned half too
    (c_s = 0, m = e_z stays: about m s_y turns into s_x in the magnet, about e_x into
    s_z in the pinned half only); unknown tags, a missing magnet and a zero vector are
    one-line errors."""
    two_region_msh(tmp_path / "two.msh")
    cfg = tmp_path / "job.toml"
    results = {}
    for name, extra in (("free", ""), ("pinned", "pinned = {1 = [2.0, 0.0, 0.0]}\n")):
        cfg.write_text(PINNED + extra)
        assert main(["llg", str(cfg), "--out", str(tmp_path / name), "-q"]) == 0
        results[name] = rows(tmp_path / name / "averages.csv")[-1]
    free, pinned = results["free"], results["pinned"]
    assert abs(free["sz"]) < 1e-12 < abs(pinned["sz"])
    assert pinned["sz"] < -0.05  # -2 e_x x e_y = -2 e_z: s_z goes negative in x < 1
    assert free["sx"] == pytest.approx(pinned["sx"], rel=0.2)  # the magnet half alike
    cfg.write_text(PINNED + "pinned = {7 = [1.0, 0.0, 0.0]}\n")
    assert main(["llg", str(cfg), "--out", str(tmp_path / "bad"), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pinned cell tag 7 must be a tag of the mesh" in err, err
    cfg.write_text(PINNED.replace("magnet = [2]\n", "") + "pinned = {1 = [1.0, 0.0, 0.0]}\n")
    with pytest.raises(ConfigError, match="spin.pinned needs spin.magnet"):
        load_llg_config(cfg)
    cfg.write_text(PINNED + "pinned = {1 = [0.0, 0.0, 0.0]}\n")
    with pytest.raises(ConfigError, match="spin.pinned.1 must be a non-zero vector"):
        load_llg_config(cfg)


# ------------------------------------------------------------------ conductor stack builder
STACK = """
[mesh]
builder = "conductor_stack"
lengths = [1.0, 1.0]
thicknesses = [0.5, 0.25, 0.25, 0.25, 0.5]
magnetic = [false, true, false, true, false]
mesh_size = 0.5
z_layers = 1
[material]
alpha = 0.5
exchange = 1.0
equation = "gilbert"
[initial]
type = "uniform"
value = [-0.8775825618903728, 0.479425538604203, 0.0]
[time]
dt = 0.05
t_end = 0.1
integrator = "tangent_plane"
[output]
dt_out = 0.05
fields = false
[spin]
enabled = true
magnet = [2]
pinned = {1 = [1.0, 0.0, 0.0]}
potential = "computed"
electrodes = {31 = 10.0, 32 = 0.0}
current = "computed"
coupling = 4.0
"""


def test_conductor_stack_builder(tmp_path: Path) -> None:
    """mesh.builder = "conductor_stack": the conductor is femhomog.meshes.conductor_stack's
    mesh (same nodes), m lives on magnetic layer 2 (its nodes), the electrodes are facet
    tags 31/32 (an unknown tag would be a one-line error), and the current polarized by
    the layers builds up s."""
    from mpi4py import MPI

    from femhomog.meshes.stacks import conductor_stack
    from femhomog.spin import magnet_submesh

    cfg = tmp_path / "stack.toml"
    cfg.write_text(STACK)
    assert main(["llg", str(cfg), "--out", str(tmp_path / "out"), "-q"]) == 0
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    stack = conductor_stack(MPI.COMM_SELF, (1.0, 1.0), (0.5, 0.25, 0.25, 0.25, 0.5),
                            (False, True, False, True, False), mesh_size=0.5, z_layers=1)
    sub, _ = magnet_submesh(stack.mesh, stack.cell_tags, [2])
    assert run["integrator"]["spin"]["conductor_nodes"] == \
        stack.mesh.geometry.index_map().size_global
    assert run["mesh"]["nodes"] == sub.geometry.index_map().size_global
    assert rows(tmp_path / "out" / "averages.csv")[-1]["s_rms"] > 1e-3


@pytest.mark.parametrize(("section", "change", "needle"), [
    ("spin", "magnet", "needs spin.enabled = true and spin.magnet"),
    ("spin", "magnet = [3]", "spin.magnet/spin.pinned tag 3 is not a magnetic layer"),
    ("mesh", "lengths = [1.0, 1.0, 1.0]", "mesh.lengths must be the 2 in-plane edge lengths"),
    ("mesh", "magnetic = [false, true]", "mesh.magnetic must have one flag per layer"),
    ("mesh", "magnetic = [false, false, false, false, false]", "at least one layer as magnetic"),
    ("mesh", "thicknesses = [0.5, -0.25]", "mesh.thicknesses must be"),
])
def test_bad_conductor_stack_input(tmp_path: Path, section: str, change: str,
                                   needle: str) -> None:
    """Replace (or, with a bare key, remove) a key of STACK: one-line errors."""
    key = change.split("=")[0].strip()
    lines = [ln for ln in STACK.splitlines() if ln.split("=")[0].strip() != key]
    text = "\n".join(lines)
    if "=" in change:
        text = text.replace(f"[{section}]", f"[{section}]\n{change}", 1)
    cfg = tmp_path / "job.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_llg_config(cfg)
    msg = str(err.value)
    assert needle in msg and "\n" not in msg, msg
