"""The SPD validator of femhomog.spd: verdicts independent of the scale, one-line messages."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from femhomog import ConfigError
from femhomog.spd import check_spd, check_symmetric, definiteness

SPD = np.array([[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 1.5]])


def message(fn) -> str:
    with pytest.raises(ConfigError) as info:
        fn()
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_imports_no_dolfinx() -> None:
    code = "import sys, femhomog.spd; assert 'dolfinx' not in sys.modules, 'dolfinx imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_numbers() -> None:
    assert check_spd(2, "coefficient") == 2.0
    assert check_spd(1e-300, "coefficient") == 1e-300  # a number is its own scale
    assert message(lambda: check_spd(-3, "coefficient", where=" in physical group 2")) == (
        "coefficient is not positive: a = -3 in physical group 2"
    )
    assert "not positive: a = 0" in message(lambda: check_spd(0.0, "coefficient"))
    assert "not finite" in message(lambda: check_spd(float("nan"), "coefficient"))


@pytest.mark.parametrize("scale", [1e-30, 1e-8, 1.0, 1e8, 1e30])
def test_verdicts_do_not_depend_on_the_scale(scale) -> None:
    """Every tolerance is relative to the matrix itself."""
    np.testing.assert_array_equal(check_spd(scale * SPD, "a"), scale * SPD)
    # rounding-level asymmetry passes (and is removed), a real one does not
    tiny = scale * (SPD + np.array([[0, 1e-14, 0], [0, 0, 0], [0, 0, 0]]))
    out = check_spd(tiny, "a")
    assert np.array_equal(out, out.T)
    skew = scale * (SPD + np.array([[0, 1e-6, 0], [0, 0, 0], [0, 0, 0]]))
    assert "a[0][1] = " in message(lambda: check_spd(skew, "material for physical group 4"))
    # numerically singular: lambda_min at the rounding level of the norm
    singular = scale * np.diag([1.0, 1.0, 1e-16])
    msg = message(lambda: check_spd(singular, "a"))
    assert "not positive definite" in msg and "times its norm" in msg
    indefinite = scale * np.array([[1.0, 2.0], [2.0, 1.0]])
    assert f"smallest eigenvalue of a is {-scale:.6g}" in message(lambda: check_spd(indefinite, "a"))


def test_messages_keep_their_wording() -> None:
    assert message(lambda: check_spd([[1, 0.1], [0.2, 1]], "material for physical group 4")) == (
        "material for physical group 4 is not symmetric: a[0][1] = 0.1 but a[1][0] = 0.2"
    )
    assert message(
        lambda: check_spd([[1, 2], [2, 1]], "coefficient", where=" in physical group 2")
    ) == "coefficient is not positive definite: smallest eigenvalue of a is -1 in physical group 2"
    assert message(lambda: check_spd(np.zeros((2, 2)), "a0", symbol="a0")).startswith(
        "a0 is not positive definite: smallest eigenvalue of a0 is 0"
    )
    assert "not finite" in message(lambda: check_spd([[1, np.inf], [np.inf, 1]], "a"))
    assert "square" in message(lambda: check_symmetric([[1, 2, 3]], "a"))


def test_symmetric_part_only() -> None:
    """symmetric=False: a non-symmetric matrix is judged by its symmetric part."""
    ok = np.array([[1.0, 0.5], [0.0, 1.0]])
    assert np.array_equal(check_spd(ok, "k", symmetric=False), ok)
    msg = message(lambda: check_spd([[1.0, 2.0], [0.0, 1.0]], "k", symmetric=False))
    assert "smallest eigenvalue of the symmetric part of a is 0" in msg


def test_definiteness_batch() -> None:
    vals = np.stack([SPD, -SPD, np.full((3, 3), np.nan), 1e-40 * SPD])
    lam, ok = definiteness(vals)
    assert ok.tolist() == [True, False, False, True]
    assert np.isnan(lam[2]) and lam[1] < 0 < lam[0]
    lam, ok = definiteness(np.array([1.0, 0.0, -2.0, np.inf, np.nan]))
    assert ok.tolist() == [True, False, False, False, False]
