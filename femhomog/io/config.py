"""TOML job configurations: a small declarative schema and the cell-job schema.

A configuration file is a TOML document made of *sections* (tables) holding
*fields* (keys).  A :class:`Schema` lists the allowed sections, and every
:class:`Field` carries its converter/validator, its default and a help text.
The same description drives

* validation (unknown sections/keys, types, ranges, defaults),
* the annotated template printed by ``femhomog <job> --print-config``,
* the JSON-serializable ``raw`` dictionary stored with the run results.

Job types (``cell``, ``llg``; ``wave`` later) define a schema from the
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
import re
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
    "LLG_SCHEMA",
    "OUTPUT_SECTION",
    "REQUIRED",
    "SOLVER_SECTION",
    "CellJobConfig",
    "CellSection",
    "Field",
    "LlgJobConfig",
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
    "load_llg_config",
    "parse_variable_expression",
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


# --------------------------------------------------------------------------
# LLG job
# --------------------------------------------------------------------------

#: Units of an LLG job: the papers' scaling of (3.1), or SI (converted by
#: :class:`femhomog.micromag.Units`).
LLG_UNITS = ("nondimensional", "SI")
#: Units of the applied field: multiples of Ms, A/m (H) or tesla (mu0 H).
ZEEMAN_UNITS = ("Ms", "A/m", "T")
INITIAL_TYPES = ("uniform", "expression", "random", "file")
INTEGRATORS = ("tangent_plane", "midpoint")
#: |m| of a uniform initial value must be 1 to this tolerance (same as the nodal
#: check of femhomog.micromag.problem.UNIT_TOL) unless initial.normalize is set.
_UNIT_TOL = 1e-10


def _one_line(text: str, limit: int = 200) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def parse_variable_expression(value: Any, variable: str, dim: int, *, what: str) -> Any:
    """Parse an expression of the config language in ``t`` (scalar) or ``x`` (vector).

    :mod:`femhomog.expression` knows one variable, the cell variable ``y``; the
    LLG job also needs the time ``t`` (applied field) and the position ``x``
    (initial magnetization).  The text is parsed by Python's :mod:`ast` (never
    executed), the variable is renamed to ``y`` (``t -> y[0]``, ``x[i] -> y[i]``)
    and handed to :func:`femhomog.expression.parse_expression`, whose whitelist
    therefore applies unchanged; error messages are translated back.

    Parameters
    ----------
    value
        A number or an expression string.
    variable
        ``"t"`` (evaluate at points of shape ``(N, 1)``) or ``"x"`` (``(N, >= dim)``).
    dim
        Number of components of ``x`` (1 for ``t``).
    what
        Start of error messages, e.g. ``"zeeman.h[2]"``.

    Returns
    -------
    femhomog.expression.Expression
        Evaluate it with ``expr.evaluate(points)``.

    Raises
    ------
    ConfigError
        Anything the expression whitelist rejects, or the name ``y``.
    """
    import ast

    from femhomog.expression import parse_expression

    if variable not in ("t", "x"):
        raise ValueError(f"variable must be 't' or 'x', got {variable!r}")
    if variable == "t":
        dim = 1
        allowed = "t"
    else:
        allowed = "x[0]" if dim == 1 else f"x[0..{dim - 1}]"
    if not isinstance(value, str) or isinstance(value, bool):
        if _is_number(value):
            return parse_expression(value, dim, what=what)
        raise ConfigError(f"{what} must be a number or an expression in {allowed} (a string), "
                          f"got {show(value)}")
    src = value.strip()
    try:
        tree = ast.parse(src, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        tree = None  # parse_expression reports it (on the untranslated text: no variable)
    text = src
    if tree is not None:
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id == "y":
                raise ConfigError(f"{what} '{_one_line(src)}': unknown name 'y' (the variable "
                                  f"here is {allowed})")
            if variable == "t" and isinstance(node, ast.Subscript):
                raise ConfigError(f"{what} '{_one_line(src)}': indexing '{ast.unparse(node)}' is "
                                  "not allowed (the variable here is the time t)")

        class _Rename(ast.NodeTransformer):
            def visit_Name(self, node: ast.Name) -> ast.AST:
                if node.id != variable:
                    return node
                if variable == "t":
                    return ast.Subscript(value=ast.Name(id="y", ctx=ast.Load()),
                                         slice=ast.Constant(0), ctx=ast.Load())
                return ast.Name(id="y", ctx=node.ctx)

        text = ast.unparse(_Rename().visit(tree))
    try:
        return parse_expression(text, dim, what=what)
    except ConfigError as exc:
        message = str(exc)
        head = f"{what} '"
        if message.startswith(head) and "': " in message[len(head):]:
            detail = message[len(head):].split("': ", 1)[1]
            if variable == "t":
                detail = detail.replace("y[0]", "t")
            detail = re.sub(r"\by\b", variable, detail)
            message = f"{what} '{_one_line(src)}': {detail}"
        raise ConfigError(message) from None


def _convert_lengths(value: Any, key: str) -> float | list[float]:
    if _is_number(value):
        if not math.isfinite(value) or value <= 0:
            raise ValueError
        return float(value)
    if (isinstance(value, list) and 1 <= len(value) <= 3
            and all(_is_number(v) and math.isfinite(v) and v > 0 for v in value)):
        return [float(v) for v in value]
    raise ValueError


def _vector3(*, nonzero: bool) -> Validator:
    describe = "3 finite numbers" + (", not all zero" if nonzero else "") + ", e.g. [0, 0, 1]"

    def convert(value: Any, key: str) -> list[float]:
        if not (isinstance(value, list) and len(value) == 3
                and all(_is_number(v) and math.isfinite(v) for v in value)):
            raise ValueError
        out = [float(v) for v in value]
        if nonzero and not any(out):
            raise ValueError
        return out

    return Validator(describe, convert)


def _convert_expressions3(value: Any, key: str) -> list[float | str]:
    """Three numbers or non-empty expression strings (parsed in the loader)."""
    if not (isinstance(value, list) and len(value) == 3):
        raise ValueError
    out: list[float | str] = []
    for v in value:
        if _is_number(v) and math.isfinite(v):
            out.append(float(v))
        elif isinstance(v, str) and v.strip():
            out.append(v)
        else:
            raise ValueError
    return out


def _convert_progress(value: Any, key: str) -> float | None:
    """``false`` -> None (off), ``true`` -> 5 s, a number -> seconds between lines."""
    if isinstance(value, bool):
        return _PROGRESS_DEFAULT if value else None
    if _is_number(value) and math.isfinite(value) and value >= 0:
        return float(value)
    raise ValueError


#: Default wall-clock seconds between two progress lines (output.progress = true).
_PROGRESS_DEFAULT = 5.0


def _convert_checkpoint_every(value: Any, key: str) -> int:
    """``false`` or 0 -> 0 (off), an integer N >= 1 -> every N steps."""
    if value is False:
        return 0
    if _is_int(value) and value >= 0:
        return int(value)
    raise ValueError


def _convert_checkpoint_wall(value: Any, key: str) -> float:
    """``false`` or 0 -> 0.0 (off), a number > 0 -> seconds of wall time."""
    if value is False:
        return 0.0
    if _is_number(value) and not isinstance(value, bool) and math.isfinite(value) and value >= 0:
        return float(value)
    raise ValueError


#: Default wall-clock seconds between two checkpoints (output.checkpoint_wall).
_CHECKPOINT_WALL_DEFAULT = 600.0


#: Geometry builders of ``mesh.builder`` (:mod:`femhomog.meshes.magnets`) and their keys.
MESH_BUILDERS: dict[str, tuple[str, ...]] = {
    "cuboid": ("lengths",),
    "sphere": ("radius",),
    "ellipsoid": ("semi_axes",),
    "cylinder": ("radius", "height"),
}
_BUILDER_KEYS = ("radius", "semi_axes", "height", "mesh_size", "z_layers")


def _check_llg_mesh(values: dict[str, Any]) -> dict[str, Any]:
    """``[mesh]``: a file, a gmsh builder or a box; fills the box defaults."""
    box_keys = ("dim", "cell_type", "cells_per_side", "lengths")
    builder = values["builder"]
    if builder is not None:
        if values["file"] is not None:
            raise ConfigError("give either mesh.file or mesh.builder, not both")
        needed = MESH_BUILDERS[builder]
        allowed = set(needed) | {"mesh_size"}
        if builder in ("cuboid", "cylinder"):
            allowed.add("z_layers")
        for key in (*box_keys, *_BUILDER_KEYS):
            if key not in allowed and key != "dim" and values[key] is not None:
                raise ConfigError(f"mesh.{key} is not a parameter of mesh.builder = "
                                  f"'{builder}' (it takes {', '.join(sorted(allowed))})")
        if values["dim"] not in (None, 3):
            raise ConfigError(f"mesh.builder = '{builder}' builds a 3D magnet, but mesh.dim = "
                              f"{values['dim']}")
        for key in (*needed, "mesh_size"):
            if values[key] is None:
                raise ConfigError(f"mesh.{key} is required for mesh.builder = '{builder}'")
        lengths = values["lengths"]
        if builder == "cuboid" and not (isinstance(lengths, list) and len(lengths) == 3):
            raise ConfigError(f"mesh.lengths must be 3 edge lengths [L_x, L_y, L_z] for "
                              f"mesh.builder = 'cuboid', got {show(lengths)}")
        if values["periodic"]:
            raise ConfigError(f"mesh.builder = '{builder}' builds a free magnet (Neumann "
                              "boundary): remove mesh.periodic = true")
        values["periodic"] = False
        values["dim"] = 3
        return values
    given = [k for k in _BUILDER_KEYS if values[k] is not None]
    if given:
        raise ConfigError(f"mesh.{given[0]} is a parameter of mesh.builder (cuboid, sphere, "
                          "ellipsoid, cylinder), which is not given")
    if values["periodic"] is None:
        values["periodic"] = True
    if values["file"] is not None:
        given = [k for k in box_keys if values[k] is not None]
        if given:
            raise ConfigError(f"mesh.file replaces the structured box: remove mesh.{given[0]}")
        return values
    dim = values["dim"]
    if dim is None:
        raise ConfigError("mesh.dim is required unless mesh.file or mesh.builder is given")
    cell_type = values["cell_type"]
    if cell_type is None:
        values["cell_type"] = _DEFAULT_CELL_TYPE[dim]
    elif _DIM_OF_CELL_TYPE[cell_type] != dim:
        fitting = " or ".join(CELL_TYPES_BY_DIM[dim])
        raise ConfigError(f"mesh.cell_type '{cell_type}' does not fit mesh.dim = {dim} "
                          f"(use {fitting})")
    if values["cells_per_side"] is None:
        values["cells_per_side"] = 16
    lengths = values["lengths"]
    if lengths is None:
        values["lengths"] = 1.0
    elif isinstance(lengths, list) and len(lengths) != dim:
        raise ConfigError(f"mesh.lengths must have {dim} entries (mesh.dim = {dim}), "
                          f"got {len(lengths)}")
    return values


_NONDIM_ONLY = ("exchange", "eps")
_SI_ONLY = ("Ms", "A", "gamma", "length")


def _check_llg_material(values: dict[str, Any]) -> dict[str, Any]:
    """``[material]``: keys of the other unit system are errors; SI needs Ms."""
    units = values["units"]
    if units == "nondimensional":
        for key in _SI_ONLY:
            if values[key] is not None:
                raise ConfigError(f"material.{key} is an SI parameter: it needs "
                                  "material.units = 'SI'")
        if values["eps"] is None:
            values["eps"] = 1.0
    else:
        for key in _NONDIM_ONLY:
            if values[key] is not None:
                hint = "; give the exchange stiffness material.A (J/m)" if key == "exchange" else ""
                raise ConfigError(f"material.{key} is for material.units = 'nondimensional'{hint}")
        if values["Ms"] is None:
            raise ConfigError("material.Ms is required for material.units = 'SI' "
                              "(saturation magnetization in A/m)")
        if values["gamma"] is None:
            values["gamma"] = 2.211e5  # femhomog.micromag.units.GAMMA_FREE_ELECTRON
    exchange = values["exchange"]
    if isinstance(exchange, list) and all(isinstance(e, float) for row in exchange for e in row):
        a = exchange
        n = len(a)
        if any(abs(a[i][j] - a[j][i]) > 1e-12 * max(abs(a[i][j]), abs(a[j][i]), 1e-300)
               for i in range(n) for j in range(i)):
            raise ConfigError(f"material.exchange: the matrix must be symmetric, got {show(a)}")
    return values


def _check_anisotropy(values: dict[str, Any]) -> dict[str, Any]:
    if values["q"] is not None and values["K"] is not None:
        raise ConfigError("give either anisotropy.q or anisotropy.K, not both")
    return values


def _check_time(values: dict[str, Any]) -> dict[str, Any]:
    if values["adaptive"] and values["integrator"] != "midpoint":
        raise ConfigError("time.adaptive = true needs time.integrator = 'midpoint' "
                          "(step-doubling error control of the second-order scheme)")
    return values


def _check_llg_output(values: dict[str, Any]) -> dict[str, Any]:
    if values["every"] is not None and values["dt_out"] is not None:
        raise ConfigError("give either output.every (steps) or output.dt_out (time), not both")
    if values["every"] is None and values["dt_out"] is None:
        values["every"] = 1
    return values


_INITIAL_KEYS = {"uniform": "value", "expression": "expressions", "random": "seed", "file": "file"}


def _check_initial(values: dict[str, Any]) -> dict[str, Any]:
    kind = values["type"]
    for other, key in _INITIAL_KEYS.items():
        if other != kind and values[key] is not None:
            raise ConfigError(f"initial.{key} is only used with initial.type = '{other}' "
                              f"(initial.type is '{kind}')")
    needed = _INITIAL_KEYS[kind]
    if kind == "random":
        if values["seed"] is None:
            values["seed"] = 0
    elif values[needed] is None:
        raise ConfigError(f"initial.{needed} is required for initial.type = '{kind}'")
    if kind == "uniform":
        norm = math.sqrt(sum(v * v for v in values["value"]))
        if norm == 0.0:
            raise ConfigError("initial.value is the zero vector: m must have a direction")
        if not values["normalize"] and abs(norm - 1.0) > _UNIT_TOL:
            raise ConfigError(f"initial.value must be a unit vector, but |m| = {norm:.10g}; "
                              "normalize it or set initial.normalize = true")
    return values


LLG_MESH_SECTION = Section(
    name="mesh",
    help="The domain: a structured box (dim, cell_type, cells_per_side, lengths) or a gmsh "
    ".msh file. Lengths are in the length unit of [material] (metres for SI).",
    check=_check_llg_mesh,
    fields=(
        Field("dim", choice(1, 2, 3), None, "Space dimension of the box (1, 2 or 3).", example=2),
        Field("cell_type", choice(*_DIM_OF_CELL_TYPE), None,
              "interval | triangle | quadrilateral | tetrahedron | hexahedron; must fit dim. "
              "Default: interval, quadrilateral, hexahedron for dim = 1, 2, 3.",
              example="triangle"),
        Field("cells_per_side", integer(1), None, "Cells along each side of the box (default 16).",
              example=16),
        Field("lengths", Validator("a number > 0 or a list of dim numbers > 0", _convert_lengths),
              None, "Side lengths of the box [0, L_1] x ... (one number for a cube; default 1). "
              "SI runs: metres.", example=1.0),
        Field("periodic", boolean(), None,
              "Periodic boundary conditions on the bounding box (the LL paper's setting); "
              "false: natural (Neumann) conditions. Default: true for the box and mesh.file, "
              "false (the only choice) with mesh.builder.", example=True),
        Field("file", existing_file(".msh"), None,
              "A gmsh .msh file instead of the box (coordinates in the length unit; metres for "
              "SI); relative to this file's directory.",
              example="meshes/film.msh", commented=True, is_path=True),
        Field("builder", choice(*MESH_BUILDERS), None,
              "A 3D magnet meshed by gmsh at run time instead of the box (centred at 0, "
              "Neumann boundary; femhomog.meshes.magnets): cuboid (lengths = [L_x, L_y, L_z]), "
              "sphere (radius), ellipsoid (semi_axes), cylinder (radius, height); with "
              "mesh_size and, for cuboid/cylinder, z_layers. Lengths in the run's length unit "
              "(metres for SI).", example="cuboid", commented=True),
        Field("radius", real(0), None, "builder sphere/cylinder: radius.", example=1.0,
              commented=True),
        Field("semi_axes", _vector3(nonzero=True), None, "builder ellipsoid: semi-axes.",
              example=[2.0, 1.0, 1.0], commented=True),
        Field("height", real(0), None, "builder cylinder: height (along z).", example=0.5,
              commented=True),
        Field("mesh_size", real(0), None, "builder: gmsh element size (in-plane size with "
              "z_layers).", example=0.25, commented=True),
        Field("z_layers", integer(1), None,
              "builder cuboid/cylinder: extrude an in-plane triangulation with exactly this "
              "many element layers through the thickness (thin films).", example=1,
              commented=True),
    ),
)

LLG_MATERIAL_SECTION = Section(
    name="material",
    help="Material parameters. units = \"nondimensional\": the LL paper's scaling (3.1), "
    "dm/dt = -m x H - alpha m x (m x H), H = div(a grad m) + ...; units = \"SI\": Ms, A, "
    "gamma in SI, converted by femhomog.micromag.Units (time unit (1 + alpha^2)/(gamma Ms), "
    "length unit `length`).",
    check=_check_llg_material,
    fields=(
        Field("units", choice(*LLG_UNITS), "nondimensional",
              "nondimensional | SI. SI runs take every input in SI (m, s, J/m, J/m^3, A/m) and "
              "write t in seconds and energies in J (J/m in 2D, J/m^2 in 1D)."),
        Field("alpha", real(0, open_min=False), REQUIRED, "Gilbert damping alpha >= 0.",
              example=0.1),
        Field("exchange", Validator(f"a number > 0, an expression string in y[0], y[1], y[2] or "
                                    f"{_MATRIX}", _convert_coefficient), None,
              "Nondimensional: exchange coefficient a of (3.1), a number > 0, an expression "
              "a(y) evaluated at y = x/eps (e.g. \"1 + 0.5*sin(2*pi*y[0])\"), or a symmetric "
              "d x d matrix (A^H of (3.2)). Required unless [homogenized] matrix_from is given.",
              example=1.0),
        Field("eps", real(0), None, "Nondimensional: period eps of a(x/eps) (default 1).",
              example=0.1, commented=True),
        Field("quadrature_degree", integer(0), None,
              "Quadrature degree of the exchange form (resolve a(x/eps); default: estimated).",
              example=6, commented=True),
        Field("Ms", real(0), None, "SI: saturation magnetization (A/m).", example=8.0e5,
              commented=True),
        Field("A", real(0), None,
              "SI: exchange stiffness (J/m). Required unless [homogenized] matrix_from is given.",
              example=1.3e-11, commented=True),
        Field("gamma", real(0), None,
              "SI: mu0 times the gyromagnetic ratio, m/(A s) (default 2.211e5).",
              example=2.211e5, commented=True),
        Field("length", real(0), None,
              "SI: length unit L in metres (default: the exchange length sqrt(2A/(mu0 Ms^2))).",
              example=1e-9, commented=True),
    ),
)

LLG_ANISOTROPY_SECTION = Section(
    name="anisotropy",
    help="Optional uniaxial anisotropy E = -q/2 int (m.e)^2 (q > 0 easy axis, q < 0 hard axis).",
    check=_check_anisotropy,
    fields=(
        Field("q", real(), None,
              "Quality factor q = 2K/(mu0 Ms^2) (dimensionless; either unit system).",
              example=0.5, commented=True),
        Field("K", real(), None, "SI: anisotropy constant K (J/m^3), instead of q.",
              example=5.0e4, commented=True),
        Field("axis", _vector3(nonzero=True), [0.0, 0.0, 1.0], "Anisotropy axis e (normalized)."),
    ),
)

LLG_ZEEMAN_SECTION = Section(
    name="zeeman",
    help="Optional spatially uniform applied field h(t), E = -int h . m.",
    fields=(
        Field("h", Validator("a list of 3 numbers or expressions in t", _convert_expressions3),
              None, "Field vector; entries are numbers or expressions in the time t (in the "
              "run's time unit: seconds for SI), e.g. [\"0\", \"0\", \"cos(2*pi*t)\"].",
              example=[0.0, 0.0, 1.0], commented=True),
        Field("unit", choice(*ZEEMAN_UNITS), None,
              "Unit of h: Ms (h = H/Ms; default for nondimensional), A/m (default for SI) or T "
              "(mu0 H). A/m and T need material.units = 'SI'.", example="A/m", commented=True),
    ),
)

LLG_INITIAL_SECTION = Section(
    name="initial",
    help="Initial magnetization m(0). Must be a unit vector at every node unless normalize = "
    "true; m = 0 anywhere is an error either way.",
    check=_check_initial,
    fields=(
        Field("type", choice(*INITIAL_TYPES), "uniform",
              "uniform (value) | expression (expressions in x) | random (seed; uniform on the "
              "sphere per node, independent of the number of ranks) | file (a m_final.npz of "
              "a previous run)."),
        Field("value", _vector3(nonzero=False), None, "uniform: the vector m(0).",
              example=[1.0, 0.0, 0.0]),
        Field("expressions", Validator("a list of 3 numbers or expressions in x",
                                       _convert_expressions3), None,
              "expression: m(0) as 3 expressions in x[0], x[1], x[2] (length unit of the mesh).",
              example=["cos(2*pi*x[0])", "sin(2*pi*x[0])", "0"], commented=True),
        Field("seed", integer(0), None, "random: seed (default 0).", example=1, commented=True),
        Field("file", existing_file(".npz"), None,
              "file: an .npz with arrays x (nodes) and m (values), e.g. DIR/m_final.npz of a "
              "previous run on the same mesh; relative to this file's directory.",
              example="previous/m_final.npz", commented=True, is_path=True),
        Field("normalize", boolean(), False,
              "Project m(0) onto the unit sphere at the nodes instead of rejecting |m| != 1."),
    ),
)

LLG_TIME_SECTION = Section(
    name="time",
    help="Time integration from t = 0 to t_end (run's time unit: seconds for SI).",
    check=_check_time,
    fields=(
        Field("integrator", choice(*INTEGRATORS), "tangent_plane",
              "tangent_plane (Alouges' theta-scheme: linear, first order, energy-decreasing "
              "for theta >= 1/2) | midpoint (implicit midpoint with Newton: second order)."),
        Field("dt", real(0), REQUIRED, "Time step (the first trial step if adaptive).",
              example=0.01),
        Field("t_end", real(0), REQUIRED, "Final time.", example=1.0),
        Field("adaptive", boolean(), False,
              "Step-doubling error control (midpoint only)."),
        Field("tol", real(0), 1e-6, "adaptive: tolerance of the local error (max over nodes)."),
        Field("theta", real(0, 1, open_min=False, open_max=False), 1.0,
              "tangent_plane: implicitness of exchange/anisotropy in [0, 1]."),
    ),
)

LLG_HOMOGENIZED_SECTION = Section(
    name="homogenized",
    help="Optional: take the exchange matrix A^H of the homogenized equation (3.2) from "
    "tensors.json written by `femhomog cell` (its a0), instead of material.exchange / "
    "material.A.",
    fields=(
        Field("matrix_from", existing_file(".json"), None,
              "Path of a tensors.json (relative to this file's directory).",
              example="results/cell/tensors.json", commented=True, is_path=True),
        Field("factor", real(0), 1.0,
              "A^H = factor * a0 (nondimensional; SI: J/m, e.g. the stiffness that the cell "
              "coefficient was normalized by). With SI the length unit defaults to the "
              "exchange length of tr(A^H)/d."),
    ),
)

LLG_SOLVER_SECTION = Section(
    name="solver",
    help="Linear solver of the integrators (PETSc options prefixes -femhomog_llg_tps_, "
    "-femhomog_llg_mid_).",
    fields=(
        Field("type", choice("direct", "iterative"), "direct",
              "direct (MUMPS LU) | iterative (GMRES + ILU / block Jacobi)."),
        Field("rtol", real(0, 1), 1e-10, "Relative residual tolerance of the iterative solver."),
        Field("max_it", integer(1), 500, "Maximum iterations of the iterative solver."),
        Field("max_retries", integer(0, 20), 3,
              "Halve a failed step up to this many times before giving up (fixed steps)."),
    ),
)

LLG_OUTPUT_SECTION = Section(
    name="output",
    help="averages.csv gets a row at t = 0, at every output step and at t_end.",
    check=_check_llg_output,
    fields=(
        Field("every", integer(1), None, "Write a row every N accepted steps (default 1).",
              example=1),
        Field("dt_out", real(0), None,
              "Or: write rows at multiples of dt_out (steps are shortened to hit them).",
              example=0.1, commented=True),
        Field("fields", boolean(), False, "Write m at the output times to DIR/m.bp (VTX)."),
        Field("final", boolean(), True,
              "Write the final state to DIR/m_final.npz (restart with initial.type = 'file')."),
        Field("progress", Validator("true, false or a number of seconds >= 0",
                                    _convert_progress), _PROGRESS_DEFAULT,
              "Progress (rank 0): a progress bar if stderr is a terminal, else log lines "
              "every this many seconds; 0: every output step; false: none."),
        Field("checkpoint_every", Validator("false or an integer >= 0",
                                            _convert_checkpoint_every), 0,
              "Write DIR/checkpoint/checkpoint.npz every N accepted steps (0 or false: not "
              "by steps). Restart with `femhomog llg CONFIG --restart DIR`."),
        Field("checkpoint_wall", Validator("false or a number of seconds >= 0",
                                           _convert_checkpoint_wall), _CHECKPOINT_WALL_DEFAULT,
              "Also checkpoint after this many seconds of wall time since the last one (0 or "
              "false: not by time). With either cadence on, checkpoints are also written at "
              "t = 0 and at the end; with both off, none."),
    ),
)

DEMAG_METHODS = ("none", "fembem", "shell")


def _check_demag(values: dict[str, Any]) -> dict[str, Any]:
    method = values["method"]
    shell_keys = ("degree", "shell_kind", "air_size", "shell_thickness", "air_mesh_size",
                  "shell_mesh_size")
    if method != "shell":
        given = [k for k in shell_keys if values[k] is not None]
        if given:
            raise ConfigError(f"demag.{given[0]} is a parameter of demag.method = 'shell' "
                              f"(demag.method is '{method}')")
    else:
        defaults = {"degree": 1, "shell_kind": "box", "air_size": 1.5, "shell_thickness": 1.0}
        for key, value in defaults.items():
            if values[key] is None:
                values[key] = value
        if values["air_size"] <= 1.0:
            raise ConfigError(f"demag.air_size must be > 1 (air around the magnet), got "
                              f"{values['air_size']:g}")
    return values


LLG_DEMAG_SECTION = Section(
    name="demag",
    help="Stray (demagnetizing) field of (1.8)-(1.9) of the Boltzmann-LLG paper, an explicit "
    "field term with energy E_demag = -1/2 int H_s.m (column E_demag of averages.csv). Needs a "
    "3D tetrahedral, non-periodic magnet (mesh.builder or mesh.file). fembem: Fredkin-Koehler "
    "FEM-BEM on the magnet mesh (dense boundary matrix, 8 Nb^2 bytes for Nb boundary nodes, "
    "split over the ranks); shell: shell transformation on magnet + air + shell "
    "(mesh.builder only; sparse, memory linear in the nodes).",
    check=_check_demag,
    fields=(
        Field("method", choice(*DEMAG_METHODS), "none", "none | fembem | shell."),
        Field("rtol", real(0, 1), 1e-10, "Relative tolerance of the CG + GAMG Laplace solves."),
        Field("max_it", integer(1), 1000, "Iteration limit of the Laplace solves."),
        Field("degree", choice(1, 2), None, "shell: Lagrange degree of the potential (default "
              "1).", example=1, commented=True),
        Field("shell_kind", choice("sphere", "box"), None,
              "shell: shape of air region and shell (default box).", example="box",
              commented=True),
        Field("air_size", real(1), None, "shell: air region size relative to the magnet (> 1; "
              "default 1.5; see femhomog.meshes.magnets.ShellSpec).", example=1.5,
              commented=True),
        Field("shell_thickness", real(0), None, "shell: shell thickness relative to the air "
              "region (default 1).", example=1.0, commented=True),
        Field("air_mesh_size", real(0), None, "shell: element size at the air boundary (run's "
              "length unit; default from ShellSpec).", commented=True),
        Field("shell_mesh_size", real(0), None, "shell: element size in the shell (default "
              "air_mesh_size).", commented=True),
    ),
)


def _check_relax(values: dict[str, Any]) -> dict[str, Any]:
    if values["enabled"] and values["dt"] is None:
        raise ConfigError("relax.dt is required with relax.enabled = true (time step of the "
                          "relaxation, run's time unit)")
    if values["adaptive"] and values["integrator"] != "midpoint":
        raise ConfigError("relax.adaptive = true needs relax.integrator = 'midpoint'")
    if values["dt_max"] is not None and values["dt"] is not None \
            and values["dt_max"] < values["dt"]:
        raise ConfigError(f"relax.dt_max = {values['dt_max']:g} must be >= relax.dt = "
                          f"{values['dt']:g}")
    return values


LLG_RELAX_SECTION = Section(
    name="relax",
    help="Optional relaxation phase before the time integration: damped dynamics (damping "
    "relax.alpha, without the [zeeman] field) from [initial] until the largest nodal torque "
    "|m x H| (units of Ms) is below torque_tol. Writes DIR/relax.csv (step, t, <m>, energies, "
    "torque) and DIR/m_relaxed.npz (usable as initial.file); the field phase then starts from "
    "the relaxed state at t = 0 with material.alpha and the [zeeman] field, and averages.csv "
    "holds the field phase only. Not converging within max_steps is an error (run.json status "
    "'failed') unless allow_unconverged = true (then a warning).",
    check=_check_relax,
    fields=(
        Field("enabled", boolean(), False, "Run the relaxation phase."),
        Field("alpha", real(0), 1.0, "Damping of the relaxation (only the end state matters)."),
        Field("torque_tol", real(0), 1e-5, "Stop when max_i |m_i x H_i| < torque_tol (units "
              "of Ms)."),
        Field("dt", real(0), None, "Time step of the relaxation (run's time unit: seconds for "
              "SI; relaxation time unit (1 + relax.alpha^2)/(gamma Ms)); first step if "
              "adaptive.", example=1e-12, commented=True),
        Field("max_steps", integer(1), 100_000, "Give up after this many steps."),
        Field("check_every", integer(1), 10,
              "Check the torque and write a relax.csv row every this many steps."),
        Field("integrator", choice(*INTEGRATORS), "tangent_plane",
              "tangent_plane (theta = 1: unconditionally energy decreasing) | midpoint."),
        Field("adaptive", boolean(), False, "midpoint: step-doubling error control."),
        Field("tol", real(0), 1e-4, "adaptive: local error tolerance."),
        Field("dt_max", real(0), None, "adaptive: largest step (the midpoint rule is not "
              "L-stable: very large steps stall the torque).", commented=True),
        Field("allow_unconverged", boolean(), False,
              "Continue with a warning if max_steps is reached (default: error)."),
    ),
)


LLG_SCHEMA = Schema(
    job="llg",
    header=(
        "femhomog llg job: Landau-Lifshitz-Gilbert dynamics (LL paper (3.1), or (3.2) with A^H).\n"
        "Run: femhomog llg THIS.toml --out DIR [--set section.key=value ...]\n"
        "Continue from DIR/checkpoint: femhomog llg THIS.toml --restart DIR\n"
        "Writes DIR/averages.csv (t, <m>, energies, max | |m|-1 |), DIR/run.json, DIR/m.bp."
    ),
    sections=(
        LLG_MESH_SECTION,
        LLG_MATERIAL_SECTION,
        LLG_ANISOTROPY_SECTION,
        LLG_ZEEMAN_SECTION,
        LLG_INITIAL_SECTION,
        LLG_TIME_SECTION,
        LLG_DEMAG_SECTION,
        LLG_RELAX_SECTION,
        LLG_HOMOGENIZED_SECTION,
        LLG_SOLVER_SECTION,
        LLG_OUTPUT_SECTION,
    ),
)


@dataclass(frozen=True)
class LlgMeshSection:
    """``[mesh]``: a structured box, a gmsh file or a gmsh builder."""

    dim: int | None  # None iff file
    cell_type: str | None
    cells_per_side: int | None
    lengths: float | list[float] | None
    periodic: bool
    file: Path | None
    builder: str | None = None
    radius: float | None = None
    semi_axes: list[float] | None = None
    height: float | None = None
    mesh_size: float | None = None
    z_layers: int | None = None


@dataclass(frozen=True)
class LlgMaterialSection:
    """``[material]``: unit system, damping and exchange (SI: Ms, A, gamma, length)."""

    units: str
    alpha: float
    exchange: float | str | list[list[float | str]] | None
    eps: float | None
    quadrature_degree: int | None
    Ms: float | None
    A: float | None
    gamma: float | None
    length: float | None


@dataclass(frozen=True)
class AnisotropySection:
    """``[anisotropy]``: q (or SI K) and the axis; no term if both are None."""

    q: float | None
    K: float | None
    axis: list[float]


@dataclass(frozen=True)
class ZeemanSection:
    """``[zeeman]``: field entries (numbers or expressions in t) and their unit; no term if
    ``h`` is None."""

    h: list[float | str] | None
    unit: str  # filled in by the loader


@dataclass(frozen=True)
class InitialSection:
    """``[initial]``: how m(0) is given."""

    type: str
    value: list[float] | None
    expressions: list[float | str] | None
    seed: int | None
    file: Path | None
    normalize: bool


@dataclass(frozen=True)
class TimeSection:
    """``[time]``: integrator and step control (run's time unit)."""

    integrator: str
    dt: float
    t_end: float
    adaptive: bool
    tol: float
    theta: float


@dataclass(frozen=True)
class HomogenizedSection:
    """``[homogenized]``: A^H = factor * a0 read from a cell job's tensors.json."""

    matrix_from: Path | None
    factor: float
    matrix: list[list[float]] | None  # a0 as read (None without matrix_from)


@dataclass(frozen=True)
class LlgSolverSection:
    """``[solver]``: linear solver of the integrators."""

    type: str
    rtol: float
    max_it: int
    max_retries: int


@dataclass(frozen=True)
class LlgOutputSection:
    """``[output]``: output schedule and optional files."""

    every: int | None
    dt_out: float | None
    fields: bool
    final: bool
    progress: float | None
    checkpoint_every: int  # 0: off
    checkpoint_wall: float  # seconds; 0: off


@dataclass(frozen=True)
class DemagSection:
    """``[demag]``: stray-field method and its options (shell keys None unless shell)."""

    method: str = "none"
    rtol: float = 1e-10
    max_it: int = 1000
    degree: int | None = None
    shell_kind: str | None = None
    air_size: float | None = None
    shell_thickness: float | None = None
    air_mesh_size: float | None = None
    shell_mesh_size: float | None = None


@dataclass(frozen=True)
class RelaxSection:
    """``[relax]``: the optional relaxation phase (run's units)."""

    enabled: bool = False
    alpha: float = 1.0
    torque_tol: float = 1e-5
    dt: float | None = None
    max_steps: int = 100_000
    check_every: int = 10
    integrator: str = "tangent_plane"
    adaptive: bool = False
    tol: float = 1e-4
    dt_max: float | None = None
    allow_unconverged: bool = False


@dataclass(frozen=True)
class LlgJobConfig:
    """A validated LLG job; ``raw`` is the JSON-serializable merged configuration."""

    mesh: LlgMeshSection
    material: LlgMaterialSection
    anisotropy: AnisotropySection
    zeeman: ZeemanSection
    initial: InitialSection
    time: TimeSection
    homogenized: HomogenizedSection
    solver: LlgSolverSection
    output: LlgOutputSection
    raw: dict
    demag: DemagSection = DemagSection()
    relax: RelaxSection = RelaxSection()

    @property
    def si(self) -> bool:
        return self.material.units == "SI"


def read_homogenized_matrix(path: Path, key: str = "homogenized.matrix_from") -> list[list[float]]:
    """The matrix ``a0`` of a ``tensors.json`` written by ``femhomog cell``.

    Raises
    ------
    ConfigError
        Unreadable or invalid JSON, no ``a0``, or ``a0`` not a symmetric positive
        definite matrix of numbers.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{key}: {path} is not a JSON file ({exc})") from None
    if not isinstance(data, dict) or "a0" not in data:
        raise ConfigError(f"{key}: {path} has no 'a0' (expected the tensors.json written by "
                          "`femhomog cell`)")
    a0 = data["a0"]
    if _is_number(a0):  # a 1D cell may store a scalar
        a0 = [[a0]]
    what = f"{key}: a0 of {path}"
    try:
        matrix = _matrix(a0, what, allow_strings=False)
    except ValueError:
        raise ConfigError(f"{what} must be {_MATRIX}, got {show(a0)}") from None
    n = len(matrix)
    scale = max(abs(v) for row in matrix for v in row)
    if any(abs(matrix[i][j] - matrix[j][i]) > 1e-10 * scale for i in range(n) for j in range(i)):
        raise ConfigError(f"{what} is not symmetric: {show(matrix)}")
    return [[0.5 * (matrix[i][j] + matrix[j][i]) for j in range(n)] for i in range(n)]


def load_llg_config(
    path: str | Path | None,
    overrides: Sequence[str] = (),
    *,
    text: str | None = None,
) -> LlgJobConfig:
    """Load and validate an LLG-job configuration (see :data:`LLG_SCHEMA`).

    Besides the per-section rules this checks, before any mesh is built: the
    exchange is given exactly once (``material.exchange``/``material.A`` or
    ``[homogenized]``), ``a0`` of ``homogenized.matrix_from`` exists and fits
    ``mesh.dim``, expressions parse (``y`` in the exchange, ``t`` in the field,
    ``x`` in the initial magnetization), SI-only keys in SI runs, and the
    uniform initial value.  Arguments as for :func:`load_cell_config`.

    Raises
    ------
    ConfigError
        The first problem found, as one line naming the key.
    """
    values, raw = load_job_config(LLG_SCHEMA, path, overrides, text=text)
    mesh, mat = values["mesh"], values["material"]
    si = mat["units"] == "SI"
    # dimension for parsing expressions: the box's, or 3 (checked again on the mesh)
    dim = mesh["dim"] if mesh["dim"] is not None else 3

    hom = dict(values["homogenized"])
    hom["matrix"] = None
    if hom["matrix_from"] is not None:
        hom["matrix"] = read_homogenized_matrix(hom["matrix_from"])
        n = len(hom["matrix"])
        if mesh["dim"] is not None and n != mesh["dim"]:
            raise ConfigError(f"homogenized.matrix_from: a0 is {n} x {n} but mesh.dim = "
                              f"{mesh['dim']}")
        own = "A" if si else "exchange"
        if mat[own] is not None:
            raise ConfigError(f"give either material.{own} or homogenized.matrix_from, not both")
        raw["homogenized"]["matrix"] = hom["matrix"]
    elif si and mat["A"] is None:
        raise ConfigError("material.A is required for material.units = 'SI' (exchange "
                          "stiffness in J/m) unless homogenized.matrix_from is given")
    elif not si and mat["exchange"] is None:
        raise ConfigError("material.exchange is required (a number > 0, an expression in y or "
                          "a d x d matrix) unless homogenized.matrix_from is given")

    exchange = mat["exchange"]
    if isinstance(exchange, list):
        n = len(exchange)
        if mesh["dim"] is not None and n != mesh["dim"]:
            raise ConfigError(f"material.exchange must be a {mesh['dim']} x {mesh['dim']} matrix "
                              f"(mesh.dim = {mesh['dim']}), got {n} x {n}")
        from femhomog.expression import parse_expression

        for i, row in enumerate(exchange):
            for j, entry in enumerate(row):
                parse_expression(entry, n, what=f"material.exchange[{i}][{j}]")
    elif isinstance(exchange, str):
        from femhomog.expression import parse_expression

        parse_expression(exchange, dim, what="material.exchange")

    ani = values["anisotropy"]
    if ani["K"] is not None and not si:
        raise ConfigError("anisotropy.K (J/m^3) needs material.units = 'SI'; give the "
                          "dimensionless anisotropy.q")

    zee = values["zeeman"]
    if zee["unit"] is None:
        zee["unit"] = "A/m" if si else "Ms"
    elif zee["unit"] != "Ms" and not si:
        raise ConfigError(f"zeeman.unit = '{zee['unit']}' needs material.units = 'SI' "
                          "(nondimensional fields are in units of Ms)")
    if zee["h"] is not None:
        for i, entry in enumerate(zee["h"]):
            parse_variable_expression(entry, "t", 1, what=f"zeeman.h[{i}]")
    raw["zeeman"]["unit"] = zee["unit"]

    dem = values["demag"]
    if dem["method"] != "none":
        where = f"demag.method = '{dem['method']}'"
        if mesh["periodic"]:
            raise ConfigError(f"{where} needs a free magnet: set mesh.periodic = false (the stray "
                              "field of a periodic array is not an open-boundary problem)")
        if mesh["dim"] not in (None, 3):
            raise ConfigError(f"{where} needs a 3D magnet, got mesh.dim = {mesh['dim']}")
        if mesh["dim"] == 3 and mesh["file"] is None and mesh["builder"] is None \
                and mesh["cell_type"] != "tetrahedron":
            raise ConfigError(f"{where} needs tetrahedra: set mesh.cell_type = 'tetrahedron' or "
                              "use mesh.builder")
        if dem["method"] == "shell" and mesh["builder"] is None:
            raise ConfigError("demag.method = 'shell' meshes air and shell around the magnet: it "
                              "needs mesh.builder")

    ini = values["initial"]
    if ini["expressions"] is not None:
        for i, entry in enumerate(ini["expressions"]):
            parse_variable_expression(entry, "x", dim, what=f"initial.expressions[{i}]")

    return LlgJobConfig(
        mesh=LlgMeshSection(**mesh),
        material=LlgMaterialSection(**mat),
        anisotropy=AnisotropySection(**ani),
        zeeman=ZeemanSection(**zee),
        initial=InitialSection(**ini),
        time=TimeSection(**values["time"]),
        homogenized=HomogenizedSection(**hom),
        solver=LlgSolverSection(**values["solver"]),
        output=LlgOutputSection(**values["output"]),
        raw=raw,
        demag=DemagSection(**values["demag"]),
        relax=RelaxSection(**values["relax"]),
    )
