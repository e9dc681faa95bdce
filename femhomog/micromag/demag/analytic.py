"""Closed-form demagnetizing factors: independent truths for the stray-field solvers.

Pure numpy/scipy (no dolfinx).  In the nondimensional units of
:mod:`femhomog.micromag.units`, a body magnetized uniformly along a principal
axis ``e`` has the volume-averaged stray field ``<H_s> = -N m`` and the energy
``E_demag = N |Omega| / 2`` (``mu0 Ms^2 N V / 2``).  For ellipsoids the field
is uniform inside, ``H_s = -N m`` pointwise; for a cuboid ``N`` is the
*magnetometric* factor (volume average).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import elliprd

__all__ = ["ellipsoid_demag_factors", "prism_demag_factors", "spheroid_demag_factors"]


def _positive(values: Sequence[float], n: int, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.shape != (n,) or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{what} must be {n} positive numbers, got {values!r}")
    return arr


def ellipsoid_demag_factors(semi_axes: Sequence[float]) -> np.ndarray:
    """``(N_x, N_y, N_z)`` of the ellipsoid with semi-axes ``(a, b, c)`` along x, y, z.

    Osborn (1945), Phys. Rev. 67, 351:
    ``N_x = abc/2 int_0^inf ds / ((a^2 + s) sqrt((a^2+s)(b^2+s)(c^2+s)))``, which in
    Carlson's symmetric form is ``N_x = abc/3 R_D(b^2, c^2, a^2)`` (cyclically for
    ``N_y``, ``N_z``); the three sum to 1.
    """
    a, b, c = _positive(semi_axes, 3, "semi-axes")
    a2, b2, c2 = a * a, b * b, c * c
    abc3 = a * b * c / 3.0
    return np.array(
        [abc3 * elliprd(b2, c2, a2), abc3 * elliprd(c2, a2, b2), abc3 * elliprd(a2, b2, c2)]
    )


def spheroid_demag_factors(polar: float, equatorial: float) -> tuple[float, float]:
    """``(N_polar, N_equatorial)`` of a spheroid, elementary closed forms (Osborn 1945).

    Prolate (``polar = a > equatorial = b``), ``e = sqrt(1 - b^2/a^2)``:
    ``N_a = (1 - e^2)/e^3 (atanh(e) - e)``.  Oblate (``a < b``),
    ``e = sqrt(b^2/a^2 - 1)``: ``N_a = (1 + e^2)/e^3 (e - atan(e))``.  Sphere: 1/3.
    ``N_equatorial = (1 - N_polar)/2``.
    """
    a, b = _positive((polar, equatorial), 2, "spheroid axes")
    if np.isclose(a, b, rtol=1e-12):
        n_a = 1.0 / 3.0
    elif a > b:
        e = np.sqrt(1.0 - (b / a) ** 2)
        n_a = (1.0 - e * e) / e**3 * (np.arctanh(e) - e)
    else:
        e = np.sqrt((b / a) ** 2 - 1.0)
        n_a = (1.0 + e * e) / e**3 * (e - np.arctan(e))
    return float(n_a), float(0.5 * (1.0 - n_a))


def _prism_nz(a: float, b: float, c: float) -> float:
    """Aharoni (1998) eq. (1): ``D_z`` of the prism ``2a x 2b x 2c`` (``c`` along z)."""
    r = np.sqrt(a * a + b * b + c * c)
    ab = np.sqrt(a * a + b * b)
    bc = np.sqrt(b * b + c * c)
    ac = np.sqrt(a * a + c * c)
    abc = a * b * c
    terms = (
        (b * b - c * c) / (2 * b * c) * np.log((r - a) / (r + a))
        + (a * a - c * c) / (2 * a * c) * np.log((r - b) / (r + b))
        + b / (2 * c) * np.log((ab + a) / (ab - a))
        + a / (2 * c) * np.log((ab + b) / (ab - b))
        + c / (2 * a) * np.log((bc - b) / (bc + b))
        + c / (2 * b) * np.log((ac - a) / (ac + a))
        + 2 * np.arctan(a * b / (c * r))
        + (a**3 + b**3 - 2 * c**3) / (3 * abc)
        + (a * a + b * b - 2 * c * c) / (3 * abc) * r
        + c / (a * b) * (ac + bc)
        - (ab**3 + bc**3 + ac**3) / (3 * abc)
    )
    return float(terms / np.pi)


def prism_demag_factors(lengths: Sequence[float]) -> np.ndarray:
    """Magnetometric ``(N_x, N_y, N_z)`` of the cuboid with edge lengths ``(L_x, L_y, L_z)``.

    Aharoni, "Demagnetizing factors for rectangular ferromagnetic prisms",
    J. Appl. Phys. 83, 3432 (1998), eq. (1) with half-lengths ``a, b, c``
    (``D_z`` is symmetric in ``a, b``; ``D_x``, ``D_y`` by cyclic permutation).
    Cube: 1/3 each; the three sum to 1.
    """
    a, b, c = 0.5 * _positive(lengths, 3, "prism lengths")
    return np.array([_prism_nz(b, c, a), _prism_nz(c, a, b), _prism_nz(a, b, c)])
