"""Validators of single configuration values (the types of the schema language)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from femhomog import ConfigError


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


def is_int(value: Any) -> bool:
    # bool is a subclass of int in Python; `degree = true` must still be rejected.
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def integer(minimum: int | None = None, maximum: int | None = None) -> Validator:
    """An integer (not a bool, not a float such as ``2.0``) in ``[minimum, maximum]``.

    Type errors and values below ``minimum`` are reported as "an integer >=
    minimum"; values above ``maximum`` as "an integer <= maximum".
    """
    describe = "an integer" if minimum is None else f"an integer >= {minimum}"

    def convert(value: Any, key: str) -> int:
        if not is_int(value) or (minimum is not None and value < minimum):
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
        if not is_number(value):
            raise ValueError
        if not math.isfinite(value):
            if minimum is not None and maximum is not None:
                raise ValueError  # "a number in (a, b)" excludes inf and nan already
            # not "must be > 0, got inf"
            raise ValueError("a finite number" + describe.removeprefix("a number")
                             .removeprefix("a finite number"))
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
        path = absolute_path(value, Path.cwd())
        if suffixes and path.suffix.lower() not in suffixes:
            raise ValueError
        if not path.is_file():
            raise ConfigError(f"{key}: file not found: {path}")
        return path

    return Validator(kind, convert)


def absolute_path(value: str, base: Path) -> Path:
    """``value`` as an absolute, normalized path, relative ones taken against ``base``."""
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = base / path
    # normpath, not resolve(): keep the user's symlinks, just drop "./" and "x/..".
    return Path(os.path.normpath(path.absolute()))

