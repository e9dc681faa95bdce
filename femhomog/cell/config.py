"""The ``femhomog cell`` job configuration: its schema and loader.

Sections ``[cell]`` (unit cell, coefficient, discretization), ``[geometry]``
(gmsh-built cells), ``[homogenization]`` (effective wave tensors, wave paper
Lemma 4 / Theorem 3), ``[dispersion]`` (Bloch check), ``[solver]`` and
``[output]``, each declared once with :func:`femhomog.io.schema.section`.
Pure Python plus numpy: importing it does not import dolfinx.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from femhomog import ConfigError
from femhomog.io.schema import (
    Schema,
    Validator,
    boolean,
    choice,
    existing_file,
    integer,
    is_number,
    option,
    real,
    section,
    show,
)
from femhomog.io.values import (
    COEFFICIENT,
    DIM_OF_CELL_TYPE,
    MATRIX,
    fit_cell_type,
    square_matrix,
)

__all__ = [
    "CELL_SCHEMA",
    "CellJobConfig",
    "CellSection",
    "DispersionSection",
    "GeometrySection",
    "HomogenizationSection",
    "OutputSection",
    "SolverSection",
    "load_cell_config",
]


# --------------------------------------------------------------------------
# [cell]
# --------------------------------------------------------------------------

def _convert_materials(value: Any, key: str) -> dict[int, float | list[list[float]]]:
    if not isinstance(value, Mapping):
        raise TypeError
    if not value:
        raise ConfigError(f"{key} must not be empty")
    out: dict[int, float | list[list[float]]] = {}
    for tag_text, material in value.items():
        try:
            # TOML keys are strings; "1" names the physical group with tag 1.
            tag = int(str(tag_text).strip())
        except ValueError:
            raise ConfigError(
                f"{key}: key {show(tag_text)} is not an integer physical group tag"
            ) from None
        if tag < 1:
            raise ConfigError(f"{key}: physical group tags are >= 1, got {show(tag_text)}")
        if tag in out:
            raise ConfigError(f"{key}: physical group tag {tag} is given twice")
        entry = f"{key}.{tag_text}"
        if is_number(material):
            if not math.isfinite(material) or material <= 0:
                raise ConfigError(f"{entry} must be > 0, got {show(material)}")
            out[tag] = float(material)
        elif isinstance(material, list):
            try:
                out[tag] = square_matrix(material, entry, allow_strings=False)
            except ValueError:
                raise ConfigError(f"{entry} must be a number > 0 or {MATRIX}, "
                                  f"got {show(material)}") from None
        else:
            raise ConfigError(f"{entry} must be a number > 0 or {MATRIX}, got {show(material)}")
    return dict(sorted(out.items()))


def _matrix_size(value: Any) -> int | None:
    return len(value) if isinstance(value, list) else None


def _check_cell(values: dict[str, Any]) -> dict[str, Any]:
    """Cross-field rules of ``[cell]``; fills the default ``cell_type``."""
    dim, mesh = values["dim"], values["mesh"]
    coefficient, materials = values["coefficient"], values["materials"]
    # materials without a mesh is checked in load_cell_config: a [geometry] builder
    # also provides physical groups.
    if mesh is None and materials is None:
        if dim is None:
            raise ConfigError("cell.dim is required unless cell.mesh is given")
        if coefficient is None:
            raise ConfigError("cell.coefficient is required unless cell.mesh and "
                              "cell.materials are given")
    else:
        if coefficient is None and materials is None:
            raise ConfigError("cell.mesh needs cell.coefficient or cell.materials")
    if coefficient is not None and materials is not None:
        # Which one would win is not obvious; refuse rather than guess.
        raise ConfigError("give either cell.coefficient or cell.materials, not both")

    # Matrix sizes: equal to dim if known, else at least consistent.
    sizes = {}
    if _matrix_size(coefficient) is not None:
        sizes["cell.coefficient"] = _matrix_size(coefficient)
    for tag, material in (materials or {}).items():
        if _matrix_size(material) is not None:
            sizes[f"cell.materials.{tag}"] = _matrix_size(material)
    for name, n in sizes.items():
        if dim is not None and n != dim:
            raise ConfigError(f"{name} must be a {dim} x {dim} matrix (cell.dim = {dim}), "
                              f"got {n} x {n}")
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{name}: {n} x {n}" for name, n in sizes.items())
        raise ConfigError(f"matrices of different sizes ({listed})")

    if dim is not None:
        fit_cell_type(values, "cell")
    return values


@section(
    "cell",
    help="The periodic unit cell Y = [0,1]^d, the coefficient a(y) and the discretization.",
    check=_check_cell,
)
class CellSection:
    """``[cell]``: the unit cell, its coefficient and the discretization."""

    dim: int | None = option(
        choice(1, 2, 3), None,
        "Space dimension 1, 2 or 3. Required unless `mesh` is given (then it is "
        "read from the mesh).", example=2,
    )
    coefficient: str | float | list[list[str | float]] | None = option(
        COEFFICIENT, None,
        "Coefficient a(y): a number > 0, an expression of y = (y[0], y[1], y[2]) "
        "such as \"1+0.5*sin(2*pi*y[0])\", or a d x d matrix of those "
        "(anisotropic). Required unless `mesh` and `materials` are given.",
        example="1 + 0.5*sin(2*pi*y[0])*sin(2*pi*y[1])",
    )
    cell_type: str | None = option(
        choice(*DIM_OF_CELL_TYPE), None,
        "interval | triangle | quadrilateral | tetrahedron | hexahedron; must fit "
        "dim. Default: interval, quadrilateral, hexahedron for dim = 1, 2, 3.",
        example="quadrilateral",
    )
    cells_per_side: int = option(
        integer(1), 32,
        "Cells along each side of the structured unit-cell mesh.",
    )
    degree: int = option(integer(1, 8), 2, "Lagrange degree of the correctors (1..8).")
    quadrature_degree: int | None = option(
        integer(1), None,
        "Quadrature degree for the forms (default: chosen by the form compiler).",
        example=8, commented=True,
    )
    mesh: Path | None = option(
        existing_file(".msh"), None,
        "A gmsh .msh file with the periodic cell instead of the structured mesh; "
        "relative to this file's directory.",
        example="meshes/inclusion2d.msh", commented=True, is_path=True,
    )
    materials: dict[int, float | list[list[float]]] | None = option(
        Validator(f"a table {{tag = value}} with values a number > 0 or {MATRIX}",
                  _convert_materials), None,
        "With `mesh`: coefficient per gmsh physical group tag, a number > 0 or a "
        "d x d matrix (instead of `coefficient`).",
        example={"1": 1.0, "2": 10.0}, commented=True,
    )


# --------------------------------------------------------------------------
# [geometry], [homogenization], [dispersion], [solver], [output]
# --------------------------------------------------------------------------


def _check_geometry(values: dict[str, Any]) -> dict[str, Any]:
    """Rules of ``[geometry]`` that need only its own keys."""
    r = values["radius"]
    if not 0 < r < 0.5:
        raise ConfigError(f"geometry.radius must lie in (0, 0.5) (inside the unit cell), got {r}")
    f = values["fraction"]
    if not 0 < f < 1:
        raise ConfigError(f"geometry.fraction must lie in (0, 1), got {f}")
    return values


@section(
    "geometry",
    help="Optional gmsh-built periodic cell (instead of cell.mesh or the structured mesh). "
    "Physical groups: inclusion 1 = matrix, 2 = inclusion; laminate 1 = y[axis] < fraction, "
    "2 above.",
    check=_check_geometry,
)
class GeometrySection:
    """``[geometry]``: an optional gmsh periodic cell builder and its parameters."""

    builder: str | None = option(
        choice("inclusion", "laminate"), None,
        "inclusion (disc / ball in the unit cell, dim 2 or 3) | laminate (two layers, "
        "dim 1..3). Needs cell.dim and cell.materials (or cell.coefficient).",
        example="inclusion", commented=True,
    )
    radius: float = option(real(0, 0.5), 0.25, "Inclusion radius (0 < r < 0.5).")
    fraction: float = option(real(0, 1), 0.5, "Laminate: volume fraction of material 1.")
    axis: int | None = option(
        integer(0, 2), None, "Laminate: layers are normal to y[axis] "
        "(default: the last axis).", example=1, commented=True,
    )
    mesh_size: float = option(real(0, 1), 0.05, "Target element size in the matrix.")
    inclusion_mesh_size: float | None = option(
        real(0, 1), None,
        "Element size inside the inclusion (default: mesh_size).", example=0.03,
        commented=True,
    )


def _convert_delta(value: Any, key: str) -> Any:
    def one(v: Any) -> Any:
        if isinstance(v, str) and v in ("star", "smallest"):
            return v
        if is_number(v) and math.isfinite(v) and v >= 0:
            return float(v)
        raise ConfigError(f"{key} must be \"star\", \"smallest\", a number >= 0 or a list of "
                          f"those (one per order), got {show(v)}")

    if isinstance(value, list):
        return [one(v) for v in value]
    return one(value)


def _check_homogenization(values: dict[str, Any]) -> dict[str, Any]:
    delta = values["delta"]
    if isinstance(delta, list) and len(delta) != values["order"]:
        raise ConfigError(f"homogenization.delta: a list needs one value per order "
                          f"r = 1..{values['order']}, got {len(delta)}")
    return values


@section(
    "homogenization",
    help="Effective wave equation of order s = floor(alpha/2) for the timescale eps^-alpha "
    "(wave paper): tensors a^0, S(g^2r), a^2r, b^2r (Lemma 4), r = 1..s.",
    check=_check_homogenization,
)
class HomogenizationSection:
    """``[homogenization]``: order s of the effective wave equation and how to get it."""

    order: int = option(
        integer(0, 6), 0,
        "s: 0 gives a^0 only; s >= 1 adds g^2, a^2, b^2, ..., g^2s, a^2s, b^2s.",
    )
    method: str = option(
        choice("theorem3", "naive"), "theorem3",
        "theorem3 (41)-(42): correctors chi^1..chi^(s+1) | naive (40): chi^1..chi^(2s+1).",
    )
    delta: str | float | list = option(
        Validator("\"star\", \"smallest\", a number >= 0 or a list", _convert_delta), "star",
        "delta of (37)-(38): \"star\" (delta*), \"smallest\" (smallest admissible), a "
        "number >= delta*, or a list with one value per order.",
    )


def _convert_directions(value: Any, key: str) -> list[list[float]]:
    ok = isinstance(value, list) and value and all(
        isinstance(v, list) and v and all(is_number(x) for x in v) for v in value
    )
    if not ok:
        raise ConfigError(f"{key} must be a non-empty list of vectors, e.g. [[1, 0], [1, 1]], "
                          f"got {show(value)}")
    out = [[float(x) for x in v] for v in value]
    for v in out:
        if not any(v) or not all(math.isfinite(x) for x in v):
            raise ConfigError(f"{key}: directions must be finite and non-zero, got {show(v)}")
    return out


@section(
    "dispersion",
    help="Optional dispersion check: first Bloch eigenvalue lambda_1(t theta) of -div(a grad) "
    "on the cell vs the effective relations of order s, written to dispersion.csv.",
)
class DispersionSection:
    """``[dispersion]``: Bloch vs effective dispersion table (optional)."""

    directions: list[list[float]] | None = option(
        Validator("a list of vectors", _convert_directions), None,
        "Directions theta (normalized; length dim), e.g. [[1, 0], [1, 1]]. "
        "Absent: no dispersion check.", example=[[1.0, 0.0], [1.0, 1.0]], commented=True,
    )
    t_max: float = option(
        real(0, math.pi), 1.5,
        "Largest cell wavenumber t = eps |k| (< pi, inside the first Brillouin zone).",
    )
    samples: int = option(integer(2, 1000), 16, "Number of wavenumbers per direction.")


@section(
    "solver",
    help="Linear solver.",
)
class SolverSection:
    """``[solver]``: linear solver choice and tolerances."""

    type: str = option(
        choice("auto", "direct", "iterative"), "auto",
        "auto | direct (MUMPS Cholesky) | iterative (CG + GAMG); auto lets femhomog choose.",
    )
    rtol: float = option(real(0, 1), 1e-10, "Relative residual tolerance of the iterative solver.")
    max_it: int = option(integer(1), 2000, "Maximum iterations of the iterative solver.")


@section(
    "output",
    help="What is written to the output directory besides tensors.json.",
)
class OutputSection:
    """``[output]``: optional outputs."""

    fields: bool = option(boolean(), False, "Write the correctors to VTX (.bp) for ParaView.")


# --------------------------------------------------------------------------
# The job
# --------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CellJobConfig:
    """A validated cell job.

    ``raw`` is the merged configuration after overrides and defaults, in
    JSON-serializable form (absolute mesh path, string material tags), for the
    run metadata.
    """

    cell: CellSection
    geometry: GeometrySection
    homogenization: HomogenizationSection
    dispersion: DispersionSection
    solver: SolverSection
    output: OutputSection
    raw: dict


def _check_cell_geometry(values: dict[str, dict[str, Any]], raw: dict[str, Any]) -> None:
    """Rules across [cell] and [geometry]."""
    cell, geometry = values["cell"], values["geometry"]
    builder = geometry["builder"]
    if builder is None:
        if cell["materials"] is not None and cell["mesh"] is None:
            raise ConfigError("cell.materials requires cell.mesh or geometry.builder "
                              "(its keys are physical group tags)")
        return
    if cell["mesh"] is not None:
        raise ConfigError("give either cell.mesh or geometry.builder, not both")
    dim = cell["dim"]
    if dim is None:
        raise ConfigError(f"geometry.builder = '{builder}' needs cell.dim")
    if builder == "inclusion" and dim == 1:
        raise ConfigError("geometry.builder = 'inclusion' needs cell.dim = 2 or 3")
    axis = geometry["axis"]
    if axis is not None and axis >= dim:
        raise ConfigError(f"geometry.axis must be < cell.dim = {dim}, got {axis}")


CELL_SCHEMA = Schema.of(
    CellJobConfig,
    job="cell",
    header=(
        "femhomog cell job: homogenized coefficient a^0 of a periodic cell problem.\n"
        "Run: femhomog cell THIS.toml --out DIR [--set section.key=value ...]"
    ),
    checks=(_check_cell_geometry,),
)


def load_cell_config(
    path: str | Path | None,
    overrides: Sequence[str] = (),
    *,
    text: str | None = None,
) -> CellJobConfig:
    """Load and validate a cell-job configuration (see :meth:`femhomog.io.schema.Schema.load`).

    Parameters
    ----------
    path
        The TOML file.  With ``text`` it is not read; it then only serves as
        the base for relative paths and the name in messages (may be None:
        current directory).
    overrides
        ``"section.key=value"`` strings (see :func:`~femhomog.io.schema.apply_overrides`),
        e.g. the CLI's ``--set``.  Relative paths in them are relative to the
        current directory.
    text
        TOML text to use instead of reading ``path``.

    Raises
    ------
    ConfigError
        Anything wrong with the file, the overrides or the values.
    """
    return CELL_SCHEMA.load(path, overrides, text=text)
