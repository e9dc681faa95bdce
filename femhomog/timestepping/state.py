"""Nodal state files: one ``.npz`` layout for final states, checkpoints and initial data.

A state file holds, for P1 Lagrange functions (scalar or blocked) on one mesh:

``keys``
    the mesh's *original input indices* of the nodes (sorted), i.e.
    ``mesh.geometry.input_global_indices`` of the geometry node under each P1
    dof (the vertex dofs of a cell are its first geometry nodes, in the same
    order, for a P1 or higher-order geometry);
``x``
    the node coordinates in the same order (times ``length_scale``);
``<name>``
    the nodal values of each function, shape ``(N, bs)`` (``(N,)`` for scalars);
``mesh``
    a JSON string ``{"dim", "cell_type", "cells", "nodes"}`` of the mesh
    (:func:`mesh_fingerprint`), so that initial data from another mesh whose
    nodes happen to coincide with this one's is refused;
optionally ``meta`` (a JSON string) and ``t``.

Input indices are how the mesh was *given* (node order of the box builder or of
the gmsh model on rank 0), not how dolfinx distributed it, so a state written on
N ranks is read back on M ranks by key (:func:`assign_by_keys`, checkpoints).
Files without ``keys`` are read by position (:func:`values_at_nodes`, initial
data); a file that names another mesh (``mesh``) is refused.

Why one gathered file: a nodal P1 state is a few dozen bytes per node, so
gathering it on rank 0 costs far less than a time step up to ~10^7 nodes, and a
single file makes the atomic update a single ``rename`` (per-rank files would
need a commit protocol across files, and a fixed partition to be read back).
Files are written with :func:`femhomog.io.output.write_atomic`; zip members
carry CRC-32s, so a damaged file is detected when read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from femhomog import (
    ConfigError,
    FemhomogError,
    _fenicsx,  # noqa: F401  (must precede mpi4py / petsc4py)
)

# isort: split
from mpi4py import MPI

from femhomog.io.output import write_atomic

__all__ = [
    "NodalLayout",
    "assign_by_keys",
    "mesh_fingerprint",
    "node_input_indices",
    "save_state",
    "values_at_nodes",
    "write_npz",
]

#: Node coordinates read by key must match the mesh's to this fraction of its diameter.
X_RTOL = 1e-8
#: Nodes of a file read by position must lie this close (relative to the domain
#: diameter) to the mesh nodes: far above rounding, far below any mesh size.
POSITION_RTOL = 1e-6


def mesh_fingerprint(mesh: Any) -> dict[str, Any]:
    """What identifies a mesh in a state file: dimension, cell type, global counts."""
    tdim = mesh.topology.dim
    return {"dim": tdim, "cell_type": mesh.topology.cell_name(),
            "cells": int(mesh.topology.index_map(tdim).size_global),
            "nodes": int(mesh.geometry.index_map().size_global)}


def _check_p1(V: Any) -> None:
    element = V.element.basix_element
    if element.degree != 1 or element.discontinuous:
        raise ValueError("nodal state files hold continuous P1 Lagrange functions only")


def node_input_indices(V: Any) -> np.ndarray:
    """Original input index of the mesh node of every owned P1 node of ``V``.

    ``V`` is a (blocked) P1 Lagrange space; entry ``i`` belongs to the owned
    block dof ``i``.  The dof of local vertex ``j`` of a cell is matched with
    geometry node ``j`` of the same cell.
    """
    mesh = V.mesh
    n_owned = V.dofmap.index_map.size_local
    n_all = n_owned + V.dofmap.index_map.num_ghosts
    cell_dofs = V.dofmap.list
    geo = mesh.geometry.dofmaps[0][:, : cell_dofs.shape[1]]
    node = np.full(n_all, -1, dtype=np.int64)
    node[cell_dofs.ravel()] = geo.ravel()
    if (node[:n_owned] < 0).any():  # every owned dof is in some local cell
        raise FemhomogError("internal error: P1 dof without a geometry node")
    return np.asarray(mesh.geometry.input_global_indices, dtype=np.int64)[node[:n_owned]]


def _diameter(mesh: Any) -> float:
    from femhomog.periodic import mesh_bounding_box

    lo, hi = mesh_bounding_box(mesh)
    return float(np.linalg.norm(hi - lo))


def _collective(comm: MPI.Comm, failure: str | None, cls: type[FemhomogError]) -> None:
    failure = comm.bcast(failure, root=0)
    if failure is not None:
        raise cls(failure)


def _owned(u: Any) -> np.ndarray:
    """View of the owned nodal values of ``u``: ``(n_owned, bs)``."""
    imap, bs = u.function_space.dofmap.index_map, u.function_space.dofmap.index_map_bs
    return u.x.array[: bs * imap.size_local].reshape(-1, bs)


class NodalLayout:
    """The owned P1 nodes of a set of functions on one mesh, in the order of their keys.

    Collective.  On rank 0, :attr:`keys` and :attr:`x` are the sorted input indices
    and the coordinates of all nodes; elsewhere None.

    Parameters
    ----------
    functions
        Name -> P1 Lagrange function (scalar or blocked), all on one mesh.
    """

    def __init__(self, functions: Mapping[str, Any]) -> None:
        if not functions:
            raise ValueError("a state needs at least one function")
        self.functions = dict(functions)
        spaces = [u.function_space for u in self.functions.values()]
        for V in spaces:
            _check_p1(V)
        self.mesh = spaces[0].mesh
        if any(V.mesh is not self.mesh for V in spaces):
            raise ValueError("the functions of a state must live on one mesh")
        self.comm: MPI.Comm = self.mesh.comm
        V = spaces[0]
        n = V.dofmap.index_map.size_local
        self.num_owned = n
        self.size_global = V.dofmap.index_map.size_global
        self.local_keys = node_input_indices(V)
        self.local_x = V.tabulate_dof_coordinates()[:n]
        # P1 spaces of one mesh number their nodes alike whatever the block size
        for W in spaces[1:]:
            if not np.array_equal(node_input_indices(W), self.local_keys):
                raise ValueError("the functions of a state must share their P1 node layout")
        parts = self.comm.gather((self.local_keys, self.local_x), root=0)
        self.keys: np.ndarray | None = None
        self.x: np.ndarray | None = None
        self._order: np.ndarray | None = None
        if self.comm.rank == 0:
            assert parts is not None
            keys = np.concatenate([p[0] for p in parts])
            self._order = np.argsort(keys, kind="stable")
            self.keys = keys[self._order]
            self.x = np.concatenate([p[1] for p in parts])[self._order]

    def gather(self) -> dict[str, np.ndarray] | None:
        """Nodal values of every function in key order on rank 0 (None elsewhere)."""
        out: dict[str, np.ndarray] = {}
        for name, u in self.functions.items():
            parts = self.comm.gather(_owned(u).copy(), root=0)
            if self.comm.rank == 0:
                assert parts is not None and self._order is not None
                values = np.concatenate(parts)[self._order]
                out[name] = values[:, 0] if values.shape[1] == 1 else values
        return out if self.comm.rank == 0 else None


def save_state(path: str | Path, layout: NodalLayout, *, length_scale: float = 1.0,
               t: float | None = None, meta: Callable[[], dict[str, Any]] | None = None,
               what: str = "", before_rename: Callable[[BinaryIO], None] | None = None,
               more: Mapping[str, np.ndarray] | None = None) -> Path:
    """Gather the functions of ``layout`` on rank 0 and write them atomically.

    Arrays, in this order: ``meta`` (JSON of ``meta()``, evaluated on rank 0),
    ``keys``, ``x`` (times ``length_scale``), one per function, ``more`` (the
    caller's arrays, given on rank 0), ``t``.  Collective;
    a failure raises :class:`femhomog.FemhomogError` on every rank and leaves the
    previous file (the message names the file as ``what PATH``).  ``before_rename(f)``
    runs after the data is in the temporary file (a test hook).
    """
    values = layout.gather()
    arrays: dict[str, Any] = {}
    if layout.comm.rank == 0:
        assert values is not None and layout.keys is not None and layout.x is not None
        if meta is not None:
            arrays["meta"] = np.array(json.dumps(meta(), default=str))
        arrays["mesh"] = np.array(json.dumps(mesh_fingerprint(layout.mesh)))
        arrays["keys"] = layout.keys
        arrays["x"] = layout.x * length_scale if length_scale != 1.0 else layout.x
        arrays.update(values)
        if more is not None:  # the caller's arrays (rank 0)
            arrays.update(more)
        if t is not None:
            arrays["t"] = np.float64(t)
    return write_npz(path, arrays if layout.comm.rank == 0 else None, layout.comm, what=what,
                     before_rename=before_rename)


def write_npz(path: str | Path, arrays: dict[str, Any] | None, comm: MPI.Comm, *,
              what: str = "", before_rename: Callable[[BinaryIO], None] | None = None) -> Path:
    """Rank 0 writes ``arrays`` (None on the other ranks) to ``path`` atomically.

    Collective: a failure raises :class:`femhomog.FemhomogError` on every rank and
    leaves the previous file (the message names it as ``what PATH``).
    ``before_rename(f)`` runs after the data is in the temporary file (a test hook).
    """
    path = Path(path)
    failure = None
    if comm.rank == 0:
        assert arrays is not None

        def dump(f: BinaryIO) -> None:
            np.savez(f, **arrays)
            if before_rename is not None:
                before_rename(f)

        try:
            write_atomic(path, dump)
        except OSError as exc:
            failure = f"cannot write {what + ' ' if what else ''}{path}: {exc.strerror or exc}"
    _collective(comm, failure, FemhomogError)
    return path


def assign_by_keys(layout: NodalLayout, data: Mapping[str, np.ndarray] | None, *,
                   what: str) -> None:
    """Set the functions of ``layout`` (ghosts included) from arrays read on rank 0.

    ``data`` (rank 0; ignored elsewhere) holds ``keys``, ``x`` and one array per
    function, as written by :func:`save_state` on any number of ranks.  Collective.

    Raises
    ------
    ConfigError
        On every rank: a node without a value, or at another position
        (``what`` starts the message, e.g. ``"--restart: checkpoint PATH"``).
    """
    comm = layout.comm
    parts = comm.gather(layout.local_keys, root=0)
    payload, failure = None, None
    if comm.rank == 0:
        assert parts is not None and data is not None
        order = np.argsort(data["keys"], kind="stable")
        skeys = data["keys"][order]
        payload = []
        for k in parts:
            pos = np.minimum(np.searchsorted(skeys, k), max(len(skeys) - 1, 0))
            if len(k) and (len(skeys) == 0 or np.any(skeys[pos] != k)):
                failure = (f"{what} has no value at some mesh node: it was written on another "
                           "mesh")
                payload = None
                break
            idx = order[pos]
            payload.append({name: np.asarray(data[name])[idx]
                            for name in ("x", *layout.functions)})
    _collective(comm, failure, ConfigError)
    mine = comm.scatter(payload, root=0)
    dev = float(np.max(np.abs(layout.local_x - mine["x"]), initial=0.0))
    worst = comm.allreduce(dev, op=MPI.MAX)
    if worst > X_RTOL * _diameter(layout.mesh):
        raise ConfigError(f"{what} was written on another mesh (nodes moved by up to "
                          f"{worst:.3g})")
    for name, u in layout.functions.items():
        _owned(u)[:] = mine[name].reshape(layout.num_owned, -1)
        u.x.scatter_forward()


def values_at_nodes(path: str | Path, V: Any, name: str, *, length_scale: float = 1.0,
                    what: str, example: str) -> np.ndarray:
    """Values of array ``name`` of an ``.npz`` (with ``x``) at every node of ``V`` (ghosts
    included), matched by position: shape ``(num_nodes, bs)``.

    Read on every rank (same file, same verdict).  ``x`` is in units of
    ``length_scale``; a file whose ``mesh`` names another mesh is refused (files
    without it are matched by position only).

    Raises
    ------
    ConfigError
        On every rank, prefixed ``what:`` (e.g. ``"initial.file"``): unreadable
        file, missing arrays (``example`` names a file that has them), wrong
        shapes, or a node without a value within ``1e-6`` of the domain diameter.
    """
    from scipy.spatial import cKDTree

    path = Path(path)
    bs = V.dofmap.index_map_bs
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in ("x", name) if k not in data.files]
            if missing:
                raise ConfigError(f"{what}: {path} has no array {missing[0]!r} (expected x and "
                                  f"{name}, as in {example})")
            x = np.asarray(data["x"], dtype=np.float64)
            values = np.asarray(data[name], dtype=np.float64)
            written_on = json.loads(str(data["mesh"][()])) if "mesh" in data.files else None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{what}: cannot read {path} as .npz: {exc}") from None
    here = mesh_fingerprint(V.mesh)
    if isinstance(written_on, dict) and written_on != here:
        def show(f: dict[str, Any]) -> str:
            return (f"{f.get('cells')} {f.get('cell_type')} cells, {f.get('nodes')} nodes, "
                    f"dim {f.get('dim')}")
        raise ConfigError(f"{what}: {path} was written on another mesh ({show(written_on)}; "
                          f"this run: {show(here)}); it must come from a run on the same mesh")
    if values.ndim == 1 and bs == 1:
        values = values[:, None]
    if (x.ndim != 2 or values.shape != (x.shape[0], bs) or not 1 <= x.shape[1] <= 3
            or not len(x)):
        shape = f"(N, {bs})" if bs > 1 else "(N,)"
        raise ConfigError(f"{what}: {path} must hold x of shape (N, 1..3) and {name} of shape "
                          f"{shape}, got {x.shape} and {values.shape}")
    pts = np.zeros((x.shape[0], 3))
    pts[:, : x.shape[1]] = x / length_scale
    tol = POSITION_RTOL * _diameter(V.mesh)
    nodes = V.tabulate_dof_coordinates()
    dist, idx = cKDTree(pts).query(nodes) if len(nodes) else (np.zeros(0), np.zeros(0, int))
    worst = V.mesh.comm.allreduce(float(np.max(dist, initial=0.0)), op=MPI.MAX)
    if worst > tol:
        raise ConfigError(f"{what}: {path} has no value at some mesh node (nearest point "
                          f"{worst * length_scale:.3g} away); it must come from a run on the "
                          "same mesh")
    return values[idx]
