"""Checkpoints of time-dependent runs: atomic, independent of the number of ranks.

A checkpoint is one file, ``DIR/checkpoint/checkpoint.npz``, with the arrays

``keys``
    the mesh's *original input indices* of the P1 nodes (sorted), i.e.
    ``mesh.geometry.input_global_indices`` of the geometry node under each P1
    dof (for a P1 space on a mesh with a P1 or higher-order geometry the
    vertex dofs of a cell are its first geometry nodes, in the same order);
``x``
    the node coordinates in the same order (nondimensional), only to check
    that a restart uses the same mesh;
``m``
    the nodal magnetization in the same order;
``meta``
    a JSON string: format version, femhomog version, loop state of
    :class:`femhomog.micromag.driver.LLGDriver` (``t``, step size and
    adaptive-controller state, fixed-step anchor, :class:`LoopStats`), the
    number of ``averages.csv`` rows written, the restart count, and the
    configuration fingerprint (:func:`config_fingerprint`) with its hash.

Input indices are how the mesh was *given* (node order of the box builder or
of the gmsh model on rank 0), not how dolfinx distributed it, so a checkpoint
written on N ranks restarts on M ranks.  It stores ``m`` and loop state only,
never internals of field terms: a term whose state is a function of ``(t, m)``
(exchange, anisotropy, Zeeman, stray field) needs nothing else.

Why one gathered file: the nodal state of a P1 field is 24 bytes per node, so
gathering it on rank 0 costs far less than a time step up to ~10^7 nodes, and
a single file makes the atomic update a single ``rename`` (per-rank files would
need a commit protocol across files, and a fixed partition to be read back).
The file is written with :func:`femhomog.io.output.write_atomic` (temporary
file, fsync, rename): a run killed at any moment leaves the previous complete
checkpoint or the new one.  Zip members carry CRC-32s, so a damaged file is
detected when read.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import json
import os
import signal
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from femhomog import (
    ConfigError,
    FemhomogError,
    __version__,
    _fenicsx,  # noqa: F401  (must precede dolfinx / petsc4py)
)

# isort: split
import dolfinx
from mpi4py import MPI

from femhomog.io.logging import get_logger
from femhomog.io.output import write_atomic
from femhomog.periodic import mesh_bounding_box

__all__ = [
    "CHECKPOINT_DIR",
    "CHECKPOINT_FILE",
    "CHECKPOINT_FORMAT",
    "Checkpointer",
    "checkpoint_path",
    "config_differences",
    "config_fingerprint",
    "config_hash",
    "node_input_indices",
    "read_checkpoint_meta",
    "restore_checkpoint",
]

log = get_logger(__name__)

#: Version of the checkpoint layout; a reader refuses other versions.
CHECKPOINT_FORMAT = 1
CHECKPOINT_DIR = "checkpoint"
CHECKPOINT_FILE = "checkpoint.npz"
#: Configuration keys that may change on restart (``section.key``; ``section.*``: all keys).
RESTART_FREE_KEYS = ("time.t_end", "output.*")
#: Node coordinates of a restart must match the checkpoint's to this fraction of the diameter.
_X_RTOL = 1e-8
#: Test hook: SIGKILL the writing rank during its N-th checkpoint, after the data is
#: written to the temporary file and before the rename (1-based).
KILL_IN_CHECKPOINT_ENV = "FEMHOMOG_TEST_KILL_IN_CHECKPOINT"


def checkpoint_path(directory: str | Path) -> Path:
    """``directory/checkpoint/checkpoint.npz`` for an output directory."""
    return Path(directory) / CHECKPOINT_DIR / CHECKPOINT_FILE


# ====================================================================== configuration
def config_fingerprint(raw: dict[str, Any]) -> dict[str, Any]:
    """The configuration without the keys a restart may change (:data:`RESTART_FREE_KEYS`)."""
    out = copy.deepcopy(raw)
    for key in RESTART_FREE_KEYS:
        section, name = key.split(".")
        if name == "*":
            out.pop(section, None)
        elif isinstance(out.get(section), dict):
            out[section].pop(name, None)
    return out


def config_hash(fingerprint: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a fingerprint."""
    text = json.dumps(fingerprint, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def config_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Dotted keys whose values differ between two fingerprints (sorted)."""
    a = _flatten(json.loads(json.dumps(old, default=str)))
    b = _flatten(json.loads(json.dumps(new, default=str)))
    return sorted(k for k in a.keys() | b.keys() if a.get(k, None) != b.get(k, None))


# ====================================================================== node keys
def node_input_indices(V: dolfinx.fem.FunctionSpace) -> np.ndarray:
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


def _diameter(mesh: dolfinx.mesh.Mesh) -> float:
    lo, hi = mesh_bounding_box(mesh)
    return float(np.linalg.norm(hi - lo))


def _collective(comm: MPI.Comm, failure: str | None, cls: type[FemhomogError]) -> None:
    failure = comm.bcast(failure, root=0)
    if failure is not None:
        raise cls(failure)


# ====================================================================== writing
class Checkpointer:
    """Writes ``directory/checkpoint.npz`` for a problem (collective on its communicator).

    Parameters
    ----------
    directory
        The checkpoint directory (``DIR/checkpoint``).
    problem
        Holds ``V``, ``m`` and ``comm`` (an :class:`~femhomog.micromag.LLGProblem`).
    fingerprint
        :func:`config_fingerprint` of the run's configuration.
    extra
        More entries of ``meta`` (e.g. the restart count); may be updated later.
    """

    def __init__(self, directory: str | Path, problem: Any, fingerprint: dict[str, Any],
                 extra: dict[str, Any] | None = None) -> None:
        self.directory = Path(directory)
        self.path = self.directory / CHECKPOINT_FILE
        self.problem = problem
        self.comm: MPI.Comm = problem.comm
        self.fingerprint = fingerprint
        self.hash = config_hash(fingerprint)
        self.extra = dict(extra or {})
        self.written = 0
        n = problem.num_owned_nodes
        keys = node_input_indices(problem.V)
        x = problem.V.tabulate_dof_coordinates()[:n]
        parts = self.comm.gather((keys, x), root=0)
        self._order: np.ndarray | None = None
        if self.comm.rank == 0:
            assert parts is not None
            keys_all = np.concatenate([p[0] for p in parts])
            self._order = np.argsort(keys_all, kind="stable")
            self._keys = keys_all[self._order]
            self._x = np.concatenate([p[1] for p in parts])[self._order]
        kill = os.environ.get(KILL_IN_CHECKPOINT_ENV, "")
        self._kill_at = int(kill) if kill.isdigit() else 0

    def write(self, state: dict[str, Any]) -> Path:
        """Gather ``m`` on rank 0 and replace the checkpoint atomically with it and ``state``.

        Raises
        ------
        FemhomogError
            The file cannot be written (on every rank; the previous checkpoint stays).
        """
        parts = self.comm.gather(self.problem.owned_values().copy(), root=0)
        self.written += 1
        failure = None
        if self.comm.rank == 0:
            assert parts is not None and self._order is not None
            m = np.concatenate(parts)[self._order]
            meta = {
                "format": CHECKPOINT_FORMAT,
                "femhomog_version": __version__,
                "written": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                "ranks": self.comm.size,
                "nodes": int(m.shape[0]),
                "config_hash": self.hash,
                "config": self.fingerprint,
                **self.extra,
                **state,
            }
            text = json.dumps(meta, default=str)
            kill = self._kill_at == self.written

            def dump(f: BinaryIO) -> None:
                np.savez(f, meta=np.array(text), keys=self._keys, x=self._x, m=m)
                if kill:  # test hook: die with the data in the temporary file, before rename
                    f.flush()
                    os.fsync(f.fileno())
                    os.kill(os.getpid(), signal.SIGKILL)

            try:
                write_atomic(self.path, dump)
            except OSError as exc:
                failure = f"cannot write checkpoint {self.path}: {exc.strerror or exc}"
        _collective(self.comm, failure, FemhomogError)
        return self.path


# ====================================================================== reading
def _load(path: Path, arrays: bool) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and check one checkpoint file (one process); ConfigError on any defect."""
    where = f"--restart: checkpoint {path}"
    if not path.is_file():
        raise ConfigError(f"--restart: no checkpoint {path} (the run wrote none: checkpoints "
                          "need output.checkpoint_every or output.checkpoint_wall; start the "
                          "run again without --restart)")
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"][()]))
            out = {k: np.asarray(data[k]) for k in ("keys", "x", "m")} if arrays else {}
    except KeyError as exc:
        raise ConfigError(f"{where} is damaged: no array {exc}") from None
    except Exception as exc:  # noqa: BLE001 - zipfile/numpy/json raise many kinds
        raise ConfigError(f"{where} is damaged or not a checkpoint: "
                          f"{type(exc).__name__}: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else None
        raise ConfigError(f"{where} has format {got!r}; this femhomog ({__version__}) reads "
                          f"format {CHECKPOINT_FORMAT}")
    for key in ("config", "config_hash", "loop", "rows", "nodes"):
        if key not in meta:
            raise ConfigError(f"{where} is damaged: no '{key}' in its metadata")
    if arrays:
        n = int(meta["nodes"])
        k, x, m = out["keys"], out["x"], out["m"]
        if k.shape != (n,) or m.shape != (n, 3) or x.shape != (n, 3) or not np.all(
                np.isfinite(m)):
            raise ConfigError(f"{where} is damaged: arrays of shapes {k.shape}, {x.shape}, "
                              f"{m.shape} for {n} nodes")
    return meta, out


def read_checkpoint_meta(directory: str | Path, fingerprint: dict[str, Any],
                         comm: MPI.Comm) -> dict[str, Any]:
    """Metadata of the checkpoint of an output directory, checked against the configuration.

    Rank 0 reads; the verdict is the same on every rank.

    Raises
    ------
    ConfigError
        Missing, damaged or foreign-format checkpoint, or a configuration that
        differs in other keys than :data:`RESTART_FREE_KEYS` (the message lists them).
    """
    path = checkpoint_path(directory)
    meta, failure = None, None
    if comm.rank == 0:
        try:
            meta, _ = _load(path, arrays=False)
            if meta["config_hash"] != config_hash(fingerprint):
                diff = config_differences(meta["config"], fingerprint)
                shown = ", ".join(diff[:8]) + (", ..." if len(diff) > 8 else "")
                raise ConfigError(
                    f"--restart: the configuration differs from the checkpointed run in "
                    f"{shown or 'its hash'} (only time.t_end and output.* may change on restart)")
        except ConfigError as exc:
            failure = str(exc)
    _collective(comm, failure, ConfigError)
    meta = comm.bcast(meta, root=0)
    if meta.get("femhomog_version") != __version__:
        log.warning("checkpoint written by femhomog %s, restarting with %s",
                    meta.get("femhomog_version"), __version__)
    return meta


def restore_checkpoint(directory: str | Path, problem: Any) -> dict[str, Any]:
    """Set ``problem.m`` (all nodes, ghosts included) from a checkpoint; return its metadata.

    Rank 0 reads the file and sends every rank the values at its nodes'
    input indices, whatever the number of ranks that wrote it.

    Raises
    ------
    ConfigError
        On every rank: damaged file, or a mesh that is not the checkpoint's
        (a node without a value, or at another position).
    """
    comm: MPI.Comm = problem.comm
    path = checkpoint_path(directory)
    keys = node_input_indices(problem.V)
    parts = comm.gather(keys, root=0)
    meta, payload, failure = None, None, None
    if comm.rank == 0:
        assert parts is not None
        try:
            meta, data = _load(path, arrays=True)
            order = np.argsort(data["keys"], kind="stable")
            skeys = data["keys"][order]
            payload = []
            for k in parts:
                pos = np.searchsorted(skeys, k)
                pos = np.minimum(pos, max(len(skeys) - 1, 0))
                if len(k) and (len(skeys) == 0 or np.any(skeys[pos] != k)):
                    raise ConfigError(f"--restart: checkpoint {path} has no value at some mesh "
                                      "node: it was written on another mesh")
                idx = order[pos]
                payload.append((data["x"][idx], data["m"][idx]))
        except ConfigError as exc:
            failure, payload = str(exc), None
    _collective(comm, failure, ConfigError)
    x, m = comm.scatter(payload, root=0)
    meta = comm.bcast(meta, root=0)
    n = problem.num_owned_nodes
    mine = problem.V.tabulate_dof_coordinates()[:n]
    dev = float(np.max(np.abs(mine - x), initial=0.0))
    worst = comm.allreduce(dev, op=MPI.MAX)
    if worst > _X_RTOL * _diameter(problem.mesh):
        raise ConfigError(f"--restart: checkpoint {path} was written on another mesh (nodes "
                          f"moved by up to {worst:.3g})")
    problem.owned_values()[:] = m
    problem.m.x.scatter_forward()
    return meta
