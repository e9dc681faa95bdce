"""Degree-2 Lagrange states keyed by mesh nodes, independent of the number of ranks.

The nodal state files (:mod:`.state`) hold P1 functions keyed by the mesh's input
node indices.  A P2 Lagrange function also has one value per edge (at its midpoint on
an affine mesh); here every dof gets the key of the pair of mesh nodes it sits on:

``(k, k)``    a vertex dof on the node with input index ``k``;
``(a, b)``    an edge dof on the edge of the nodes ``a < b``;

encoded as the integer ``a * n + b`` (``n``: one more than the largest input index), so
that the dofs of a state written on N ranks are found again on M ranks by key, as the
nodes of :func:`femhomog.timestepping.state.assign_by_keys` are.

:func:`gather_keyed` collects owned values in key order on rank 0 (arrays for a
checkpoint, :class:`femhomog.timestepping.Checkpointer` ``arrays``);
:func:`assign_keyed` sets every local dof (ghosts included) from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from femhomog import (
    ConfigError,
    _fenicsx,  # noqa: F401  (must precede mpi4py / basix)
)

# isort: split
import basix
from mpi4py import MPI

__all__ = ["assign_keyed", "dof_keys", "gather_keyed"]


def dof_keys(V: Any) -> np.ndarray:
    """Key of every local block dof (owned, then ghosts) of a P1 or P2 Lagrange space:
    ``a * n + b`` for the node pair ``(a, b)`` (affine geometry), or ``(k, k)`` of the
    geometry node at the dof (a geometry of the space's degree)."""
    element = V.element.basix_element
    if element.degree not in (1, 2) or element.discontinuous:
        raise ValueError("keyed states hold continuous P1 or P2 Lagrange functions only")
    mesh = V.mesh
    geo = mesh.geometry.dofmaps[0]
    inputs = np.asarray(mesh.geometry.input_global_indices, dtype=np.int64)
    n = mesh.comm.allreduce(int(inputs.max(initial=-1)) + 1, op=MPI.MAX)
    cells = V.dofmap.list
    node = inputs[geo]  # (cells, geometry nodes): input index of each cell's nodes
    imap = V.dofmap.index_map
    keys = np.full(imap.size_local + imap.num_ghosts, -1, dtype=np.int64)
    if geo.shape[1] == cells.shape[1]:  # a geometry of the space's degree: a node per dof
        keys[cells] = node * n + node
        return keys
    if geo.shape[1] != len(basix.topology(element.cell_type)[0]):
        raise ConfigError("P2 states (checkpoints of spin.degree = 2) need a mesh geometry "
                          "of degree 1 or 2")
    for dim, entities in enumerate(basix.topology(element.cell_type)[: element.degree]):
        for e, vertices in enumerate(entities):
            (local,) = element.entity_dofs[dim][e]
            a = node[:, vertices].min(axis=1)
            b = node[:, vertices].max(axis=1)
            keys[cells[:, local]] = a * n + b
    if (keys < 0).any():
        raise ValueError("internal error: a dof on no vertex or edge of a local cell")
    return keys


def gather_keyed(functions: Mapping[str, Any], prefix: str = "") -> dict[str, np.ndarray] | None:
    """On rank 0: ``{prefix + "keys": sorted keys, prefix + name: values (N, bs)}`` of the
    functions (one P1 or P2 space); None on the other ranks.  Collective."""
    V = next(iter(functions.values())).function_space
    comm = V.mesh.comm
    n = V.dofmap.index_map.size_local
    bs = V.dofmap.index_map_bs
    parts = comm.gather((dof_keys(V)[:n], {name: u.x.array[: bs * n].reshape(n, bs).copy()
                                           for name, u in functions.items()}), root=0)
    if comm.rank != 0:
        return None
    assert parts is not None
    keys = np.concatenate([p[0] for p in parts])
    order = np.argsort(keys, kind="stable")
    out = {f"{prefix}keys": keys[order]}
    for name in functions:
        out[prefix + name] = np.concatenate([p[1][name] for p in parts])[order]
    return out


def assign_keyed(functions: Mapping[str, Any], arrays: Mapping[str, np.ndarray],
                 prefix: str = "", *, what: str) -> None:
    """Set every local dof (ghosts included) of the functions from :func:`gather_keyed`'s
    arrays (the same on every rank).

    Raises
    ------
    ConfigError
        On every rank: a dof without a value (``what`` starts the message).
    """
    V = next(iter(functions.values())).function_space
    comm = V.mesh.comm
    bs = V.dofmap.index_map_bs
    keys = dof_keys(V)
    stored = np.asarray(arrays[f"{prefix}keys"])
    pos = np.minimum(np.searchsorted(stored, keys), max(len(stored) - 1, 0))
    bad = len(keys) > 0 and (len(stored) == 0 or bool(np.any(stored[pos] != keys)))
    if comm.allreduce(bad, op=MPI.LOR):
        raise ConfigError(f"{what} has no value at some degree-2 dof: it was written on "
                          "another mesh or with another spin.degree")
    for name, u in functions.items():
        values = np.asarray(arrays[prefix + name]).reshape(len(stored), bs)
        u.x.array[:] = values[pos].reshape(-1)
