"""Cell-job configuration: schema rules, overrides, paths (pure Python, serial)."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from femhomog import ConfigError, FemhomogError
from femhomog.cell.config import CELL_SCHEMA, CellJobConfig, load_cell_config
from femhomog.io.schema import (
    REQUIRED,
    Schema,
    apply_overrides,
    choice,
    integer,
    option,
    real,
    section,
    section_of,
)

BASE = """
[cell]
dim = 2
coefficient = "1 + 0.5*sin(2*pi*y[0])"
"""


def load(text: str, overrides: tuple[str, ...] = (), path: Path | None = None) -> CellJobConfig:
    return load_cell_config(path, overrides, text=text)


def error_of(text: str, overrides: tuple[str, ...] = (), path: Path | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load(text, overrides, path)
    message = str(info.value)
    assert "\n" not in message  # the CLI prints it as one line
    return message


@pytest.fixture
def mesh_dir(tmp_path: Path) -> Path:
    """A directory with a config subdirectory and an (empty) .msh file next to it."""
    (tmp_path / "meshes").mkdir()
    (tmp_path / "meshes" / "cell.msh").write_text("$MeshFormat\n$EndMeshFormat\n")
    return tmp_path


# --------------------------------------------------------------------------- defaults


def test_minimal_config_defaults() -> None:
    cfg = load(BASE)
    assert cfg.cell.dim == 2
    assert cfg.cell.coefficient == "1 + 0.5*sin(2*pi*y[0])"
    assert cfg.cell.cell_type == "quadrilateral"
    assert cfg.cell.cells_per_side == 32
    assert cfg.cell.degree == 2
    assert cfg.cell.quadrature_degree is None
    assert cfg.cell.mesh is None and cfg.cell.materials is None
    assert (cfg.solver.type, cfg.solver.rtol, cfg.solver.max_it) == ("auto", 1e-10, 2000)
    assert cfg.output.fields is False


@pytest.mark.parametrize(("dim", "cell_type"), [(1, "interval"), (2, "quadrilateral"),
                                                (3, "hexahedron")])
def test_default_cell_type_by_dim(dim: int, cell_type: str) -> None:
    cfg = load(f"[cell]\ndim = {dim}\ncoefficient = 1\n")
    assert cfg.cell.cell_type == cell_type


def test_dataclasses_are_frozen() -> None:
    cfg = load(BASE)
    with pytest.raises(AttributeError):
        cfg.cell.degree = 3  # type: ignore[misc]


def test_raw_is_json_serializable_with_defaults() -> None:
    cfg = load(BASE + "degree = 3\n")
    raw = json.loads(json.dumps(cfg.raw))
    assert raw["cell"]["degree"] == 3
    assert raw["cell"]["cell_type"] == "quadrilateral"  # derived default recorded
    assert raw["solver"] == {"type": "auto", "rtol": 1e-10, "max_it": 2000}
    assert raw["output"] == {"fields": False}


def test_missing_sections_are_all_defaults_but_dim_is_required() -> None:
    assert "cell.dim is required" in error_of("[output]\n")
    assert "cell.dim is required" in error_of("", ("solver.type='direct'",))
    # an empty file is reported as empty, not as its first missing key
    message = error_of("")
    assert "is empty" in message and "--print-config" in message


# --------------------------------------------------------------------------- unknown keys


def test_unknown_key() -> None:
    message = error_of(BASE + "foo = 1\n")
    assert message.startswith("unknown key 'cell.foo' (allowed: dim, coefficient,")


def test_unknown_key_suggests_close_match() -> None:
    assert "did you mean 'degree'?" in error_of(BASE + "degre = 1\n")


def test_unknown_section() -> None:
    message = error_of(BASE + "[solvr]\nrtol = 1e-8\n")
    assert message.startswith("unknown section 'solvr' (allowed: cell, geometry, homogenization, dispersion, solver, output)")


def test_section_must_be_table() -> None:
    assert "'solver' must be a table" in error_of('solver = "direct"\n' + BASE)


# --------------------------------------------------------------------------- field types


def test_dim_out_of_range() -> None:
    assert error_of("[cell]\ndim = 4\ncoefficient = 1\n") == "cell.dim must be 1, 2 or 3, got 4"


def test_degree_zero() -> None:
    assert error_of(BASE + "degree = 0\n") == "cell.degree must be an integer >= 1, got 0"


def test_degree_wrong_type() -> None:
    assert error_of(BASE + 'degree = "two"\n') == "cell.degree must be an integer >= 1, got 'two'"


def test_degree_upper_bound() -> None:
    assert error_of(BASE + "degree = 9\n") == "cell.degree must be an integer <= 8, got 9"


def test_float_is_not_an_int() -> None:
    assert "got 2.0" in error_of(BASE + "degree = 2.0\n")


@pytest.mark.parametrize("key", ["degree", "cells_per_side", "quadrature_degree"])
def test_bool_is_not_an_int(key: str) -> None:
    assert error_of(BASE + f"{key} = true\n") == f"cell.{key} must be an integer >= 1, got true"


def test_bool_is_not_a_dim() -> None:
    assert error_of("[cell]\ndim = true\ncoefficient = 1\n") == (
        "cell.dim must be 1, 2 or 3, got true")


def test_int_accepted_for_float() -> None:
    cfg = load(BASE + "[solver]\nrtol = 0.5\nmax_it = 10\n")
    assert cfg.solver.rtol == 0.5 and isinstance(cfg.solver.rtol, float)
    cfg = load("[cell]\ndim = 1\ncoefficient = 3\n")
    assert cfg.cell.coefficient == 3.0 and isinstance(cfg.cell.coefficient, float)


@pytest.mark.parametrize("rtol", ["0", "1", "1.5", "-1e-3", "nan", "true", '"1e-8"'])
def test_rtol_range(rtol: str) -> None:
    message = error_of(BASE + f"[solver]\nrtol = {rtol}\n")
    assert message.startswith("solver.rtol must be a number in (0, 1), got ")


def test_solver_type_choice() -> None:
    assert error_of(BASE + '[solver]\ntype = "lu"\n') == (
        "solver.type must be one of 'auto', 'direct', 'iterative', got 'lu'")


def test_max_it() -> None:
    assert "solver.max_it must be an integer >= 1" in error_of(BASE + "[solver]\nmax_it = 0\n")


def test_output_fields_must_be_bool() -> None:
    assert error_of(BASE + "[output]\nfields = 1\n") == (
        "output.fields must be true or false, got 1")
    assert load(BASE + "[output]\nfields = true\n").output.fields is True


@pytest.mark.parametrize(("dim", "cell_type"), [(2, "hexahedron"), (3, "triangle"),
                                                (1, "quadrilateral")])
def test_cell_type_must_fit_dim(dim: int, cell_type: str) -> None:
    message = error_of(f'[cell]\ndim = {dim}\ncoefficient = 1\ncell_type = "{cell_type}"\n')
    assert message.startswith(f"cell.cell_type '{cell_type}' does not fit cell.dim = {dim}")


def test_unknown_cell_type() -> None:
    assert "cell.cell_type must be one of 'interval'" in error_of(BASE + 'cell_type = "prism"\n')


# --------------------------------------------------------------------------- coefficient


@pytest.mark.parametrize("value", ["0", "-1", "inf"])
def test_numeric_coefficient_must_be_positive(value: str) -> None:
    assert error_of(f"[cell]\ndim = 2\ncoefficient = {value}\n").startswith(
        "cell.coefficient must be > 0")


def test_coefficient_bad_type() -> None:
    assert error_of("[cell]\ndim = 2\ncoefficient = true\n").startswith(
        "cell.coefficient must be a number > 0, an expression string")
    assert error_of('[cell]\ndim = 2\ncoefficient = "  "\n').startswith("cell.coefficient must")


def test_matrix_coefficient() -> None:
    cfg = load('[cell]\ndim = 2\ncoefficient = [[2, "0.5*sin(2*pi*y[0])"], [0, 1.5]]\n')
    assert cfg.cell.coefficient == [[2.0, "0.5*sin(2*pi*y[0])"], [0.0, 1.5]]
    assert isinstance(cfg.cell.coefficient[0][0], float)


def test_matrix_coefficient_must_be_d_by_d() -> None:
    message = error_of("[cell]\ndim = 3\ncoefficient = [[1, 0], [0, 1]]\n")
    assert message == "cell.coefficient must be a 3 x 3 matrix (cell.dim = 3), got 2 x 2"


def test_matrix_coefficient_must_be_square() -> None:
    assert "must be a square matrix" in error_of(
        "[cell]\ndim = 2\ncoefficient = [[1, 0], [0]]\n")


def test_numeric_matrix_must_be_positive_definite() -> None:
    assert "positive definite" in error_of("[cell]\ndim = 2\ncoefficient = [[1, 2], [2, 1]]\n")
    assert "diagonal entries must be > 0" in error_of(
        "[cell]\ndim = 2\ncoefficient = [[-1, \"y[0]\"], [0, 1]]\n")


def test_coefficient_required_without_mesh() -> None:
    assert error_of("[cell]\ndim = 2\n").startswith("cell.coefficient is required")


# --------------------------------------------------------------------------- mesh & materials


def test_mesh_relative_to_config_file(mesh_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_dir = mesh_dir / "configs"
    config_dir.mkdir()
    config = config_dir / "job.toml"
    config.write_text('[cell]\nmesh = "../meshes/cell.msh"\ncoefficient = 2\n')
    elsewhere = mesh_dir / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the current directory must not matter
    cfg = load_cell_config(Path("../configs/job.toml"))
    assert cfg.cell.mesh == mesh_dir / "meshes" / "cell.msh"
    assert cfg.cell.mesh.is_absolute()
    assert cfg.cell.dim is None and cfg.cell.cell_type is None  # read from the mesh later
    assert cfg.raw["cell"]["mesh"] == str(mesh_dir / "meshes" / "cell.msh")


def test_mesh_override_relative_to_cwd(mesh_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_dir = mesh_dir / "configs"
    config_dir.mkdir()
    config = config_dir / "job.toml"
    config.write_text("[cell]\ncoefficient = 2\n")
    monkeypatch.chdir(mesh_dir)
    cfg = load_cell_config(config, ["cell.mesh=meshes/cell.msh"])
    assert cfg.cell.mesh == mesh_dir / "meshes" / "cell.msh"
    # Relative to the config's directory this path does not exist.
    with pytest.raises(ConfigError, match="cell.mesh: file not found: "):
        load_cell_config(config, ["cell.mesh=../meshes/cell.msh"])


def test_text_with_path_resolves_against_path_dir(mesh_dir: Path) -> None:
    cfg = load('[cell]\nmesh = "meshes/cell.msh"\ncoefficient = 1\n', path=mesh_dir / "x.toml")
    assert cfg.cell.mesh == mesh_dir / "meshes" / "cell.msh"


def test_nonexistent_mesh(tmp_path: Path) -> None:
    message = error_of('[cell]\nmesh = "nope.msh"\ncoefficient = 1\n', path=tmp_path / "a.toml")
    assert message == f"cell.mesh: file not found: {tmp_path / 'nope.msh'}"


def test_mesh_must_be_msh(mesh_dir: Path) -> None:
    (mesh_dir / "cell.xdmf").write_text("")
    message = error_of('[cell]\nmesh = "cell.xdmf"\ncoefficient = 1\n', path=mesh_dir / "a.toml")
    assert message.startswith("cell.mesh must be the path of a .msh file")


def test_materials(mesh_dir: Path) -> None:
    cfg = load('[cell]\nmesh = "meshes/cell.msh"\n'
               'materials = {2 = 10, 1 = 1.0, 3 = [[1, 0], [0, 2]]}\n', path=mesh_dir / "a.toml")
    assert cfg.cell.materials == {1: 1.0, 2: 10.0, 3: [[1.0, 0.0], [0.0, 2.0]]}
    assert all(isinstance(k, int) for k in cfg.cell.materials)
    assert isinstance(cfg.cell.materials[2], float)
    assert cfg.cell.coefficient is None
    assert json.loads(json.dumps(cfg.raw))["cell"]["materials"] == {
        "1": 1.0, "2": 10.0, "3": [[1.0, 0.0], [0.0, 2.0]]}


def test_materials_require_mesh() -> None:
    message = error_of("[cell]\ndim = 2\nmaterials = {1 = 1.0}\n")
    assert message.startswith("cell.materials requires cell.mesh or geometry.builder")
    message = error_of("[cell]\ndim = 2\ncoefficient = 1\nmaterials = {1 = 1.0}\n")
    assert message.startswith("give either cell.coefficient or cell.materials")


def test_geometry_builder_rules() -> None:
    ok = load_cell_config(None, text="[cell]\ndim = 3\nmaterials = {1 = 1.0, 2 = 5.0}\n"
                          "[geometry]\nbuilder = 'inclusion'\nradius = 0.3\n")
    assert ok.geometry.builder == "inclusion" and ok.geometry.radius == 0.3
    assert error_of("[cell]\ndim = 1\nmaterials = {1 = 1.0}\n[geometry]\nbuilder = 'inclusion'\n"
                    ).startswith("geometry.builder = 'inclusion' needs cell.dim = 2 or 3")
    assert "radius" in error_of("[cell]\ndim = 2\nmaterials = {1 = 1.0}\n"
                                "[geometry]\nbuilder = 'inclusion'\nradius = 0.7\n")
    assert "geometry.axis must be < cell.dim" in error_of(
        "[cell]\ndim = 2\nmaterials = {1 = 1.0}\n[geometry]\nbuilder = 'laminate'\naxis = 2\n")


def test_materials_key_must_be_int(mesh_dir: Path) -> None:
    message = error_of('[cell]\nmesh = "meshes/cell.msh"\nmaterials = {matrix = 1.0}\n',
                       path=mesh_dir / "a.toml")
    assert message == "cell.materials: key 'matrix' is not an integer physical group tag"


@pytest.mark.parametrize(("materials", "expected"), [
    ("{1 = 0}", "cell.materials.1 must be > 0, got 0"),
    ("{1 = -2.5}", "cell.materials.1 must be > 0"),
    ('{1 = "1+y[0]"}', "cell.materials.1 must be a number > 0 or a d x d matrix"),
    ("{1 = true}", "cell.materials.1 must be a number > 0 or a d x d matrix"),
    ('{1 = [[1, "y[0]"], [0, 1]]}', "cell.materials.1: matrix entries must be numbers"),
    ("{1 = 1, 01 = 2}", "physical group tag 1 is given twice"),
    ("{0 = 1}", "physical group tags are >= 1"),
    ("{}", "cell.materials must not be empty"),
    ("5", "cell.materials must be a table {tag = value}"),
])
def test_materials_values(mesh_dir: Path, materials: str, expected: str) -> None:
    message = error_of(f'[cell]\nmesh = "meshes/cell.msh"\nmaterials = {materials}\n',
                       path=mesh_dir / "a.toml")
    assert expected in message


def test_material_matrix_must_fit_dim(mesh_dir: Path) -> None:
    message = error_of('[cell]\ndim = 3\nmesh = "meshes/cell.msh"\n'
                       "materials = {1 = [[1, 0], [0, 1]]}\n", path=mesh_dir / "a.toml")
    assert message == "cell.materials.1 must be a 3 x 3 matrix (cell.dim = 3), got 2 x 2"


def test_material_matrices_must_agree_without_dim(mesh_dir: Path) -> None:
    message = error_of('[cell]\nmesh = "meshes/cell.msh"\n'
                       "materials = {1 = [[1, 0], [0, 1]], 2 = [[1]]}\n", path=mesh_dir / "a.toml")
    assert message.startswith("matrices of different sizes")


def test_mesh_needs_coefficient_or_materials(mesh_dir: Path) -> None:
    message = error_of('[cell]\nmesh = "meshes/cell.msh"\n', path=mesh_dir / "a.toml")
    assert message == "cell.mesh needs cell.coefficient or cell.materials"


def test_mesh_with_coefficient_and_materials_is_ambiguous(mesh_dir: Path) -> None:
    message = error_of('[cell]\nmesh = "meshes/cell.msh"\ncoefficient = 1\n'
                       "materials = {1 = 2}\n", path=mesh_dir / "a.toml")
    assert "not both" in message


def test_mesh_with_dim_keeps_default_cell_type(mesh_dir: Path) -> None:
    cfg = load('[cell]\ndim = 3\nmesh = "meshes/cell.msh"\ncoefficient = 1\n',
               path=mesh_dir / "a.toml")
    assert (cfg.cell.dim, cfg.cell.cell_type) == (3, "hexahedron")


# --------------------------------------------------------------------------- files


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found: .*nothere.toml"):
        load_cell_config(tmp_path / "nothere.toml")


def test_config_file_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_cell_config(tmp_path)


def test_bad_toml_names_file_and_position(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[cell]\ndim = \n")
    with pytest.raises(ConfigError) as info:
        load_cell_config(config)
    message = str(info.value)
    assert message.startswith(f"{config}: invalid TOML: ")
    assert "line 2" in message


def test_non_utf8_file(tmp_path: Path) -> None:
    config = tmp_path / "latin1.toml"
    config.write_bytes(b'[cell]\ncoefficient = "\xe9"\n')
    with pytest.raises(ConfigError, match="not a UTF-8 text file"):
        load_cell_config(config)


def test_config_error_is_femhomog_error() -> None:
    with pytest.raises(FemhomogError):
        load("[cell]\ndim = 9\n")


# --------------------------------------------------------------------------- overrides


def test_override_types() -> None:
    cfg = load(BASE, ("cell.degree=3", "solver.rtol=1e-8", "output.fields=true",
                      "solver.type=direct", 'cell.cell_type="triangle"'))
    assert cfg.cell.degree == 3
    assert cfg.solver.rtol == 1e-8
    assert cfg.output.fields is True
    assert cfg.solver.type == "direct"  # not TOML: kept as a plain string
    assert cfg.cell.cell_type == "triangle"


def test_override_expression_falls_back_to_string() -> None:
    cfg = load(BASE, ("cell.coefficient=2 + cos(2*pi*y[1])",))
    assert cfg.cell.coefficient == "2 + cos(2*pi*y[1])"
    assert load(BASE, ("cell.coefficient=4",)).cell.coefficient == 4.0


def test_override_list_and_table_values(mesh_dir: Path) -> None:
    cfg = load(BASE, ("cell.coefficient=[[1, 0], [0, 2]]",))
    assert cfg.cell.coefficient == [[1.0, 0.0], [0.0, 2.0]]
    cfg = load('[cell]\nmesh = "meshes/cell.msh"\n', ("cell.materials={1 = 1.0, 2 = 5}",),
               path=mesh_dir / "a.toml")
    assert cfg.cell.materials == {1: 1.0, 2: 5.0}


def test_override_nested_value(mesh_dir: Path) -> None:
    text = '[cell]\nmesh = "meshes/cell.msh"\nmaterials = {1 = 1.0, 2 = 10.0}\n'
    cfg = load(text, ("cell.materials.2=20", "cell.materials.3=[[1, 0], [0, 1]]"),
               path=mesh_dir / "a.toml")
    assert cfg.cell.materials == {1: 1.0, 2: 20.0, 3: [[1.0, 0.0], [0.0, 1.0]]}


def test_override_creates_missing_section_and_table(mesh_dir: Path) -> None:
    raw = apply_overrides({}, ["solver.max_it=10", "cell.materials.4=2.5"])
    assert raw == {"solver": {"max_it": 10}, "cell": {"materials": {"4": 2.5}}}


def test_apply_overrides_does_not_modify_input() -> None:
    raw = {"cell": {"degree": 2}}
    out = apply_overrides(raw, ["cell.degree=5"])
    assert raw == {"cell": {"degree": 2}} and out == {"cell": {"degree": 5}}


def test_override_later_wins() -> None:
    assert load(BASE, ("cell.degree=3", "cell.degree=4")).cell.degree == 4


def test_override_value_with_equals_sign() -> None:
    raw = apply_overrides({}, ['cell.coefficient="a=b"'])
    assert raw["cell"]["coefficient"] == "a=b"


@pytest.mark.parametrize("override", ["cell.degree", "degree=3", "cell.=3", ".degree=3",
                                      "=3", "cell..degree=3"])
def test_bad_override_syntax(override: str) -> None:
    with pytest.raises(ConfigError, match="bad override .*expected section.key=value"):
        apply_overrides({}, [override])
    message = error_of(BASE, (override,))
    assert message.startswith(f"bad override '{override}'")


def test_unknown_override_key() -> None:
    message = error_of(BASE, ("cell.foo=1",))
    assert message.startswith("bad override 'cell.foo=1': unknown key 'cell.foo' (allowed: ")
    assert error_of(BASE, ("solvr.rtol=1",)).startswith(
        "bad override 'solvr.rtol=1': unknown section 'solvr'")


def test_override_through_non_table() -> None:
    message = error_of(BASE, ("cell.coefficient.x=1",))
    assert message == "bad override 'cell.coefficient.x=1': 'cell.coefficient' is not a table"


def test_override_is_validated() -> None:
    assert error_of(BASE, ("cell.degree=two",)) == "cell.degree must be an integer >= 1, got 'two'"
    assert error_of(BASE, ("cell.dim=4",)) == "cell.dim must be 1, 2 or 3, got 4"


def test_override_without_schema_accepts_any_key() -> None:
    assert apply_overrides({}, ["a.b.c=1"]) == {"a": {"b": {"c": 1}}}


# --------------------------------------------------------------------------- template, schema


def test_template_round_trips(tmp_path: Path) -> None:
    text = CELL_SCHEMA.template()
    cfg = load(text)
    assert cfg == load(BASE.replace('"1 + 0.5*sin(2*pi*y[0])"',
                                    '"1 + 0.5*sin(2*pi*y[0])*sin(2*pi*y[1])"'))
    # Every key of the schema is documented in the template.
    for sec in CELL_SCHEMA.sections:
        assert f"[{sec.name}]" in text
        for fld in sec.fields:
            assert f"{fld.name} = " in text


def test_template_commented_lines_are_valid_when_enabled(mesh_dir: Path) -> None:
    text = CELL_SCHEMA.template().replace("# quadrature_degree", "quadrature_degree")
    assert load(text).cell.quadrature_degree == 8


@section("run")
class _RunSection:
    steps: int = option(integer(1), 10, "number of steps")
    dt: float = option(real(0), 0.1, "time step")
    scheme: str = option(choice("euler", "midpoint"), "euler", "integrator")


@dataclass(frozen=True, kw_only=True)
class _ToyConfig:
    run: _RunSection
    raw: dict


@section("a")
class _RequiredSection:
    x: int = option(integer(0), REQUIRED)


@dataclass(frozen=True, kw_only=True)
class _RequiredConfig:
    a: _RequiredSection
    raw: dict


def test_generic_schema_reusable() -> None:
    schema = Schema.of(_ToyConfig, job="toy")
    assert schema.validate({}) == {"run": {"steps": 10, "dt": 0.1, "scheme": "euler"}}
    assert schema.validate({"run": {"dt": 1}})["run"]["dt"] == 1.0
    with pytest.raises(ConfigError, match=r"^run.dt must be a number > 0, got -1$"):
        schema.validate({"run": {"dt": -1}})
    with pytest.raises(ConfigError, match=r"^unknown key 'run.step' \(allowed: steps, dt, "):
        schema.validate({"run": {"step": 1}})
    assert schema.validate(apply_overrides({}, ["run.scheme=midpoint"], schema=schema))[
        "run"]["scheme"] == "midpoint"
    assert "scheme = \"euler\"" in schema.template()


def test_required_field() -> None:
    schema = Schema.of(_RequiredConfig, job="r")
    with pytest.raises(ConfigError, match=r"^a.x is required \(an integer >= 0\)$"):
        schema.validate({})
    assert "# x = ..." in schema.template()


def test_section_declared_once_drives_validation_template_and_typed_config() -> None:
    schema = Schema.of(_ToyConfig, job="toy", header="toy job")
    # the class attributes are the keys, in declaration order ...
    sec = section_of(_RunSection)
    assert sec.name == "run" and sec.field_names() == ["steps", "dt", "scheme"]
    assert schema.sections == (sec,)
    # ... they drive the template (help as comments, defaults as values) ...
    text = schema.template()
    assert text.startswith("# toy job\n")
    assert "[run]\n# number of steps\nsteps = 10\n# time step\ndt = 0.1\n" in text
    # ... validation, overrides and the typed, frozen configuration
    cfg = schema.load(None, ("run.steps=3",), text="[run]\ndt = 1\n")
    assert isinstance(cfg, _ToyConfig) and isinstance(cfg.run, _RunSection)
    assert cfg.run == _RunSection(steps=3, dt=1.0, scheme="euler")
    assert type(cfg.run.dt) is float
    assert cfg.raw == {"run": {"steps": 3, "dt": 1.0, "scheme": "euler"}}
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.run.steps = 4  # type: ignore[misc]
    # the dataclass defaults are those of an empty table
    assert _RunSection() == schema.load(None, text=text).run
    with pytest.raises(ConfigError, match=r"^run.steps must be an integer >= 1, got 0$"):
        schema.load(None, ("run.steps=0",), text="")


def test_unknown_names_suggest_close_matches() -> None:
    schema = Schema.of(_ToyConfig, job="toy")
    with pytest.raises(ConfigError, match=r"^unknown key 'run.stpes' \(allowed: steps, dt, "
                       r"scheme\); did you mean 'steps'\?$"):
        schema.validate({"run": {"stpes": 1}})
    with pytest.raises(ConfigError, match=r"^unknown section 'rnu' \(allowed: run\); did you "
                       r"mean 'run'\?$"):
        schema.validate({"rnu": {}})
    with pytest.raises(ConfigError, match=r"^bad override 'run.shceme=x': unknown key "
                       r"'run.shceme' .*did you mean 'scheme'\?$"):
        schema.load(None, ("run.shceme=x",), text="")


@section("check", check=lambda values: {**values, "derived": 2 * values["n"]})
class _CheckedSection:
    n: int = option(integer(0), 1, "n")
    derived: int = 0  # not a key: filled in by the section's check


@dataclass(frozen=True, kw_only=True)
class _CheckedConfig:
    check: _CheckedSection
    raw: dict


def _no_seven(values: dict, raw: dict) -> None:
    if values["check"]["n"] == 7:
        raise ConfigError("check.n must not be 7")
    raw["check"]["seen"] = True


def test_checks_and_attributes_that_are_not_keys() -> None:
    schema = Schema.of(_CheckedConfig, job="c", checks=(_no_seven,))
    assert section_of(_CheckedSection).field_names() == ["n"]
    assert "derived" not in schema.template()
    assert error_of_schema(schema, "[check]\nderived = 1\n").startswith(
        "unknown key 'check.derived' (allowed: n)")
    cfg = schema.load(None, text="[check]\nn = 5\n")
    assert cfg.check == _CheckedSection(n=5, derived=10)
    assert cfg.raw == {"check": {"n": 5, "derived": 10, "seen": True}}
    assert error_of_schema(schema, "[check]\nn = 7\n") == "check.n must not be 7"


def error_of_schema(schema: Schema, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        schema.load(None, text=text)
    return str(info.value)


def test_job_config_fields_must_be_sections_named_as_their_table() -> None:
    @dataclass(frozen=True, kw_only=True)
    class Misnamed:
        runs: _RunSection
        raw: dict

    with pytest.raises(TypeError, match="name the field 'run'"):
        Schema.of(Misnamed, job="m")
    with pytest.raises(TypeError, match="not declared with @section"):
        section_of(dict)


def test_validation_does_not_depend_on_cwd_for_absolute_paths(
    mesh_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mesh = mesh_dir / "meshes" / "cell.msh"
    monkeypatch.chdir(os.sep)
    cfg = load(f'[cell]\nmesh = "{mesh}"\ncoefficient = 1\n')
    assert cfg.cell.mesh == mesh


def test_homogenization_and_dispersion_sections() -> None:
    cfg = load_cell_config(None, text=BASE + "[homogenization]\norder = 2\ndelta = [0.1, 'star']\n"
                           "[dispersion]\ndirections = [[1, 0], [1, 1]]\n")
    assert cfg.homogenization.order == 2 and cfg.homogenization.delta == [0.1, "star"]
    assert cfg.homogenization.method == "theorem3"
    assert cfg.dispersion.directions == [[1.0, 0.0], [1.0, 1.0]]
    assert "one value per order" in error_of(BASE + "[homogenization]\norder = 1\n"
                                             "delta = [0.1, 0.2]\n")
    assert "homogenization.delta" in error_of(BASE + "[homogenization]\ndelta = -1\n")
    assert "homogenization.method" in error_of(BASE + "[homogenization]\nmethod = 'fast'\n")
    assert "dispersion.directions" in error_of(BASE + "[dispersion]\ndirections = [[0, 0]]\n")
    assert "dispersion.t_max" in error_of(BASE + "[dispersion]\ndirections = [[1, 0]]\n"
                                          "t_max = 4\n")
