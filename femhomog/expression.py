"""Safe math expressions in the cell variable ``y`` (pure python + numpy).

Coefficients such as ``a(y) = 1 + 0.5*sin(2*pi*y[0])`` come from user config
files, so the text is *never* given to ``eval``/``exec``.  It is parsed with
:func:`ast.parse` (``mode="eval"``) and every node is checked against a small
whitelist:

* numeric literals (``int``/``float``, e.g. ``2``, ``0.5``, ``1e-3``),
* binary ``+ - * / **``, unary ``+ -`` and parentheses,
* ``y[i]`` with an integer literal ``0 <= i < dim``,
* the names ``pi`` and ``e``,
* one-argument calls of ``sin cos tan exp log sqrt abs tanh sinh cosh atan``.

Anything else raises :class:`femhomog.ConfigError` with a one-line message that
names the offending piece and the expression.  The validated tree is turned
into a private tuple representation, which is then evaluated with numpy
(:meth:`Expression.evaluate`) or translated to UFL (:meth:`Expression.to_ufl`,
ufl is imported lazily; this module never imports dolfinx).
"""

from __future__ import annotations

import ast
import math
import numbers
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from femhomog import ConfigError

__all__ = ["CONSTANTS", "FUNCTIONS", "Expression", "parse_expression"]

#: allowed functions: name -> numpy implementation (the UFL one is looked up in to_ufl)
FUNCTIONS: dict[str, Any] = {
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "tanh": np.tanh,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "atan": np.arctan,
}

#: allowed named constants
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}

_BINOPS: dict[type, str] = {
    ast.Add: "add",
    ast.Sub: "sub",
    ast.Mult: "mul",
    ast.Div: "div",
    ast.Pow: "pow",
}
_OP_SYMBOLS: dict[type, str] = {
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
    ast.Not: "not",
    ast.Invert: "~",
}
# Friendly names for node types that are rejected as a whole.
_NODE_NAMES: dict[type, str] = {
    ast.Compare: "comparison",
    ast.BoolOp: "boolean operator",
    ast.IfExp: "conditional expression",
    ast.Lambda: "lambda",
    ast.Tuple: "tuple",
    ast.List: "list",
    ast.Set: "set",
    ast.Dict: "dict",
    ast.ListComp: "comprehension",
    ast.SetComp: "comprehension",
    ast.DictComp: "comprehension",
    ast.GeneratorExp: "generator expression",
    ast.JoinedStr: "f-string",
    ast.NamedExpr: "assignment expression",
    ast.Starred: "starred expression",
    ast.Slice: "slice",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}

# Longer texts / deeper trees are certainly not coefficient formulas; the limits
# keep the recursive walks far from Python's recursion limit.
_MAX_LENGTH = 10_000
_MAX_DEPTH = 100

# Integral constant exponents up to this value stay integers in UFL, so that
# UFL's degree estimation sees y[0]**2 as a polynomial (degree 2, not "+2").
_MAX_INT_EXPONENT = 16

# Tree node (private): ("num", float) | ("y", int) | ("neg", node)
# | (binop, node, node) with binop in add/sub/mul/div/pow | ("call", fname, node)
_Node = tuple


