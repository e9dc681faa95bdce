"""Checkpoints of the fine-scale wave state: GLL vectors keyed by node coordinates.

The state of the fine-scale solver is two vectors of reduced unknowns (after the
periodic or Dirichlet constraint): ``u, v`` (Chebyshev propagation) or ``u^n, u^{n-1}``
(leapfrog).  The nodal P1 state files of :mod:`femhomog.timestepping.state` key nodes
by the mesh's input indices, which a degree-p GLL space does not have for its edge and
interior nodes; here the nodes are keyed by their *coordinates*:

* writing: each vector is expanded to the full GLL space (``u = P u_r``: periodic images
  carry equal values), and rank 0 gathers the owned nodes' coordinates and values into
  one ``.npz`` (``meta``, ``x``, one array per vector), replaced atomically
  (:func:`femhomog.io.output.write_atomic`);
* reading: every rank matches its nodes to the file's by position
  (:func:`femhomog.timestepping.state.values_at_nodes`, a k-d tree with a tolerance far
  below the GLL node spacing), then takes the reduced unknowns from the nodes off the
  upper faces of the periodic box (one representative per periodic class: the copy is
  exact, no averaging), so a restart on the same ranks continues *bitwise* as the
  uninterrupted run, and on another number of ranks to round-off (the partition changes
  the summation order of the MatMult).

The file's ``meta`` has the keys of :mod:`femhomog.timestepping.checkpoint` (format,
configuration fingerprint and hash, loop state, rows, nodes), so
:func:`~femhomog.timestepping.read_checkpoint_meta` checks it like any checkpoint.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from femhomog import (
    _fenicsx,  # noqa: F401  (must precede dolfinx / petsc4py)
)

# isort: split
from petsc4py import PETSc

from femhomog.periodic import mesh_bounding_box
from femhomog.timestepping.state import values_at_nodes, write_npz
from femhomog.wave.fine_scale import FineScaleWave

__all__ = ["restore_fine_state", "save_fine_state"]


def save_fine_state(path: str | Path, wave: FineScaleWave, vectors: Mapping[str, PETSc.Vec],
                    meta: Callable[[], dict[str, Any]],
                    before_rename: Callable[[BinaryIO], None] | None = None) -> Path:
    """Write the reduced ``vectors`` of ``wave`` as nodal values keyed by coordinates.

    Collective; rank 0 writes ``path`` atomically (``meta()`` is evaluated there).  A
    write failure raises :class:`FemhomogError` on every rank and keeps the old file.
    """
    path = Path(path)
    n_owned = wave.V.dofmap.index_map.size_local
    x = wave.V.tabulate_dof_coordinates()[:n_owned]
    u = wave.work
    gathered: dict[str, Any] = {}
    xs = wave.comm.gather(x, root=0)
    for name, vec in vectors.items():
        wave.to_function(vec, u)
        gathered[name] = wave.comm.gather(u.x.array[:n_owned].copy(), root=0)
    arrays: dict[str, Any] | None = None
    if wave.comm.rank == 0:
        assert xs is not None
        arrays = {"meta": np.array(json.dumps(meta(), default=str)), "x": np.concatenate(xs)}
        arrays.update({name: np.concatenate(parts) for name, parts in gathered.items()})
    return write_npz(path, arrays, wave.comm, what="checkpoint", before_rename=before_rename)


def _representatives(wave: FineScaleWave) -> np.ndarray:
    """1 at the dofs off the upper faces of a periodic box, 0 on them (their images)."""
    x = wave.V.tabulate_dof_coordinates()[:, : wave.dim]
    if wave.boundary != "periodic":
        return np.ones(len(x))
    lo, hi = mesh_bounding_box(wave.mesh)
    tol = 1e-8 * float(np.max(hi - lo))
    return np.all(x < hi[: wave.dim] - tol, axis=1).astype(float)


def restore_fine_state(path: str | Path, wave: FineScaleWave,
                       names: tuple[str, ...]) -> dict[str, PETSc.Vec]:
    """Reduced vectors ``names`` of a state file written by :func:`save_fine_state`.

    Raises
    ------
    ConfigError
        On every rank: unreadable file, missing arrays, or a mesh whose nodes are not
        the file's.
    """
    path = Path(path)
    mask = _representatives(wave)
    u = wave.work
    out: dict[str, PETSc.Vec] = {}
    for name in names:
        values = values_at_nodes(path, wave.V, name, what=f"--restart: checkpoint {path}",
                                 example="the checkpoint of a `femhomog wave` run")
        u.x.array[:] = values[:, 0]
        vec = wave.create_vector()
        if wave.constraint is None:
            vec.array[:] = u.x.array[: wave.V.dofmap.index_map.size_local]
        else:
            u.x.array[:] *= mask
            wave.constraint.P.multTranspose(u.x.petsc_vec, vec)
        out[name] = vec
    return out
