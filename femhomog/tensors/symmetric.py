"""Symmetric tensors on R^d: symmetrization, tensor products, distinct components.

Notation of the wave paper (Sect. 1.1, equations (5)-(10)): a tensor of order ``n``
on ``R^d`` is a numpy array of shape ``(d,) * n`` (an order-0 tensor is a 0-d array).
``Sym^n(R^d)`` is the subspace of arrays invariant under every permutation of their
axes, ``S^n`` the orthogonal projector onto it (6), and ``p =_S q`` means
``S^n(p) == S^n(q)`` (7).

Indices are 0-based here (the paper counts from 1).  A *multi-index* of order ``k``
is a tuple ``(i_1, ..., i_k)``; the distinct entries of a symmetric tensor are
indexed by the non-decreasing multi-indices ``I(d, k)`` of (44), listed in
lexicographic order by :func:`multi_indices`; there are
``N(d, k) = C(k + d - 1, k)`` of them (Remark 1).

Efficiency.  Symmetrization uses the orbit identity

    S^n(t)_i = (1 / z(i)) * sum_{j in orbit(i)} t_j,

where ``orbit(i)`` is the set of multi-indices equal to ``i`` up to a permutation and
``z(i) = |orbit(i)|`` (the multiplicity of Sect. 3.3): a permutation sum over ``n!``
terms per entry collapses into one pass over the ``d^n`` entries, grouped by a
cached label array.  Order 8 on R^3 (``3^8 = 6561`` entries) takes ~40 us once the
labels are cached (~3 ms the first time), where ``itertools.permutations`` would sum
``8! = 40320`` transposed copies.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import scipy.sparse

from femhomog import ConfigError

__all__ = [
    "apply",
    "as_tensor",
    "cell_problem_count",
    "components",
    "contract",
    "equal_sym",
    "from_components",
    "inner",
    "is_symmetric",
    "multi_index_count",
    "multi_indices",
    "multiplicity",
    "orbit_sums",
    "symmetrize",
    "tensor_dim_order",
    "tensor_power",
    "tensor_product",
]

# Guard against accidentally asking for a label array with hundreds of millions of
# entries (e.g. order 20 on R^3): the caller almost certainly passed wrong arguments.
_MAX_ENTRIES = 50_000_000


# --------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------
def as_tensor(
    t: object, *, name: str = "tensor", d: int | None = None, order: int | None = None
) -> np.ndarray:
    """Return ``t`` as a float array of shape ``(d,) * n`` or raise :class:`ConfigError`.

    Parameters
    ----------
    t
        Array-like tensor (a python scalar is an order-0 tensor).
    name
        Used in error messages.
    d, order
        If given, the required dimension ``d`` and order ``n``.
    """
    try:
        arr = np.asarray(t, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: not a real array ({exc})") from None
    if arr.ndim > 0 and len(set(arr.shape)) != 1:
        raise ConfigError(f"{name}: a tensor on R^d needs shape (d,)*n, got {arr.shape}")
    if arr.ndim > 0 and arr.shape[0] == 0:
        raise ConfigError(f"{name}: empty tensor (d = 0)")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"{name}: contains NaN or inf")
    if order is not None and arr.ndim != order:
        raise ConfigError(f"{name}: expected a tensor of order {order}, got order {arr.ndim}")
    if d is not None and arr.ndim > 0 and arr.shape[0] != d:
        raise ConfigError(f"{name}: expected dimension d = {d}, got d = {arr.shape[0]}")
    return arr


def tensor_dim_order(t: np.ndarray) -> tuple[int | None, int]:
    """``(d, n)`` of a tensor of shape ``(d,) * n`` (``d`` is None for order 0)."""
    t = np.asarray(t)
    return (t.shape[0] if t.ndim else None), t.ndim


def _check_dk(d: int, k: int) -> None:
    if not (isinstance(d, (int, np.integer)) and d >= 1):
        raise ConfigError(f"dimension d must be an integer >= 1, got {d!r}")
    if not (isinstance(k, (int, np.integer)) and k >= 0):
        raise ConfigError(f"tensor order must be an integer >= 0, got {k!r}")
    if d**k > _MAX_ENTRIES:
        raise ConfigError(f"a tensor of order {k} on R^{d} has {d**k} entries: too large")


# --------------------------------------------------------------------------------------
# multi-indices (Remark 1, (44))
# --------------------------------------------------------------------------------------
def multi_index_count(d: int, k: int) -> int:
    """``N(d, k) = C(k + d - 1, k)``: number of distinct entries of ``Sym^k(R^d)`` (Remark 1)."""
    _check_dk(d, k)
    return math.comb(k + d - 1, k)


@functools.cache
def _multi_indices_cached(d: int, k: int) -> np.ndarray:
    if k == 0:
        arr = np.zeros((1, 0), dtype=np.intp)
    else:
        arr = np.array(list(itertools.combinations_with_replacement(range(d), k)), dtype=np.intp)
    arr.setflags(write=False)
    return arr


def multi_indices(d: int, k: int) -> np.ndarray:
    """The index set ``I(d, k)`` of (44): non-decreasing multi-indices, 0-based.

    Returns a read-only integer array of shape ``(N(d, k), k)``, rows in
    lexicographic order (``combinations_with_replacement`` order).  This order is the
    bijection ``l : J(d, k) -> I(d, k)`` used by :func:`components`, by ``nu`` and by
    ``M`` (Sect. 3.3).  For ``k = 0`` it is the single empty multi-index.
    """
    _check_dk(d, k)
    return _multi_indices_cached(int(d), int(k))


def multiplicity(idx: Iterable[int] | np.ndarray) -> int | np.ndarray:
    """``z(i)``: number of multi-indices equal to ``i`` up to a permutation (Sect. 3.3).

    ``z(i) = k! / prod_j m_j!`` where ``m_j`` counts the occurrences of the value ``j``
    in ``i``.  A 2-d integer array (one multi-index per row) gives an array of
    multiplicities.
    """
    arr = np.asarray(idx)
    if arr.ndim == 2:
        return np.array([multiplicity(row) for row in arr], dtype=np.int64)
    values = [int(v) for v in np.ravel(arr)]
    out = math.factorial(len(values))
    for count in _value_counts(values):
        out //= math.factorial(count)
    return out


def _value_counts(values: Sequence[int]) -> list[int]:
    counts: dict[int, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return list(counts.values())


@functools.cache
def _multiplicities_cached(d: int, k: int) -> np.ndarray:
    z = multiplicity(_multi_indices_cached(d, k)) if k else np.ones(1, dtype=np.int64)
    z = np.asarray(z, dtype=np.int64)
    z.setflags(write=False)
    return z


def _multiplicities(d: int, k: int) -> np.ndarray:
    """``z(l(r))`` for every row ``r`` of :func:`multi_indices` (cached)."""
    return _multiplicities_cached(int(d), int(k))


@functools.lru_cache(maxsize=64)
def _labels_cached(d: int, k: int) -> np.ndarray:
    """For every flat (C-order) position of a ``(d,)*k`` array, the row of
    :func:`multi_indices` of its sorted multi-index."""
    if k == 0:
        lab = np.zeros(1, dtype=np.intp)
        lab.setflags(write=False)
        return lab
    # all multi-indices in C order, small dtype to keep memory ~ k * d^k bytes
    dtype = np.uint8 if d < 256 else np.int32
    grid = np.indices((d,) * k, dtype=dtype).reshape(k, -1)
    grid.sort(axis=0)  # sorting each column = sorting each multi-index
    # lexicographic rank of a sorted multi-index = its base-d number, monotone in the
    # lexicographic order of multi_indices(d, k)
    powers = d ** np.arange(k - 1, -1, -1, dtype=np.int64)
    codes_full = powers @ grid.astype(np.int64)
    codes_sorted = _multi_indices_cached(d, k).astype(np.int64) @ powers
    lab = np.searchsorted(codes_sorted, codes_full).astype(np.intp)
    lab.setflags(write=False)
    return lab


@functools.lru_cache(maxsize=64)
def _orbit_matrix(d: int, k: int) -> scipy.sparse.csr_matrix:
    """Sparse ``N(d,k) x d^k`` matrix with a 1 at ``(label(j), j)``: row ``i`` sums an orbit."""
    lab = _labels_cached(d, k)
    cols = np.arange(lab.size)
    return scipy.sparse.csr_matrix(
        (np.ones(lab.size), (lab, cols)), shape=(math.comb(k + d - 1, k), lab.size)
    )


# --------------------------------------------------------------------------------------
# symmetrization (6), "=_S" (7)
# --------------------------------------------------------------------------------------
def _leading_order(t: np.ndarray, n: int | None) -> tuple[int, int]:
    if n is None:
        n = t.ndim
    if n < 0 or n > t.ndim:
        raise ConfigError(f"cannot symmetrize {n} leading axes of an array of order {t.ndim}")
    if n == 0:
        return 1, 0
    d = t.shape[0]
    if t.shape[:n] != (d,) * n:
        raise ConfigError(f"the {n} leading axes must all have the same length, got {t.shape}")
    _check_dk(d, n)
    return d, n


def orbit_sums(t: object, n: int | None = None) -> np.ndarray:
    """``sum_{j in orbit(i)} t_j = z(i) * S^n(t)_i`` for every ``i`` in ``I(d, n)``.

    Parameters
    ----------
    t
        Array whose ``n`` leading axes have length ``d`` (default: all axes); trailing
        axes are batch axes (e.g. grid points) and are kept.

    Returns
    -------
    Array of shape ``(N(d, n),) + t.shape[n:]``.

    Notes
    -----
    This is the weighted component vector that makes a full contraction cheap:
    ``t : theta^{(x)n} = sum_i orbit_sums(t)_i * prod_p theta_{i_p}``.
    """
    arr = np.asarray(t, dtype=float)
    d, n = _leading_order(arr, n)
    if n == 0:
        return arr[np.newaxis].copy()
    flat = arr.reshape((d**n, -1))
    nrows = multi_index_count(d, n)
    # one sparse (N x d^n) 0/1 matrix per (d, n): a sparse product is much faster than
    # np.add.at and handles batch columns at once
    out = _orbit_matrix(d, n) @ flat
    return np.asarray(out).reshape((nrows,) + arr.shape[n:])


def symmetrize(t: object, n: int | None = None) -> np.ndarray:
    """The symmetrization operator ``S^n`` of (6): average over all permutations of axes.

    Parameters
    ----------
    t
        A tensor of order ``n`` on ``R^d`` (shape ``(d,)*n``).  If ``n`` is given,
        only the ``n`` leading axes are symmetrized and trailing axes are treated as
        batch axes (e.g. the grid values of a tensor-valued corrector).

    Returns
    -------
    ``S^n(t)``, a new float array of the same shape.

    Notes
    -----
    Computed with the orbit identity ``S^n(t)_i = orbit_sum_i / z(i)`` (module
    docstring), exact up to round-off and independent of ``n!``.
    """
    arr = np.asarray(t, dtype=float)
    if n is None:
        arr = as_tensor(arr)
    d, n = _leading_order(arr, n)
    if n <= 1:
        return arr.copy()
    sums = orbit_sums(arr, n)
    z = _multiplicities(d, n).astype(float)
    comps = sums / z.reshape((-1,) + (1,) * (sums.ndim - 1))
    return comps[_labels_cached(d, n)].reshape(arr.shape)


def _scale(t: np.ndarray) -> float:
    return max(1.0, float(np.max(np.abs(t)))) if t.size else 1.0


def is_symmetric(t: object, tol: float = 1e-12) -> bool:
    """True if ``t`` lies in ``Sym^n(R^d)``: ``max|t - S^n(t)| <= tol * max(1, max|t|)``."""
    arr = as_tensor(t)
    return bool(np.max(np.abs(arr - symmetrize(arr)), initial=0.0) <= tol * _scale(arr))


def equal_sym(a: object, b: object, tol: float = 1e-12) -> bool:
    """The relation ``a =_S b`` of (7): ``S^n(a) = S^n(b)`` up to a relative tolerance.

    Tensors of different orders or dimensions are never ``=_S``.
    """
    a = as_tensor(a, name="a")
    b = as_tensor(b, name="b")
    if a.shape != b.shape:
        return False
    diff = symmetrize(a - b)
    return bool(np.max(np.abs(diff), initial=0.0) <= tol * max(_scale(a), _scale(b)))


# --------------------------------------------------------------------------------------
# products and contractions (5), (9), (10)
# --------------------------------------------------------------------------------------
def tensor_product(a: object, b: object) -> np.ndarray:
    """``(a (x) b)_{i_1..i_{m+n}} = a_{i_1..i_m} b_{i_{m+1}..i_{m+n}}`` (Sect. 1.1).

    Commutative only up to symmetries: ``a (x) b =_S b (x) a``.
    """
    a = as_tensor(a, name="a")
    b = as_tensor(b, name="b")
    if a.ndim and b.ndim and a.shape[0] != b.shape[0]:
        raise ConfigError(f"tensor_product: dimensions differ ({a.shape[0]} vs {b.shape[0]})")
    return np.multiply.outer(a, b)


def tensor_power(a: object, r: int) -> np.ndarray:
    """``(x)^r a = a (x) ... (x) a`` (r factors); ``r = 0`` gives the scalar 1."""
    if not (isinstance(r, (int, np.integer)) and r >= 0):
        raise ConfigError(f"tensor_power: r must be an integer >= 0, got {r!r}")
    a = as_tensor(a, name="a")
    out = np.array(1.0)
    for _ in range(int(r)):
        out = np.multiply.outer(out, a)
    return out


def inner(p: object, q: object) -> float:
    """The full contraction ``p : q = p_{i_1..i_n} q_{i_1..i_n}`` (Sect. 1.1)."""
    p = as_tensor(p, name="p")
    q = as_tensor(q, name="q")
    if p.shape != q.shape:
        raise ConfigError(f"inner: shapes differ ({p.shape} vs {q.shape})")
    return float(np.sum(p * q))


def apply(t: object, theta: object) -> float | np.ndarray:
    """``t : theta^{(x)n} = t_{i_1..i_n} theta_{i_1} ... theta_{i_n}``.

    This is the symbol of the differential operator ``t nabla^n`` (10) on a plane wave,
    up to the factor ``i^n``: ``t nabla^n e^{i k.x} = i^n (t : k^{(x)n}) e^{i k.x}``.

    Parameters
    ----------
    t
        Tensor of order ``n`` on ``R^d`` (need not be symmetric: only ``S^n(t)``
        matters, which is why the result is computed from orbit sums).
    theta
        A vector of shape ``(d,)`` or a batch of vectors of shape ``(..., d)``.

    Returns
    -------
    A float, or an array of shape ``theta.shape[:-1]`` for a batch.
    """
    t = as_tensor(t, name="t")
    th = np.asarray(theta, dtype=float)
    if th.ndim == 0:
        th = th.reshape(1)  # d = 1 convenience: a scalar wave number
    if t.ndim == 0:
        val = np.full(th.shape[:-1], float(t))
        return float(val) if val.ndim == 0 else val
    d, n = t.shape[0], t.ndim
    if th.shape[-1] != d:
        raise ConfigError(f"apply: vector dimension {th.shape[-1]} does not match d = {d}")
    weights = orbit_sums(t)  # z(i) S(t)_i
    idx = multi_indices(d, n)  # (N, n)
    monomials = np.prod(th[..., idx], axis=-1)  # (..., N): prod_p theta_{i_p}
    val = monomials @ weights
    return float(val) if np.ndim(val) == 0 else val


# the brief's name for the same operation
contract = apply


# --------------------------------------------------------------------------------------
# distinct components (Remark 1)
# --------------------------------------------------------------------------------------
def components(t: object) -> np.ndarray:
    """The distinct entries ``t_i``, ``i`` in ``I(d, n)`` (order of :func:`multi_indices`).

    ``t`` should be symmetric; if it is not, the entries of ``S^n(t)`` are returned
    (the average over each orbit), which is the only part that survives in the
    effective operators (Remark 1).
    """
    t = as_tensor(t)
    if t.ndim == 0:
        return t.reshape(1).copy()
    d, n = t.shape[0], t.ndim
    return orbit_sums(t) / _multiplicities(d, n)


def from_components(
    values: Mapping[Sequence[int], float] | Sequence[float] | np.ndarray, d: int, k: int
) -> np.ndarray:
    """Full symmetric tensor of order ``k`` on ``R^d`` from its distinct components.

    Parameters
    ----------
    values
        Either an array of length ``N(d, k)`` in the order of :func:`multi_indices`,
        or a mapping ``multi-index -> value``; keys may be given in any index order
        (they are sorted), missing keys are 0, two keys of the same orbit with
        different values raise :class:`ConfigError`.
    """
    _check_dk(d, k)
    n_comp = multi_index_count(d, k)
    if isinstance(values, Mapping):
        comps = np.zeros(n_comp)
        seen: dict[tuple[int, ...], float] = {}
        rows = {tuple(int(v) for v in row): r for r, row in enumerate(multi_indices(d, k))}
        for key, val in values.items():
            key_t = tuple(sorted(int(v) for v in (key if isinstance(key, Iterable) else (key,))))
            if len(key_t) != k or any(v < 0 or v >= d for v in key_t):
                raise ConfigError(f"from_components: {key!r} is not a multi-index of I({d},{k})")
            fval = float(val)
            if key_t in seen and seen[key_t] != fval:
                raise ConfigError(f"from_components: conflicting values for the orbit of {key!r}")
            seen[key_t] = fval
            comps[rows[key_t]] = fval
    else:
        comps = np.asarray(values, dtype=float).reshape(-1)
        if comps.size != n_comp:
            raise ConfigError(
                f"from_components: expected N({d},{k}) = {n_comp} values, got {comps.size}"
            )
    if not np.all(np.isfinite(comps)):
        raise ConfigError("from_components: values contain NaN or inf")
    if k == 0:
        return np.array(comps[0])
    return comps[_labels_cached(int(d), int(k))].reshape((d,) * k)


# --------------------------------------------------------------------------------------
# cost of the cell problems (Sect. 3.2)
# --------------------------------------------------------------------------------------
def cell_problem_count(d: int, order: int) -> int:
    """``CP(d, k) = sum_{r=1}^{k} N(d, r) = C(k + d, d) - 1`` (Sect. 3.2).

    What is counted: the number of *scalar* periodic cell problems needed for all the
    distinct components of the symmetric correctors ``chi^1, ..., chi^k`` (23), one
    per multi-index of ``I(d, r)``, ``1 <= r <= k`` (Remark 1).  ``chi^0 = 1`` is not
    counted.  For an effective equation of order ``s = floor(alpha/2)``:

    * Theorem 3 (41)-(42) needs ``chi^1 .. chi^{s+1}``: ``CP(d, s + 1)``;
    * the naive formula (40) for ``g^{2s}`` needs ``chi^{2s}`` and ``chi^{2s+1}``
      hence ``chi^1 .. chi^{2s+1}``: ``CP(d, 2s + 1)``.

    The paper's example ``s = 3``: ``CP(2, 4) = 14`` vs ``CP(2, 7) = 35`` and
    ``CP(3, 4) = 34`` vs ``CP(3, 7) = 119`` (21 and 85 problems spared).
    """
    if not (isinstance(order, (int, np.integer)) and order >= 0):
        raise ConfigError(f"cell_problem_count: order must be an integer >= 0, got {order!r}")
    if not (isinstance(d, (int, np.integer)) and d >= 1):
        raise ConfigError(f"cell_problem_count: d must be an integer >= 1, got {d!r}")
    return sum(math.comb(r + d - 1, r) for r in range(1, int(order) + 1))
