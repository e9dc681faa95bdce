"""Value types shared by several job schemas.

Square matrices of numbers or expressions (a coefficient tensor, A^H), the
coefficient ``a(y)`` of the cell and exchange terms (a number, an expression
in ``y`` or a matrix of those), expressions in the position ``x`` or the time
``t`` (initial data, applied fields, sources of every time-dependent job) and
the cell types of structured meshes.  Pure Python plus numpy.
"""

from __future__ import annotations

import math
import re
from typing import Any

from femhomog import ConfigError
from femhomog.io.schema import Validator, is_number, show

__all__ = [
    "CELL_TYPES_BY_DIM",
    "COEFFICIENT",
    "DEFAULT_CELL_TYPE",
    "DIM_OF_CELL_TYPE",
    "MATRIX",
    "convert_coefficient",
    "fit_cell_type",
    "parse_variable_expression",
    "square_matrix",
]

#: Cell types of the structured unit-cell meshes, by space dimension.
CELL_TYPES_BY_DIM: dict[int, tuple[str, ...]] = {
    1: ("interval",),
    2: ("triangle", "quadrilateral"),
    3: ("tetrahedron", "hexahedron"),
}
DEFAULT_CELL_TYPE = {1: "interval", 2: "quadrilateral", 3: "hexahedron"}
DIM_OF_CELL_TYPE = {ct: d for d, cts in CELL_TYPES_BY_DIM.items() for ct in cts}

MATRIX = "a d x d matrix (list of d lists of d entries, d = 1, 2 or 3)"


def square_matrix(value: Any, key: str, *, allow_strings: bool) -> list[list[Any]]:
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
            if is_number(entry) and math.isfinite(entry):
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
        from femhomog.spd import check_spd  # local: keeps `femhomog.io` import light (numpy)

        check_spd(out, key, symbol="the matrix", symmetric=False)
    return out


def convert_coefficient(value: Any, key: str) -> str | float | list[list[Any]]:
    if isinstance(value, str):
        if not value.strip():
            raise ValueError
        return value
    if is_number(value):
        if not math.isfinite(value) or value <= 0:
            raise ConfigError(f"{key} must be > 0, got {show(value)}")
        return float(value)
    if isinstance(value, list):
        return square_matrix(value, key, allow_strings=True)
    raise ValueError


#: A coefficient ``a(y)``: a number > 0, an expression string or a matrix of those.
COEFFICIENT = Validator(f"a number > 0, an expression string in y[0], y[1], y[2] or {MATRIX}",
                        convert_coefficient)


def fit_cell_type(values: dict[str, Any], section: str) -> None:
    """Fill the default ``cell_type`` of ``dim`` in ``values``, or check that it fits.

    ``values`` is the table ``[section]`` with keys ``dim`` (not None) and
    ``cell_type``.
    """
    dim, cell_type = values["dim"], values["cell_type"]
    if cell_type is None:
        values["cell_type"] = DEFAULT_CELL_TYPE[dim]
    elif DIM_OF_CELL_TYPE[cell_type] != dim:
        fitting = " or ".join(CELL_TYPES_BY_DIM[dim])
        raise ConfigError(f"{section}.cell_type '{cell_type}' does not fit {section}.dim = {dim} "
                          f"(use {fitting})")


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
        if is_number(value):
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
