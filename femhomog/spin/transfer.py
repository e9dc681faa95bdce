"""Transfer between the magnet's P1 magnetization and the conductor's spin space.

The magnetization ``m`` lives on the magnet ``M``: either the conductor mesh itself
(the whole conductor is magnetic) or the submesh of the magnet cells
(:func:`magnet_submesh`, :func:`dolfinx.mesh.create_submesh`), so that the LLG
problem keeps its natural (Neumann) boundary condition on ``dM`` and its lumped
mass, energies and averages are over ``M`` only.  The spin accumulation ``s``
lives on the conductor ``C``.

The two P1 spaces share the nodes of ``M``: a node of the magnet mesh *is* a
vertex of the conductor mesh.  :class:`MagnetTransfer` matches them once (cell by
cell, by coordinates) and then copies nodal values, which is exact both ways:

``to_conductor``  ``m`` -> the conductor P1 space, at the magnet's vertices (zero
                  elsewhere); the transport multiplies by the sharp indicator
                  ``chi_M``, so in a magnet cell it sees ``m`` exactly and in every
                  other cell nothing, whatever the values at the interface nodes.
``to_magnet``     ``s`` (P1 or P2 on ``C``) -> P1 on ``M``: the values at ``M``'s vertices.

In parallel a magnet vertex may be a ghost on the rank that holds the magnet cell
and owned by a rank that has no magnet cell at it; the owner's value is then
completed by a reverse scatter.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from femhomog import (
    ConfigError,
    _fenicsx,  # noqa: F401  (must precede dolfinx / petsc4py)
)

# isort: split
import dolfinx
import dolfinx.la

__all__ = ["MagnetTransfer", "magnet_submesh"]


def magnet_submesh(mesh: dolfinx.mesh.Mesh, cell_tags: dolfinx.mesh.MeshTags | None,
                   magnet_tags: Sequence[int] | None
                   ) -> tuple[dolfinx.mesh.Mesh, np.ndarray]:
    """The magnet mesh and, per magnet cell, its cell in ``mesh`` (local indices).

    ``magnet_tags = None``: the whole conductor is the magnet (``mesh`` itself).
    """
    tdim = mesh.topology.dim
    n_cells = mesh.topology.index_map(tdim).size_local + mesh.topology.index_map(tdim).num_ghosts
    if magnet_tags is None:
        return mesh, np.arange(n_cells, dtype=np.int32)
    if cell_tags is None:
        raise ConfigError("a magnet region needs the conductor mesh's cell tags")
    known = set(np.unique(np.concatenate(mesh.comm.allgather(cell_tags.values))).tolist())
    missing = [t for t in magnet_tags if t not in known]
    if missing:
        raise ConfigError(f"unknown magnet cell tag(s) {missing} (the mesh has {sorted(known)})")
    cells = np.sort(cell_tags.indices[np.isin(cell_tags.values, list(magnet_tags))]
                    ).astype(np.int32)
    sub, entity_map, _, _ = dolfinx.mesh.create_submesh(mesh, tdim, cells)
    n_sub = sub.topology.index_map(tdim).size_local + sub.topology.index_map(tdim).num_ghosts
    parent = np.asarray(entity_map.sub_topology_to_topology(
        np.arange(n_sub, dtype=np.int32), False), dtype=np.int32)
    return sub, parent


def _match_dofs(Vm: dolfinx.fem.FunctionSpace, Vc: dolfinx.fem.FunctionSpace,
                parent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (magnet node, conductor node) at the same point, over all local magnet cells."""
    n_sub = len(parent)
    dm = Vm.dofmap.list[:n_sub]
    dc = Vc.dofmap.list[parent]
    Xm = Vm.tabulate_dof_coordinates()
    Xc = Vc.tabulate_dof_coordinates()
    if n_sub == 0:
        return np.zeros(0, np.int32), np.zeros(0, np.int32)
    dist = np.linalg.norm(Xm[dm][:, :, None, :] - Xc[dc][:, None, :, :], axis=-1)
    j = np.argmin(dist, axis=2)
    h = np.linalg.norm(Xc[dc].max(axis=1) - Xc[dc].min(axis=1), axis=1)
    if np.any(np.take_along_axis(dist, j[:, :, None], 2)[:, :, 0] > 1e-8 * h[:, None]):
        raise ConfigError("internal error: magnet and conductor nodes do not match")
    sub = dm.ravel()
    par = np.take_along_axis(dc, j, 1).ravel()
    sub, first = np.unique(sub, return_index=True)
    return sub.astype(np.int32), par[first].astype(np.int32)


class MagnetTransfer:
    """Nodal copies between the magnet P1 space ``Vm`` and the conductor space ``Vc``.

    Parameters
    ----------
    Vm
        P1 vector space (3 components) of the magnet mesh.
    Vc
        The conductor's vector space of ``s`` (P1 or P2, 3 components).
    parent
        Conductor cell of every local magnet cell (:func:`magnet_submesh`).
    """

    def __init__(self, Vm: dolfinx.fem.FunctionSpace, Vc: dolfinx.fem.FunctionSpace,
                 parent: np.ndarray) -> None:
        self.Vm, self.Vc = Vm, Vc
        mesh_c = Vc.mesh
        self.Vc1 = dolfinx.fem.functionspace(mesh_c, ("Lagrange", 1, (3,)))
        self._sub1, self._par1 = _match_dofs(Vm, self.Vc1, parent)
        self._sub, self._par = _match_dofs(Vm, Vc, parent)
        imap = self.Vc1.dofmap.index_map
        count = dolfinx.la.vector(imap, 1)
        count.array[:] = 0.0
        count.array[self._par1] = 1.0
        count.scatter_reverse(dolfinx.la.InsertMode.add)
        self._count = count.array[: imap.size_local].copy()
        self._acc = dolfinx.la.vector(imap, 3)

    def to_conductor(self, m: dolfinx.fem.Function, out: dolfinx.fem.Function) -> None:
        """``out`` (on :attr:`Vc1`, the conductor's P1 space) = ``m`` at the magnet's
        vertices, 0 at the other vertices (owned and ghost values)."""
        acc = self._acc
        vals = acc.array.reshape(-1, 3)
        vals[:] = 0.0
        vals[self._par1] = m.x.array.reshape(-1, 3)[self._sub1]
        acc.scatter_reverse(dolfinx.la.InsertMode.add)
        n = len(self._count)
        owned = out.x.array.reshape(-1, 3)
        owned[:n] = 0.0
        hit = self._count > 0
        owned[:n][hit] = vals[:n][hit] / self._count[hit, None]
        out.x.scatter_forward()

    def to_magnet(self, s: dolfinx.fem.Function, out: dolfinx.fem.Function, *,
                  p1: bool = False) -> None:
        """``out`` (on ``Vm``) = ``s`` at the magnet's vertices (``s`` on ``Vc``, or on
        :attr:`Vc1` with ``p1=True``; ghosts up to date)."""
        sub, par = (self._sub1, self._par1) if p1 else (self._sub, self._par)
        out.x.array.reshape(-1, 3)[sub] = s.x.array.reshape(-1, 3)[par]
        out.x.scatter_forward()
