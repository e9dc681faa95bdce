"""Structured periodic boxes built with the dolfinx mesh generators.

The boxes are meshed so that the boundary meshes on opposite faces are
translates of each other, which is what a periodic constraint (matching the
dofs on ``y_i = 0`` with those on ``y_i = L_i``) needs:

* ``interval``, ``quadrilateral``, ``hexahedron``: tensor-product grids, trivially
  translation-compatible.
* ``triangle``: every square of the grid is cut along the same ("right")
  diagonal.  In 2D the boundary facets are just the grid edges, so any diagonal
  would do; ``right`` keeps the mesh a pure translation-invariant pattern.
* ``tetrahedron``: dolfinx (0.11) has no diagonal option for boxes; it cuts every
  hexahedron of the grid into the same six tetrahedra around the main diagonal
  ``(0,0,0)-(1,1,1)``.  Because every cube is cut in the same way, the face
  triangulation on ``y_i = 0`` of a cube is the translate of its ``y_i = 1``
  face, hence the two boundary faces of the box are translates too (checked by
  ``tests/test_meshes.py::test_structured_counts_volume_periodic``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from femhomog import (
    ConfigError,
    MeshError,
    _fenicsx,  # noqa: F401  (must precede dolfinx, petsc4py and mpi4py)
)

# isort: split
from dolfinx import mesh as dmesh
from mpi4py import MPI

__all__ = ["CELL_TYPES_BY_DIM", "check_periodic_boundary", "periodic_box_mesh"]

#: The cell types accepted by :func:`periodic_box_mesh` for each dimension.
CELL_TYPES_BY_DIM: dict[int, tuple[str, ...]] = {
    1: ("interval",),
    2: ("triangle", "quadrilateral"),
    3: ("tetrahedron", "hexahedron"),
}


def _lengths(dim: int, lengths: float | Sequence[float]) -> list[float]:
    """Return ``dim`` positive box side lengths from a scalar or a sequence."""
    if np.isscalar(lengths):
        values = [float(lengths)] * dim  # type: ignore[arg-type]
    else:
        values = [float(v) for v in lengths]  # type: ignore[union-attr]
        if len(values) != dim:
            raise ConfigError(f"lengths has {len(values)} entries but the box has dimension {dim}")
    if not all(np.isfinite(v) and v > 0 for v in values):
        raise ConfigError(f"box lengths must be positive and finite, got {values}")
    return values


def periodic_box_mesh(
    comm: MPI.Comm,
    dim: int,
    cell_type: str,
    cells_per_side: int | Sequence[int],
    lengths: float | Sequence[float] = 1.0,
    ghost_mode: dmesh.GhostMode = dmesh.GhostMode.shared_facet,
) -> dmesh.Mesh:
    """Structured mesh of the box ``[0, L_1] x ... x [0, L_d]``, periodic-ready.

    Parameters
    ----------
    comm
        MPI communicator the mesh is distributed over.
    dim
        Space dimension, 1, 2 or 3.
    cell_type
        ``"interval"`` (d = 1), ``"triangle"`` or ``"quadrilateral"`` (d = 2),
        ``"tetrahedron"`` or ``"hexahedron"`` (d = 3).
    cells_per_side
        Number of grid intervals ``n >= 1`` along every axis, or ``dim`` numbers
        ``(n_1, ..., n_d)`` for an anisotropic grid (e.g. a laminate resolved
        along its normal only); simplex meshes have ``n_1 ... n_d`` times 1, 2
        or 6 cells.
    lengths
        Side lengths ``L_i``: one number for a cube, or ``dim`` numbers.
    ghost_mode
        dolfinx ghost mode; ``shared_facet`` is needed by interior-facet
        integrals in parallel.

    Returns
    -------
    dolfinx.mesh.Mesh
        The box mesh; the boundary meshes on ``y_i = 0`` and ``y_i = L_i`` are
        translates of each other for every axis ``i``.

    Raises
    ------
    femhomog.ConfigError
        If ``dim`` is not 1, 2, 3, the cell type does not fit ``dim``,
        ``cells_per_side < 1`` or a length is not positive.
    """
    if dim not in CELL_TYPES_BY_DIM:
        raise ConfigError(f"box dimension must be 1, 2 or 3, got {dim!r}")
    allowed = CELL_TYPES_BY_DIM[dim]
    if cell_type not in allowed:
        raise ConfigError(
            f"cell type {cell_type!r} does not fit dimension {dim} "
            f"(expected one of {', '.join(allowed)})"
        )
    n = _cell_counts(dim, cells_per_side)
    L = _lengths(dim, lengths)
    _check_size(comm, cell_type, n)

    if dim == 1:
        return dmesh.create_interval(comm, n[0], [0.0, L[0]], ghost_mode=ghost_mode)
    ct = dmesh.to_type(cell_type)
    if dim == 2:
        return dmesh.create_rectangle(
            comm,
            [np.zeros(2), np.array(L)],
            n,
            cell_type=ct,
            ghost_mode=ghost_mode,
            # Same cut in every square: translation-invariant triangulation.
            diagonal=dmesh.DiagonalType.right,
        )
    return dmesh.create_box(
        comm, [np.zeros(3), np.array(L)], n, cell_type=ct, ghost_mode=ghost_mode
    )


#: Bytes per cell below which no box mesh is refused (the mesh alone, on the rank
#: that builds it, takes a few hundred; a solve needs far more).
BYTES_PER_CELL = 500
#: Cells per simplex-split grid box.
_CELLS_PER_BOX = {"triangle": 2, "tetrahedron": 6}


def _check_size(comm: MPI.Comm, cell_type: str, n: Sequence[int]) -> None:
    """A one-line error, before anything is allocated, for a box no machine here can hold."""
    import os

    cells = _CELLS_PER_BOX.get(cell_type, 1) * int(np.prod([float(k) for k in n]))
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * comm.size
    except (ValueError, OSError, AttributeError):  # not available: only the index limit
        memory = float("inf")
    if cells >= 2**31 or cells * BYTES_PER_CELL > memory:
        raise MeshError(
            f"cells_per_side = {list(n) if len(set(n)) > 1 else n[0]} gives {cells:.3g} "
            f"{cell_type} cells: more than {comm.size} rank(s) here can hold "
            f"({memory / 2**30:.3g} GiB of memory, >= {BYTES_PER_CELL} B per cell; "
            "int32 cell indices); use fewer cells")


def _cell_counts(dim: int, cells_per_side: int | Sequence[int]) -> list[int]:
    """``dim`` grid interval counts ``>= 1`` from one integer or a sequence."""

    def integer(v: object) -> int:
        # bool is an int subclass; reject it as well as floats like 4.0
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ConfigError(f"cells_per_side must be an integer, got {cells_per_side!r}")
        if int(v) < 1:
            raise ConfigError(f"cells_per_side must be >= 1, got {cells_per_side!r}")
        return int(v)

    if isinstance(cells_per_side, (list, tuple, np.ndarray)):
        counts = [integer(v) for v in cells_per_side]
        if len(counts) != dim:
            raise ConfigError(
                f"cells_per_side has {len(counts)} entries but the box has dimension {dim}"
            )
        return counts
    return [integer(cells_per_side)] * dim


def _face_mismatch(x: np.ndarray, L: list[float], tol: float, what: str) -> str | None:
    """Why the points ``x`` on faces ``y_i = 0`` and ``y_i = L_i`` are not translates (or None)."""
    from scipy.spatial import cKDTree

    # Points are "on" a face within a much looser distance than tol: a point
    # slightly off its face must show up as a mismatch, not silently drop out.
    sel = 1e-6 * max(L)
    for i in range(x.shape[1]):
        lo = x[np.abs(x[:, i]) < sel].copy()
        hi = x[np.abs(x[:, i] - L[i]) < sel]
        lo[:, i] += L[i]
        if len(lo) != len(hi) or len(lo) == 0:
            return (
                f"mesh is not periodic: {len(lo)} boundary {what} on y{i}=0 "
                f"but {len(hi)} on y{i}={L[i]:g}"
            )
        d_lh, _ = cKDTree(hi).query(lo)
        d_hl, _ = cKDTree(lo).query(hi)
        worst = max(d_lh.max(), d_hl.max())
        if worst > tol:
            return (
                f"mesh is not periodic: boundary {what} on y{i}=0 and y{i}={L[i]:g} "
                f"differ by up to {worst:.3g} (> {tol:g}) after translation"
            )
    return None


def check_periodic_boundary(
    comm: MPI.Comm,
    mesh: dmesh.Mesh,
    lengths: float | Sequence[float] = 1.0,
    tol: float = 1e-10,
) -> None:
    """Check that the boundary meshes on opposite faces are translates.

    For every axis ``i``, the points on ``y_i = 0`` shifted by ``L_i e_i`` must
    coincide one-to-one with the points on ``y_i = L_i`` up to ``tol``, for

    * the geometry nodes (vertices and, for curved meshes, high-order nodes),
    * the midpoints of the boundary facets, so that the face triangulations
      themselves match (matching vertices alone do not imply that for
      tetrahedra, and P2/P3 dofs live on the facet edges/interiors).

    The owned points of all ranks are gathered on rank 0 of ``comm``; the
    outcome is the same on every rank.  Creates the facets and the
    facet-to-cell connectivity of ``mesh`` if needed.

    Parameters
    ----------
    comm
        Communicator of ``mesh``.
    mesh
        Mesh of the box ``[0, L_1] x ... x [0, L_d]``.
    lengths
        Side lengths ``L_i`` (a number or one per axis).
    tol
        Matching tolerance (Euclidean distance).

    Raises
    ------
    femhomog.MeshError
        If some face node or facet has no partner on the opposite face.
    """
    dim = mesh.topology.dim
    L = _lengths(dim, lengths)
    n_owned = mesh.geometry.index_map().size_local
    nodes = np.asarray(mesh.geometry.x[:n_owned, :dim], dtype=np.float64)

    fdim = dim - 1
    mesh.topology.create_entities(fdim)
    mesh.topology.create_connectivity(fdim, dim)
    facets = dmesh.exterior_facet_indices(mesh.topology)
    facets = facets[facets < mesh.topology.index_map(fdim).size_local]
    mids = dmesh.compute_midpoints(mesh, fdim, facets)[:, :dim]

    all_nodes = comm.gather(nodes, root=0)
    all_mids = comm.gather(mids, root=0)
    error: str | None = None
    if comm.rank == 0:
        error = _face_mismatch(np.concatenate(all_nodes), L, tol, "nodes") or _face_mismatch(
            np.concatenate(all_mids), L, tol, "facets"
        )
    error = comm.bcast(error, root=0)
    if error is not None:
        raise MeshError(error)
