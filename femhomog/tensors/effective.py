"""Effective wave tensors of arbitrary order: Lemma 4, (21), (35), (37)-(38), dispersion.

Given the homogenized tensor ``a^0`` (26) and the symmetrized effective tensors
``S(g^2), S(g^4), ..., S(g^{2s})`` (40), obtained from the correctors with Theorem 3
(41), this module builds the tensors of one effective equation of the family (14)

    d_t^2 u - a^0 grad^2 u - sum_{r=1}^{s} (-1)^r eps^{2r} (a^{2r} grad^{2r+2} u
                                           - b^{2r} grad^{2r} d_t^2 u) = Q f,

with the valid pair of Lemma 4, for ``r = 1, ..., s`` in turn (each step needs the
pairs of lower order through ``c^l``):

    c^0 = a^0,  c^r = a^{2r} - sum_{l=0}^{r-1} c^l (x) b^{2(r-l)}                 (21)
    qcheck^r = S( (-1)^r g^{2r} + sum_{l=1}^{r-1} c^l (x) b^{2(r-l)} )             (35)
    A^r = M(S(x^{r+1} a^0)),
    delta* = { -lambda_min(M(qcheck^r)) / lambda_min(A^r) }_+                      (37)
    R = delta S(x^r a^0),  delta >= delta*
    a^{2r} = qcheck^r + S(R (x) a^0),   b^{2r} = R                                   (38)

so that ``a^{2r} - b^{2r} (x) a^0 =_S qcheck^r`` (34), equivalently
``c^r =_S (-1)^r g^{2r}`` (28), and ``a^{2r}, b^{2r}`` are fully symmetric (hence
major symmetric (8)) and positive semidefinite (9).

Sign conventions (DESIGN.md errata, re-derived here).  On a plane wave
``u = e^{i(k.x - omega t)}`` a term ``q grad^n u`` (10) becomes
``i^n (q : k^{(x)n}) u``; for even orders ``grad^{2n} -> (i k)^{2n} = (-1)^n k^{2n}``
and ``d_t^2 -> -omega^2``.  In (14), ``(-1)^r`` times ``grad^{2r+2} -> (-1)^{r+1}``
gives ``-1`` and ``(-1)^r`` times ``grad^{2r} d_t^2 -> (-1)^r (-omega^2)`` gives
``-omega^2``, so every mode of the homogeneous equation satisfies

    omega^2 (1 + sum_r eps^{2r} b^{2r}:k^{2r}) = a^0:k^2 + sum_r eps^{2r} a^{2r}:k^{2r+2},

with all terms non-negative for PSD tensors: the family is well posed mode by mode.
The source correction (29) ``Q f`` has the symbol ``1 + sum_r eps^{2r} b^{2r}:k^{2r}``
(again ``(-1)^r (-1)^r = 1``), the same as the ``d_t^2`` factor, so per mode
``d_t^2 u_k + omega^2(k) u_k = f_k``.

Expanding the quotient in powers of ``eps^2``, ``omega^2 = sum_r eps^{2r} W_r`` with
``W_r = A_r - sum_{l<r} W_l B_{r-l}`` (``A_r = a^{2r}:k^{2r+2}``, ``B_r = b^{2r}:k^{2r}``),
which is (21) contracted with ``k``: ``W_r = c^r : k^{2r+2}``.  By (28)
``W_r = (-1)^r S(g^{2r}):k^{2r+2}``, i.e. the family reproduces the unregularized
relation

    omega^2 = a^0:k^2 - eps^2 S(g^2):k^4 + eps^4 S(g^4):k^6 - ...

(the Taylor series of the first Bloch eigenvalue) up to ``O(eps^{2s+2} |k|^{2s+4})``.
This is the point of the constraint (34), and the unregularized series is the model
(31)/(32) without regularization, written with the corrected sign of the DESIGN.md
errata: ``d_t^2 u - sum_{r>=0} eps^{2r} g^{2r} grad^{2r+2} u = f``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg

from femhomog import ConfigError
from femhomog.spd import check_spd
from femhomog.tensors.matricization import matricize
from femhomog.tensors.symmetric import (
    apply,
    as_tensor,
    symmetrize,
    tensor_power,
    tensor_product,
)

__all__ = [
    "EffectiveTensors",
    "c_tensors",
    "constraint_residuals",
    "delta_star",
    "dispersion_effective",
    "dispersion_unregularized",
    "effective_symbols",
    "effective_wave_tensors",
    "lemma4_pair",
    "p_tensors",
    "qcheck_tensor",
    "smallest_admissible_delta",
]

# Relative slack when comparing a user's delta with delta*: delta = delta* itself,
# recomputed with a different summation order, must not be rejected for round-off.
_DELTA_RTOL = 1e-10


# --------------------------------------------------------------------------------------
# input validation
# --------------------------------------------------------------------------------------
def _check_a0(a0: object, tol: float = 1e-10) -> np.ndarray:
    """``a^0`` as a symmetric positive definite ``d x d`` array, or ConfigError."""
    arr = as_tensor(a0, name="a0")
    if arr.ndim != 2:
        raise ConfigError(f"a0 must be a d x d matrix, got shape {arr.shape}")
    # Lemma 3 (S(x^n a0) positive definite) and the division in (37) need a0 SPD
    return check_spd(
        arr, "a0", symbol="a0", symmetry_rtol=tol, where=" (Lemma 3 and (37) need it)"
    )


def _check_g_list(g_sym_list: Sequence[object], d: int) -> list[np.ndarray]:
    """The S(g^{2r}), r = 1..s, of orders 4, 6, ..., 2s+2, symmetrized."""
    if isinstance(g_sym_list, np.ndarray) or not isinstance(g_sym_list, Sequence):
        raise ConfigError("g_sym_list must be a list [S(g^2), S(g^4), ...] of tensors")
    out = []
    for r, g in enumerate(g_sym_list, start=1):
        arr = as_tensor(g, name=f"S(g^{2 * r})", d=d, order=2 * r + 2)
        # only S(g^{2r}) enters (35): symmetrizing makes the naive (40) g acceptable too
        out.append(symmetrize(arr))
    return out


def _wave_vectors(k_vec: object, d: int) -> np.ndarray:
    """Wave vectors as an array of shape (..., d); in 1D a scalar/1-d array is a batch."""
    k = np.asarray(k_vec, dtype=float)
    if not np.all(np.isfinite(k)):
        raise ConfigError("wave vector contains NaN or inf")
    if d == 1 and (k.ndim == 0 or k.shape[-1] != 1):
        k = k[..., np.newaxis]
    if k.ndim == 0 or k.shape[-1] != d:
        raise ConfigError(f"wave vector(s) must have shape (..., {d}), got {k.shape}")
    return k


# --------------------------------------------------------------------------------------
# result
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EffectiveTensors:
    """Tensors of one effective equation (14) of order ``s`` in the family of Definition 1.

    Attributes
    ----------
    a0
        Homogenized tensor ``a^0`` (26), ``d x d``.
    g
        ``[S(g^2), ..., S(g^{2s})]``, orders ``4 .. 2s+2`` (40)/(41).
    a, b
        ``[a^2, ..., a^{2s}]`` (orders ``2r+2``) and ``[b^2, ..., b^{2s}]`` (orders
        ``2r``) of Lemma 4 (38); fully symmetric, positive semidefinite.
    delta
        The ``delta_r`` used in ``R = delta_r S(x^r a^0)`` ((37) with ``delta* -> delta``).
    qcheck
        ``[qcheck^1, ..., qcheck^s]`` of (35).
    delta_star
        The values ``delta*_r`` of (37) (for the record; ``delta_r >= delta*_r`` unless
        ``delta="smallest"`` was requested).
    """

    a0: np.ndarray
    g: list[np.ndarray]
    a: list[np.ndarray]
    b: list[np.ndarray]
    delta: list[float]
    qcheck: list[np.ndarray]
    delta_star: list[float] = field(default_factory=list)

    @property
    def order(self) -> int:
        """``s = floor(alpha / 2)``: the number of correction pairs."""
        return len(self.a)

    @property
    def dim(self) -> int:
        return int(self.a0.shape[0])

    def c(self) -> list[np.ndarray]:
        """``[c^0, ..., c^s]`` of (21)/(48)."""
        return c_tensors(self.a0, self.a, self.b)

    def p(self) -> list[np.ndarray]:
        """``[p^0, ..., p^{2s}]`` of (21)/(71): ``p^{2r} = (-1)^r c^r``, ``p^{2r+1} = 0``."""
        return p_tensors(self.a0, self.a, self.b)

    def truncated(self, s: int) -> EffectiveTensors:
        """The equation of order ``s' = s`` built from the same data (each pair only
        depends on the lower ones, so this is what ``effective_wave_tensors`` returns
        for the first ``s`` tensors ``g``)."""
        if not 0 <= s <= self.order:
            raise ConfigError(f"truncated: order must be in 0..{self.order}, got {s}")
        return EffectiveTensors(
            self.a0,
            self.g[:s],
            self.a[:s],
            self.b[:s],
            self.delta[:s],
            self.qcheck[:s],
            self.delta_star[:s],
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready nested lists (full arrays, index order of the paper, 0-based)."""
        return {
            "dim": self.dim,
            "order": self.order,
            "a0": self.a0.tolist(),
            "g": [t.tolist() for t in self.g],
            "a": [t.tolist() for t in self.a],
            "b": [t.tolist() for t in self.b],
            "delta": [float(x) for x in self.delta],
            "delta_star": [float(x) for x in self.delta_star],
            "qcheck": [t.tolist() for t in self.qcheck],
        }


