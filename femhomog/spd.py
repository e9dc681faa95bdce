"""The one check of "symmetric positive definite" for coefficients and tensors.

Every place that accepts a coefficient ``a`` (a number or a ``d x d`` matrix:
the cell coefficient, per-material values, the exchange coefficient ``a(x/eps)``
or ``A^H``, the homogenized ``a^0`` of the tensor algebra, the config
converters) asks the same two questions, answered here once:

* symmetric: ``max |a_ij - a_ji| <= rtol max |a_ij|``;
* positive definite: the smallest eigenvalue of the symmetric part exceeds
  :data:`DEFINITE_RTOL` times the spectral norm, ``lambda_min > rtol |lambda|_max``.
  Both tolerances are relative to the matrix's own size, never to a quantity
  that can vanish: a matrix that is definite only by round-off (``lambda_min``
  at the rounding level of its largest eigenvalue, e.g. ``diag(1, 1e-20)``) is
  rejected as the singular operator it is numerically; a zero matrix fails.
  For a number ``a`` the test is ``a > 0``.

Why a module of its own at the top of the package: its users sit in
different layers, some of which must not import FEniCSx (``femhomog.tensors``
is pure numpy, the config converters are imported by the CLI before dolfinx),
and the coefficient classes import dolfinx at module level.  It imports only
numpy and :class:`femhomog.ConfigError`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from femhomog import ConfigError

__all__ = [
    "DEFINITE_RTOL",
    "SYMMETRY_RTOL",
    "check_spd",
    "check_symmetric",
    "definiteness",
]

#: ``a_ij == a_ji`` up to this fraction of ``max |a|`` (pure rounding differences
#: such as ``0.1*y[0]`` vs ``y[0]*0.1`` pass, a genuine asymmetry does not).
SYMMETRY_RTOL = 1e-12
#: ``lambda_min`` must exceed this fraction of ``|lambda|_max``: eigenvalues are
#: computed to about ``n eps |lambda|_max``, so a smaller ``lambda_min`` is
#: indistinguishable from a singular matrix.
DEFINITE_RTOL = 1e-12


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def check_symmetric(
    a: Any, what: str, *, symbol: str = "a", rtol: float = SYMMETRY_RTOL
) -> np.ndarray:
    """``a`` as a finite square float array, symmetrized, or a one-line ConfigError.

    Parameters
    ----------
    a
        A square matrix (nested lists or array).
    what
        Subject of the message, e.g. ``"material for physical group 4"``.
    symbol
        Name of the matrix in the message (``a[i][j] = ...``).
    rtol
        Tolerance relative to ``max |a_ij|``.

    Returns
    -------
    numpy.ndarray
        ``(a + a^T)/2`` (rounding asymmetry removed).
    """
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ConfigError(f"{what} must be a square matrix, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"{what} is not finite: {arr.tolist()}")
    defect = np.abs(arr - arr.T)
    if arr.size and np.max(defect) > rtol * np.max(np.abs(arr)):
        i, j = np.unravel_index(np.argmax(defect), arr.shape)
        raise ConfigError(
            f"{what} is not symmetric: {symbol}[{i}][{j}] = {arr[i, j]:g} but "
            f"{symbol}[{j}][{i}] = {arr[j, i]:g}"
        )
    return 0.5 * (arr + arr.T)


def definiteness(values: Any, rtol: float = DEFINITE_RTOL) -> tuple[np.ndarray, np.ndarray]:
    """Smallest eigenvalues and the positive-definiteness test of a batch of values.

    Parameters
    ----------
    values
        Shape ``(N,)`` (numbers) or ``(N, n, n)`` (matrices; their symmetric
        part is used).
    rtol
        Relative tolerance of the test (module docstring).

    Returns
    -------
    lam : numpy.ndarray
        ``(N,)``: the numbers themselves, or the smallest eigenvalue of the
        symmetric part (nan where a value is not finite).
    ok : numpy.ndarray
        ``(N,)`` booleans: ``a > 0``, or ``lambda_min > rtol |lambda|_max``
        (False where not finite).
    """
    vals = np.asarray(values, dtype=np.float64)
    if vals.ndim == 1:
        finite = np.isfinite(vals)
        lam = np.where(finite, vals, np.nan)
        with np.errstate(invalid="ignore"):
            return lam, finite & (lam > 0)
    if vals.ndim != 3 or vals.shape[1] != vals.shape[2]:
        raise ValueError(f"expected shape (N,) or (N, n, n), got {vals.shape}")
    finite = np.all(np.isfinite(vals), axis=(1, 2))
    lam = np.full(vals.shape[0], np.nan)
    ok = np.zeros(vals.shape[0], dtype=bool)
    if np.any(finite):
        v = vals[finite]
        eig = np.linalg.eigvalsh(0.5 * (v + np.swapaxes(v, 1, 2)))
        norm = np.max(np.abs(eig), axis=1)
        lam[finite] = eig[:, 0]
        ok[finite] = eig[:, 0] > rtol * norm
    return lam, ok


def check_spd(
    a: Any,
    what: str,
    *,
    symbol: str = "a",
    where: str = "",
    symmetric: bool = True,
    symmetry_rtol: float = SYMMETRY_RTOL,
    rtol: float = DEFINITE_RTOL,
) -> float | np.ndarray:
    """``a`` (a number or a square matrix) if positive (definite), else a one-line ConfigError.

    Parameters
    ----------
    a
        A real number or a square matrix.
    what
        Subject of the message (``"coefficient"``, ``"a0"``, a config key).
    symbol
        Name of the value in the message (``smallest eigenvalue of a is ...``).
    where
        Appended to the message, e.g. ``" in physical group 2"``.
    symmetric
        Require symmetry (:func:`check_symmetric`); False tests only the
        symmetric part (e.g. a config value whose symmetry is checked later).
    symmetry_rtol, rtol
        Tolerances (module docstring).

    Returns
    -------
    float or numpy.ndarray
        The number, or the matrix symmetrized (if ``symmetric``) or as given.

    Raises
    ------
    ConfigError
        ``"{what} is not positive: a = -3{where}"`` or ``"{what} is not positive
        definite: smallest eigenvalue of a is -1{where}"`` (plus the norm when
        ``lambda_min`` is positive but too small); non-finite or asymmetric input.
    """
    if np.ndim(a) == 0:
        v = float(a)
        if not np.isfinite(v):
            raise ConfigError(f"{what} is not finite: {symbol} = {v}{where}")
        if not v > 0:
            raise ConfigError(f"{what} is not positive: {symbol} = {_fmt(v)}{where}")
        return v
    if symmetric:
        arr = check_symmetric(a, what, symbol=symbol, rtol=symmetry_rtol)
    else:
        arr = np.asarray(a, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
            raise ConfigError(f"{what} must be a square matrix, got shape {arr.shape}")
    lam, ok = definiteness(arr[None], rtol)
    if not np.isfinite(lam[0]):
        raise ConfigError(f"{what} is not finite: {arr.tolist()}")
    if not ok[0]:
        part = symbol if symmetric else f"the symmetric part of {symbol}"
        small = ""
        if lam[0] > 0:
            norm = float(np.max(np.abs(np.linalg.eigvalsh(0.5 * (arr + arr.T)))))
            small = f", not above {rtol:g} times its norm {_fmt(norm)}"
        raise ConfigError(
            f"{what} is not positive definite: smallest eigenvalue of {part} is "
            f"{_fmt(lam[0])}{small}{where}"
        )
    return arr
