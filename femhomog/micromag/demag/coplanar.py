"""The dense FEM-BEM boundary matrix without its exactly-zero coplanar blocks (pure numpy).

The double-layer kernel ``(y - x) . n_y / |y - x|^3`` vanishes when ``x`` lies in the
plane of the triangle around ``y``.  So ``B_ij = 0`` (``i != j``) whenever every boundary
triangle at node ``j`` lies in one plane that also holds node ``i``: on a flat face the
block of its own nodes is diagonal.  For a thin film the two large faces are about two
thirds of the boundary nodes and their two diagonal blocks about a third of ``B``
(SP4 with the potential on 8 layers: 11,538 boundary nodes, 4,670 on each large face).

:class:`CoplanarBlocks` keeps, for the owned rows of each face, only the columns of the
other faces, plus the diagonal: less memory and a proportionally cheaper product
``u2 = B u1`` (it is memory bound).  Rows of nodes on edges and corners stay dense.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["CoplanarBlocks", "node_planes"]


def node_planes(tri_nodes: np.ndarray, tri_coords: np.ndarray, num_nodes: int) -> np.ndarray:
    """The plane id of each boundary node whose triangles all lie in one plane, else -1.

    Parameters
    ----------
    tri_nodes
        ``(Nt, 3)`` global boundary node numbers of the triangles.
    tri_coords
        ``(Nt, 3, 3)`` their vertex coordinates.
    num_nodes
        Number of boundary nodes.
    """
    plane = -np.ones(num_nodes, dtype=np.int64)
    if len(tri_nodes) == 0:
        return plane
    x0, x1, x2 = tri_coords[:, 0], tri_coords[:, 1], tri_coords[:, 2]
    n = np.cross(x1 - x0, x2 - x0)
    n /= np.linalg.norm(n, axis=1)[:, None]
    d = np.einsum("ij,ij->i", n, x0)
    scale = max(1.0, float(np.abs(tri_coords).max()))
    key = np.column_stack([np.round(n * 1e9), np.round(d / scale * 1e9)])
    _, tri_plane = np.unique(key, axis=0, return_inverse=True)
    tri_plane = tri_plane.ravel()
    lo = np.full(num_nodes, np.iinfo(np.int64).max)
    hi = np.full(num_nodes, -1)
    for k in range(3):
        np.minimum.at(lo, tri_nodes[:, k], tri_plane)
        np.maximum.at(hi, tri_nodes[:, k], tri_plane)
    flat = lo == hi
    plane[flat] = lo[flat]
    return plane


class CoplanarBlocks:
    """The owned rows of ``B`` with the diagonal blocks of flat faces dropped.

    Parameters
    ----------
    build_rows
        ``build_rows(local_rows)``: the dense rows ``(len(local_rows), Nb)`` of ``B``;
        called once per face, so that only one face's dense rows exist at a time.
    nb, Nb
        Owned rows and columns of ``B`` (rows ``offset .. offset + nb - 1``).
    offset
        Global number of the first owned row.
    plane
        :func:`node_planes` of all ``Nb`` boundary nodes.
    dtype
        Storage precision.
    tol
        Dropped entries must be below ``tol`` times the largest entry of their row
        (they are zero up to round-off); otherwise ``ValueError``.
    """

    def __init__(self, build_rows: Callable[[np.ndarray], np.ndarray], nb: int, Nb: int,
                 offset: int, plane: np.ndarray, dtype: Any = np.float64,
                 tol: float = 1e-10) -> None:
        self.shape = (nb, Nb)
        self.dtype = np.dtype(dtype)
        self._offset = offset
        self.diagonal = np.zeros(nb, dtype=self.dtype)
        self.groups: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        row_plane = plane[offset + np.arange(nb)]
        for p in np.unique(row_plane):
            r = np.flatnonzero(row_plane == p)
            B = build_rows(r)
            self.diagonal[r] = B[np.arange(len(r)), offset + r]
            if p < 0:  # edges and corners: full rows
                self.groups.append((r, np.arange(Nb), B))
                continue
            keep = np.flatnonzero(plane != p)
            drop = np.flatnonzero(plane == p)
            block = B[:, drop].astype(np.float64)
            block[np.arange(len(r)), np.searchsorted(drop, offset + r)] = 0.0
            rowmax = np.abs(B).max(axis=1)
            if np.any(np.abs(block).max(axis=1, initial=0.0) > tol * rowmax):
                raise ValueError("CoplanarBlocks: a dropped coplanar entry is not zero")
            # the diagonal is added separately; the kept columns exclude the face
            self.groups.append((r, keep, np.ascontiguousarray(B[:, keep])))
            del B, block
        face = [r for (r, keep, _) in self.groups if len(keep) < Nb]
        self._face_rows = np.concatenate(face) if face else np.zeros(0, dtype=np.int64)

    @property
    def nbytes(self) -> int:
        return int(sum(blk.nbytes for _, _, blk in self.groups) + self.diagonal.nbytes)

    def __matmul__(self, u: np.ndarray) -> np.ndarray:
        """``B u`` for the full boundary vector ``u`` (length ``Nb``)."""
        out = np.empty(self.shape[0], dtype=np.result_type(self.dtype, u.dtype))
        for r, keep, blk in self.groups:
            out[r] = blk @ (u if len(keep) == self.shape[1] else u[keep])
        face = self._face_rows
        if face.size:  # the diagonal of the face blocks (full rows hold theirs)
            out[face] += self.diagonal[face] * u[self._offset + face]
        return out
