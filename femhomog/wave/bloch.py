"""Exact fine-scale wave solutions on large periodic boxes by Bloch-Floquet decomposition.

The space-discrete fine-scale equation (13) of the wave paper (:mod:`femhomog.wave.fine_scale`,
``f = 0``) is

    M u'' + K u = 0,      u(0) = u0,  u'(0) = u1,

with the GLL stiffness ``K`` and the lumped (diagonal) mass ``M``.  On a periodic box
meshed uniformly, with a coefficient ``a(x/eps)`` periodic under a translation ``s_i``
along each axis (one period ``eps``; one element along an axis on which ``a`` does not
depend, e.g. ``x_1`` for the layered medium of Fig. 2), translating the unknowns by
``s_i`` maps the mesh, its GLL nodes and its element matrices onto themselves: ``K`` and
``M`` commute with the translation.  Grouping the unknowns into tiles of one translation
``(B, l)`` (tile multi-index ``B``, local node ``l``), ``K`` is block-circulant,

    (K u)_B = sum_delta K_delta u_{B + delta},   delta in {-1, 0, 1}^d,

(elements couple neighbouring tiles only) and ``M`` block-diagonal with one diagonal
``m`` per tile.  The discrete Fourier transform over the tiles,
``u_B = N^-1 sum_q u^_q e^{i q.B}`` with ``q_i = 2 pi j_i / N_i``, turns the problem into
one small Hermitian problem per Bloch wave number ``q``:

    H(q) = sum_delta K_delta e^{i q.delta},     u^_q'' + m^-1 H(q) u^_q = 0,

solved exactly with the eigenpairs ``S(q) = m^-1/2 H(q) m^-1/2 = Q diag(lambda) Q^H``:

    u^_q(t) = m^-1/2 Q [cos(sqrt(lambda) t) Q^H m^1/2 u0^_q
                        + sin(sqrt(lambda) t)/sqrt(lambda) Q^H m^1/2 u1^_q].

This is the *same* discrete solution as the direct solvers (Chebyshev propagation of
:mod:`femhomog.wave.chebyshev`, the limit of the leapfrog schemes for tau -> 0), up to
round-off: the blocks ``K_delta`` and ``m`` are taken from the assembled operator of a
small periodic box with the same elements (:func:`extract_blocks`, checked to be
translation invariant), and the decomposition is an exact change of basis.  Its cost
is one ``eigh`` of the tile size per wave number, independent of t: Fig. 1 to
t = eps^-4 takes seconds instead of hours.

Applies to: periodic boxes holding a whole number of translations per axis, uniform
meshes (``box_mesh``), source-free problems, and coefficients periodic under the
translations (any eps-periodic ``a`` with tiles of one period; tiles of one element
along axes on which ``a`` is constant).

Truncation: the Bloch transform is unitary for the ``M`` inner product (Parseval), and
the exact evolution of a wave number has ``||u_q(t)||_m <= ||u0_q||_m + t ||u1_q||_m``;
wave numbers whose data are small may be skipped (``tol``), with the error bound
:attr:`BlochWave.truncation` (relative to ``||u0||_M + t ||u1||_M``).

Pure numpy/scipy: no dolfinx, no MPI (the solution is computed on the calling process;
:mod:`femhomog.wave.bloch_fe` builds the blocks from the assembled operator and moves
the solution into the distributed vectors of the direct solver).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import product

import numpy as np
import scipy.sparse

from femhomog import ConfigError, SolverError
from femhomog.wave.fourier import mode_propagators

__all__ = ["BlochBlocks", "BlochWave", "extract_blocks", "gll_grid_matrix", "tile_index"]

#: Largest relative defect of translation invariance accepted in the assembled operator.
INVARIANCE_TOL = 1e-10


@dataclass(frozen=True)
class BlochBlocks:
    """The per-tile operator of a translation-invariant ``(K, M)``.

    Attributes
    ----------
    shifts
        Translation ``s_i`` per axis (the tile size).
    nodes
        Per axis, the local coordinates in ``[0, s_i)`` of the nodes of a tile (sorted);
        local node ``l`` is the C-order multi-index over these axes.
    coupling
        ``K_delta`` (dense, tile size squared) for every offset ``delta`` in
        ``{-1, 0, 1}^d`` that occurs.
    mass
        The lumped mass ``m`` of one tile.
    defect
        Largest deviation of the assembled operator from translation invariance,
        relative to ``max |K|`` (round-off).
    """

    shifts: tuple[float, ...]
    nodes: tuple[np.ndarray, ...]
    coupling: dict[tuple[int, ...], np.ndarray]
    mass: np.ndarray
    defect: float

    @property
    def dim(self) -> int:
        return len(self.shifts)

    @property
    def shape(self) -> tuple[int, ...]:
        """Local nodes per axis."""
        return tuple(len(n) for n in self.nodes)

    def symbol(self, q: np.ndarray, scale: np.ndarray | None = None) -> np.ndarray:
        """``H(q) = sum_delta K_delta e^{i q.delta}`` for wave numbers ``q`` of shape
        ``(n, d)``: an array ``(n, size, size)``; with ``scale``, ``D H(q) D`` for
        ``D = diag(scale)``."""
        q = np.atleast_2d(q)
        size = int(np.prod(self.shape))
        deltas = np.array(list(self.coupling), dtype=float)  # (n_delta, d)
        stack = np.stack(list(self.coupling.values()))
        if scale is not None:
            stack = stack * scale[None, :, None] * scale[None, None, :]
        stack = stack.reshape(len(deltas), -1)
        angle = q @ deltas.T  # (n, n_delta); real products: cheaper than complex ones
        out = np.empty((len(q), size * size), dtype=complex)
        out.real = np.cos(angle) @ stack
        out.imag = np.sin(angle) @ stack
        return out.reshape(len(q), size, size)


def tile_index(coords: np.ndarray, lower: Sequence[float], shifts: Sequence[float],
                counts: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Tile multi-index ``(n, d)`` and local coordinates ``(n, d)`` of node coordinates."""
    s = np.asarray(shifts, float)
    length = s * np.asarray(counts)
    rel = np.mod(coords - np.asarray(lower, float), length)
    # nodes within round-off of the upper face are periodic images of the lower face
    rel[np.isclose(rel, length, rtol=0, atol=1e-9 * s.min())] = 0.0
    tile = np.floor(rel / s + 1e-9).astype(np.int64)
    local = rel - tile * s
    local[np.abs(local) < 1e-9 * s.min()] = 0.0
    return tile % np.asarray(counts), local