# --------------------------------------------------------------------------------------
# (21): c^r and p^k
# --------------------------------------------------------------------------------------
def c_tensors(a0: object, a: Sequence[object], b: Sequence[object]) -> list[np.ndarray]:
    """``c^0 = a^0``, ``c^r = a^{2r} - sum_{l=0}^{r-1} c^l (x) b^{2(r-l)}`` (21)/(48).

    Parameters
    ----------
    a0
        ``d x d`` homogenized tensor.
    a, b
        ``[a^2, ..., a^{2s}]`` and ``[b^2, ..., b^{2s}]`` (orders ``2r+2`` and ``2r``).

    Returns
    -------
    ``[c^0, ..., c^s]``, ``c^r`` of order ``2r+2``, exactly as defined (not
    symmetrized: ``c^l (x) b`` is not symmetric even when both factors are).
    """
    c0 = as_tensor(a0, name="a0", order=2)
    d = c0.shape[0]
    if len(a) != len(b):
        raise ConfigError(f"c_tensors: {len(a)} tensors a^2r but {len(b)} tensors b^2r")
    a_l = [as_tensor(t, name=f"a^{2 * r}", d=d, order=2 * r + 2) for r, t in enumerate(a, 1)]
    b_l = [as_tensor(t, name=f"b^{2 * r}", d=d, order=2 * r) for r, t in enumerate(b, 1)]
    cs = [c0]
    for r in range(1, len(a_l) + 1):
        cr = a_l[r - 1].copy()
        for ell in range(r):
            cr -= tensor_product(cs[ell], b_l[r - ell - 1])
        cs.append(cr)
    return cs


