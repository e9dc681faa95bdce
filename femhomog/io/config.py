"""TOML job configurations: a small declarative schema and the cell-job schema.

A configuration file is a TOML document made of *sections* (tables) holding
*fields* (keys).  A :class:`Schema` lists the allowed sections, and every
:class:`Field` carries its converter/validator, its default and a help text.
The same description drives

* validation (unknown sections/keys, types, ranges, defaults),
* the annotated template printed by ``femhomog <job> --print-config``,
* the JSON-serializable ``raw`` dictionary stored with the run results.

Job types (``cell`` now, ``llg`` and ``wave`` later) define a schema from the
reusable validators below, plus cross-field checks per section, and a loader
such as :func:`load_cell_config` that turns the validated values into frozen
dataclasses.

Every error is a :class:`femhomog.ConfigError` with a one-line message that
names the offending key, e.g. ``cell.degree must be an integer >= 1, got 'two'``.
Validation is a pure function of the file contents, the overrides and the file
system, so all MPI ranks reach the same verdict without communicating.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import os
import textwrap
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from femhomog import ConfigError

__all__ = [
    "CELL_SCHEMA",
    "CELL_TYPES_BY_DIM",
    "OUTPUT_SECTION",
    "REQUIRED",
    "SOLVER_SECTION",
    "CellJobConfig",
    "CellSection",
    "Field",
    "OutputSection",
    "Schema",
    "Section",
    "SolverSection",
    "Validator",
    "apply_overrides",
    "boolean",
    "choice",
    "existing_file",
    "integer",
    "load_cell_config",
    "load_job_config",
    "read_toml",
    "real",
    "string",
]


# --------------------------------------------------------------------------
# Schema mechanism
# --------------------------------------------------------------------------


class _Required:
    """Sentinel type of :data:`REQUIRED` (a field without default)."""

    def __repr__(self) -> str:
        return "REQUIRED"


#: Default of a field that must be present in the configuration.
REQUIRED: Any = _Required()


def show(value: Any) -> str:
    """Format a user-supplied value for an error message.

    Strings are quoted Python-style (``'two'``) so that ``"2"`` and ``2`` are
    distinguishable; booleans are shown as TOML spells them (``true``) because
    that is what the user typed.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Path):
        return repr(str(value))
    text = repr(value)
    # Long inline tables/arrays would make the one-line message unreadable.
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True)
class Validator:
    """Converter and validator of a single configuration value.

    Parameters
    ----------
    describe
        What an acceptable value is, phrased to follow "must be", e.g.
        ``"an integer >= 1"``.  Used in error messages and templates.
    convert
        ``convert(value, key)`` returns the converted value or raises
        :class:`ValueError`/:class:`TypeError` (the message is ``describe``,
        or the exception's text if it has one) or :class:`ConfigError`
        (message used as is).
    """

    describe: str
    convert: Callable[[Any, str], Any]

    def __call__(self, value: Any, key: str) -> Any:
        try:
            return self.convert(value, key)
        except (ValueError, TypeError) as exc:
            # A ValueError may carry a more precise description (e.g. an upper
            # bound) than the generic one; an empty one means "use describe".
            what = str(exc) or self.describe
            raise ConfigError(f"{key} must be {what}, got {show(value)}") from None


def _is_int(value: Any) -> bool:
    # bool is a subclass of int in Python; `degree = true` must still be rejected.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def integer(minimum: int | None = None, maximum: int | None = None) -> Validator:
    """An integer (not a bool, not a float such as ``2.0``) in ``[minimum, maximum]``.

    Type errors and values below ``minimum`` are reported as "an integer >=
    minimum"; values above ``maximum`` as "an integer <= maximum".
    """
    describe = "an integer" if minimum is None else f"an integer >= {minimum}"

    def convert(value: Any, key: str) -> int:
        if not _is_int(value) or (minimum is not None and value < minimum):
            raise ValueError
        if maximum is not None and value > maximum:
            raise ValueError(f"an integer <= {maximum}")
        return int(value)

    return Validator(describe, convert)


