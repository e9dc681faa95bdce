"""Tests of the safe expression parser (no dolfinx needed)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from femhomog import ConfigError
from femhomog.expression import Expression, parse_expression

# Points inside (0.1, 0.9)^3 keep log/sqrt/division in their domains.
_RNG = np.random.default_rng(7)
PTS = _RNG.uniform(0.1, 0.9, size=(50, 3))
Y0, Y1, Y2 = PTS[:, 0], PTS[:, 1], PTS[:, 2]

# (text, dim, numpy reference)
AGREEMENT = [
    ("1", 1, lambda: np.ones_like(Y0)),
    ("2.5", 2, lambda: np.full_like(Y0, 2.5)),
    ("1e-3", 2, lambda: np.full_like(Y0, 1e-3)),
    ("y[0]", 1, lambda: Y0),
    ("y[1]", 2, lambda: Y1),
    ("y[2]", 3, lambda: Y2),
    ("-y[0]", 2, lambda: -Y0),
    ("+y[0]", 2, lambda: Y0),
    ("--y[0]", 2, lambda: Y0),
    ("1 + 2*y[0] - y[1]/4", 2, lambda: 1 + 2 * Y0 - Y1 / 4),
    ("2**3", 1, lambda: np.full_like(Y0, 8.0)),
    ("2**-1", 1, lambda: np.full_like(Y0, 0.5)),
    ("1/2", 1, lambda: np.full_like(Y0, 0.5)),  # true division, not integer division
    ("-2**2", 1, lambda: np.full_like(Y0, -4.0)),  # Python precedence: -(2**2)
    ("2**3**2", 1, lambda: np.full_like(Y0, 512.0)),  # right associative
    ("y[0]**2 * y[1]", 2, lambda: Y0**2 * Y1),
    ("y[0]**0.5", 2, lambda: Y0**0.5),
    ("2**y[0]", 2, lambda: 2**Y0),
    ("(1 + y[0]) * (2 - y[1])", 2, lambda: (1 + Y0) * (2 - Y1)),
    ("pi", 1, lambda: np.full_like(Y0, np.pi)),
    ("e", 1, lambda: np.full_like(Y0, np.e)),
    ("e**y[0]", 1, lambda: np.exp(Y0)),
    (
        "1 + 0.5*sin(2*pi*y[0])*sin(2*pi*y[1])",
        2,
        lambda: 1 + 0.5 * np.sin(2 * np.pi * Y0) * np.sin(2 * np.pi * Y1),
    ),
    ("cos(pi*y[2])", 3, lambda: np.cos(np.pi * Y2)),
    ("tan(y[0])", 1, lambda: np.tan(Y0)),
    ("exp(-y[0]*y[1])", 2, lambda: np.exp(-Y0 * Y1)),
    ("log(y[0])", 1, lambda: np.log(Y0)),
    ("sqrt(y[0] + y[1])", 2, lambda: np.sqrt(Y0 + Y1)),
    ("abs(y[0] - 0.5)", 1, lambda: np.abs(Y0 - 0.5)),
    ("tanh(10*(y[0]-0.5))", 1, lambda: np.tanh(10 * (Y0 - 0.5))),
    ("sinh(y[1])", 2, lambda: np.sinh(Y1)),
    ("cosh(y[1])", 2, lambda: np.cosh(Y1)),
    ("atan(y[0]/y[1])", 2, lambda: np.arctan(Y0 / Y1)),
    ("sin(cos(exp(y[0])))", 1, lambda: np.sin(np.cos(np.exp(Y0)))),
    ("  1 +\ty[0]  ", 1, lambda: 1 + Y0),
    ("(1 +\n y[0])", 1, lambda: 1 + Y0),
    ("10 - 9*tanh(1e3*(y[0]-0.5))", 1, lambda: 10 - 9 * np.tanh(1e3 * (Y0 - 0.5))),
]


@pytest.mark.parametrize("text,dim,ref", AGREEMENT, ids=[a[0].strip() for a in AGREEMENT])
def test_agrees_with_numpy(text: str, dim: int, ref) -> None:
    expr = parse_expression(text, dim)
    got = expr.evaluate(PTS[:, :dim])
    assert got.shape == (PTS.shape[0],)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, ref(), rtol=1e-14, atol=1e-14)
    # extra columns (dolfinx 3-column coordinates) are ignored
    np.testing.assert_allclose(expr.evaluate(PTS), got, rtol=0, atol=0)


@pytest.mark.parametrize("text,dim,ref", AGREEMENT, ids=[a[0].strip() for a in AGREEMENT])
def test_ufl_translation_agrees(text: str, dim: int, ref) -> None:
    """to_ufl uses the right UFL operators (UFL folds constant leaves to a number)."""
    ufl = pytest.importorskip("ufl")
    expr = parse_expression(text, dim)
    k = 3
    y = [ufl.as_ufl(float(v)) for v in PTS[k, :dim]]
    val = float(expr.to_ufl(y).evaluate((), {}, (), {}))
    assert val == pytest.approx(ref()[k], rel=1e-13, abs=1e-14)


@pytest.mark.parametrize("value", [0, 3, -2, 0.25, 1e-12, np.float64(4.5), np.int64(7)])
def test_numbers_give_constants(value) -> None:
    expr = parse_expression(value, 2)
    assert expr.constant
    assert expr.value() == float(value)
    np.testing.assert_array_equal(expr.evaluate(np.zeros((4, 2))), np.full(4, float(value)))


def test_constant_property() -> None:
    assert parse_expression("2*pi + sin(1)", 2).constant
    assert parse_expression("0*y[0] + 1", 2).constant is False  # depends on y syntactically
    assert not parse_expression("y[1]", 2).constant
    assert parse_expression("y[0] + y[2]", 3).components == {0, 2}
    with pytest.raises(ValueError):
        parse_expression("y[0]", 2).value()


def test_immutable_and_hashable() -> None:
    a = parse_expression("1 + y[0]", 2)
    b = parse_expression(" 1 + y[0] ", 2)
    assert isinstance(a, Expression)
    assert a == b and hash(a) == hash(b)
    assert a != parse_expression("1 + y[0]", 3)
    assert len({a, b, parse_expression("y[0] + 1", 2)}) == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.text = "2"  # type: ignore[misc]
    assert str(a) == "1 + y[0]"


def test_evaluate_shapes() -> None:
    e1 = parse_expression("2*y[0]", 1)
    np.testing.assert_allclose(e1.evaluate(np.array([0.5, 1.0])), [1.0, 2.0])  # flat for 1D
    e2 = parse_expression("y[1]", 2)
    assert e2.evaluate(np.zeros((0, 3))).shape == (0,)
    with pytest.raises(ValueError):
        e2.evaluate(np.zeros((5, 1)))  # too few columns
    with pytest.raises(ValueError):
        e2.evaluate(np.zeros(5))


def test_domain_errors_give_nan_without_warning() -> None:
    with np.errstate(all="raise"):
        v = parse_expression("log(y[0]) + 1/y[1]", 2).evaluate(np.array([[-1.0, 1.0], [1.0, 0.0]]))
    assert np.isnan(v[0]) and np.isinf(v[1])


def test_huge_powers_do_not_hang() -> None:
    # floats overflow to inf instead of Python building a 10**10**10-digit integer
    v = parse_expression("y[0]**(10**10)", 1).evaluate(np.array([[2.0]]))
    assert np.isinf(v[0])


@pytest.mark.parametrize("dim", [0, 4, -1, 2.0, True, "2", None])
def test_bad_dim(dim) -> None:
    with pytest.raises(ConfigError, match="dimension"):
        parse_expression("1", dim)  # type: ignore[arg-type]


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_component_bounds(dim: int) -> None:
    parse_expression(f"y[{dim - 1}]", dim)
    with pytest.raises(ConfigError, match=rf"'y\[{dim}\]' out of range for a {dim}D cell"):
        parse_expression(f"1 + y[{dim}]", dim)


# (text, substring the message must contain).  Every message starts with the
# expression itself, checked separately.
REJECT = [
    ("1 + z", "unknown name 'z' (allowed: y[0..1], pi, e, sin, cos"),
    ("x", "unknown name 'x'"),
    ("Y[0]", "only y can be indexed, not 'Y'"),
    ("y", "'y' must be indexed"),
    ("y + 1", "'y' must be indexed"),
    ("y[4]", "'y[4]' out of range"),
    ("y[-1]", "index of y must be an integer literal in 'y[-1]'"),
    ("y[0.5]", "index of y must be an integer literal"),
    ("y[True]", "index of y must be an integer literal"),
    ("y[0:1]", "index of y must be an integer literal"),
    ("y[0][0]", "only y can be indexed, not 'y[0]'"),
    ("y[pi]", "index of y must be an integer literal"),
    ("x[0]", "only y can be indexed, not 'x'"),
    ("sin", "function 'sin' must be called"),
    ("sin(y[0], 1)", "'sin' takes exactly one argument, got 2"),
    ("atan()", "'atan' takes exactly one argument, got 0"),
    ("sin(x=1)", "keyword arguments are not allowed in 'sin(x=1)'"),
    ("sin(*y)", "starred arguments are not allowed"),
    ("max(y[0], 1)", "unknown function 'max'"),
    ("atan2(y[0], 1)", "unknown function 'atan2'"),
    ("np.sin(y[0])", "call of 'np.sin' is not allowed"),
    ("math.pi", "attribute access 'math.pi' is not allowed"),
    ("y.real", "attribute access 'y.real'"),
    ("(1).__class__", "attribute access"),
    ("__import__('os').system('echo hacked')", "call of '__import__('os').system' is not allowed"),
    ("__import__('os')", "unknown function '__import__'"),
    ("eval('1')", "unknown function 'eval'"),
    ("exec('import os')", "unknown function 'exec'"),
    ("open('/etc/passwd')", "unknown function 'open'"),
    ("globals()", "unknown function 'globals'"),
    ("__builtins__", "unknown name '__builtins__'"),
    ("(lambda: 1)()", "call of 'lambda: 1' is not allowed"),
    ("lambda: 1", "lambda 'lambda: 1' is not allowed"),
    ("'abc'", "string 'abc' is not allowed"),
    ("b'abc'", "string b'abc' is not allowed"),
    ("f'{y}'", "f-string"),
    ("True", "'True' is not a number"),
    ("None", "'None' is not a number"),
    ("...", "'...' is not a number"),
    ("1j", "complex number '1j' is not allowed"),
    ("y[0] < 1", "comparison 'y[0] < 1' is not allowed"),
    ("y[0] == y[1]", "comparison"),
    ("y[0] and y[1]", "boolean operator 'y[0] and y[1]' is not allowed"),
    ("not y[0]", "operator 'not' is not allowed"),
    ("~1", "operator '~' is not allowed"),
    ("1 if y[0] else 2", "conditional expression '1 if y[0] else 2' is not allowed"),
    ("y[0] // 2", "operator '//' is not allowed in 'y[0] // 2'"),
    ("y[0] % 2", "operator '%' is not allowed"),
    ("y[0] @ y[1]", "operator '@' is not allowed"),
    ("1 << 2", "operator '<<' is not allowed"),
    ("1 ^ 2", "operator '^' is not allowed"),
    ("(1, 2)", "tuple '(1, 2)' is not allowed"),
    ("[1, 2]", "list '[1, 2]' is not allowed"),
    ("{1: 2}", "dict"),
    ("{1}", "set"),
    ("[i for i in y]", "comprehension"),
    ("sum(i for i in y)", "unknown function 'sum'"),
    ("1 +", "syntax error"),
    ("sin(y[0]", "syntax error"),
    ("y[0] = 1", "syntax error"),
    ("import os", "syntax error"),
    ("1; 2", "syntax error"),
    ("(x := 1)", "assignment expression"),
    ("1e999", "number '1e999' is not finite"),
    ("9" * 400, "is too large"),
    ("log(0) + y[0]", "constant part 'log(0.0)' evaluates to -inf"),
    ("sqrt(-1)", "constant part 'sqrt(-1.0)' evaluates to nan"),
    ("10**10**10", "evaluates to inf"),
    ("y[0]/0", "division by zero"),
    ("y[0]/(1 - 1)", "division by zero"),
    ("-" * 300 + "1", "nested deeper than"),
    ("(" * 300 + "1" + ")" * 300, "coefficient"),  # the Python parser's own limit
    ("", "empty expression"),
    ("   ", "empty expression"),
]


@pytest.mark.parametrize("text,needle", REJECT, ids=[r[0][:40] for r in REJECT])
def test_rejected(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_expression(text, 2)
    msg = str(info.value)
    assert needle in msg
    assert "\n" not in msg
    if text.strip() and len(text) < 100:
        assert msg.startswith(f"coefficient '{' '.join(text.split())}': ")


def test_what_in_message() -> None:
    with pytest.raises(ConfigError, match=r"^coefficient a\[0\]\[1\] '1 \+ z': unknown name 'z'"):
        parse_expression("1 + z", 2, what="coefficient a[0][1]")


def test_dim_one_allowed_list() -> None:
    with pytest.raises(ConfigError, match=r"\(allowed: y\[0\], pi, e, sin"):
        parse_expression("q", 1)


@pytest.mark.parametrize("value", [True, None, [1, 2], {"a": 1}, float("nan"), float("inf"), b"1"])
def test_bad_types(value) -> None:
    with pytest.raises(ConfigError):
        parse_expression(value, 2)  # type: ignore[arg-type]


def test_never_executes_code(tmp_path, monkeypatch) -> None:
    """Malicious text is rejected without running anything."""
    import builtins

    calls: list[str] = []
    real_import = builtins.__import__

    def spy_import(name, *args, **kwargs):
        calls.append(name)
        return real_import(name, *args, **kwargs)

    target = tmp_path / "hacked"
    attacks = [
        f"__import__('os').system('touch {target}')",
        f"open('{target}', 'w').write('x')",
        "[c for c in ().__class__.__base__.__subclasses__()]",
        f"(lambda: __import__('pathlib').Path('{target}').touch())()",
        f"exec(\"open('{target}', 'w')\")",
    ]
    monkeypatch.setattr(builtins, "__import__", spy_import)
    for text in attacks:
        with pytest.raises(ConfigError):
            parse_expression(text, 2)
    monkeypatch.setattr(builtins, "__import__", real_import)
    assert not target.exists()
    assert "os" not in calls and "pathlib" not in calls


def test_long_text_rejected() -> None:
    with pytest.raises(ConfigError, match="longer than"):
        parse_expression("+".join(["y[0]"] * 5000), 2)


def test_to_ufl_checks_vector_size() -> None:
    ufl = pytest.importorskip("ufl")
    expr = parse_expression("y[1]", 2)
    with pytest.raises(ValueError, match="at least 2 components"):
        expr.to_ufl(ufl.as_vector([ufl.as_ufl(1.0)]))
    assert math.isclose(float(expr.to_ufl(ufl.as_vector([1.0, 2.0, 3.0]))), 2.0)