def p_tensors(a0: object, a: Sequence[object], b: Sequence[object]) -> list[np.ndarray]:
    """``p^{2r} = (-1)^r c^r``, ``p^{2r+1} = 0`` (21)/(71), for ``k = 0 .. 2s``.

    ``p^k`` has order ``k + 2`` (as stated in (21) and required by (23b), where
    ``p^{k-1-j} (x) chi^j`` has order ``k + 1``; (71) says ``Ten^k``, a typo).
    """
    cs = c_tensors(a0, a, b)
    d = cs[0].shape[0]
    out: list[np.ndarray] = []
    for r, cr in enumerate(cs):
        out.append((-1) ** r * cr)
        if r < len(cs) - 1:
            out.append(np.zeros((d,) * (2 * r + 3)))
    return out


# --------------------------------------------------------------------------------------
# (35), (37), (38)
# --------------------------------------------------------------------------------------
def qcheck_tensor(r: int, g_sym_r: object, c: Sequence[object], b: Sequence[object]) -> np.ndarray:
    """``qcheck^r = S^{2r+2}((-1)^r g^{2r} + sum_{l=1}^{r-1} c^l (x) b^{2(r-l)})`` (35).

    Parameters
    ----------
    r
        ``r >= 1``.
    g_sym_r
        ``S(g^{2r})`` (or ``g^{2r}``: only its symmetric part enters).
    c
        At least ``[c^0, ..., c^{r-1}]`` (21).
    b
        At least ``[b^2, ..., b^{2(r-1)}]``.

    Notes
    -----
    For ``r = 1`` the sum is empty and ``qcheck^1 = -S(g^2)``: negative along rank-one
    directions (``qcheck^1 : theta^4 < 0``) but in general *not* negative
    semidefinite in the sense of (9) (DESIGN.md errata), which is why ``delta*`` is
    computed from ``M(qcheck^1)`` and not from ``theta^4`` values.
    """
    if r < 1:
        raise ConfigError(f"qcheck_tensor: r must be >= 1, got {r}")
    if len(c) < r or len(b) < r - 1:
        raise ConfigError(f"qcheck_tensor: r = {r} needs c^0..c^{r - 1} and b^2..b^{2 * (r - 1)}")
    g = as_tensor(g_sym_r, name=f"S(g^{2 * r})", order=2 * r + 2)
    acc = (-1.0) ** r * g
    for ell in range(1, r):
        acc = acc + tensor_product(c[ell], b[r - ell - 1])
    return symmetrize(acc)


