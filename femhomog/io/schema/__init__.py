"""The schema engine of the TOML job configurations.

A configuration file is a TOML document made of *sections* (tables) holding
*fields* (keys).  A job declares each section once, as a class whose
attributes are :func:`option` fields (validator, default, help)::

    @section("run", help="Time stepping.")
    class RunSection:
        steps: int = option(integer(1), 10, "Number of steps.")
        dt: float = option(real(0), 0.1, "Time step.")

:func:`section` turns the class into a frozen dataclass (the typed section of
the loaded configuration) and attaches the runtime description
(:class:`Section` of :class:`Field`), which :class:`Schema` uses for

* validation (unknown sections/keys with a did-you-mean hint, types, ranges,
  defaults, cross-field checks),
* the annotated template printed by ``femhomog <job> --print-config``,
* the ``--set section.key=value`` overrides (:func:`apply_overrides`),
* the JSON-serializable ``raw`` dictionary stored with the run results.

The job configuration is a frozen dataclass with one field per section (named
as the table) plus ``raw``; :meth:`Schema.of` builds the schema from it and
:meth:`Schema.load` returns it filled in.  The job schemas live next to their
physics (:mod:`femhomog.cell.config`, :mod:`femhomog.micromag.config`); this
module knows none of them.

Every error is a :class:`femhomog.ConfigError` with a one-line message that
names the offending key, e.g. ``cell.degree must be an integer >= 1, got 'two'``.
Validation is a pure function of the file contents, the overrides and the file
system, so all MPI ranks reach the same verdict without communicating.
"""

from femhomog.io.schema._schema import (
    Field,
    JobCheck,
    Schema,
    Section,
    apply_overrides,
    option,
    section,
    section_of,
)
from femhomog.io.schema._toml import read_toml, to_jsonable, to_toml
from femhomog.io.schema._validators import (
    REQUIRED,
    Validator,
    boolean,
    choice,
    existing_file,
    integer,
    is_int,
    is_number,
    real,
    show,
    string,
)

__all__ = [
    "REQUIRED",
    "Field",
    "JobCheck",
    "Schema",
    "Section",
    "Validator",
    "apply_overrides",
    "boolean",
    "choice",
    "existing_file",
    "integer",
    "is_int",
    "is_number",
    "option",
    "read_toml",
    "real",
    "section",
    "section_of",
    "show",
    "string",
    "to_jsonable",
    "to_toml",
]