def real(
    minimum: float | None = None,
    maximum: float | None = None,
    *,
    open_min: bool = True,
    open_max: bool = True,
) -> Validator:
    """A finite number (integers are accepted and converted) in an interval.

    The interval is open at a bound if ``open_min``/``open_max`` is set, e.g.
    ``real(0, 1)`` is ``(0, 1)``.
    """
    if minimum is not None and maximum is not None:
        lo, hi = ("(" if open_min else "["), (")" if open_max else "]")
        describe = f"a number in {lo}{minimum:g}, {maximum:g}{hi}"
    elif minimum is not None:
        describe = f"a number {'>' if open_min else '>='} {minimum:g}"
    elif maximum is not None:
        describe = f"a number {'<' if open_max else '<='} {maximum:g}"
    else:
        describe = "a finite number"

    def convert(value: Any, key: str) -> float:
        if not _is_number(value) or not math.isfinite(value):
            raise ValueError
        x = float(value)
        if minimum is not None and (x <= minimum if open_min else x < minimum):
            raise ValueError
        if maximum is not None and (x >= maximum if open_max else x > maximum):
            raise ValueError
        return x

    return Validator(describe, convert)


def boolean() -> Validator:
    """``true`` or ``false`` (not 0/1, not strings)."""

    def convert(value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise TypeError
        return value

    return Validator("true or false", convert)


def _or_list(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def choice(*options: Any) -> Validator:
    """One of ``options`` (compared with ``==``, bools never match integers)."""
    names = [repr(o) if isinstance(o, str) else str(o) for o in options]
    describe = _or_list(names) if not isinstance(options[0], str) else (
        "one of " + ", ".join(names)
    )

    def convert(value: Any, key: str) -> Any:
        if isinstance(value, bool) or value not in options:
            raise ValueError
        return value

    return Validator(describe, convert)


def string(*, allow_empty: bool = False) -> Validator:
    """A string (non-empty unless ``allow_empty``)."""

    def convert(value: Any, key: str) -> str:
        if not isinstance(value, str) or (not allow_empty and not value.strip()):
            raise ValueError
        return value

    return Validator("a string" if allow_empty else "a non-empty string", convert)


def existing_file(*suffixes: str) -> Validator:
    """The path of an existing file, optionally with one of ``suffixes``.

    Relative paths must have been resolved beforehand (see
    :meth:`Schema.resolve_paths`); a remaining relative path is taken relative
    to the current directory.  Returns an absolute :class:`~pathlib.Path`.
    """
    kind = "a file path" if not suffixes else f"the path of a {'/'.join(suffixes)} file"

    def convert(value: Any, key: str) -> Path:
        if not isinstance(value, str) or not value.strip():
            raise ValueError
        path = _absolute(value, Path.cwd())
        if suffixes and path.suffix.lower() not in suffixes:
            raise ValueError
        if not path.is_file():
            raise ConfigError(f"{key}: file not found: {path}")
        return path

    return Validator(kind, convert)


def _absolute(value: str, base: Path) -> Path:
    """``value`` as an absolute, normalized path, relative ones taken against ``base``."""
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = base / path
    # normpath, not resolve(): keep the user's symlinks, just drop "./" and "x/..".
    return Path(os.path.normpath(path.absolute()))


@dataclass(frozen=True)
class Field:
    """One key of a section.

    Parameters
    ----------
    name
        The TOML key.
    validator
        Converts and checks a given value (not called for absent keys).
    default
        Value of an absent key; :data:`REQUIRED` makes the key mandatory.
        ``None`` means optional (conditional requirements are checked by the
        section's ``check``).
    help
        One or more sentences for the template and ``--help``.
    example
        Value written in the template when there is no useful default.
    commented
        Write the template line commented out (an optional feature).
    is_path
        The value is a file path; relative paths in a config file are taken
        relative to the file's directory.
    """

    name: str
    validator: Validator
    default: Any = None
    help: str = ""
    example: Any = None
    commented: bool = False
    is_path: bool = False


@dataclass(frozen=True)
class Section:
    """A TOML table of a job configuration.

    Parameters
    ----------
    name
        The table name.
    fields
        The allowed keys, in template order.
    help
        Comment written above the table in the template.
    check
        Cross-field validation: receives the converted values (all fields,
        defaults filled in) and returns them, possibly completed (e.g. a default
        that depends on another field).  Raises :class:`ConfigError`.
    """

    name: str
    fields: tuple[Field, ...]
    help: str = ""
    check: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def get(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


def _unknown(kind: str, name: str, allowed: Sequence[str]) -> ConfigError:
    message = f"unknown {kind} '{name}' (allowed: {', '.join(allowed)})"
    close = difflib.get_close_matches(name.rpartition(".")[2], allowed, n=1)
    if close:
        message += f"; did you mean '{close[0]}'?"
    return ConfigError(message)


@dataclass(frozen=True)
class Schema:
    """The sections of one job type.

    Parameters
    ----------
    job
        Job name (``"cell"``), used in the template header.
    sections
        The allowed tables, in template order.  Absent tables are treated as
        empty (all defaults).
    header
        Comment lines at the top of the template.
    """

    job: str
    sections: tuple[Section, ...]
    header: str = ""

    def section_names(self) -> list[str]:
        return [s.name for s in self.sections]

    def get(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)

    def check_key(self, section: str, key: str | None = None) -> None:
        """Raise :class:`ConfigError` unless ``section`` (and ``section.key``) exist."""
        sec = self.get(section)
        if sec is None:
            raise _unknown("section", section, self.section_names())
        if key is not None and sec.get(key) is None:
            raise _unknown("key", f"{section}.{key}", sec.field_names())

    def resolve_paths(self, raw: Mapping[str, Any], base: Path) -> dict[str, Any]:
        """Copy of ``raw`` with relative string paths of path fields made absolute.

        Non-string values are left alone for the validator to reject.
        """
        out = copy.deepcopy(dict(raw))
        for sec in self.sections:
            table = out.get(sec.name)
            if not isinstance(table, dict):
                continue
            for fld in sec.fields:
                value = table.get(fld.name)
                if fld.is_path and isinstance(value, str) and value.strip():
                    table[fld.name] = str(_absolute(value, base))
        return out

    def validate(self, raw: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """Check ``raw`` (a parsed TOML document) and return converted values.

        Returns
        -------
        dict
            ``{section: {key: value}}`` for every section and field of the
            schema, defaults filled in, cross-field checks applied.

        Raises
        ------
        ConfigError
            For the first problem found: unknown sections first, then each
            section's unknown keys, field values and cross-field rules.
        """
        for name in raw:
            self.check_key(name)
        values: dict[str, dict[str, Any]] = {}
        for sec in self.sections:
            table = raw.get(sec.name, {})
            if not isinstance(table, Mapping):
                raise ConfigError(f"'{sec.name}' must be a table ([{sec.name}]), got {show(table)}")
            for key in table:
                self.check_key(sec.name, key)
            converted: dict[str, Any] = {}
            for fld in sec.fields:
                qualified = f"{sec.name}.{fld.name}"
                if fld.name in table:
                    converted[fld.name] = fld.validator(table[fld.name], qualified)
                elif fld.default is REQUIRED:
                    raise ConfigError(f"{qualified} is required ({fld.validator.describe})")
                else:
                    converted[fld.name] = copy.deepcopy(fld.default)
            if sec.check is not None:
                converted = sec.check(converted)
            values[sec.name] = converted
        return values

    def template(self) -> str:
        """An annotated TOML configuration with defaults and examples.

        Every field appears, with its help as a comment; optional features are
        commented out.  The result is a valid configuration of this schema.
        """
        lines: list[str] = [f"# {line}".rstrip() for line in self.header.splitlines()]
        for sec in self.sections:
            if lines:
                lines.append("")
            lines += _comment(sec.help)
            lines.append(f"[{sec.name}]")
            for fld in sec.fields:
                value = fld.example if fld.example is not None else fld.default
                lines += _comment(fld.help, indent="")
                prefix = "# " if fld.commented or value is None or value is REQUIRED else ""
                shown = "..." if value is None or value is REQUIRED else to_toml(value)
                lines.append(f"{prefix}{fld.name} = {shown}")
        return "\n".join(lines) + "\n"


def _comment(text: str, indent: str = "") -> list[str]:
    if not text:
        return []
    return [f"{indent}# {line}" for line in textwrap.wrap(text, width=86)]


def to_toml(value: Any) -> str:
    """TOML literal of a bool, number, string, list or (inline) table."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str | Path):
        # JSON string escapes are a subset of TOML basic-string escapes.
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(to_toml(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = ", ".join(f"{_toml_key(k)} = {to_toml(v)}" for k, v in value.items())
        return "{" + items + "}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _toml_key(key: Any) -> str:
    text = str(key)
    bare = text and all(c.isalnum() or c in "-_" for c in text) and text.isascii()
    return text if bare else json.dumps(text)


def to_jsonable(value: Any) -> Any:
    """Validated config values as JSON-compatible data (Path -> str, keys -> str)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


# --------------------------------------------------------------------------
# Reading files and overrides
# --------------------------------------------------------------------------


def read_toml(path: str | Path | None, *, text: str | None = None) -> dict[str, Any]:
    """Parse a TOML file (or ``text``; ``path`` then only names it in messages).

    Raises
    ------
    ConfigError
        Missing/unreadable file or invalid TOML (message has the parser's
        position and the file name).
    """
    name = str(path) if path is not None else "<text>"
    if text is None:
        if path is None:
            raise ConfigError("no configuration file given")
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {name}") from None
        except OSError as exc:
            raise ConfigError(f"cannot read config file {name}: {exc.strerror or exc}") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{name}: not a UTF-8 text file ({exc.reason})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: invalid TOML: {exc}") from None


def _parse_override_value(text: str) -> Any:
    """A TOML value, or the text itself if it is not one (``type=direct``)."""
    text = text.strip()
    try:
        parsed = tomllib.loads(f"v = {text}")
    except tomllib.TOMLDecodeError:
        return text
    # "1\nw = 2" parses but is not a single value: keep it as a string.
    return parsed["v"] if list(parsed) == ["v"] else text


def apply_overrides(
    raw: Mapping[str, Any],
    overrides: Sequence[str],
    *,
    schema: Schema | None = None,
) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides to a parsed configuration.

    Parameters
    ----------
    raw
        Parsed TOML document; not modified.
    overrides
        ``"section.key=value"`` strings, applied in order.  Longer dotted keys
        set nested table entries (``cell.materials.2=20``), creating missing
        tables.  The value is parsed as a TOML value (``3``, ``1e-8``, ``true``,
        ``"s"``, ``[..]``, ``{..}``) and kept as a plain string if it does not
        parse (``solver.type=direct``).
    schema
        If given, ``section`` and ``section.key`` must exist in it.

    Returns
    -------
    dict
        A new document.

    Raises
    ------
    ConfigError
        Ill-formed override, unknown key (with ``schema``), or a dotted key
        that goes through a non-table value.
    """
    out = copy.deepcopy(dict(raw))
    for item in overrides:
        key, sep, value = item.partition("=")
        parts = [p.strip() for p in key.split(".")]
        if not sep or len(parts) < 2 or not all(parts):
            raise ConfigError(f"bad override '{item}': expected section.key=value")
        if schema is not None:
            try:
                schema.check_key(parts[0], parts[1])
            except ConfigError as exc:
                raise ConfigError(f"bad override '{item}': {exc}") from None
        table = out
        for depth, part in enumerate(parts[:-1]):
            child = table.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise ConfigError(f"bad override '{item}': '{where}' is not a table")
            table = child
        table[parts[-1]] = _parse_override_value(value)
    return out


def load_job_config(
    schema: Schema,
    path: str | Path | None,
    overrides: Sequence[str] = (),
    *,
    text: str | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Read, override and validate a job configuration.

    Relative paths of path fields found in the file are taken relative to the
    file's directory (the current directory for ``text`` without ``path``);
    those given as overrides relative to the current directory.

    Returns
    -------
    values, raw
        The validated values (see :meth:`Schema.validate`) and their
        JSON-serializable form.
    """
    document = read_toml(path, text=text)
    base = Path(path).absolute().parent if path is not None else Path.cwd()
    document = schema.resolve_paths(document, base)
    document = apply_overrides(document, overrides, schema=schema)
    document = schema.resolve_paths(document, Path.cwd())
    values = schema.validate(document)
    return values, to_jsonable(values)


# --------------------------------------------------------------------------
# Cell job
# --------------------------------------------------------------------------

#: Cell types of the structured unit-cell meshes, by space dimension.
CELL_TYPES_BY_DIM: dict[int, tuple[str, ...]] = {
    1: ("interval",),
    2: ("triangle", "quadrilateral"),
    3: ("tetrahedron", "hexahedron"),
}
_DEFAULT_CELL_TYPE = {1: "interval", 2: "quadrilateral", 3: "hexahedron"}
_DIM_OF_CELL_TYPE = {ct: d for d, cts in CELL_TYPES_BY_DIM.items() for ct in cts}

_MATRIX = "a d x d matrix (list of d lists of d entries, d = 1, 2 or 3)"


def _matrix(value: Any, key: str, *, allow_strings: bool) -> list[list[Any]]:
    """Check a square matrix (rows of numbers or, if allowed, expressions).

    Numbers become floats.  The diagonal must be positive, and a fully numeric
    matrix must have a positive definite symmetric part: otherwise the cell
    problem is not coercive.  Entries that are expressions are checked by the
    physics code.
    """
    rows = value
    if not rows or len(rows) > 3 or not all(isinstance(r, list) for r in rows):
        raise ValueError
    n = len(rows)
    out: list[list[Any]] = []
    for i, row in enumerate(rows):
        if len(row) != n:
            raise ConfigError(
                f"{key} must be a square matrix, but row {i + 1} has {len(row)} entries "
                f"instead of {n}"
            )
        new_row: list[Any] = []
        for entry in row:
            if _is_number(entry) and math.isfinite(entry):
                new_row.append(float(entry))
            elif allow_strings and isinstance(entry, str) and entry.strip():
                new_row.append(entry)
            else:
                kind = "numbers or expression strings" if allow_strings else "numbers"
                raise ConfigError(f"{key}: matrix entries must be {kind}, got {show(entry)}")
        out.append(new_row)
    for i in range(n):
        if isinstance(out[i][i], float) and out[i][i] <= 0:
            raise ConfigError(f"{key}: diagonal entries must be > 0, got {show(out[i][i])}")
    if all(isinstance(e, float) for row in out for e in row):
        import numpy as np  # local: keeps `femhomog.io` import light

        a = np.array(out)
        if np.linalg.eigvalsh(0.5 * (a + a.T)).min() <= 0:
            raise ConfigError(f"{key}: the matrix (its symmetric part) must be positive definite")
    return out


def _convert_coefficient(value: Any, key: str) -> str | float | list[list[Any]]:
    if isinstance(value, str):
        if not value.strip():
            raise ValueError
        return value
    if _is_number(value):
        if not math.isfinite(value) or value <= 0:
            raise ConfigError(f"{key} must be > 0, got {show(value)}")
        return float(value)
    if isinstance(value, list):
        return _matrix(value, key, allow_strings=True)
    raise ValueError


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
        if _is_number(material):
            if not math.isfinite(material) or material <= 0:
                raise ConfigError(f"{entry} must be > 0, got {show(material)}")
            out[tag] = float(material)
        elif isinstance(material, list):
            try:
                out[tag] = _matrix(material, entry, allow_strings=False)
            except ValueError:
                raise ConfigError(f"{entry} must be a number > 0 or {_MATRIX}, "
                                  f"got {show(material)}") from None
        else:
            raise ConfigError(f"{entry} must be a number > 0 or {_MATRIX}, got {show(material)}")
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

    cell_type = values["cell_type"]
    if dim is not None:
        if cell_type is None:
            values["cell_type"] = _DEFAULT_CELL_TYPE[dim]
        elif _DIM_OF_CELL_TYPE[cell_type] != dim:
            fitting = " or ".join(CELL_TYPES_BY_DIM[dim])
            raise ConfigError(f"cell.cell_type '{cell_type}' does not fit cell.dim = {dim} "
                              f"(use {fitting})")
    return values


CELL_SECTION = Section(
    name="cell",
    help="The periodic unit cell Y = [0,1]^d, the coefficient a(y) and the discretization.",
    check=_check_cell,
    fields=(
        Field("dim", choice(1, 2, 3), None,
              "Space dimension 1, 2 or 3. Required unless `mesh` is given (then it is "
              "read from the mesh).", example=2),
        Field("coefficient", Validator(f"a number > 0, an expression string in y[0], y[1], "
                                       f"y[2] or {_MATRIX}", _convert_coefficient), None,
              "Coefficient a(y): a number > 0, an expression of y = (y[0], y[1], y[2]) "
              "such as \"1+0.5*sin(2*pi*y[0])\", or a d x d matrix of those "
              "(anisotropic). Required unless `mesh` and `materials` are given.",
              example="1 + 0.5*sin(2*pi*y[0])*sin(2*pi*y[1])"),
        Field("cell_type", choice(*_DIM_OF_CELL_TYPE), None,
              "interval | triangle | quadrilateral | tetrahedron | hexahedron; must fit "
              "dim. Default: interval, quadrilateral, hexahedron for dim = 1, 2, 3.",
              example="quadrilateral"),
        Field("cells_per_side", integer(1), 32,
              "Cells along each side of the structured unit-cell mesh."),
        Field("degree", integer(1, 8), 2, "Lagrange degree of the correctors (1..8)."),
        Field("quadrature_degree", integer(1), None,
              "Quadrature degree for the forms (default: chosen by the form compiler).",
              example=8, commented=True),
        Field("mesh", existing_file(".msh"), None,
              "A gmsh .msh file with the periodic cell instead of the structured mesh; "
              "relative to this file's directory.",
              example="meshes/inclusion2d.msh", commented=True, is_path=True),
        Field("materials", Validator(
                  f"a table {{tag = value}} with values a number > 0 or {_MATRIX}",
                  _convert_materials), None,
              "With `mesh`: coefficient per gmsh physical group tag, a number > 0 or a "
              "d x d matrix (instead of `coefficient`).",
              example={"1": 1.0, "2": 10.0}, commented=True),
    ),
)

def _check_geometry(values: dict[str, Any]) -> dict[str, Any]:
    """Rules of ``[geometry]`` that need only its own keys."""
    r = values["radius"]
    if not 0 < r < 0.5:
        raise ConfigError(f"geometry.radius must lie in (0, 0.5) (inside the unit cell), got {r}")
    f = values["fraction"]
    if not 0 < f < 1:
        raise ConfigError(f"geometry.fraction must lie in (0, 1), got {f}")
    return values


GEOMETRY_SECTION = Section(
    name="geometry",
    help="Optional gmsh-built periodic cell (instead of cell.mesh or the structured mesh). "
    "Physical groups: inclusion 1 = matrix, 2 = inclusion; laminate 1 = y[axis] < fraction, 2 above.",
    check=_check_geometry,
    fields=(
        Field("builder", choice("inclusion", "laminate"), None,
              "inclusion (disc / ball in the unit cell, dim 2 or 3) | laminate (two layers, "
              "dim 1..3). Needs cell.dim and cell.materials (or cell.coefficient).",
              example="inclusion", commented=True),
        Field("radius", real(0, 0.5), 0.25, "Inclusion radius (0 < r < 0.5)."),
        Field("fraction", real(0, 1), 0.5, "Laminate: volume fraction of material 1."),
        Field("axis", integer(0, 2), None, "Laminate: layers are normal to y[axis] "
              "(default: the last axis).", example=1, commented=True),
        Field("mesh_size", real(0, 1), 0.05, "Target element size in the matrix."),
        Field("inclusion_mesh_size", real(0, 1), None,
              "Element size inside the inclusion (default: mesh_size).", example=0.03,
              commented=True),
    ),
)

def _convert_delta(value: Any, key: str) -> Any:
    def one(v: Any) -> Any:
        if isinstance(v, str) and v in ("star", "smallest"):
            return v
        if _is_number(v) and math.isfinite(v) and v >= 0:
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


HOMOGENIZATION_SECTION = Section(
    name="homogenization",
    help="Effective wave equation of order s = floor(alpha/2) for the timescale eps^-alpha "
    "(wave paper): tensors a^0, S(g^2r), a^2r, b^2r (Lemma 4), r = 1..s.",
    check=_check_homogenization,
    fields=(
        Field("order", integer(0, 6), 0,
              "s: 0 gives a^0 only; s >= 1 adds g^2, a^2, b^2, ..., g^2s, a^2s, b^2s."),
        Field("method", choice("theorem3", "naive"), "theorem3",
              "theorem3 (41)-(42): correctors chi^1..chi^(s+1) | naive (40): chi^1..chi^(2s+1)."),
        Field("delta", Validator("\"star\", \"smallest\", a number >= 0 or a list",
                                 _convert_delta), "star",
              "delta of (37)-(38): \"star\" (delta*), \"smallest\" (smallest admissible), a "
              "number >= delta*, or a list with one value per order."),
    ),
)

def _convert_directions(value: Any, key: str) -> list[list[float]]:
    ok = isinstance(value, list) and value and all(
        isinstance(v, list) and v and all(_is_number(x) for x in v) for v in value
    )
    if not ok:
        raise ConfigError(f"{key} must be a non-empty list of vectors, e.g. [[1, 0], [1, 1]], "
                          f"got {show(value)}")
    out = [[float(x) for x in v] for v in value]
    for v in out:
        if not any(v) or not all(math.isfinite(x) for x in v):
            raise ConfigError(f"{key}: directions must be finite and non-zero, got {show(v)}")
    return out


DISPERSION_SECTION = Section(
    name="dispersion",
    help="Optional dispersion check: first Bloch eigenvalue lambda_1(t theta) of -div(a grad) "
    "on the cell vs the effective relations of order s, written to dispersion.csv.",
    fields=(
        Field("directions", Validator("a list of vectors", _convert_directions), None,
              "Directions theta (normalized; length dim), e.g. [[1, 0], [1, 1]]. "
              "Absent: no dispersion check.", example=[[1.0, 0.0], [1.0, 1.0]], commented=True),
        Field("t_max", real(0, math.pi), 1.5,
              "Largest cell wavenumber t = eps |k| (< pi, inside the first Brillouin zone)."),
        Field("samples", integer(2, 1000), 16, "Number of wavenumbers per direction."),
    ),
)

SOLVER_SECTION = Section(
    name="solver",
    help="Linear solver.",
    fields=(
        Field("type", choice("auto", "direct", "iterative"), "auto",
              "auto | direct (MUMPS Cholesky) | iterative (CG + GAMG); auto lets femhomog choose."),
        Field("rtol", real(0, 1), 1e-10, "Relative residual tolerance of the iterative solver."),
        Field("max_it", integer(1), 2000, "Maximum iterations of the iterative solver."),
    ),
)

OUTPUT_SECTION = Section(
    name="output",
    help="What is written to the output directory besides tensors.json.",
    fields=(
        Field("fields", boolean(), False, "Write the correctors to VTX (.bp) for ParaView."),
    ),
)

CELL_SCHEMA = Schema(
    job="cell",
    header=(
        "femhomog cell job: homogenized coefficient a^0 of a periodic cell problem.\n"
        "Run: femhomog cell THIS.toml --out DIR [--set section.key=value ...]"
    ),
    sections=(
        CELL_SECTION,
        GEOMETRY_SECTION,
        HOMOGENIZATION_SECTION,
        DISPERSION_SECTION,
        SOLVER_SECTION,
        OUTPUT_SECTION,
    ),
)


@dataclass(frozen=True)
class CellSection:
    """``[cell]``: the unit cell, its coefficient and the discretization."""

    dim: int | None
    coefficient: str | float | list[list[str | float]] | None
    mesh: Path | None
    materials: dict[int, float | list[list[float]]] | None
    cell_type: str | None  # None only if dim is None (mesh given): taken from the mesh
    cells_per_side: int
    degree: int
    quadrature_degree: int | None


@dataclass(frozen=True)
class GeometrySection:
    """``[geometry]``: an optional gmsh periodic cell builder and its parameters."""

    builder: str | None
    radius: float
    fraction: float
    axis: int | None
    mesh_size: float
    inclusion_mesh_size: float | None


@dataclass(frozen=True)
class HomogenizationSection:
    """``[homogenization]``: order s of the effective wave equation and how to get it."""

    order: int
    method: str
    delta: str | float | list


@dataclass(frozen=True)
class DispersionSection:
    """``[dispersion]``: Bloch vs effective dispersion table (optional)."""

    directions: list[list[float]] | None
    t_max: float
    samples: int


@dataclass(frozen=True)
class SolverSection:
    """``[solver]``: linear solver choice and tolerances."""

    type: str
    rtol: float
    max_it: int


@dataclass(frozen=True)
class OutputSection:
    """``[output]``: optional outputs."""

    fields: bool


@dataclass(frozen=True)
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


def _check_cell_geometry(cell: dict[str, Any], geometry: dict[str, Any]) -> None:
    """Rules across [cell] and [geometry]."""
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


def load_cell_config(
    path: str | Path | None,
    overrides: Sequence[str] = (),
    *,
    text: str | None = None,
) -> CellJobConfig:
    """Load and validate a cell-job configuration.

    Parameters
    ----------
    path
        The TOML file.  With ``text`` it is not read; it then only serves as
        the base for relative paths and the name in messages (may be None:
        current directory).
    overrides
        ``"section.key=value"`` strings (see :func:`apply_overrides`), e.g. the
        CLI's ``--set``.  Relative paths in them are relative to the current
        directory.
    text
        TOML text to use instead of reading ``path``.

    Raises
    ------
    ConfigError
        Anything wrong with the file, the overrides or the values.
    """
    values, raw = load_job_config(CELL_SCHEMA, path, overrides, text=text)
    _check_cell_geometry(values["cell"], values["geometry"])
    return CellJobConfig(
        cell=CellSection(**values["cell"]),
        geometry=GeometrySection(**values["geometry"]),
        homogenization=HomogenizationSection(**values["homogenization"]),
        dispersion=DispersionSection(**values["dispersion"]),
        solver=SolverSection(**values["solver"]),
        output=OutputSection(**values["output"]),
        raw=raw,
    )
