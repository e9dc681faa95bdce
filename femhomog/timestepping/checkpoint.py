"""Checkpoints of time-dependent runs: atomic, independent of the number of ranks.

A checkpoint is one nodal state file (:mod:`.state`),
``RUN_DIR/checkpoint/checkpoint.npz``, with the arrays ``keys``, ``x``, one per
state function (e.g. ``m``), and ``meta``: a JSON string with the format
version, the femhomog version, the loop state of
:class:`femhomog.timestepping.TimeLoop` (``loop``: ``t``, step size and
adaptive-controller state, fixed-step anchor, :class:`LoopStats`; ``rows``:
rows of the scalar logs; ``t_out``), the configuration fingerprint
(:func:`config_fingerprint`) with its hash, and the caller's extra entries.

It stores the state functions and the loop state only, never internals of a
solver: a problem whose other state is a function of ``(t, state)`` needs
nothing else.  The file is replaced atomically: a run killed at any moment
leaves the previous complete checkpoint or the new one.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import json
import os
import signal
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from femhomog import ConfigError, __version__
from femhomog.io.logging import get_logger
from femhomog.timestepping.state import NodalLayout, assign_by_keys, save_state

__all__ = [
    "CHECKPOINT_DIR",
    "CHECKPOINT_FILE",
    "CHECKPOINT_FORMAT",
    "RESTART_FREE_KEYS",
    "Checkpointer",
    "checkpoint_path",
    "config_differences",
    "config_fingerprint",
    "config_hash",
    "prepare_checkpoint_dir",
    "read_checkpoint_arrays",
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
#: Test hook: SIGKILL the writing rank during its N-th checkpoint, after the data is
#: written to the temporary file and before the rename (1-based).
KILL_IN_CHECKPOINT_ENV = "FEMHOMOG_TEST_KILL_IN_CHECKPOINT"


def checkpoint_path(directory: str | Path) -> Path:
    """``directory/checkpoint/checkpoint.npz`` for a run directory."""
    return Path(directory) / CHECKPOINT_DIR / CHECKPOINT_FILE


# ====================================================================== configuration
def config_fingerprint(raw: dict[str, Any],
                       free: Iterable[str] = RESTART_FREE_KEYS) -> dict[str, Any]:
    """The configuration without the keys a restart may change (``free``)."""
    out = copy.deepcopy(raw)
    for key in free:
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


# ====================================================================== writing
class Checkpointer:
    """Writes ``run_dir/checkpoint/checkpoint.npz`` (collective on the functions' mesh).

    Parameters
    ----------
    run_dir
        The run's output directory.
    state
        Name -> P1 function: everything the problem carries from step to step
        besides its time (e.g. ``{"m": problem.m}``).
    every, wall
        Schedule for :class:`~femhomog.timestepping.TimeLoop`: every ``every``
        accepted steps and/or after ``wall`` seconds of wall time since the
        last checkpoint (0: off); then also at the start and at the end.
    fingerprint
        :func:`config_fingerprint` of the run's configuration ({} without one).
    extra
        More entries of ``meta`` (e.g. the restart count); may be updated later.
    arrays
        Collective callable returning more arrays for the file on rank 0 (None
        elsewhere), e.g. a P2 state keyed by :func:`femhomog.timestepping.dofkeys.
        gather_keyed`; read back with :func:`read_checkpoint_arrays`.
    """

    def __init__(self, run_dir: str | Path, state: Mapping[str, Any], *, every: int = 0,
                 wall: float = 0.0, fingerprint: dict[str, Any] | None = None,
                 extra: dict[str, Any] | None = None,
                 arrays: Callable[[], dict[str, np.ndarray] | None] | None = None) -> None:
        self.path = checkpoint_path(run_dir)
        self.layout = NodalLayout(state)
        self.comm = self.layout.comm
        self.every = int(every)
        self.wall = float(wall)
        self.fingerprint = dict(fingerprint or {})
        self.hash = config_hash(self.fingerprint)
        self.extra = dict(extra or {})
        self.arrays = arrays
        self.written = 0
        kill = os.environ.get(KILL_IN_CHECKPOINT_ENV, "")
        self._kill_at = int(kill) if kill.isdigit() else 0

    @property
    def enabled(self) -> bool:
        return self.every > 0 or self.wall > 0

    def write(self, loop_state: dict[str, Any]) -> Path:
        """Replace the checkpoint atomically by the current state and ``loop_state``.

        Raises
        ------
        FemhomogError
            The file cannot be written (on every rank; the previous checkpoint stays).
        """
        self.written += 1

        def meta() -> dict[str, Any]:
            return {
                "format": CHECKPOINT_FORMAT,
                "femhomog_version": __version__,
                "written": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                "ranks": self.comm.size,
                "nodes": int(self.layout.size_global),
                "config_hash": self.hash,
                "config": self.fingerprint,
                **self.extra,
                **loop_state,
            }

        def die(f: BinaryIO) -> None:  # test hook: data in the temporary file, no rename
            f.flush()
            os.fsync(f.fileno())
            os.kill(os.getpid(), signal.SIGKILL)

        more = self.arrays() if self.arrays is not None else None
        return save_state(self.path, self.layout, meta=meta, what="checkpoint", more=more,
                          before_rename=die if self._kill_at == self.written else None)


def prepare_checkpoint_dir(run_dir: str | Path, fresh: bool, comm: Any) -> None:
    """Rank 0: drop temporary files of killed writes, and a fresh run's stale checkpoint."""
    if comm.rank == 0:
        path = checkpoint_path(run_dir)
        stale = list(path.parent.glob(f".{CHECKPOINT_FILE}.*.tmp")) if path.parent.is_dir() else []
        if fresh:
            stale.append(path)
        for p in stale:
            try:
                p.unlink()
            except OSError:
                pass
    comm.barrier()


# ====================================================================== reading
def _load(path: Path, names: Mapping[str, int] | None) -> tuple[dict[str, Any],
                                                                dict[str, np.ndarray]]:
    """Read and check one checkpoint file (one process); ConfigError on any defect.

    ``names``: the state arrays to read and their block sizes (None: the metadata only).
    """
    where = f"--restart: checkpoint {path}"
    if not path.is_file():
        raise ConfigError(f"--restart: no checkpoint {path} (the run wrote none: checkpoints "
                          "need output.checkpoint_every or output.checkpoint_wall; start the "
                          "run again without --restart)")
    wanted = () if names is None else ("keys", "x", *names)
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"][()]))
            out = {k: np.asarray(data[k]) for k in wanted}
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
    if names is not None:
        n = int(meta["nodes"])
        shapes = [out[k].shape for k in wanted]
        good = out["keys"].shape == (n,) and out["x"].shape == (n, 3) and all(
            out[k].shape == ((n, bs) if bs > 1 else (n,)) and np.all(np.isfinite(out[k]))
            for k, bs in names.items())
        if not good:
            listed = ", ".join(str(s) for s in shapes)
            raise ConfigError(f"{where} is damaged: arrays of shapes {listed} for {n} nodes")
    return meta, out


def read_checkpoint_meta(run_dir: str | Path, fingerprint: dict[str, Any],
                         comm: Any) -> dict[str, Any]:
    """Metadata of the checkpoint of a run directory, checked against the configuration.

    Rank 0 reads; the verdict is the same on every rank.

    Raises
    ------
    ConfigError
        Missing, damaged or foreign-format checkpoint, or a configuration that
        differs in other keys than :data:`RESTART_FREE_KEYS` (the message lists them).
    """
    path = checkpoint_path(run_dir)
    meta, failure = None, None
    if comm.rank == 0:
        try:
            meta, _ = _load(path, None)
            diff = []
            if meta["config_hash"] != config_hash(fingerprint):
                # keys added by a newer femhomog, unset (None) here, are no difference
                diff = config_differences(meta["config"], fingerprint)
            if diff:
                shown = ", ".join(diff[:8]) + (", ..." if len(diff) > 8 else "")
                raise ConfigError(
                    f"--restart: the configuration differs from the checkpointed run in "
                    f"{shown or 'its hash'} (only time.t_end and output.* may change on restart)")
        except ConfigError as exc:
            failure = str(exc)
    failure = comm.bcast(failure, root=0)
    if failure is not None:
        raise ConfigError(failure)
    meta = comm.bcast(meta, root=0)
    if meta.get("femhomog_version") != __version__:
        log.warning("checkpoint written by femhomog %s, restarting with %s",
                    meta.get("femhomog_version"), __version__)
    return meta


def restore_checkpoint(run_dir: str | Path, state: Mapping[str, Any] | NodalLayout
                       ) -> dict[str, Any]:
    """Set the state functions (ghosts included) from a run's checkpoint; return its metadata.

    Rank 0 reads the file and sends every rank the values at its nodes' input
    indices, whatever the number of ranks that wrote it.

    Raises
    ------
    ConfigError
        On every rank: damaged file, or a mesh that is not the checkpoint's
        (a node without a value, or at another position).
    """
    layout = state if isinstance(state, NodalLayout) else NodalLayout(state)
    comm = layout.comm
    path = checkpoint_path(run_dir)
    meta, data, failure = None, None, None
    if comm.rank == 0:
        try:
            meta, data = _load(path, {name: u.function_space.dofmap.index_map_bs
                                      for name, u in layout.functions.items()})
        except ConfigError as exc:
            failure = str(exc)
    failure = comm.bcast(failure, root=0)
    if failure is not None:
        raise ConfigError(failure)
    assign_by_keys(layout, data, what=f"--restart: checkpoint {path}")
    return comm.bcast(meta, root=0)


def read_checkpoint_arrays(run_dir: str | Path, names: Iterable[str], comm: Any
                           ) -> dict[str, np.ndarray]:
    """The arrays ``names`` of a run's checkpoint (written by a :class:`Checkpointer`'s
    ``arrays``) on every rank.  Rank 0 reads (after :func:`restore_checkpoint` checked
    the file); ConfigError on every rank if one is missing or not finite."""
    path = checkpoint_path(run_dir)
    data, failure = None, None
    if comm.rank == 0:
        try:
            with np.load(path, allow_pickle=False) as npz:
                data = {name: np.asarray(npz[name]) for name in names}
            bad = [n for n, a in data.items() if a.dtype.kind == "f" and not np.isfinite(a).all()]
            if bad:
                failure = f"--restart: checkpoint {path} is damaged: non-finite {bad[0]}"
        except KeyError as exc:
            failure = (f"--restart: checkpoint {path} has no array {exc} (written by a run "
                       "without it)")
        except Exception as exc:  # noqa: BLE001 - zipfile/numpy raise many kinds
            failure = f"--restart: checkpoint {path} is damaged: {type(exc).__name__}: {exc}"
    failure = comm.bcast(failure, root=0)
    if failure is not None:
        raise ConfigError(failure)
    return comm.bcast(data, root=0)
