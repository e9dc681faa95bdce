"""Value converters of the LLG schema, and the tensors.json reader."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from femhomog import ConfigError
from femhomog.io.schema import Validator, is_int, is_number, show
from femhomog.io.values import MATRIX, square_matrix

__all__ = [
    "CHECKPOINT_WALL_DEFAULT",
    "PROGRESS_DEFAULT",
    "convert_checkpoint_every",
    "convert_checkpoint_wall",
    "convert_expressions3",
    "convert_lengths",
    "convert_progress",
    "read_homogenized_matrix",
    "vector3",
]

#: Default wall-clock seconds between two progress lines (output.progress = true).
PROGRESS_DEFAULT = 5.0
#: Default wall-clock seconds between two checkpoints (output.checkpoint_wall).
CHECKPOINT_WALL_DEFAULT = 600.0


def convert_lengths(value: Any, key: str) -> float | list[float]:
    if is_number(value):
        if not math.isfinite(value) or value <= 0:
            raise ValueError
        return float(value)
    if (isinstance(value, list) and 1 <= len(value) <= 3
            and all(is_number(v) and math.isfinite(v) and v > 0 for v in value)):
        return [float(v) for v in value]
    raise ValueError


def vector3(*, nonzero: bool) -> Validator:
    describe = "3 finite numbers" + (", not all zero" if nonzero else "") + ", e.g. [0, 0, 1]"

    def convert(value: Any, key: str) -> list[float]:
        if not (isinstance(value, list) and len(value) == 3
                and all(is_number(v) and math.isfinite(v) for v in value)):
            raise ValueError
        out = [float(v) for v in value]
        if nonzero and not any(out):
            raise ValueError
        return out

    return Validator(describe, convert)


def convert_expressions3(value: Any, key: str) -> list[float | str]:
    """Three numbers or non-empty expression strings (parsed in the loader)."""
    if not (isinstance(value, list) and len(value) == 3):
        raise ValueError
    out: list[float | str] = []
    for v in value:
        if is_number(v) and math.isfinite(v):
            out.append(float(v))
        elif isinstance(v, str) and v.strip():
            out.append(v)
        else:
            raise ValueError
    return out


def convert_progress(value: Any, key: str) -> float | None:
    """``false`` -> None (off), ``true`` -> 5 s, a number -> seconds between lines."""
    if isinstance(value, bool):
        return PROGRESS_DEFAULT if value else None
    if is_number(value) and math.isfinite(value) and value >= 0:
        return float(value)
    raise ValueError




def convert_checkpoint_every(value: Any, key: str) -> int:
    """``false`` or 0 -> 0 (off), an integer N >= 1 -> every N steps."""
    if value is False:
        return 0
    if is_int(value) and value >= 0:
        return int(value)
    raise ValueError


def convert_checkpoint_wall(value: Any, key: str) -> float:
    """``false`` or 0 -> 0.0 (off), a number > 0 -> seconds of wall time."""
    if value is False:
        return 0.0
    if is_number(value) and not isinstance(value, bool) and math.isfinite(value) and value >= 0:
        return float(value)
    raise ValueError



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
    if is_number(a0):  # a 1D cell may store a scalar
        a0 = [[a0]]
    what = f"{key}: a0 of {path}"
    try:
        a = square_matrix(a0, what, allow_strings=False)
    except ValueError:
        raise ConfigError(f"{what} must be {MATRIX}, got {show(a0)}") from None
    from femhomog.spd import check_symmetric  # local: keeps the schema import light

    return check_symmetric(a, what, rtol=1e-10).tolist()