def _one_line(text: str, limit: int = 200) -> str:
    """Collapse whitespace (messages are one line) and shorten very long text."""
    s = " ".join(text.split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


@dataclass(frozen=True)
class Expression:
    """A validated scalar expression in the cell variable ``y``.

    Create it with :func:`parse_expression`.  Instances are immutable and
    hashable; equality compares ``(text, dim)``.

    Attributes
    ----------
    text : str
        The expression as given (stripped; ``repr`` of a number given as number).
    dim : int
        Dimension of ``y`` (1, 2 or 3); components ``y[0] .. y[dim-1]`` are allowed.
    """

    text: str
    dim: int
    _tree: _Node = field(repr=False, compare=False)
    #: label used in error messages, e.g. ``"coefficient a[0][1]"``
    what: str = field(default="coefficient", repr=False, compare=False)

    def __str__(self) -> str:
        return self.text

    @property
    def constant(self) -> bool:
        """True if the expression does not depend on ``y``."""
        # Constant sub-trees are folded at parse time, so a constant expression
        # is a single number node.
        return self._tree[0] == "num"

    @property
    def components(self) -> frozenset[int]:
        """The components ``i`` of ``y[i]`` that occur in the expression."""
        return frozenset(_components(self._tree))

    def value(self) -> float:
        """Value of a constant expression.

        Raises
        ------
        ValueError
            If the expression depends on ``y``.
        """
        if not self.constant:
            raise ValueError(f"expression '{self.text}' depends on y")
        return float(self._tree[1])

    def evaluate(self, points: np.ndarray) -> np.ndarray:
        """Evaluate at points.

        Parameters
        ----------
        points : numpy.ndarray
            Shape ``(N, k)`` with ``k >= dim``; only the first ``dim`` columns
            are used (so dolfinx' 3-column coordinates can be passed directly).
            For ``dim == 1`` a flat ``(N,)`` array is accepted too.

        Returns
        -------
        numpy.ndarray
            Shape ``(N,)``, float64.  Values outside the domain of a function
            (``log(-1)``, ``1/0``) are ``nan``/``inf``, without warnings; callers
            that need finite values check them (see ``CellCoefficient.check``).
        """
        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim == 1 and self.dim == 1:
            pts = pts[:, np.newaxis]
        if pts.ndim != 2 or pts.shape[1] < self.dim:
            raise ValueError(
                f"points must have shape (N, >={self.dim}) to evaluate '{self.text}', "
                f"got {pts.shape}"
            )
        cols = [pts[:, i] for i in range(self.dim)]
        with np.errstate(all="ignore"):
            val = _eval_numpy(self._tree, cols)
        return np.array(np.broadcast_to(val, (pts.shape[0],)), dtype=np.float64)

    def to_ufl(self, y: Any) -> Any:
        """Translate to a UFL expression.

        Parameters
        ----------
        y : ufl.core.expr.Expr or sequence
            The cell variable: any UFL vector with at least ``dim`` components,
            e.g. ``ufl.SpatialCoordinate(mesh)`` or ``x / eps``.  ``y[i]`` in the
            text becomes ``y[i]``.

        Returns
        -------
        ufl.core.expr.Expr
            A scalar UFL expression (a ``FloatValue`` for constant expressions).
        """
        import ufl  # lazily: the parser itself must work without the FEniCSx stack

        shape = getattr(y, "ufl_shape", None)
        if shape is not None and (len(shape) != 1 or shape[0] < self.dim):
            raise ValueError(
                f"y must be a UFL vector with at least {self.dim} components "
                f"to build '{self.text}', got shape {shape}"
            )
        funcs = {
            "sin": ufl.sin,
            "cos": ufl.cos,
            "tan": ufl.tan,
            "exp": ufl.exp,
            "log": ufl.ln,
            "sqrt": ufl.sqrt,
            "abs": abs,  # UFL expressions implement __abs__
            "tanh": ufl.tanh,
            "sinh": ufl.sinh,
            "cosh": ufl.cosh,
            "atan": ufl.atan,
        }
        try:
            return ufl.as_ufl(_to_ufl(self._tree, y, funcs, ufl))
        except (ValueError, ArithmeticError) as err:  # e.g. UFL's "Division by zero!"
            raise ConfigError(
                f"{self.what} '{_one_line(self.text)}': cannot build the UFL form: "
                f"{_one_line(str(err))}"
            ) from None


def parse_expression(text: str | float, dim: int, *, what: str = "coefficient") -> Expression:
    """Parse and validate an expression in ``y`` without executing it.

    Parameters
    ----------
    text : str or int or float
        The expression, e.g. ``"1 + 0.5*sin(2*pi*y[0])"``; a number gives a
        constant expression.
    dim : int
        Dimension of the cell (1, 2 or 3).
    what : str
        What the expression is, used at the start of error messages
        (e.g. ``"coefficient a[0][1]"``).

    Returns
    -------
    Expression

    Raises
    ------
    ConfigError
        For anything outside the whitelist, syntax errors, out-of-range
        components ``y[i]``, or constant parts that are not finite
        (``log(-1)``, ``1/0``).
    """
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or not 1 <= dim <= 3:
        raise ConfigError(f"{what}: dimension must be 1, 2 or 3, got {dim!r}")
    dim = int(dim)

    if isinstance(text, (bool, np.bool_)):
        raise ConfigError(f"{what} must be a number or an expression in y, got {text!r}")
    if isinstance(text, numbers.Real):
        value = float(text)
        if not math.isfinite(value):
            raise ConfigError(f"{what} must be finite, got {value!r}")
        src = repr(int(text)) if isinstance(text, numbers.Integral) else repr(value)
        return Expression(src, dim, ("num", value), what)
    if not isinstance(text, str):
        raise ConfigError(
            f"{what} must be a number or an expression in y (a string), "
            f"got {type(text).__name__} {_one_line(repr(text), 80)}"
        )

    src = text.strip()
    shown = _one_line(src)
    prefix = f"{what} '{shown}'"
    if not src:
        raise ConfigError(f"{what} is an empty expression")
    if len(src) > _MAX_LENGTH:
        raise ConfigError(f"{prefix}: expression longer than {_MAX_LENGTH} characters")
    try:
        tree = ast.parse(src, mode="eval")
    except SyntaxError as err:
        raise ConfigError(
            f"{prefix}: syntax error: {_one_line(err.msg or 'invalid syntax')}"
        ) from None
    except (ValueError, RecursionError, MemoryError) as err:  # null bytes, absurd nesting
        raise ConfigError(
            f"{prefix}: cannot parse: {_one_line(str(err)) or type(err).__name__}"
        ) from None

    node = _Validator(src, dim, prefix).visit(tree.body, 0)
    node = _fold(node, src, prefix)
    return Expression(src, dim, node, what)


class _Validator:
    """Walks a Python AST, rejects everything not whitelisted, returns a private tree."""

    def __init__(self, src: str, dim: int, prefix: str) -> None:
        self.src = src
        self.dim = dim
        self.prefix = prefix
        self.allowed = f"allowed: {self._components()}, pi, e, " + ", ".join(FUNCTIONS)

    def _components(self) -> str:
        return "y[0]" if self.dim == 1 else f"y[0..{self.dim - 1}]"

    def _seg(self, node: ast.AST) -> str:
        """Source text of a node (for messages)."""
        try:
            seg = ast.get_source_segment(self.src, node)
        except Exception:  # noqa: BLE001 - positions are best effort
            seg = None
        if seg is None:
            try:
                seg = ast.unparse(node)
            except Exception:  # noqa: BLE001
                seg = type(node).__name__
        return _one_line(seg, 80)

    def _fail(self, msg: str) -> ConfigError:
        return ConfigError(f"{self.prefix}: {msg}")

    def visit(self, node: ast.AST, depth: int) -> _Node:
        if depth > _MAX_DEPTH:
            raise self._fail(f"expression is nested deeper than {_MAX_DEPTH} levels")
        d = depth + 1

        if isinstance(node, ast.Constant):
            return self._constant(node)

        if isinstance(node, ast.BinOp):
            op = _BINOPS.get(type(node.op))
            if op is None:
                sym = _OP_SYMBOLS.get(type(node.op), type(node.op).__name__)
                raise self._fail(
                    f"operator '{sym}' is not allowed in '{self._seg(node)}' "
                    "(allowed: + - * / ** and parentheses)"
                )
            return (op, self.visit(node.left, d), self.visit(node.right, d))

        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.UAdd):
                return self.visit(node.operand, d)
            if isinstance(node.op, ast.USub):
                return ("neg", self.visit(node.operand, d))
            sym = _OP_SYMBOLS.get(type(node.op), type(node.op).__name__)
            raise self._fail(
                f"operator '{sym}' is not allowed in '{self._seg(node)}' "
                "(allowed: + - * / ** and parentheses)"
            )

        if isinstance(node, ast.Name):
            if node.id in CONSTANTS:
                return ("num", CONSTANTS[node.id])
            if node.id == "y":
                raise self._fail(f"'y' must be indexed by a component, {self._components()}")
            if node.id in FUNCTIONS:
                raise self._fail(
                    f"function '{node.id}' must be called with one argument, e.g. {node.id}(y[0])"
                )
            raise self._fail(f"unknown name '{node.id}' ({self.allowed})")

        if isinstance(node, ast.Subscript):
            return self._subscript(node)

        if isinstance(node, ast.Call):
            return self._call(node, d)

        if isinstance(node, ast.Attribute):
            raise self._fail(f"attribute access '{self._seg(node)}' is not allowed")

        kind = _NODE_NAMES.get(type(node), type(node).__name__)
        raise self._fail(f"{kind} '{self._seg(node)}' is not allowed ({self.allowed})")

    def _constant(self, node: ast.Constant) -> _Node:
        v = node.value
        if isinstance(v, bool) or v is None or v is Ellipsis:
            raise self._fail(f"'{self._seg(node)}' is not a number")
        if isinstance(v, (str, bytes)):
            raise self._fail(f"string {_one_line(repr(v), 80)} is not allowed")
        if isinstance(v, complex):
            raise self._fail(f"complex number '{self._seg(node)}' is not allowed")
        if isinstance(v, (int, float)):
            try:
                f = float(v)
            except OverflowError:
                raise self._fail(f"number '{self._seg(node)}' is too large") from None
            if not math.isfinite(f):
                raise self._fail(f"number '{self._seg(node)}' is not finite")
            return ("num", f)
        raise self._fail(f"constant '{self._seg(node)}' is not allowed")

    def _subscript(self, node: ast.Subscript) -> _Node:
        if not (isinstance(node.value, ast.Name) and node.value.id == "y"):
            raise self._fail(
                f"only y can be indexed, not '{self._seg(node.value)}' in '{self._seg(node)}'"
            )
        idx = node.slice
        if not (
            isinstance(idx, ast.Constant)
            and isinstance(idx.value, int)
            and not isinstance(idx.value, bool)
        ):
            raise self._fail(
                f"index of y must be an integer literal in '{self._seg(node)}' "
                f"(allowed: {self._components()})"
            )
        i = idx.value
        if not 0 <= i < self.dim:
            raise self._fail(
                f"component '{self._seg(node)}' out of range for a {self.dim}D cell "
                f"(allowed: {self._components()})"
            )
        return ("y", i)

    def _call(self, node: ast.Call, depth: int) -> _Node:
        func = node.func
        if not isinstance(func, ast.Name):
            raise self._fail(
                f"call of '{self._seg(func)}' is not allowed "
                f"(allowed functions: {', '.join(FUNCTIONS)})"
            )
        if func.id not in FUNCTIONS:
            raise self._fail(
                f"unknown function '{func.id}' in '{self._seg(node)}' "
                f"(allowed functions: {', '.join(FUNCTIONS)})"
            )
        if node.keywords:
            raise self._fail(f"keyword arguments are not allowed in '{self._seg(node)}'")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise self._fail(f"starred arguments are not allowed in '{self._seg(node)}'")
        if len(node.args) != 1:
            raise self._fail(
                f"'{func.id}' takes exactly one argument, got {len(node.args)} "
                f"in '{self._seg(node)}'"
            )
        return ("call", func.id, self.visit(node.args[0], depth))


