"""The fine-scale solution on the uniform grid of the Fourier solvers: errors and cuts.

(The normalized error err(u~^s)(t) of the wave paper's Sect. 4, u^eps of (13), u~^s of
(14) with (29).)

The errors of the wave job compare ``u^eps`` (spectral elements) with the effective
solutions ``u~^s`` (values on the uniform grid of :class:`PeriodicGrid`).  They are
computed on that grid: ``u^eps`` is *evaluated exactly* at the grid points, and

    err_s(t) = ||u^eps(t) - u~^s(t)||_grid / ||u^eps(t)||_grid,
    ||w||_grid^2 = sum over the grid points of w^2,

the discrete l2 norm of the periodic trapezoidal rule, which integrates the squares of
the band-limited fields exactly and smooth ones spectrally (the ratio does not depend on
the weight ``h^d``).  The effective solutions are never interpolated.

How ``u^eps`` reaches the grid points without a point search: when the grid has ``m``
points per element along each axis, the grid points inside an element are the nodes of
the *equispaced* Lagrange element of degree ``m`` on it (its nodes on the upper faces
belong to the next element, or, on the upper faces of the box, are the periodic images
of grid points on the lower faces).  Interpolating the GLL function into that space
evaluates its polynomial at exactly those points, element by element, in parallel; each
rank then owns a set of grid points (the owned dofs of the equispaced space that are not
periodic images), with their flat grid indices.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from femhomog import (
    ConfigError,
    _fenicsx,  # noqa: F401  (must precede dolfinx / mpi4py)
)

# isort: split
import basix
import basix.ufl
import dolfinx
from mpi4py import MPI

from femhomog.wave.fourier import PeriodicGrid

__all__ = ["GridSampler"]


class GridSampler:
    """Values of functions of a mesh at the points of a periodic grid, distributed.

    Parameters
    ----------
    mesh
        The box mesh of the fine-scale solver (its elements aligned with the grid).
    grid
        The grid; along each axis its points per element must be one whole number
        ``m`` (the same on every axis).
    cells
        Elements of the mesh along each axis.

    Attributes
    ----------
    index : numpy.ndarray
        Flat grid indices (C order of the grid shape) of the points this rank owns.
    """

    def __init__(self, mesh: dolfinx.mesh.Mesh, grid: PeriodicGrid,
                 cells: Sequence[int]) -> None:
        per_cell = {n / c for n, c in zip(grid.points, cells, strict=True)}
        m = per_cell.pop() if len(per_cell) == 1 else None
        if m is None or m != int(m) or m < 1:
            raise ConfigError(
                f"the error grid needs a whole, equal number of points per element along "
                f"every axis: grid points {grid.points}, elements {tuple(cells)} "
                "(make effective.points_per_period a multiple of fine.cells_per_period)")
        self.grid = grid
        self.comm: MPI.Comm = mesh.comm
        self.degree = int(m)
        element = basix.ufl.element("Lagrange", mesh.basix_cell(), self.degree,
                                    lagrange_variant=basix.LagrangeVariant.equispaced)
        self.W = dolfinx.fem.functionspace(mesh, element)
        self._w = dolfinx.fem.Function(self.W)
        n_owned = self.W.dofmap.index_map.size_local
        x = self.W.tabulate_dof_coordinates()[:n_owned, : grid.dim]
        idx = np.rint((x - np.asarray(grid.lower)) / grid.spacing).astype(np.int64)
        points = np.asarray(grid.points)
        if np.any(idx < 0) or np.any(idx > points) or not np.allclose(
                np.asarray(grid.lower) + idx * grid.spacing, x,
                atol=1e-8 * float(np.max(grid.lengths))):
            raise ConfigError("the mesh elements are not aligned with the error grid")
        # points on the upper faces are periodic images of lower-face points: skip them
        self._keep = np.all(idx < points, axis=1)
        self.index = np.ravel_multi_index(tuple(idx[self._keep].T), grid.points)
        self._axes_index = idx[self._keep]
        total = self.comm.allreduce(len(self.index), op=MPI.SUM)
        if total != int(np.prod(points)):
            raise ConfigError(f"internal error: the grid has {int(np.prod(points))} points, "
                              f"the sampling space covers {total}")

    def sample(self, u: dolfinx.fem.Function) -> np.ndarray:
        """Values of ``u`` at this rank's grid points (ordered as :attr:`index`)."""
        self._w.interpolate(u)
        n_owned = self.W.dofmap.index_map.size_local
        return self._w.x.array[:n_owned][self._keep].copy()

    def local(self, values: np.ndarray) -> np.ndarray:
        """This rank's entries of an array of grid shape (e.g. an effective solution)."""
        return np.asarray(values).reshape(-1)[self.index]

    def norm(self, local_values: np.ndarray) -> float:
        """Grid l2 norm (see the module notes) of distributed values (collective)."""
        return float(np.sqrt(self.comm.allreduce(float(np.dot(local_values, local_values)),
                                                 op=MPI.SUM)))

    def relative_errors(self, reference: np.ndarray,
                        approximations: Sequence[np.ndarray]) -> list[float]:
        """``||reference - a|| / ||reference||`` on the grid for each ``a`` of grid shape
        (``reference``: this rank's values, from :meth:`sample`); collective."""
        local = [float(np.dot(reference, reference))]
        for a in approximations:
            d = reference - self.local(a)
            local.append(float(np.dot(d, d)))
        sums = self.comm.allreduce(np.asarray(local), op=MPI.SUM)
        if sums[0] == 0.0:
            raise ConfigError("the fine-scale solution is zero on the grid: relative errors "
                              "are undefined")
        return [float(np.sqrt(s / sums[0])) for s in sums[1:]]

    def cut(self, local_values: np.ndarray, axis: int,
            through: Sequence[float]) -> tuple[np.ndarray, np.ndarray] | None:
        """The grid line along ``axis`` through the point ``through``: coordinates and
        values, gathered on rank 0 (None elsewhere); collective."""
        g = self.grid
        fixed = np.rint((np.asarray(through, float) - np.asarray(g.lower)) / g.spacing)
        fixed = np.mod(fixed.astype(np.int64), np.asarray(g.points))
        others = [i for i in range(g.dim) if i != axis]
        on = np.all(self._axes_index[:, others] == fixed[others], axis=1)
        parts = self.comm.gather((self._axes_index[on, axis], local_values[on]), root=0)
        if self.comm.rank != 0:
            return None
        assert parts is not None
        pos = np.concatenate([p[0] for p in parts])
        val = np.concatenate([p[1] for p in parts])
        order = np.argsort(pos)
        return g.lower[axis] + pos[order] * g.spacing[axis], val[order]

    def line_index(self, axis: int, through: Sequence[float]) -> tuple:
        """Index tuple of the grid line of :meth:`cut` into an array of grid shape."""
        g = self.grid
        fixed = np.rint((np.asarray(through, float) - np.asarray(g.lower)) / g.spacing)
        fixed = np.mod(fixed.astype(np.int64), np.asarray(g.points))
        return tuple(slice(None) if i == axis else int(fixed[i]) for i in range(g.dim))