def _cluster(values: np.ndarray, tol: float) -> np.ndarray:
    """Sorted distinct values (within ``tol``), each the mean of its cluster."""
    v = np.sort(values)
    group = np.concatenate([[0], np.cumsum(np.diff(v) > tol)])
    return np.bincount(group, weights=v) / np.bincount(group)


def _local_index(local: np.ndarray, nodes: Sequence[np.ndarray], scale: float) -> np.ndarray:
    """Per-axis index of each local coordinate among ``nodes`` (exact match or error)."""
    index = np.empty(local.shape, dtype=np.int64)
    for i, n in enumerate(nodes):
        j = np.clip(np.searchsorted(n, local[:, i] - 1e-9 * scale), 0, len(n) - 1)
        if np.max(np.abs(n[j] - local[:, i]), initial=0.0) > 1e-8 * scale:
            raise SolverError("the mesh is not uniform: node positions differ between tiles")
        index[:, i] = j
    return index


def extract_blocks(K: scipy.sparse.spmatrix, mass: np.ndarray, coords: np.ndarray,
                   lower: Sequence[float], shifts: Sequence[float],
                   counts: Sequence[int]) -> BlochBlocks:
    """The blocks ``K_delta`` and ``m`` of an assembled periodic operator.

    Parameters
    ----------
    K, mass
        Stiffness and lumped mass of the unknowns of a periodic box of ``counts[i] >= 4``
        tiles per axis (4: a coupling beyond the neighbours would be detected).
    coords
        Coordinates ``(n, d)`` of the unknowns.
    lower, shifts
        Box corner and tile size.

    Every tile is checked against the first one: the operator must be invariant under
    the translations up to :data:`INVARIANCE_TOL`, and couple neighbouring tiles only.
    """
    counts = tuple(int(c) for c in counts)
    if min(counts) < 4:
        raise ConfigError("extract_blocks needs at least 4 tiles per axis")
    coords = np.asarray(coords, float).reshape(len(mass), -1)
    d = coords.shape[1]
    tile, local = tile_index(coords, lower, shifts, counts)
    scale = float(min(shifts))
    first = np.all(tile == 0, axis=1)
    nodes = tuple(_cluster(local[first, i], 1e-9 * scale) for i in range(d))
    loc = _local_index(local, nodes, scale)
    shape = tuple(len(n) for n in nodes)
    if int(np.prod(shape)) * int(np.prod(counts)) != len(mass) or first.sum() != np.prod(shape):
        raise SolverError("the unknowns do not form identical tiles (mesh not uniform, or "
                          "the box is not a whole number of translations)")
    lflat = np.ravel_multi_index(tuple(loc.T), shape)
    size = int(np.prod(shape))
    m = np.zeros(size)
    m[lflat[first]] = mass[first]
    mass_defect = np.max(np.abs(mass - m[lflat])) / np.max(np.abs(m))
    C = scipy.sparse.coo_matrix(K)
    C.sum_duplicates()
    rows, cols, vals = C.row, C.col, C.data
    delta = tile[cols] - tile[rows]
    delta = (delta + 1) % np.asarray(counts) - 1  # offsets in {-1, 0, ..., counts - 2}
    if np.any(np.abs(delta[np.abs(vals) > 0]) > 1):
        raise SolverError("the operator couples tiles beyond their neighbours")
    key = np.ravel_multi_index(tuple((delta + 1).T), (3,) * d) * size * size \
        + lflat[rows] * size + lflat[cols]
    ref = np.zeros(3**d * size * size)
    on_first = first[rows]
    np.add.at(ref, key[on_first], vals[on_first])
    # every tile's entries against the first tile's
    vmax = float(np.max(np.abs(C.data)))
    defect = float(np.max(np.abs(vals - ref[key]))) / vmax if len(vals) else 0.0
    defect = max(defect, float(mass_defect))
    if defect > INVARIANCE_TOL:
        raise SolverError(f"the operator is not translation invariant (relative defect "
                          f"{defect:.2e}): Bloch decomposition does not apply")
    ref = ref.reshape((3,) * d + (size, size))
    coupling = {}
    for offset in product((-1, 0, 1), repeat=d):
        block = ref[tuple(o + 1 for o in offset)]
        if np.any(block != 0.0):
            coupling[offset] = block
    return BlochBlocks(tuple(float(s) for s in shifts), nodes, coupling, m, defect)


