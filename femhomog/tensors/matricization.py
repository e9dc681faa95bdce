"""Matricization of even-order tensors: ``nu``, ``M(q)`` and their sign (Sect. 3.3).

A tensor ``q`` of order ``2n`` defines the bilinear form (43) on ``Sym^n(R^d)``

    q xi : eta = q_{i_1..i_n i_{n+1}..i_{2n}} xi_{i_1..i_n} eta_{i_{n+1}..i_{2n}}.

With the index set ``I(d, n)`` of (44) (non-decreasing multi-indices, see
:func:`femhomog.tensors.symmetric.multi_indices`) and the multiplicities ``z(i)``,
``nu(xi)`` is the vector of the ``N(d, n)`` distinct entries of ``xi`` and ``M(q)`` the
``N x N`` matrix of (45), ``M(q)_{rs} = z(l(r)) z(l(s)) q_{l(r) l(s)}``, so that

    q xi : eta = M(q) nu(xi) . nu(eta)    for all xi, eta in Sym^n(R^d)      (36).

Hence ``q`` is positive (semi)definite in the sense of (9) iff ``M(q)`` is.

Implementation: ``M(q) = O Q^T O^T`` where ``Q`` is ``q`` reshaped to ``d^n x d^n``
and ``O`` the ``N x d^n`` 0/1 matrix summing each orbit.  For ``q`` symmetric within
each half (in particular fully symmetric) this is exactly (45); for a general ``q``
it is the matrix of the same bilinear form restricted to ``Sym^n``, so (36) holds for
every ``q`` of order ``2n``.  Note that ``nu`` is *not* an isometry (the weights ``z``
enter ``M`` instead), so eigenvalues of ``M(q)`` are not those of the form with respect
to the Frobenius inner product on ``Sym^n``; only their signs are (Sylvester's law
of inertia), which is all Lemma 4 uses.
"""

from __future__ import annotations

import numpy as np

from femhomog import ConfigError
from femhomog.tensors.symmetric import (
    _orbit_matrix,
    as_tensor,
    from_components,
    is_symmetric,
    multi_indices,
)

__all__ = [
    "bilinear",
    "index_set",
    "is_major_symmetric",
    "is_positive_definite",
    "is_positive_semidefinite",
    "matricize",
    "min_eigenvalue",
    "nu",
    "nu_inverse",
]


def index_set(d: int, n: int) -> np.ndarray:
    """``I(d, n)`` of (44), 0-based, one multi-index per row; row ``r`` is ``l(r)``."""
    return multi_indices(d, n)


def _half_order(q: np.ndarray, name: str) -> int:
    if q.ndim % 2:
        raise ConfigError(f"{name}: matricization needs an even order, got order {q.ndim}")
    return q.ndim // 2


def nu(xi: object, *, check: bool = True, tol: float = 1e-12) -> np.ndarray:
    """``nu(xi)_r = xi_{l(r)}``: the distinct entries of a symmetric tensor (Sect. 3.3).

    Raises :class:`ConfigError` if ``check`` and ``xi`` is not symmetric (``nu`` is
    only defined on ``Sym^n(R^d)``; for a non-symmetric tensor the identity (36) would
    silently fail).
    """
    xi = as_tensor(xi, name="xi")
    if xi.ndim == 0:
        return xi.reshape(1).copy()
    if check and not is_symmetric(xi, tol):
        raise ConfigError("nu: the tensor is not symmetric (nu is defined on Sym^n only)")
    idx = multi_indices(xi.shape[0], xi.ndim)
    return xi[tuple(idx.T)].copy()


def nu_inverse(v: object, d: int, n: int) -> np.ndarray:
    """The symmetric tensor ``xi`` with ``nu(xi) = v``."""
    return from_components(np.asarray(v, dtype=float), d, n)


def matricize(q: object) -> np.ndarray:
    """``M(q)`` of (45) for a tensor ``q`` of order ``2n`` on ``R^d``.

    Returns an ``N(d, n) x N(d, n)`` matrix with ``M(q) nu(xi) . nu(eta) = q xi : eta``
    for all symmetric ``xi, eta`` of order ``n`` (36).  ``M(q)`` is symmetric when ``q``
    is major symmetric (8) after symmetrization of each half, e.g. for fully
    symmetric ``q``.
    """
    q = as_tensor(q, name="q")
    n = _half_order(q, "matricize")
    if n == 0:
        return q.reshape(1, 1).copy()
    d = q.shape[0]
    big = q.reshape(d**n, d**n)
    o = _orbit_matrix(d, n)
    # O Q^T O^T: the transpose puts xi on the first half of q, as in (43)
    return np.asarray(o @ (o @ big).T)


def bilinear(q: object, xi: object, eta: object) -> float:
    """``q xi : eta`` of (43), by direct contraction (no symmetry assumed)."""
    q = as_tensor(q, name="q")
    n = _half_order(q, "bilinear")
    xi = as_tensor(xi, name="xi", order=n)
    eta = as_tensor(eta, name="eta", order=n)
    return (
        float(np.tensordot(np.tensordot(q, eta, axes=n), xi, axes=n)) if n else float(q * xi * eta)
    )


def is_major_symmetric(q: object, tol: float = 1e-12) -> bool:
    """Major symmetry (8): ``q_{I J} = q_{J I}`` for the two halves ``I``, ``J``."""
    q = as_tensor(q, name="q")
    n = _half_order(q, "is_major_symmetric")
    perm = tuple(range(n, 2 * n)) + tuple(range(n))
    scale = max(1.0, float(np.max(np.abs(q)))) if q.size else 1.0
    return bool(np.max(np.abs(q - q.transpose(perm)), initial=0.0) <= tol * scale)


def _sym_eigvals(q: object) -> np.ndarray:
    m = matricize(q)
    # the quadratic form xi -> q xi : xi only sees the symmetric part of M(q)
    return np.linalg.eigvalsh(0.5 * (m + m.T))


def min_eigenvalue(q: object) -> float:
    """``lambda_min(M(q))`` (of the symmetric part), as used in (37)."""
    return float(_sym_eigvals(q)[0])


def is_positive_semidefinite(q: object, tol: float = 1e-12, scale: float | None = None) -> bool:
    """Positive semidefiniteness (9) of ``q``, via the eigenvalues of ``M(q)`` (36).

    True iff ``lambda_min(M(q)) >= -tol * scale`` (a relative tolerance, so that
    round-off in a large tensor is not mistaken for a sign).  ``scale`` defaults to
    ``max_i |lambda_i(M(q))|``; pass the size of the data ``q`` was computed from
    when ``q`` itself may vanish (e.g. ``a^{2r}`` in 1D), since a tolerance relative
    to a tensor that is zero up to round-off only compares noise with noise.
    """
    lam = _sym_eigvals(q)
    ref = float(np.max(np.abs(lam))) if scale is None else float(scale)
    return bool(lam[0] >= -tol * ref)


def is_positive_definite(q: object, tol: float = 1e-12, scale: float | None = None) -> bool:
    """Positive definiteness (9): ``lambda_min(M(q)) > tol * scale``.

    ``scale`` as in :func:`is_positive_semidefinite` (default ``max_i |lambda_i(M(q))|``;
    give the data's size when ``q`` may vanish, or noise would pass as definite).
    """
    lam = _sym_eigvals(q)
    ref = float(np.max(np.abs(lam))) if scale is None else float(scale)
    return bool(lam[0] > tol * ref)