def _a_matrix(a0: np.ndarray, r: int) -> np.ndarray:
    """``A^r = M(S^{2r+2}(x^{r+1} a^0))`` of (37)."""
    return matricize(symmetrize(tensor_power(a0, r + 1)))


def delta_star(qcheck: object, a0: object) -> float:
    """``delta* = {-lambda_min(M(qcheck^r)) / lambda_min(A^r)}_+`` (37).

    ``r`` is read off the order ``2r + 2`` of ``qcheck``.  ``lambda_min(A^r) > 0`` by
    Lemma 3.  This value is admissible but in general not the smallest admissible
    one (see :func:`smallest_admissible_delta`).
    """
    a0 = _check_a0(a0)
    q = as_tensor(qcheck, name="qcheck", d=a0.shape[0])
    if q.ndim < 4 or q.ndim % 2:
        raise ConfigError(f"delta_star: qcheck^r must have order 2r+2 >= 4, got {q.ndim}")
    r = q.ndim // 2 - 1
    mq = matricize(q)
    lam_q = float(np.linalg.eigvalsh(0.5 * (mq + mq.T))[0])
    lam_a = float(np.linalg.eigvalsh(_a_matrix(a0, r))[0])
    return max(0.0, -lam_q / lam_a)


def smallest_admissible_delta(qcheck: object, a0: object) -> float:
    """The smallest ``delta >= 0`` with ``M(qcheck^r) + delta A^r`` PSD.

    With ``R = delta S(x^r a^0)`` in (38), ``a^{2r}`` is PSD iff
    ``M(qcheck^r) + delta A^r`` is (``M`` is linear and
    ``S(S(x^r a^0) (x) a^0) = S(x^{r+1} a^0)``), i.e. iff ``delta >= -mu_min`` with
    ``mu_min`` the smallest generalized eigenvalue of ``(M(qcheck^r), A^r)``.  Since
    ``mu_min >= lambda_min(M(qcheck^r)) / lambda_min(A^r)`` when the latter is negative,
    this is ``<= delta*`` of (37) (DESIGN.md errata: delta* is admissible, not minimal).
    """
    a0 = _check_a0(a0)
    q = as_tensor(qcheck, name="qcheck", d=a0.shape[0])
    if q.ndim < 4 or q.ndim % 2:
        raise ConfigError(f"smallest_admissible_delta: order 2r+2 >= 4 expected, got {q.ndim}")
    r = q.ndim // 2 - 1
    mq = matricize(q)
    mu = scipy.linalg.eigh(0.5 * (mq + mq.T), _a_matrix(a0, r), eigvals_only=True)
    return max(0.0, -float(mu[0]))


