"""TOML in and out: reading files, writing values and their JSON form."""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from femhomog import ConfigError


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
