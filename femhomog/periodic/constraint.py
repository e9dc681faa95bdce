"""Linear constraints u = P u_r on dolfinx function spaces, and periodic boundary conditions.

dolfinx_mpc is not installable from PyPI against the FEniCSx wheel, so periodicity
(and later the tangent-plane constraint m . v = 0 of LLG) is imposed the classical
way: a *prolongation* matrix P maps the reduced (constrained) degrees of freedom to
all dofs of the space, and the Galerkin system on the constrained space is

    (P^T A P) u_r = P^T b,        u = P u_r.

P is a distributed PETSc AIJ matrix whose rows follow the dolfinx dof layout (owned
dofs of each rank) and whose columns are the reduced dofs, numbered contiguously per
rank.  ``A.ptap(P)`` (PETSc ``MatPtAP``) forms the reduced operator in parallel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from femhomog import (
    MeshError,
    _fenicsx,  # noqa: F401  (must precede dolfinx/petsc4py)
)

# isort: split

import dolfinx
import dolfinx.fem.petsc
from mpi4py import MPI
from petsc4py import PETSc


class LinearConstraint:
    """A constraint u = P u_r on the dofs of a dolfinx function space.

    Parameters
    ----------
    V
        The (full) function space.
    P
        Prolongation matrix, rows: owned dofs of ``V`` (in the dolfinx/PETSc
        layout, block size included), columns: reduced dofs.

    Notes
    -----
    Vectors passed to :meth:`reduce_vector` must be *assembled*, i.e. ghost
    contributions already accumulated (``b.ghostUpdate(ADD, REVERSE)``);
    :meth:`assemble_reduced_vector` does this for a form.
    """

    def __init__(self, V: dolfinx.fem.FunctionSpace, P: PETSc.Mat) -> None:
        self.V = V
        self.P = P
        self.comm: MPI.Comm = V.mesh.comm

    @property
    def num_reduced_global(self) -> int:
        """Global number of reduced (free) dofs."""
        return self.P.getSize()[1]

    @property
    def num_reduced_local(self) -> int:
        """Number of reduced dofs owned by this rank."""
        return self.P.getLocalSize()[1]

    def create_reduced_vector(self) -> PETSc.Vec:
        """A new vector in the reduced space (zero)."""
        x = self.P.createVecRight()
        x.set(0.0)
        return x

    def reduce_matrix(self, A: PETSc.Mat) -> PETSc.Mat:
        """The reduced operator P^T A P (a new matrix)."""
        return A.ptap(self.P)

    def reduce_vector(self, b: PETSc.Vec, out: PETSc.Vec | None = None) -> PETSc.Vec:
        """P^T b for an assembled (ghost-accumulated) full vector b."""
        if out is None:
            out = self.P.createVecRight()
        self.P.multTranspose(b, out)
        return out

    def assemble_reduced_vector(
        self, L: dolfinx.fem.Form, out: PETSc.Vec | None = None, work: PETSc.Vec | None = None
    ) -> PETSc.Vec:
        """Assemble a linear form and reduce it: P^T b(L)."""
        if work is None:
            b = dolfinx.fem.petsc.create_vector(self.V)
        else:
            b = work
        with b.localForm() as loc:
            loc.set(0.0)
        dolfinx.fem.petsc.assemble_vector(b, L)
        b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        out = self.reduce_vector(b, out)
        if work is None:
            b.destroy()
        return out

    def expand(self, x_r: PETSc.Vec, u: dolfinx.fem.Function) -> dolfinx.fem.Function:
        """Write u = P x_r into a dolfinx Function (ghosts updated)."""
        self.P.mult(x_r, u.x.petsc_vec)
        u.x.scatter_forward()
        return u

    def restrict(self, u: dolfinx.fem.Function, out: PETSc.Vec | None = None) -> PETSc.Vec:
        """Reduced coefficients of a function that already satisfies the constraint.

        For 0/1 prolongations with one entry per row (periodicity) the reduced dof
        is the value at its master dof, read off by P^T u scaled by the row counts.
        """
        if out is None:
            out = self.P.createVecRight()
        self.P.multTranspose(u.x.petsc_vec, out)
        counts = self.P.createVecRight()
        ones = self.P.createVecLeft()
        ones.set(1.0)
        self.P.multTranspose(ones, counts)
        out.pointwiseDivide(out, counts)
        counts.destroy()
        ones.destroy()
        return out

    def destroy(self) -> None:
        self.P.destroy()


@dataclass(frozen=True)
class PeriodicBox:
    """The periodic box [lower, upper] and which axes are periodic."""

    lower: npt.NDArray[np.float64]
    upper: npt.NDArray[np.float64]
    axes: tuple[int, ...]

    @property
    def lengths(self) -> npt.NDArray[np.float64]:
        return self.upper - self.lower

    @property
    def volume(self) -> float:
        return float(np.prod(self.lengths))


def mesh_bounding_box(mesh: dolfinx.mesh.Mesh) -> tuple[np.ndarray, np.ndarray]:
    """Global (over all ranks) bounding box of the mesh geometry."""
    gdim = mesh.geometry.dim
    x = mesh.geometry.x[:, :gdim]
    lo = np.full(gdim, np.inf) if x.size == 0 else x.min(axis=0)
    hi = np.full(gdim, -np.inf) if x.size == 0 else x.max(axis=0)
    lo_g = np.empty(gdim)
    hi_g = np.empty(gdim)
    mesh.comm.Allreduce(np.ascontiguousarray(lo, dtype=np.float64), lo_g, op=MPI.MIN)
    mesh.comm.Allreduce(np.ascontiguousarray(hi, dtype=np.float64), hi_g, op=MPI.MAX)
    return lo_g, hi_g


def _allgather_rows(comm: MPI.Comm, a: np.ndarray) -> np.ndarray:
    """Allgather 2D float arrays with a varying number of rows per rank."""
    ncol = a.shape[1]
    counts = np.array(comm.allgather(a.shape[0] * ncol), dtype=np.int64)
    out = np.empty(int(counts.sum()), dtype=a.dtype)
    displs = np.concatenate([[0], np.cumsum(counts)[:-1]])
    comm.Allgatherv(np.ascontiguousarray(a).ravel(), [out, counts, displs, MPI.DOUBLE])
    return out.reshape(-1, ncol)


class PeriodicConstraint(LinearConstraint):
    """Periodicity of a Lagrange space on a box: dofs on opposite faces identified.

    Every dof whose coordinate lies on an *upper* face (y_i = upper_i for a periodic
    axis i) is a *slave*; it is identified with the dof at the image point obtained
    by mapping each such coordinate to lower_i.  All other dofs are *masters* and
    become the reduced dofs.  Edges and corners are handled by the same map
    (the image of a corner is the lower corner), so no special cases arise.

    Works for any Lagrange degree and cell type whose dofs are point evaluations
    (all of dolfinx's Lagrange variants), scalar or blocked (vector/tensor)
    spaces: component c of node n maps to component c of the master node.

    Parameters
    ----------
    V
        Lagrange function space (possibly blocked).
    box
        The periodic box; default: the mesh's bounding box, all geometric axes
        (up to the topological dimension) periodic.
    tol
        Matching tolerance for coordinates; default ``1e-8 * max(lengths)``.

    Raises
    ------
    MeshError
        On every rank, if some dof on an upper face has no partner dof on the
        opposite face (the mesh is not periodic-compatible).
    """

    def __init__(
        self,
        V: dolfinx.fem.FunctionSpace,
        box: PeriodicBox | None = None,
        tol: float | None = None,
    ) -> None:
        mesh = V.mesh
        comm = mesh.comm
        if box is None:
            lo, hi = mesh_bounding_box(mesh)
            box = PeriodicBox(lo, hi, tuple(range(mesh.topology.dim)))
        if np.any(box.lengths[list(box.axes)] <= 0):
            raise MeshError(f"periodic box has non-positive length: {box.lengths}")
        if tol is None:
            tol = 1e-8 * float(np.max(box.lengths))
        self.box = box
        self.tol = tol

        imap = V.dofmap.index_map
        bs = V.dofmap.index_map_bs
        n_owned = imap.size_local
        gdim = mesh.geometry.dim
        x = V.tabulate_dof_coordinates()[:n_owned, :gdim]

        axes = list(box.axes)
        lower = box.lower[axes]
        upper = box.upper[axes]
        xa = x[:, axes]
        on_upper = np.abs(xa - upper) < tol
        on_lower = np.abs(xa - lower) < tol
        outside = (xa < lower - tol) | (xa > upper + tol)
        if comm.allreduce(int(outside.any()), op=MPI.MAX):
            raise MeshError("periodic constraint: dofs lie outside the periodic box")

        is_slave = on_upper.any(axis=1)
        is_master = ~is_slave
        n_master = int(is_master.sum())
        offset = comm.exscan(n_master) or 0
        n_master_global = comm.allreduce(n_master)
        master_red = np.full(n_owned, -1, dtype=np.int64)
        master_red[is_master] = offset + np.arange(n_master, dtype=np.int64)

        # Image of every slave: upper-face coordinates moved to the lower face.
        image = xa.copy()
        image[on_upper] = np.broadcast_to(lower, xa.shape)[on_upper]

        # Candidate partners: masters on a lower face.  Gathered to all ranks; the
        # boundary carries O(N^{(d-1)/d}) dofs, small next to the volume.
        cand = is_master & on_lower.any(axis=1)
        cand_rows = np.hstack([xa[cand], master_red[cand][:, None].astype(np.float64)])
        all_cand = _allgather_rows(comm, cand_rows)

        red = master_red.copy()
        slaves = np.flatnonzero(is_slave)
        n_missing = 0
        first_missing = np.full(len(axes), np.nan)
        if slaves.size:
            if all_cand.shape[0] == 0:
                n_missing = slaves.size
                first_missing = image[slaves[0]]
            else:
                tree = cKDTree(all_cand[:, :-1])
                dist, idx = tree.query(image[slaves], distance_upper_bound=tol)
                found = np.isfinite(dist)
                red[slaves[found]] = all_cand[idx[found], -1].astype(np.int64)
                n_missing = int((~found).sum())
                if n_missing:
                    first_missing = x[slaves[~found][0]][axes]
        total_missing = comm.allreduce(n_missing)
        if total_missing:
            pts = [p for p in comm.allgather(first_missing) if not np.any(np.isnan(p))]
            raise MeshError(
                f"mesh is not periodic-compatible: {total_missing} dof(s) on the upper faces "
                f"have no partner on the opposite face (e.g. at y = {np.round(pts[0], 6).tolist()});"
                " build the mesh with matching opposite faces (gmsh setPeriodic)"
            )

        # Prolongation with block size: component c of node n -> component c of red(n).
        rows_local = n_owned * bs
        cols = (red[:, None] * bs + np.arange(bs)[None, :]).ravel().astype(PETSc.IntType)
        indptr = np.arange(rows_local + 1, dtype=PETSc.IntType)
        vals = np.ones(rows_local, dtype=PETSc.ScalarType)
        P = PETSc.Mat().createAIJ(
            size=((rows_local, imap.size_global * bs), (n_master * bs, n_master_global * bs)),
            csr=(indptr, cols, vals),
            comm=comm,
        )
        P.assemble()
        super().__init__(V, P)
        self.num_slaves_global = comm.allreduce(int(is_slave.sum())) * bs


def periodic_constraint(
    V: dolfinx.fem.FunctionSpace,
    lower: Sequence[float] | None = None,
    upper: Sequence[float] | None = None,
    axes: Sequence[int] | None = None,
    tol: float | None = None,
) -> PeriodicConstraint:
    """Periodic constraint on ``V`` for the box [lower, upper] (default: mesh bounding box).

    Parameters
    ----------
    V
        Lagrange function space (scalar or blocked).
    lower, upper
        Box corners; default the global bounding box of the mesh.
    axes
        Periodic axes; default all axes up to the topological dimension.
    tol
        Coordinate matching tolerance.
    """
    mesh = V.mesh
    lo, hi = mesh_bounding_box(mesh)
    lo = lo if lower is None else np.asarray(lower, dtype=np.float64)
    hi = hi if upper is None else np.asarray(upper, dtype=np.float64)
    ax = tuple(range(mesh.topology.dim)) if axes is None else tuple(int(a) for a in axes)
    return PeriodicConstraint(V, PeriodicBox(lo, hi, ax), tol)