def _components(node: _Node) -> set[int]:
    kind = node[0]
    if kind == "y":
        return {node[1]}
    if kind == "num":
        return set()
    if kind == "call":
        return _components(node[2])
    return set().union(*(_components(c) for c in node[1:]))


def _eval_numpy(node: _Node, cols: list[np.ndarray]) -> Any:
    """Evaluate a tree; constants stay scalars (broadcast by the caller)."""
    kind = node[0]
    if kind == "num":
        return np.float64(node[1])
    if kind == "y":
        return cols[node[1]]
    if kind == "neg":
        return -_eval_numpy(node[1], cols)
    if kind == "call":
        return FUNCTIONS[node[1]](_eval_numpy(node[2], cols))
    a = _eval_numpy(node[1], cols)
    b = _eval_numpy(node[2], cols)
    if kind == "add":
        return a + b
    if kind == "sub":
        return a - b
    if kind == "mul":
        return a * b
    if kind == "div":
        return np.divide(a, b)
    if kind == "pow":
        # float64 power: 10**10**10 overflows to inf instead of building a huge int
        return np.power(a, b)
    raise AssertionError(f"unknown node {kind!r}")  # pragma: no cover


def _fold(node: _Node, src: str, prefix: str) -> _Node:
    """Replace constant sub-trees by their float value.

    This keeps UFL from doing exact integer arithmetic on literals (``10**10**10``
    would hang) or raising on ``sqrt(-1)``, and reports non-finite constant parts
    (``log(0)``) at parse time.
    """
    kind = node[0]
    if kind in ("num", "y"):
        return node
    if kind == "call":
        children: tuple = (node[1], _fold(node[2], src, prefix))
        args = (children[1],)
    else:
        children = tuple(_fold(c, src, prefix) for c in node[1:])
        args = children
    new = (kind, *children)
    if kind == "div" and children[1] == ("num", 0.0):
        raise ConfigError(f"{prefix}: division by zero in '{_unparse(new)}'")
    if all(a[0] == "num" for a in args):
        with np.errstate(all="ignore"):
            v = float(_eval_numpy(new, []))
        if not math.isfinite(v):
            raise ConfigError(f"{prefix}: constant part '{_unparse(new)}' evaluates to {v}")
        return ("num", v)
    return new


_SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}


def _unparse(node: _Node) -> str:
    """Text of a private tree (fully parenthesised; used in messages only)."""
    kind = node[0]
    if kind == "num":
        return repr(node[1])
    if kind == "y":
        return f"y[{node[1]}]"
    if kind == "neg":
        return f"-{_unparse(node[1])}"
    if kind == "call":
        return f"{node[1]}({_unparse(node[2])})"
    return f"({_unparse(node[1])} {_SYMBOL[kind]} {_unparse(node[2])})"


def _to_ufl(node: _Node, y: Any, funcs: dict[str, Any], ufl: Any) -> Any:
    kind = node[0]
    if kind == "num":
        return ufl.as_ufl(float(node[1]))
    if kind == "y":
        return y[node[1]]
    if kind == "neg":
        return -_to_ufl(node[1], y, funcs, ufl)
    if kind == "call":
        return ufl.as_ufl(funcs[node[1]](_to_ufl(node[2], y, funcs, ufl)))
    a = _to_ufl(node[1], y, funcs, ufl)
    if kind == "pow" and node[2][0] == "num":
        p = node[2][1]
        if float(p).is_integer() and 0 <= p <= _MAX_INT_EXPONENT:
            # IntValue exponent: UFL estimates the degree of y[0]**2 as 2, not as "+2"
            return a ** int(p)
    b = _to_ufl(node[2], y, funcs, ufl)
    if kind == "add":
        return a + b
    if kind == "sub":
        return a - b
    if kind == "mul":
        return a * b
    if kind == "div":
        return a / b
    if kind == "pow":
        return a**b
    raise AssertionError(f"unknown node {kind!r}")  # pragma: no cover