def lemma4_pair(qcheck: object, a0: object, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """``a^{2r} = qcheck^r + S(R (x) a^0)``, ``b^{2r} = R = delta S(x^r a^0)`` (38).

    No admissibility check here (see :func:`effective_wave_tensors`).
    """
    a0 = _check_a0(a0)
    q = as_tensor(qcheck, name="qcheck", d=a0.shape[0])
    r = q.ndim // 2 - 1
    big_r = float(delta) * symmetrize(tensor_power(a0, r))
    a_r = q + symmetrize(tensor_product(big_r, a0))
    return a_r, big_r


def _delta_list(delta: object, s: int) -> list[float | str | None]:
    if delta is None or isinstance(delta, str):
        if isinstance(delta, str) and delta not in ("star", "smallest"):
            raise ConfigError(
                f"delta: unknown choice {delta!r} (None, 'star', 'smallest', a number or a list)"
            )
        return [delta] * s
    if isinstance(delta, (int, float, np.integer, np.floating)):
        return [float(delta)] * s
    if isinstance(delta, (Sequence, np.ndarray)):
        vals = list(delta)
        if len(vals) != s:
            raise ConfigError(
                f"delta: a list needs one value per order r = 1..{s}, got {len(vals)}"
            )
        out: list[float | str | None] = []
        for v in vals:
            out.extend(_delta_list(v, 1))
        return out
    raise ConfigError(f"delta: expected None, a number or a list, got {type(delta).__name__}")


def effective_wave_tensors(
    a0: object,
    g_sym_list: Sequence[object],
    delta: float | Sequence[float | None] | str | None = None,
) -> EffectiveTensors:
    """Tensors ``a^{2r}, b^{2r}`` (r = 1..s) of an effective equation (14) (Lemma 4).

    Parameters
    ----------
    a0
        Homogenized tensor ``a^0`` (26), symmetric positive definite ``d x d``.
    g_sym_list
        ``[S(g^2), ..., S(g^{2s})]``, ``S(g^{2r})`` of order ``2r+2`` (e.g. from
        Theorem 3 (41), :func:`femhomog.tensors.theorem3.assemble_g_sym`).  Non-symmetric
        input (the naive (40) tensors) is symmetrized: only ``S(g^{2r})`` enters (35).
        ``s = len(g_sym_list)``; ``s = 0`` is the homogenized equation.
    delta
        ``None`` or ``"star"``: ``delta_r = delta*_r`` of (37) for every ``r``;
        a number: the same ``delta`` for every ``r``; a list of length ``s`` of numbers
        (or ``None``/``"star"``/``"smallest"`` entries) per ``r``.  A number must
        satisfy ``delta_r >= delta*_r`` (Lemma 4 and the remark after it), otherwise
        :class:`ConfigError`.  ``"smallest"`` uses :func:`smallest_admissible_delta`
        (``<= delta*``; still gives PSD tensors, the bound in the proof of Lemma 4 is
        just not sharp).  Note that ``delta_r`` changes ``b^{2r}`` and hence
        ``qcheck^{r'}`` and ``delta*_{r'}`` for ``r' > r``.

    Returns
    -------
    EffectiveTensors
    """
    a0 = _check_a0(a0)
    d = a0.shape[0]
    gs = _check_g_list(g_sym_list, d)
    s = len(gs)
    choices = _delta_list(delta, s)

    a_list: list[np.ndarray] = []
    b_list: list[np.ndarray] = []
    q_list: list[np.ndarray] = []
    deltas: list[float] = []
    stars: list[float] = []
    cs: list[np.ndarray] = [a0]
    for r in range(1, s + 1):
        q = qcheck_tensor(r, gs[r - 1], cs, b_list)
        dstar = delta_star(q, a0)
        choice = choices[r - 1]
        if choice is None or choice == "star":
            dr = dstar
        elif choice == "smallest":
            dr = smallest_admissible_delta(q, a0)
        else:
            dr = float(choice)
            if not np.isfinite(dr) or dr < 0.0:
                raise ConfigError(f"delta for r = {r} must be a finite number >= 0, got {dr}")
            # slack relative to the data of (37), |M(qcheck^r)| / lambda_min(A^r), not to
            # delta* alone, which is pure round-off when qcheck^r is PSD up to round-off
            lam_a = float(np.linalg.eigvalsh(_a_matrix(a0, r))[0])
            d_scale = max(dstar, float(np.linalg.norm(matricize(q), 2)) / lam_a)
            if dr < dstar - _DELTA_RTOL * d_scale:
                raise ConfigError(
                    f"delta = {dr:.6g} for r = {r} is below delta* = {dstar:.6g} "
                    "of (37): Lemma 4 needs delta >= delta*"
                )
        a_r, b_r = lemma4_pair(q, a0, dr)
        a_list.append(a_r)
        b_list.append(b_r)
        q_list.append(q)
        deltas.append(dr)
        stars.append(dstar)
        # c^r of (21), needed by qcheck^{r'} for r' > r
        cr = a_r.copy()
        for ell in range(r):
            cr -= tensor_product(cs[ell], b_list[r - ell - 1])
        cs.append(cr)
    return EffectiveTensors(
        a0=a0, g=gs, a=a_list, b=b_list, delta=deltas, qcheck=q_list, delta_star=stars
    )


def constraint_residuals(t: EffectiveTensors) -> list[float]:
    """``max |S(a^{2r} - b^{2r} (x) a^0 - qcheck^r)|`` for each ``r``: the constraint (34)."""
    return [
        float(np.max(np.abs(symmetrize(ar - tensor_product(br, t.a0) - q))))
        for ar, br, q in zip(t.a, t.b, t.qcheck, strict=True)
    ]


# --------------------------------------------------------------------------------------
# dispersion relations
# --------------------------------------------------------------------------------------
def effective_symbols(
    tensors: EffectiveTensors,
    k_vec: object,
    eps: float | np.ndarray,
) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Numerator and denominator of the dispersion relation of (14).

    ``num = a^0:k^2 + sum_r eps^{2r} a^{2r}:k^{2r+2}``,
    ``den = 1 + sum_r eps^{2r} b^{2r}:k^{2r}`` (module docstring for the signs); ``den``
    is also the symbol of ``Q`` in (29).  ``k_vec`` has shape ``(d,)`` or ``(..., d)``
    (in 1D also a scalar or a 1-d array of wave numbers); ``eps`` broadcasts.
    """
    k = _wave_vectors(k_vec, tensors.dim)
    e2 = np.asarray(eps, dtype=float) ** 2
    num = apply(tensors.a0, k)
    den = np.ones_like(np.asarray(num, dtype=float))
    e2r = np.ones_like(e2)
    for ar, br in zip(tensors.a, tensors.b, strict=True):
        e2r = e2r * e2
        num = num + e2r * apply(ar, k)
        den = den + e2r * apply(br, k)
    return num, den


def dispersion_effective(
    tensors: EffectiveTensors, k_vec: object, eps: float | np.ndarray
) -> np.ndarray | float:
    """``omega^2(k)`` of the effective equation (14) (family of Definition 1).

    ``omega^2 = (a^0:k^2 + sum_r eps^{2r} a^{2r}:k^{2r+2}) / (1 + sum_r eps^{2r} b^{2r}:k^{2r})``

    (derivation of the signs in the module docstring).  Non-negative for PSD tensors.
    """
    num, den = effective_symbols(tensors, k_vec, eps)
    out = np.asarray(num) / np.asarray(den)
    return float(out) if out.ndim == 0 else out


def dispersion_unregularized(
    a0: object, g_sym_list: Sequence[object], k_vec: object, eps: float | np.ndarray
) -> np.ndarray | float:
    """``omega^2 = a^0:k^2 + sum_{r=1}^{s} (-1)^r eps^{2r} S(g^{2r}):k^{2r+2}``.

    The unregularized model ``d_t^2 u - sum_{r>=0} eps^{2r} g^{2r} grad^{2r+2} u = f``
    ((31)/(32) with the sign fixed as in DESIGN.md, ``gamma = 0``, ``S_i = Id``), whose
    symbol is the Taylor series of the first Bloch eigenvalue ``lambda_1(eps k)/eps^2``:
    ``a^0 k^2 - eps^2 S(g^2)k^4 + eps^4 S(g^4)k^6 - ...``.  Negative (ill-posed) for
    large ``eps |k|`` already at ``s = 1`` since ``S(g^2):k^4 > 0``.
    """
    a0 = _check_a0(a0)
    d = a0.shape[0]
    gs = _check_g_list(g_sym_list, d)
    k = _wave_vectors(k_vec, d)
    e2 = np.asarray(eps, dtype=float) ** 2
    out = apply(a0, k)
    e2r = np.ones_like(e2)
    for r, g in enumerate(gs, start=1):
        e2r = e2r * e2
        out = out + (-1.0) ** r * e2r * apply(g, k)
    out = np.asarray(out)
    return float(out) if out.ndim == 0 else out
