"""Section declaration (:func:`option`, :func:`section`) and :class:`Schema`."""

from __future__ import annotations

import copy
import dataclasses
import difflib
import textwrap
import tomllib
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, dataclass_transform

from femhomog import ConfigError
from femhomog.io.schema._toml import read_toml, to_jsonable, to_toml
from femhomog.io.schema._validators import REQUIRED, Validator, absolute_path, show

_T = TypeVar("_T")


@dataclass(frozen=True)
class Field:
    """One key of a section (built by :func:`section` from an :func:`option`).

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
    """A TOML table of a job configuration (built by :func:`section`).

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
    cls
        The typed section: a frozen dataclass built from the checked values.
    """

    name: str
    fields: tuple[Field, ...]
    help: str = ""
    check: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    cls: type | None = None

    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def get(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


# Key of the option description in a dataclass field's metadata.
_OPTION = "femhomog.option"


def option(
    validator: Validator,
    default: Any = None,
    help: str = "",
    *,
    example: Any = None,
    commented: bool = False,
    is_path: bool = False,
) -> Any:
    """A configuration key of a :func:`section` class (arguments as for :class:`Field`).

    Returns a :func:`dataclasses.field` whose default is ``default`` (a fresh
    copy for lists and tables; none for :data:`REQUIRED`), so that a section
    built without the loader has the same defaults as an empty table.
    Attributes of a section class declared without :func:`option` are not
    configuration keys: the section's or the job's checks fill them in.
    """
    metadata = {_OPTION: {"validator": validator, "default": default, "help": help,
                          "example": example, "commented": commented, "is_path": is_path}}
    if default is REQUIRED:
        return dataclasses.field(metadata=metadata)
    if type(default).__hash__ is None:  # list, dict: dataclasses refuse a shared default
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default),
                                 metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass_transform(frozen_default=True, kw_only_default=True,
                     field_specifiers=(option, dataclasses.field))
def section(
    name: str,
    *,
    help: str = "",
    check: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Callable[[type[_T]], type[_T]]:
    """Class decorator: declare the TOML table ``[name]`` once.

    The class becomes a frozen, keyword-only dataclass; its :func:`option`
    attributes, in declaration order, are the table's keys (and the template's
    order).  ``help`` and ``check`` are those of :class:`Section`.
    """

    def declare(cls: type[_T]) -> type[_T]:
        cls = dataclass(frozen=True, kw_only=True)(cls)
        fields = tuple(Field(name=f.name, **f.metadata[_OPTION])
                       for f in dataclasses.fields(cls) if _OPTION in f.metadata)
        cls.__section__ = Section(name=name, fields=fields, help=help,  # type: ignore[attr-defined]
                                  check=check, cls=cls)
        return cls

    return declare


def section_of(cls: type) -> Section:
    """The :class:`Section` declared by :func:`section` on ``cls``."""
    sec = getattr(cls, "__section__", None)
    if not isinstance(sec, Section):
        raise TypeError(f"{cls.__name__} is not declared with @section")
    return sec


def _unknown(kind: str, name: str, allowed: Sequence[str]) -> ConfigError:
    message = f"unknown {kind} '{name}' (allowed: {', '.join(allowed)})"
    close = difflib.get_close_matches(name.rpartition(".")[2], allowed, n=1)
    if close:
        message += f"; did you mean '{close[0]}'?"
    return ConfigError(message)


#: A cross-section rule of a job: ``check(values, raw)`` raises :class:`ConfigError`,
#: or completes ``values`` (and ``raw``, their JSON form) in place.
JobCheck = Callable[[dict[str, dict[str, Any]], dict[str, Any]], None]


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
    config
        The typed job configuration that :meth:`load` returns: a dataclass with
        one field per section, named as the table, plus ``raw``.
    checks
        Rules across sections, run in order after the sections' own checks.

    Build it with :meth:`of` from the job configuration class.
    """

    job: str
    sections: tuple[Section, ...]
    header: str = ""
    config: type | None = None
    checks: tuple[JobCheck, ...] = ()

    @classmethod
    def of(
        cls,
        config: type,
        *,
        job: str,
        header: str = "",
        checks: Sequence[JobCheck] = (),
    ) -> Schema:
        """The schema of the job configuration dataclass ``config``.

        Every field of ``config`` but ``raw`` must be annotated with a
        :func:`section` class whose table has the field's name; their order
        is the template's.
        """
        hints = typing.get_type_hints(config)
        sections = []
        for fld in dataclasses.fields(config):
            if fld.name == "raw":
                continue
            sec = section_of(hints[fld.name])
            if sec.name != fld.name:
                raise TypeError(f"{config.__name__}.{fld.name} holds the section "
                                f"[{sec.name}]: name the field {sec.name!r}")
            sections.append(sec)
        return cls(job=job, sections=tuple(sections), header=header, config=config,
                   checks=tuple(checks))

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
                    table[fld.name] = str(absolute_path(value, base))
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

    def read(
        self,
        path: str | Path | None,
        overrides: Sequence[str] = (),
        *,
        text: str | None = None,
    ) -> dict[str, Any]:
        """Read a configuration file and apply the overrides (not yet validated).

        Relative paths of path fields found in the file are taken relative to
        the file's directory (the current directory for ``text`` without
        ``path``); those given as overrides relative to the current directory.
        Arguments as for :meth:`load`.
        """
        document = read_toml(path, text=text)
        if not document and not overrides:
            name = str(path) if path is not None and text is None else "the configuration"
            raise ConfigError(f"{name} is empty (an annotated template: femhomog "
                              f"{self.job} --print-config)")
        base = Path(path).absolute().parent if path is not None else Path.cwd()
        document = self.resolve_paths(document, base)
        document = apply_overrides(document, overrides, schema=self)
        return self.resolve_paths(document, Path.cwd())

    def load(
        self,
        path: str | Path | None,
        overrides: Sequence[str] = (),
        *,
        text: str | None = None,
    ) -> Any:
        """Load, validate and check a job configuration.

        Parameters
        ----------
        path
            The TOML file.  With ``text`` it is not read; it then only serves as
            the base for relative paths and the name in messages (may be None:
            current directory).
        overrides
            ``"section.key=value"`` strings (see :func:`apply_overrides`), e.g.
            the CLI's ``--set``.  Relative paths in them are relative to the
            current directory.
        text
            TOML text to use instead of reading ``path``.

        Returns
        -------
        object
            An instance of :attr:`config`: each section as its typed dataclass,
            and ``raw``, the merged configuration after overrides, defaults and
            checks in JSON-serializable form (for the run metadata).

        Raises
        ------
        ConfigError
            Anything wrong with the file, the overrides or the values.
        """
        if self.config is None:
            raise TypeError(f"schema {self.job!r} has no job configuration class")
        values = self.validate(self.read(path, overrides, text=text))
        raw = to_jsonable(values)
        for check in self.checks:
            check(values, raw)
        typed = {sec.name: sec.cls(**values[sec.name]) for sec in self.sections
                 if sec.cls is not None}
        return self.config(**typed, raw=raw)

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


# --------------------------------------------------------------------------
# --set overrides
# --------------------------------------------------------------------------


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