class BlochWave:
    """Exact evolution of ``M u'' + K u = 0`` on a periodic box of ``counts`` tiles.

    Parameters
    ----------
    blocks
        The per-tile operator (:func:`extract_blocks`).
    counts
        Tiles per axis of the box.
    lower
        Lower corner of the box.
    chunk
        Wave numbers per batched ``eigh`` (memory ~ ``chunk * size^2 * 16`` bytes).

    Arrays of unknowns have the shape ``(*counts, *blocks.shape)``: tile multi-index,
    then local node multi-index (:meth:`coordinates`).
    """

    def __init__(self, blocks: BlochBlocks, counts: Sequence[int],
                 lower: Sequence[float], *, chunk: int = 2048) -> None:
        self.blocks = blocks
        self.counts = tuple(int(c) for c in counts)
        self.lower = tuple(float(v) for v in lower)
        if len(self.counts) != blocks.dim or len(self.lower) != blocks.dim:
            raise ConfigError("counts and lower need one entry per axis")
        self.chunk = int(chunk)
        self.truncation = 0.0
        self.solved = 0

    @property
    def shape(self) -> tuple[int, ...]:
        return self.counts + self.blocks.shape

    @property
    def num_dofs(self) -> int:
        return int(np.prod(self.shape))

    def axis_nodes(self, axis: int) -> np.ndarray:
        """All node coordinates along ``axis`` (sorted), ``counts * local`` of them."""
        s = self.blocks.shifts[axis]
        tiles = self.lower[axis] + s * np.arange(self.counts[axis])
        return (tiles[:, None] + self.blocks.nodes[axis][None, :]).ravel()

    def coordinates(self) -> list[np.ndarray]:
        """Coordinates of the unknowns, one array of :attr:`shape` per axis."""
        d = self.blocks.dim
        out = []
        for i in range(d):
            tiles = self.lower[i] + self.blocks.shifts[i] * np.arange(self.counts[i])
            view = [1] * (2 * d)
            view[i] = self.counts[i]
            x = tiles.reshape(view)
            view = [1] * (2 * d)
            view[d + i] = self.blocks.shape[i]
            out.append(np.broadcast_to(x + self.blocks.nodes[i].reshape(view), self.shape))
        return out

    def nodal(self, function: Callable[[np.ndarray], np.ndarray] | float) -> np.ndarray:
        """Nodal values of ``function(x)`` (``x`` of shape ``(d, ...)``) or a constant."""
        if not callable(function):
            return np.full(self.shape, float(function))
        values = np.asarray(function(np.stack(self.coordinates())), float)
        return np.broadcast_to(values, self.shape).copy()

    def _wave_numbers(self) -> np.ndarray:
        """``q`` of the half spectrum of :func:`numpy.fft.rfftn` over the tile axes."""
        ks = [2 * np.pi * np.fft.fftfreq(n) for n in self.counts[:-1]]
        ks.append(2 * np.pi * np.arange(self.counts[-1] // 2 + 1) / self.counts[-1])
        return np.stack(np.meshgrid(*ks, indexing="ij"), axis=-1).reshape(-1, len(ks))

    def _weights(self) -> np.ndarray:
        """Multiplicity of each half-spectrum wave number in the full spectrum."""
        n = self.counts[-1]
        w = np.full(n // 2 + 1, 2.0)
        w[0] = 1.0
        if n % 2 == 0:
            w[-1] = 1.0
        return np.broadcast_to(w, tuple(self.counts[:-1]) + (n // 2 + 1,)).reshape(-1)

    def evolve(self, u0: np.ndarray, times: Sequence[float], u1: np.ndarray | None = None,
               *, tol: float = 0.0) -> list[np.ndarray]:
        """``u(t)`` for every ``t`` in ``times`` (arrays of :attr:`shape`).

        ``tol``: skip the wave numbers whose data carry together at most ``tol`` of the
        norm ``||u0||_M + t_max ||u1||_M``; the bound of the dropped part relative to that
        norm is stored in :attr:`truncation`.
        """
        d = self.blocks.dim
        axes = tuple(range(d))
        size = int(np.prod(self.blocks.shape))
        times = [float(t) for t in times]
        tmax = max(times, default=0.0)
        msq = np.sqrt(self.blocks.mass)
        hats = [np.fft.rfftn(np.asarray(u0, float), axes=axes)]
        if u1 is not None:
            hats.append(np.fft.rfftn(np.asarray(u1, float), axes=axes))
        half = hats[0].shape[:d]
        w = [h.reshape(-1, size) * msq for h in hats]  # m^1/2 u^, one row per q
        norms = np.linalg.norm(w[0], axis=1)
        if u1 is not None:
            norms = norms + tmax * np.linalg.norm(w[1], axis=1)
        weight = self._weights()
        total = float(np.sum(weight * norms**2))
        order = np.argsort(norms)
        dropped = np.cumsum((weight * norms**2)[order])
        n_drop = int(np.searchsorted(dropped, tol**2 * total, side="right")) if tol > 0 else 0
        self.truncation = float(np.sqrt(dropped[n_drop - 1] / total)) if n_drop else 0.0
        keep = np.sort(order[n_drop:])
        self.solved = len(keep)
        q = self._wave_numbers()
        outs = [np.zeros((len(q), size), dtype=complex) for _ in times]
        lam_top = 0.0
        for start in range(0, len(keep), self.chunk):
            sel = keep[start:start + self.chunk]
            S = self.blocks.symbol(q[sel], 1.0 / msq)
            lam, Q = np.linalg.eigh(S)
            lam_top = max(lam_top, float(lam.max()))
            # eigenvalues of a semidefinite operator below round-off are zero
            lam = np.where(np.abs(lam) <= 1e-12 * max(lam_top, 1.0), 0.0, lam)
            if lam.min() < 0:
                raise SolverError(f"negative eigenvalue {lam.min():.3e} of the Bloch blocks "
                                  "(the stiffness is not semidefinite)")
            QH = np.conj(np.swapaxes(Q, 1, 2))
            c = [(QH @ x[sel][:, :, None])[:, :, 0] for x in w]
            for out, t in zip(outs, times, strict=True):
                cos_t, sin_t, _ = mode_propagators(lam, t)
                y = cos_t * c[0] + (sin_t * c[1] if u1 is not None else 0.0)
                out[sel] = (Q @ y[:, :, None])[:, :, 0] / msq
        return [np.fft.irfftn(o.reshape(half + self.blocks.shape), s=self.counts, axes=axes)
                for o in outs]


def gll_grid_matrix(nodes: np.ndarray, length: float, cells: int, degree: int,
                    per_cell: int) -> scipy.sparse.csr_matrix:
    """Values at a uniform periodic grid of a periodic piecewise polynomial of ``degree``.

    ``nodes`` are the ``cells * degree`` node coordinates along the axis (sorted, from the
    box's lower end, :meth:`BlochWave.axis_nodes`), each element holding ``degree + 1``
    of them (its last one the next element's first, periodically); the grid has
    ``per_cell`` points per element, the first at the element's lower end.  The values
    are those of the element's Lagrange interpolant, the same as the point evaluation of
    :class:`~femhomog.wave.sampling.GridSampler` (tensor products of this matrix give
    the grid values of a tensor-product element).
    """
    nodes = np.asarray(nodes, float)
    if len(nodes) != cells * degree:
        raise ConfigError(f"expected {cells * degree} nodes, got {len(nodes)}")
    h = length / cells
    k = np.arange(cells)
    idx = (k[:, None] * degree + np.arange(degree + 1)[None, :]) % len(nodes)  # (cells, p+1)
    xk = nodes[idx]
    xk[-1, -1] += length  # the last element ends at the periodic image of the first node
    xk = xk - xk[:, :1]
    pts = h * np.arange(per_cell) / per_cell
    # Lagrange basis of each element's nodes at its grid points: (cells, per_cell, p+1)
    L = np.ones((cells, per_cell, degree + 1))
    for j in range(degree + 1):
        for i in range(degree + 1):
            if i != j:
                L[:, :, j] *= ((pts[None, :] - xk[:, i:i + 1])
                               / (xk[:, j:j + 1] - xk[:, i:i + 1]))
    rows = np.repeat(np.arange(cells * per_cell), degree + 1)
    cols = np.repeat(idx, per_cell, axis=0).ravel()
    return scipy.sparse.csr_matrix((L.ravel(), (rows, cols)),
                                   shape=(cells * per_cell, len(nodes)))
