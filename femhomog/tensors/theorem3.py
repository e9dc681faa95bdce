"""Pure-tensor part of Theorem 3: ``S(g^{2r})`` from cell averages of ``chi^1 .. chi^{r+1}``.

Theorem 3 (41)-(42) states, for ``r >= 1``,

    g^{2r} =_S (-1)^r k^r + h^r,

    k^r_{i_1..i_{2r+2}} = - < a grad chi^{r+1}_{i_1..i_{r+1}} . grad chi^{r+1}_{i_{r+2}..i_{2r+2}} >
                          + < a_{i_1 i_2} chi^r_{i_3..i_{r+2}} chi^r_{i_{r+3}..i_{2r+2}} >,

    h^r = sum_{j,l=1}^{ceil(r/2)}  g^{2(r-j-l+1)} (x) < chi^{2j-1} (x) chi^{2l-1} >
        - sum_{j,l=1}^{floor(r/2)} g^{2(r-j-l)}   (x) < chi^{2j}   (x) chi^{2l}   >,

with ``< . > = |Y|^{-1} int_Y`` and ``g^0 = a^0`` (Remark 8).  The effective tensors are
constant, so they come out of the cell averages in ``h^r``; what the finite-element
layer has to provide are three kinds of *cell integrals* of the correctors:

``stiffness[r]``  ``K^r_{I J} = < a grad chi^{r+1}_I . grad chi^{r+1}_J >``   (order 2r+2)
``cross[r]``      ``E^r_{i_1 i_2 I J} = < a_{i_1 i_2} chi^r_I chi^r_J >``      (order 2r+2)
``mass[(m, n)]``  ``< chi^m (x) chi^n >``                                      (order m+n)

for ``r = 1..s`` and the pairs ``(m, n)`` of :func:`required_mass_pairs`; all only
involve ``chi^1 .. chi^{s+1}``.  Everything else below is tensor algebra.  Because the
cell problems (23) have symmetrized right-hand sides, ``S(g^{2r})`` depends only on the
symmetrized ``S(g^{2m})``, ``m < r``, in ``h^r`` (``S(p (x) q) = S(S(p) (x) q)``), and
``< chi^n (x) chi^m >`` is a transpose of ``< chi^m (x) chi^n >``, so only ``m <= n`` is
needed.

The finite-element layer typically computes Gram-type matrices over the *distinct*
components (multi-indices of ``I(d, n)``); :func:`expand_pair_matrix` turns such a
matrix into the full tensor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from femhomog import ConfigError
from femhomog.tensors.symmetric import (
    _labels_cached,
    as_tensor,
    multi_index_count,
    symmetrize,
    tensor_product,
)

__all__ = [
    "assemble_g_sym",
    "expand_pair_matrix",
    "required_mass_pairs",
    "theorem3_h",
    "theorem3_k",
]


def required_mass_pairs(r: int) -> list[tuple[int, int]]:
    """The pairs ``(m, n)``, ``m <= n``, of ``< chi^m (x) chi^n >`` that enter ``h^r`` (42).

    Odd pairs ``(2j-1, 2l-1)``, ``1 <= j, l <= ceil(r/2)``, and even pairs
    ``(2j, 2l)``, ``1 <= j, l <= floor(r/2)``; all indices are ``<= r``.
    """
    if r < 1:
        raise ConfigError(f"required_mass_pairs: r must be >= 1, got {r}")
    out = set()
    for j in range(1, (r + 1) // 2 + 1):
        for ell in range(j, (r + 1) // 2 + 1):
            out.add((2 * j - 1, 2 * ell - 1))
    for j in range(1, r // 2 + 1):
        for ell in range(j, r // 2 + 1):
            out.add((2 * j, 2 * ell))
    return sorted(out)


def expand_pair_matrix(gram: object, d: int, n1: int, n2: int) -> np.ndarray:
    """Full tensor ``T_{P I J} = G_{P, l^{-1}(sort I), l^{-1}(sort J)}`` from a pair matrix.

    Parameters
    ----------
    gram
        Array of shape ``(d,)*p + (N(d, n1), N(d, n2))``: e.g. the matrix
        ``G_{rs} = < a grad chi_{l(r)} . grad chi_{l(s)} >`` over the distinct
        components of two symmetric correctors (rows in the order of
        :func:`femhomog.tensors.symmetric.multi_indices`), with ``p`` optional leading
        tensor axes (``p = 2`` for the ``a_{i_1 i_2}`` of the cross term).
    d, n1, n2
        Dimension and the orders of the two correctors.

    Returns
    -------
    Array of shape ``(d,)*(p + n1 + n2)``.
    """
    g = np.asarray(gram, dtype=float)
    n_1, n_2 = multi_index_count(d, n1), multi_index_count(d, n2)
    if g.ndim < 2 or g.shape[-2:] != (n_1, n_2):
        raise ConfigError(
            f"expand_pair_matrix: trailing shape must be ({n_1}, {n_2}), got {g.shape}"
        )
    lead = g.shape[:-2]
    if lead and lead != (d,) * len(lead):
        raise ConfigError(f"expand_pair_matrix: leading axes must have length d = {d}")
    lab1 = _labels_cached(int(d), int(n1))
    lab2 = _labels_cached(int(d), int(n2))
    full = g[..., lab1, :][..., lab2]
    return full.reshape(lead + (d,) * n1 + (d,) * n2)


def theorem3_k(stiffness: object, cross: object) -> np.ndarray:
    """``k^r = -K^r + E^r`` (42) from the stiffness and cross averages (module docstring)."""
    stiff = as_tensor(stiffness, name="stiffness")
    crs = as_tensor(cross, name="cross")
    if stiff.shape != crs.shape or stiff.ndim < 4 or stiff.ndim % 2:
        raise ConfigError(
            f"theorem3_k: stiffness and cross must have the same even order "
            f">= 4, got {stiff.shape} and {crs.shape}"
        )
    return -stiff + crs


def _mass(mass: Mapping[tuple[int, int], object], m: int, n: int, d: int) -> np.ndarray:
    if (m, n) in mass:
        return as_tensor(mass[(m, n)], name=f"<chi^{m} x chi^{n}>", d=d, order=m + n)
    if (n, m) in mass:
        # a transpose of <chi^m x chi^n>, identical up to symmetries, which is all h^r needs
        return as_tensor(mass[(n, m)], name=f"<chi^{n} x chi^{m}>", d=d, order=m + n)
    raise ConfigError(f"Theorem 3 needs the cell average <chi^{m} (x) chi^{n}>")


def theorem3_h(
    r: int, g_sym: Sequence[object], mass: Mapping[tuple[int, int], object]
) -> np.ndarray:
    """``S(h^r)`` of (42).

    Parameters
    ----------
    r
        ``r >= 1``.
    g_sym
        ``[a^0, S(g^2), ..., S(g^{2(r-1)})]`` (at least ``r`` entries, ``g^0 = a^0``).
    mass
        ``(m, n) -> < chi^m (x) chi^n >`` for the pairs of :func:`required_mass_pairs`
        (either order of ``m, n``).
    """
    if r < 1:
        raise ConfigError(f"theorem3_h: r must be >= 1, got {r}")
    if len(g_sym) < r:
        raise ConfigError(f"theorem3_h: r = {r} needs g^0 = a^0, ..., g^{2 * (r - 1)}")
    g0 = as_tensor(g_sym[0], name="a0", order=2)
    d = g0.shape[0]
    acc = np.zeros((d,) * (2 * r + 2))
    half_up, half_down = (r + 1) // 2, r // 2
    for j in range(1, half_up + 1):
        for ell in range(1, half_up + 1):
            g = as_tensor(g_sym[r - j - ell + 1], d=d, order=2 * (r - j - ell + 1) + 2)
            acc += tensor_product(g, _mass(mass, 2 * j - 1, 2 * ell - 1, d))
    for j in range(1, half_down + 1):
        for ell in range(1, half_down + 1):
            g = as_tensor(g_sym[r - j - ell], d=d, order=2 * (r - j - ell) + 2)
            acc -= tensor_product(g, _mass(mass, 2 * j, 2 * ell, d))
    return symmetrize(acc)


def assemble_g_sym(
    a0: object,
    stiffness: Sequence[object],
    cross: Sequence[object],
    mass: Mapping[tuple[int, int], object],
) -> list[np.ndarray]:
    """``[S(g^2), ..., S(g^{2s})]`` by Theorem 3: ``S(g^{2r}) = S((-1)^r k^r + h^r)`` (41).

    Parameters
    ----------
    a0
        ``a^0 = g^0`` (26), ``d x d``.
    stiffness, cross
        Lists of length ``s``: ``K^r`` and ``E^r`` (module docstring), ``r = 1..s``.
    mass
        Cell averages ``< chi^m (x) chi^n >`` for all pairs of
        :func:`required_mass_pairs` ``(s)`` (a superset of those for ``r < s``).

    Notes
    -----
    Only ``chi^1 .. chi^{s+1}`` enter, hence ``CP(d, s+1)`` scalar cell problems instead
    of ``CP(d, 2s+1)`` for (40) (:func:`femhomog.tensors.symmetric.cell_problem_count`).
    The recursion is explicit: ``h^r`` uses ``S(g^{2m})`` for ``m <= r - 1`` only.
    """
    g0 = as_tensor(a0, name="a0", order=2)
    if len(stiffness) != len(cross):
        raise ConfigError(
            f"assemble_g_sym: {len(stiffness)} stiffness but {len(cross)} cross tensors"
        )
    g_sym: list[np.ndarray] = [0.5 * (g0 + g0.T)]
    for r in range(1, len(stiffness) + 1):
        k_r = theorem3_k(stiffness[r - 1], cross[r - 1])
        if k_r.ndim != 2 * r + 2:
            raise ConfigError(f"assemble_g_sym: K^{r}, E^{r} must have order {2 * r + 2}")
        h_r = theorem3_h(r, g_sym, mass)
        g_sym.append(symmetrize((-1.0) ** r * k_r + h_r))
    return g_sym[1:]
