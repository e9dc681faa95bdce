"""Stray field by FFT convolution on an auxiliary regular grid (``demag.method = "fft"``).

The stray field of (1.8)-(1.9) of the Boltzmann-LLG paper is a convolution,
``H_s = -N * (m 1_Omega)``.  On a regular grid of cuboid cells it is exactly
(for cellwise-constant ``m``) the discrete convolution with Newell's tensor
(:mod:`femhomog.micromag.demag.newell`), evaluated by zero-padded FFTs in
``O(n log n)``: the method of the finite-difference codes (OOMMF, MuMax3,
magnum.np).  Here it is the stray-field solver of the P1 finite-element LLG: the
magnetization is carried to a grid over the magnet's bounding box and the grid
field back to the nodes (a "non-uniform FFT" in the sense of the FEM/FFT
hybrids, e.g. Exl et al., J. Appl. Phys. 115, 17D118 (2014)):

1. **FE -> grid.**  Each grid cell gets the Gauss-Legendre average of ``m 1_Omega``
   over its q x q x q points (q = 4), ``M_c = sum_p w_p m_h(x_p)`` with
   ``m_h(x_p) = 0`` outside the magnet: the cell's volume fraction of magnet times its mean ``m``
   (a box magnet aligned with the grid is represented exactly up to the P1
   interpolation; curved magnets are "staircased" with fractional cells).
2. **Grid field.**  ``H_c = -sum_c' N(r_c - r_c') M_c'``, one 3-vector FFT pair.
3. **Grid -> FE.**  The lumped projection of the cellwise-constant field onto
   P1 (the adjoint of step 1 divided by the nodal volume), as in the FEM-BEM
   solvers: ``H_i = sum_p |cell| w_p phi_i(x_p) H_c(p) / int_Omega phi_i``.  The
   field is then minus the lumped gradient of the grid energy
   ``|cell|/2 M.N M``: the operator is symmetric and its energy positive.  The
   points' share of a node, ``sum_p |cell| w_p phi_i(x_p)``, equals the node's
   volume ``int phi_i`` only up to the quadrature error of the kinked P1 hat:
   with grid cell = element size it is within 0.69-1.28 of it for q = 2 and
   0.92-1.09 for q = 4 (the SP4 film; a uniform field would carry that factor
   node by node), so q = 4, and a grid so coarse that some node gets less than
   half its volume is refused (:data:`MIN_COVERAGE`).

Steps 1 and 3 are one sparse matrix (points x local nodes) and its transpose.
The error is the grid's: first order in the cell size at curved or unaligned
boundaries, second order inside (``tests/test_demag_grid.py`` measures both); the
grid should be about the element size or finer.  Memory and work are linear in the
number of grid cells (times ``log``), independent of the number of boundary
nodes, unlike the dense boundary matrix of FEM-BEM.

Parallel: every rank computes the points lying in its own cells; the grid
magnetization is summed over the ranks (``MPI_Allreduce``) and every rank does
the (small) FFT convolution itself, so that the grid -> FE step needs no more
communication.  Results do not depend on the number of ranks beyond round-off.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import scipy.sparse

from femhomog import (
    ConfigError,
    MeshError,
    _fenicsx,  # noqa: F401  (must precede dolfinx / petsc4py)
)

# isort: split
import dolfinx
import ufl
from mpi4py import MPI

from femhomog.micromag.demag.base import DemagSolver
from femhomog.micromag.demag.newell import NewellConvolution

__all__ = ["MAX_GRID_CELLS", "GridConvolution", "grid_shape"]

log = logging.getLogger(__name__)

#: refuse grids above this many cells (the padded FFT arrays need ~600 bytes a cell)
MAX_GRID_CELLS = 20_000_000
#: refuse transfers with more points than this (their ownership array is one byte each)
MAX_GRID_POINTS = 400_000_000
#: refuse transfers whose points cover some node's volume by less than this fraction
MIN_COVERAGE = 0.5


def grid_shape(lengths: np.ndarray, grid_size: np.ndarray) -> tuple[int, int, int]:
    """Cells per axis of a grid of cells about ``grid_size`` over a box of ``lengths``
    (at least one cell per axis; the cells are then ``lengths / shape``)."""
    lengths = np.asarray(lengths, dtype=float)
    return tuple(int(max(1, round(L / h))) for L, h in zip(lengths, grid_size, strict=True))


class GridConvolution(DemagSolver):
    """FFT stray field on a regular grid over the magnet (Newell tensor, zero padding).

    Parameters
    ----------
    mesh
        The magnet: a 3D affine tetrahedral mesh.
    grid_size
        Target grid cell size, one number or one per axis (mesh length unit).  The
        grid covers the mesh's bounding box with ``round(L_k / grid_size_k)`` cells.
    points_per_axis
        Gauss-Legendre points per grid cell and axis of the FE <-> grid transfer.
    workers
        Threads of the FFT on each rank.
    """

    method = "fft"

    def __init__(self, mesh: dolfinx.mesh.Mesh, grid_size: float | list[float], *,
                 points_per_axis: int | tuple[int, int, int] = 4, workers: int = 1) -> None:
        t_all = time.perf_counter()
        self.comm: MPI.Comm = mesh.comm
        if mesh.topology.dim != 3 or mesh.geometry.dim != 3:
            raise MeshError("FFT stray field: the magnet mesh must be 3D")
        if mesh.topology.cell_type != dolfinx.mesh.CellType.tetrahedron:
            raise MeshError("FFT stray field: the magnet mesh must consist of tetrahedra, got "
                            f"{mesh.topology.cell_type.name}")
        if mesh.geometry.cmaps[0].degree != 1:
            raise MeshError("FFT stray field: the mesh geometry must be affine (P1)")
        h = np.broadcast_to(np.asarray(grid_size, dtype=float), (3,)).copy()
        if not (np.all(np.isfinite(h)) and np.all(h > 0)):
            raise ConfigError(f"FFT stray field: grid_size must be > 0, got {grid_size!r}")
        self.mesh = mesh
        self.points_per_axis = tuple(int(q) for q in np.broadcast_to(points_per_axis, (3,)))
        if min(self.points_per_axis) < 1:
            raise ConfigError("FFT stray field: points_per_axis must be >= 1, got "
                              f"{points_per_axis!r}")
        x = mesh.geometry.x
        lo, hi = np.empty(3), np.empty(3)
        self.comm.Allreduce(x.min(axis=0) if len(x) else np.full(3, np.inf), lo, op=MPI.MIN)
        self.comm.Allreduce(x.max(axis=0) if len(x) else np.full(3, -np.inf), hi, op=MPI.MAX)
        self.origin = lo
        self.shape = grid_shape(hi - lo, h)
        self.cell = (hi - lo) / np.array(self.shape)
        self._volume = float(np.prod(self.cell))
        cells = int(np.prod(self.shape))
        if cells > MAX_GRID_CELLS:
            raise ConfigError(
                f"FFT stray field: the grid over the magnet would have {cells:,} cells "
                f"({' x '.join(map(str, self.shape))}), above {MAX_GRID_CELLS:,}; increase "
                "demag.grid_size"
            )
        self.stats: dict[str, Any] = {
            "evaluations": 0, "evaluation_s": [],
            # accumulated wall time of the phases of compute() (per rank)
            "phase_s": {"transfer": 0.0, "fft": 0.0},
        }
        t0 = time.perf_counter()
        self.convolution = NewellConvolution(self.shape, self.cell, workers=workers)
        self.stats["kernel_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        self._setup_transfer()
        # the operators of a P1 vector space now: a too coarse grid fails before the run
        self._operators(dolfinx.fem.functionspace(mesh, ("Lagrange", 1, (3,))))
        self.stats["transfer_setup_s"] = time.perf_counter() - t0
        self.stats["setup_s"] = self.comm.allreduce(time.perf_counter() - t_all, op=MPI.MAX)
        log.info("FFT stray field: grid %s of cells %s, %d points in the magnet, setup %.2fs",
                 self.shape, self.cell, self.num_points, self.stats["setup_s"])

    # ------------------------------------------------------------------ setup
    def _owned_cell_range(self) -> tuple[np.ndarray, np.ndarray]:
        """Grid cell index range ``[lo, hi)`` per axis that overlaps this rank's owned
        mesh cells (only their points can lie in them)."""
        mesh = self.mesh
        n_owned = mesh.topology.index_map(3).size_local
        if n_owned == 0:
            return np.zeros(3, dtype=int), np.zeros(3, dtype=int)
        x = mesh.geometry.x[np.unique(mesh.geometry.dofmaps[0][:n_owned])]
        lo = np.floor((x.min(axis=0) - self.origin) / self.cell - 1e-9).astype(int)
        hi = np.ceil((x.max(axis=0) - self.origin) / self.cell + 1e-9).astype(int)
        return np.clip(lo, 0, self.shape), np.clip(hi, 0, self.shape)

    def _gauss_points(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The Gauss-Legendre points of the grid cells ``[lo, hi)`` (per axis) and their
        global indices ``cell * q + point`` (cells numbered in C order of the grid)."""
        nodes, _ = zip(*[np.polynomial.legendre.leggauss(q) for q in self.points_per_axis],
                       strict=True)
        qx, qy, qz = self.points_per_axis
        nx, ny, nz = (int(h - l) for l, h in zip(lo, hi, strict=True))
        if nx * ny * nz == 0:
            return np.zeros((0, 3)), np.zeros(0, dtype=np.int64)
        axes = [((np.arange(l, h)[:, None] + 0.5 * (1.0 + g)[None, :]).ravel() * d + o)
                for l, h, g, d, o in zip(lo, hi, nodes, self.cell, self.origin, strict=True)]
        # index (i, a, j, b, k, c) -> cell (i, j, k), point (a, b, c)
        X, Y, Z = np.meshgrid(*axes, indexing="ij")
        pts = np.stack([X, Y, Z], axis=-1).reshape(nx, qx, ny, qy, nz, qz, 3)
        pts = pts.transpose(0, 2, 4, 1, 3, 5, 6).reshape(-1, 3)
        i, j, k = np.meshgrid(*(np.arange(l, h) for l, h in zip(lo, hi, strict=True)),
                              indexing="ij")
        cell = np.ravel_multi_index((i.ravel(), j.ravel(), k.ravel()), self.shape)
        q = qx * qy * qz
        index = (cell[:, None].astype(np.int64) * q + np.arange(q)[None, :]).ravel()
        return pts, index

    def _point_weights_in_cell(self) -> np.ndarray:
        """Weights of a cell's points in the order of :meth:`_gauss_points` (sum 1)."""
        weights = [0.5 * np.polynomial.legendre.leggauss(q)[1] for q in self.points_per_axis]
        return np.einsum("a,b,c->abc", *weights).ravel()

    def _locate(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Points inside this rank's owned cells: their indices, cells and barycentric
        coordinates (the P1 basis values)."""
        mesh = self.mesh
        tdim = mesh.topology.dim
        n_owned = mesh.topology.index_map(tdim).size_local
        tree = dolfinx.geometry.bb_tree(mesh, tdim, padding=1e-12 * float(self.cell.max()),
                                        entities=np.arange(n_owned, dtype=np.int32))
        found_point, found_cell, found_bary = [], [], []
        geom = mesh.geometry.x
        gdofs = mesh.geometry.dofmaps[0]
        chunk = 50_000  # candidate pairs x 4 vertices x 3: ~100 MB of temporaries
        for start in range(0, len(points), chunk):
            pts = points[start:start + chunk]
            cand = dolfinx.geometry.compute_collisions_points(tree, pts)
            counts = np.diff(cand.offsets)
            pidx = np.repeat(np.arange(len(pts)), counts)
            cidx = cand.array
            if cidx.size == 0:
                continue
            v = geom[gdofs[cidx]]  # (pairs, 4, 3)
            T = np.stack([v[:, 1] - v[:, 0], v[:, 2] - v[:, 0], v[:, 3] - v[:, 0]], axis=-1)
            lam = np.linalg.solve(T, (pts[pidx] - v[:, 0])[..., None])[..., 0]
            bary = np.concatenate([1.0 - lam.sum(axis=1)[:, None], lam], axis=1)
            inside = bary.min(axis=1) >= -1e-10
            pidx, cidx, bary = pidx[inside], cidx[inside], bary[inside]
            # a point on a face shared by two of this rank's cells: keep the first
            _, first = np.unique(pidx, return_index=True)
            found_point.append(start + pidx[first])
            found_cell.append(cidx[first])
            found_bary.append(np.clip(bary[first], 0.0, 1.0))
        if not found_point:
            return (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32),
                    np.zeros((0, 4)))
        return (np.concatenate(found_point), np.concatenate(found_cell),
                np.concatenate(found_bary))

    def _setup_transfer(self) -> None:
        """The grid points inside the magnet, each found by exactly one rank."""
        self._point_weights = self._point_weights_in_cell()
        total = int(np.prod(self.shape)) * self._point_weights.size
        if total > MAX_GRID_POINTS:
            raise ConfigError(
                f"FFT stray field: {total:,} transfer points ({' x '.join(map(str, self.shape))} "
                f"cells x {self._point_weights.size}), above {MAX_GRID_POINTS:,}; increase "
                "demag.grid_size or reduce demag.grid_points")
        points, index = self._gauss_points(*self._owned_cell_range())
        found, cidx, bary = self._locate(points)
        pidx = index[found]
        del points, index
        # a point on a face between two ranks' cells belongs to the lowest rank
        dtype = np.uint8 if self.comm.size < 255 else np.int32
        rank = np.full(total, min(self.comm.size, np.iinfo(dtype).max), dtype=dtype)
        rank[pidx] = self.comm.rank
        owner = np.empty_like(rank)
        self.comm.Allreduce(rank, owner, op=MPI.MIN)
        mine = owner[pidx] == self.comm.rank
        del rank, owner
        self._points = (pidx[mine], cidx[mine], bary[mine])
        self.num_points = int(self.comm.allreduce(int(mine.sum())))
        self._ops: dict[int, tuple[Any, ...]] = {}

    def _operators(self, space: dolfinx.fem.FunctionSpace) -> tuple[Any, ...]:
        """FE -> grid matrix ``A`` (grid cells x local nodes), its transpose, the owned
        lumped masses and a work function, for the P1 vector space ``space``."""
        key = id(space)
        if key in self._ops:
            return self._ops[key]
        element = space.ufl_element()
        if (space.mesh is not self.mesh or space.dofmap.index_map_bs != 3
                or element.basix_element.degree != 1):
            raise ConfigError("FFT stray field: m and the field must be P1 vector functions "
                              "on the magnet mesh")
        for A, AT, lumped_owned, work in self._ops.values():
            # another P1 vector space with the same dof numbering: share the matrices
            if np.array_equal(work.function_space.dofmap.list, space.dofmap.list):
                self._ops[key] = (A, AT, lumped_owned, dolfinx.fem.Function(space))
                return self._ops[key]
        pidx, cidx, bary = self._points
        imap = space.dofmap.index_map
        n_local = imap.size_local + imap.num_ghosts
        dofs = space.dofmap.list[cidx]  # (points, 4): the nodes of the point's cell
        # M_c = sum_p w_p m_h(x_p): the Gauss average over the cell's points
        q = self._point_weights.size
        A = scipy.sparse.csr_matrix(
            ((bary * self._point_weights[pidx % q, None]).ravel(),
             (np.repeat(pidx // q, 4), dofs.ravel())),
            shape=(int(np.prod(self.shape)), n_local))
        # the adjoint with the point weights |cell| w_p: sum_p |cell| w_p phi_i(x_p) H_c(p),
        # applied as |cell| A^T (a transposed view: no second matrix in memory)
        AT = A.T
        v = ufl.TestFunction(space)
        one = dolfinx.fem.form(ufl.inner(v, ufl.as_vector((1.0, 1.0, 1.0))) * ufl.dx)
        lumped = dolfinx.fem.assemble_vector(one)
        lumped.scatter_reverse(dolfinx.la.InsertMode.add)
        n = imap.size_local
        lumped_owned = lumped.array[: 3 * n].reshape(-1, 3).copy()
        # The projection divides the points' share of a node by its exact volume: both
        # agree to the quadrature error only if the points sample every node's support.
        # A grid much coarser than the elements leaves nodes unsampled (field 0 there).
        work = dolfinx.fem.Function(space)
        work.x.array[:] = np.repeat(self._volume * np.asarray(AT.sum(axis=1)).ravel(), 3)
        work.x.scatter_reverse(dolfinx.la.InsertMode.add)
        sampled = work.x.array[: 3 * n : 3] / lumped_owned[:, 0]
        worst = self.comm.allreduce(float(sampled.min()) if n else np.inf, op=MPI.MIN)
        self.coverage = (worst, self.comm.allreduce(float(sampled.max()) if n else -np.inf,
                                                    op=MPI.MAX))
        if worst < MIN_COVERAGE:
            raise ConfigError(
                f"FFT stray field: the grid ({' x '.join(map(str, self.shape))} cells) is too "
                f"coarse for the mesh: the grid points cover a node's volume by only "
                f"{100 * worst:.0f} %; use demag.grid_size about the element size or smaller")
        self._ops[key] = (A, AT, lumped_owned, work)
        return self._ops[key]

    # ------------------------------------------------------------------ evaluation
    def grid_magnetization(self, m: dolfinx.fem.Function) -> np.ndarray:
        """The cell magnetizations ``M_c`` (units of Ms), shape ``(3, *grid shape)``, on
        every rank."""
        A, _, _, work = self._operators(m.function_space)
        work.x.array[:] = m.x.array
        work.x.scatter_forward()  # m's ghost values may be stale
        local = np.ascontiguousarray((A @ work.x.array.reshape(-1, 3)).T)
        M = np.empty_like(local)
        self.comm.Allreduce(local, M, op=MPI.SUM)
        return M.reshape(3, *self.shape)

    def compute(self, m: dolfinx.fem.Function, out: dolfinx.fem.Function) -> None:
        """Nodal ``H_s`` (units of Ms) into ``out``: grid magnetization, FFT convolution,
        lumped projection back to the nodes."""
        t0 = time.perf_counter()
        if out.function_space is not m.function_space:
            self._operators(out.function_space)  # validates out's space
        _, AT, lumped_owned, work = self._operators(m.function_space)
        M = self.grid_magnetization(m)
        t1 = time.perf_counter()
        H = self.convolution.field(M).reshape(3, -1)
        t2 = time.perf_counter()
        work.x.array[:] = (AT @ (self._volume * H.T)).ravel()
        work.x.scatter_reverse(dolfinx.la.InsertMode.add)
        n = lumped_owned.shape[0]
        out.x.array[: 3 * n] = (work.x.array[: 3 * n].reshape(-1, 3) / lumped_owned).ravel()
        out.x.scatter_forward()
        t3 = time.perf_counter()
        phase = self.stats["phase_s"]
        phase["transfer"] += (t1 - t0) + (t3 - t2)
        phase["fft"] += t2 - t1
        self.stats["evaluations"] += 1
        self.stats["evaluation_s"].append(t3 - t0)

    # ------------------------------------------------------------------ meta
    def describe(self) -> dict[str, Any]:
        ev = self.stats["evaluation_s"]
        return {
            "method": self.method,
            "grid_shape": list(self.shape),
            "grid_cell": [float(c) for c in self.cell],
            "grid_points_in_magnet": self.num_points,
            "points_per_axis": list(self.points_per_axis),
            # min and max over the nodes of (points' share) / (node volume)
            "coverage": list(getattr(self, "coverage", (None, None))),
            "kernel_bytes": self.convolution.nbytes,
            "kernel_s": float(self.stats["kernel_s"]),
            "setup_s": float(self.stats["setup_s"]),
            "evaluations": int(self.stats["evaluations"]),
            "mean_evaluation_s": float(np.mean(ev)) if ev else None,
            "mean_phase_s": {k: v / max(1, self.stats["evaluations"])
                             for k, v in self.stats["phase_s"].items()},
        }
