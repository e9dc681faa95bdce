"""The Bloch-Floquet solver (:mod:`femhomog.wave.bloch`) on the discretization of the job.

(The space-discrete fine-scale equation (13) of the wave paper on periodic boxes.)

:func:`bloch_from_config` assembles the fine-scale operator of ``femhomog wave``
(:class:`~femhomog.wave.fine_scale.FineScaleWave`: same element, degree, GLL mass,
stiffness quadrature and coefficient ``a(x/eps)``) on a small periodic box of four tiles
per axis that starts at the corner of the configured box, extracts its per-tile blocks
(checked to be translation invariant) and returns the exact propagator of the
configured box.  Because the blocks *are* the assembled operator's, the Bloch solution
is the discrete solution of the direct solvers, exact in time (see the notes of
:mod:`femhomog.wave.bloch`).

Tiles: one period ``eps`` along each axis on which the coefficient depends, one element
(``eps / cells_per_period``) along an axis it does not name (``y[i]`` absent from the
coefficient expression, e.g. ``x_1`` for the layered medium of Fig. 2): smaller tiles,
smaller eigenproblems.  A wrong guess cannot go unnoticed: the extraction checks the
invariance of the assembled operator under the tile translations.

:func:`to_vector` moves a Bloch solution into the (distributed) vector of unknowns of
a :class:`FineScaleWave` of the whole box, matched by node coordinates, so that the
job's own evaluation on the error grid (:class:`~femhomog.wave.sampling.GridSampler`)
applies; every rank holds the whole Bloch solution (it is computed redundantly, the
algorithm being serial).  For boxes too large for a mesh (Fig. 2),
:func:`grid_values` evaluates it on the grid with tensor products of
:func:`~femhomog.wave.bloch.gll_grid_matrix`, checked against ``GridSampler`` in the tests.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import scipy.sparse

from femhomog import (
    ConfigError,
    _fenicsx,  # noqa: F401  (must precede dolfinx / petsc4py)
)

# isort: split
from mpi4py import MPI
from petsc4py import PETSc

from femhomog.coefficients import CellCoefficient
from femhomog.wave.bloch import (
    BlochBlocks,
    BlochWave,
    extract_blocks,
    gll_grid_matrix,
    tile_index,
)
from femhomog.wave.config import WaveJobConfig
from femhomog.wave.fine_scale import FineScaleWave

__all__ = ["bloch_from_config", "blocks_from_wave", "grid_values", "tile_shifts",
           "to_vector", "unknown_coordinates"]

#: Tiles per axis of the small box the blocks are extracted from.
SMALL_BOX_TILES = 4


def unknown_coordinates(wave: FineScaleWave) -> np.ndarray:
    """Coordinates ``(n_local, d)`` of this rank's unknowns of ``wave``, in
    ``[lower, upper)`` of the box.

    From the nodal interpolants of ``cos`` and ``sin`` of ``2 pi x_i / L_i``: the
    restriction to the unknowns of a periodic box may combine the values of a node and
    its periodic image, which these functions share (``x_i`` itself does not).
    """
    x = wave.mesh.geometry.x[:, : wave.dim]
    # per component: a pickled allreduce with op=MIN/MAX cannot compare arrays (2D, 3D)
    lower = np.array([wave.comm.allreduce(float(v), op=MPI.MIN) for v in x.min(axis=0)])
    upper = np.array([wave.comm.allreduce(float(v), op=MPI.MAX) for v in x.max(axis=0)])
    cols = []
    for i in range(wave.dim):
        k = 2 * np.pi / (upper[i] - lower[i])
        c = wave.project_nodal(lambda x, i=i, k=k: np.cos(k * (x[i] - lower[i])))
        s = wave.project_nodal(lambda x, i=i, k=k: np.sin(k * (x[i] - lower[i])))
        phase = np.mod(np.arctan2(s.array_r, c.array_r), 2 * np.pi)
        cols.append(lower[i] + phase / k)
        c.destroy()
        s.destroy()
    return np.stack(cols, axis=1)


def blocks_from_wave(wave: FineScaleWave, lower: Sequence[float], shifts: Sequence[float],
                     counts: Sequence[int]) -> BlochBlocks:
    """:func:`~femhomog.wave.bloch.extract_blocks` of an assembled serial ``wave``."""
    if wave.comm.size != 1:
        raise ConfigError("blocks_from_wave needs a serial (COMM_SELF) operator")
    indptr, indices, data = wave.K.getValuesCSR()
    n = wave.num_dofs
    K = scipy.sparse.csr_matrix((data, indices, indptr), shape=(n, n))
    return extract_blocks(K, wave.mass.array_r.copy(), unknown_coordinates(wave), lower,
                          shifts, counts)


def tile_shifts(cfg: WaveJobConfig) -> tuple[float, ...]:
    """Tile size per axis: ``eps``, or one element where the coefficient expression does
    not name ``y[i]``."""
    dim = len(cfg.wave.lower)
    text = str(cfg.cell.coefficient)
    eps = cfg.wave.eps
    return tuple(eps if re.search(rf"y\s*\[\s*{i}\s*\]", text) else
                 eps / cfg.fine.cells_per_period for i in range(dim))


def bloch_from_config(cfg: WaveJobConfig, *, shifts: Sequence[float] | None = None,
                      chunk: int = 2048) -> BlochWave:
    """The exact propagator of the fine-scale problem of ``cfg`` (periodic box, ``f = 0``).

    Assembles :class:`FineScaleWave` on COMM_SELF on the box
    ``[lower, lower + 4 s]`` (tiles ``shifts``, default :func:`tile_shifts`; whole
    numbers of elements) and extracts its blocks.
    """
    from femhomog.wave.build import box_mesh

    w, fc = cfg.wave, cfg.fine
    if w.boundary != "periodic":
        raise ConfigError("the Bloch solver needs a periodic box (wave.boundary = 'periodic')")
    if w.source != 0.0:
        raise ConfigError("the Bloch solver integrates f = 0 only (wave.source)")
    dim = len(w.lower)
    shifts = tuple(shifts) if shifts is not None else tile_shifts(cfg)
    counts = []
    for lo, hi, s in zip(w.lower, w.upper, shifts, strict=True):
        n = (hi - lo) / s
        if abs(n - round(n)) > 1e-9 * max(1.0, n) or round(n) < 1:
            raise ConfigError(f"the box is not a whole number of tiles {s:g} along an axis")
        counts.append(round(n))
    cells_per_tile = [round(s / w.eps * fc.cells_per_period) for s in shifts]
    upper = [lo + SMALL_BOX_TILES * s for lo, s in zip(w.lower, shifts, strict=True)]
    mesh = box_mesh(MPI.COMM_SELF, w.lower, upper,
                    [SMALL_BOX_TILES * c for c in cells_per_tile])
    coefficient = CellCoefficient.from_expression(cfg.cell.coefficient, dim)
    wave = FineScaleWave(mesh, coefficient, w.eps, degree=fc.degree, boundary="periodic")
    try:
        blocks = blocks_from_wave(wave, w.lower, shifts, [SMALL_BOX_TILES] * dim)
    finally:
        wave.destroy()
    return BlochWave(blocks, counts, w.lower, chunk=chunk)


def to_vector(bloch: BlochWave, values: np.ndarray, wave: FineScaleWave,
              out: PETSc.Vec | None = None) -> PETSc.Vec:
    """The unknowns of ``wave`` (the same box and discretization, any number of ranks)
    holding the Bloch array ``values``: each rank fills its own entries, matched by the
    coordinates of its unknowns."""
    out = out if out is not None else wave.create_vector()
    key = (id(wave), bloch.counts)
    cache = getattr(bloch, "_vector_index", None)
    if cache is None or cache[0] != key:
        coords = unknown_coordinates(wave)
        tile, local = tile_index(coords, bloch.lower, bloch.blocks.shifts, bloch.counts)
        scale = float(min(bloch.blocks.shifts))
        index = []
        for i, nodes in enumerate(bloch.blocks.nodes):
            j = np.clip(np.searchsorted(nodes, local[:, i] - 1e-9 * scale), 0, len(nodes) - 1)
            if np.max(np.abs(nodes[j] - local[:, i]), initial=0.0) > 1e-8 * scale:
                raise ConfigError("the Bloch solver and the fine-scale operator do not share "
                                  "their nodes (other degree, elements or box)")
            index.append(j)
        flat = np.ravel_multi_index(tuple(tile.T) + tuple(index), bloch.shape)
        cache = (key, flat)
        bloch._vector_index = cache  # type: ignore[attr-defined]
    out.array[:] = np.asarray(values).reshape(-1)[cache[1]]
    return out


def grid_values(bloch: BlochWave, values: np.ndarray, degree: int,
                cells_per_tile: Sequence[int], per_cell: int) -> np.ndarray:
    """Values of the spectral-element function ``values`` (Bloch array, 1D or 2D) at the
    uniform grid of ``per_cell`` points per element (the error grid of the job)."""
    d = bloch.blocks.dim
    mats = [gll_grid_matrix(bloch.axis_nodes(i),
                            bloch.counts[i] * bloch.blocks.shifts[i],
                            bloch.counts[i] * int(cells_per_tile[i]), degree, per_cell)
            for i in range(d)]
    perm = [k for i in range(d) for k in (i, d + i)]  # (tile_i, local_i) pairs
    U = np.transpose(values, perm).reshape([m.shape[1] for m in mats])
    if d == 1:
        return mats[0] @ U
    if d == 2:
        return np.asarray((mats[1] @ (mats[0] @ U).T).T)
    raise ConfigError("grid_values supports 1D and 2D")
