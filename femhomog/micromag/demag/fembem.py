"""Fredkin-Koehler FEM-BEM stray field (Fredkin & Koehler 1990, IEEE Trans. Magn. 26, 415).

The stray-field potential of the Boltzmann-LLG paper (1.8)-(1.9),
``Delta u = div(m 1_Omega)`` in ``R^3``, ``u -> 0`` at infinity, ``H_s = -grad u``,
is split as ``u = u1 + u2``:

(i)   ``u1`` vanishes outside ``Omega`` and solves the Neumann problem
      ``int_Omega grad u1 . grad v = int_Omega m . grad v`` for all ``v``
      (``du1/dn = m . n`` on ``dOmega``), defined up to one constant per
      connected body (several magnets, separated layers: the null space of
      the CG solve has one indicator vector per body).  The constants do not
      matter: the double layer of the indicator of a body is ``-1`` on it and
      ``0`` on the others, so (ii) subtracts them again.
(ii)  ``u2`` is harmonic in ``Omega`` and outside, continuous in its normal
      derivative, and jumps by ``u2_out - u2_in = u1`` across ``dOmega``: the
      double-layer potential of ``u1``.  Its interior trace is

          u2(x) = 1/(4 pi) int_dOmega u1(y) d/dn_y (1/|x - y|) dS_y
                  + (Omega(x)/(4 pi) - 1) u1(x),

      with ``Omega(x)`` the interior solid angle at ``x`` (``2 pi`` on smooth
      parts).  With P1 ``u1`` this is ``u2|_dOmega = B u1|_dOmega``:
      ``B_ij = -1/(4 pi) sum_T I_j(T, x_i) + (Omega_i/(4 pi) - 1) delta_ij``,
      where ``I_j(T, x) = int_T phi_j(y) (y - x).n / |y - x|^3 dS_y`` is
      Lindholm's analytic integral (Lindholm 1984, IEEE Trans. Magn. 20, 2025;
      derived in :func:`lindholm_weights`).  Gauss's theorem gives the row sums
      ``sum_j B_ij = -1`` (a constant ``u1`` gives ``u2 = -u1``, ``u = 0``).
(iii) ``u2`` in ``Omega``: Laplace's equation with the Dirichlet data of (ii).
(iv)  ``H_s = -grad(u1 + u2)``, projected onto the P1 vector space of ``m``
      with the *lumped* (nodal-volume) mass: ``H_i = -int grad u phi_i / int phi_i``.
      Lumping needs no solve, and with the vertex quadrature of
      :class:`~femhomog.micromag.demag.base.StrayField` the discrete energy is
      exactly the variational one, ``-1/2 (H_h, m_h)_h = 1/2 int m_h . grad u_h``;
      the volume average ``<H_h> = -1/|Omega| int grad u_h`` is exact as well
      (demagnetizing factors).  An L2 projection would cost a mass solve per
      evaluation and lose both identities.

Cost and memory.  (i) and (iii) are sparse SPD solves with constant operators:
``solver = "direct"`` factorizes both once (MUMPS Cholesky) and does two
triangular solves per evaluation; ``"iterative"`` runs CG + GAMG (set up once;
the previous solutions are the initial guesses).  At SP4 4 nm x 2 layers
(14,010 nodes) the factorized solves cost about a third of the CG ones per
time step (``benchmarks/sp4_profile.py``).  ``B`` is dense, ``Nb x Nb``
for ``Nb`` boundary nodes (less the zero diagonal blocks of flat faces, which are not
stored: :mod:`.coplanar`): ``8 Nb^2`` bytes in total (``4 Nb^2`` with
``precision = "float32"``, which also halves the memory-bound product), stored by rows, each rank
holding the rows of the boundary nodes it owns (``8 Nb^2 / P`` bytes per rank
for ``P`` ranks); one evaluation gathers the ``Nb`` boundary values of ``u1`` on
every rank (``Allgatherv``) and does a local dense mat-vec.  On a 24 GB machine
``Nb`` up to about 40 000 (12.8 GB) is practical.  muMAG standard problem 4
(500 x 125 x 3 nm^3): on a structured grid at 4 nm (126 x 33 x 2 nodes) every
node is a boundary node, ``Nb = 8 316`` (``B``: 0.55 GB); at 2.5 nm (201 x 51 x 3
nodes) ``Nb = 2 x 10 251 + 500 = 21 002`` (the middle layer contributes its
rim; 3.5 GB).  The gmsh meshes of :func:`femhomog.meshes.magnets.cuboid`
(unstructured in-plane triangles, ``z_layers`` through the thickness) have more
nodes: ``mesh_size=4, z_layers=1``: ``Nb = 9 338`` (0.70 GB);
``mesh_size=2.5, z_layers=2``: ``Nb = 24 212`` (4.7 GB, 2.35 GB per rank on 2
ranks) -- both fit a 24 GB machine comfortably.  Building ``B`` costs
``O(Nb x N_triangles)`` vectorized kernel evaluations (about 200 ns of CPU per
(node, triangle) pair), chunked over the target nodes so that temporaries stay
below ``chunk_bytes``.  Measured (``benchmarks/stray_field.py``, 2 ranks, busy
2-core machine): SP4 at 4 nm, ``B`` in 49 s; at 2.5 nm (``Nb = 24 212``) in
319 s wall (~125 s CPU per rank), 2.75 GB peak per rank, 0.77 s per field
evaluation.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph

from femhomog import (
    ConfigError,
    MeshError,
    SolverError,
    _fenicsx,  # noqa: F401  (must precede dolfinx / petsc4py)
)

# isort: split
import dolfinx
import dolfinx.fem.petsc
import ufl
from mpi4py import MPI
from petsc4py import PETSc

from femhomog.io.logging import get_logger
from femhomog.micromag.demag.base import DemagSolver
from femhomog.micromag.demag.coplanar import CoplanarBlocks, node_planes
from femhomog.micromag.demag.lindholm import (
    lindholm_weights,
    tetra_solid_angles,
    triangle_geometry,
)

__all__ = ["BEM_PRECISIONS", "LAPLACE_SOLVERS", "FredkinKoehler"]

log = get_logger(__name__)

FOUR_PI = 4.0 * math.pi

#: Solvers of the two Laplace problems: "iterative" = CG + GAMG (warm-started),
#: "direct" = MUMPS Cholesky, factorized once at setup (the operators are constant).
LAPLACE_SOLVERS = ("iterative", "direct")
#: Storage of the dense boundary matrix B.
BEM_PRECISIONS = ("float64", "float32")


# ============================================================ the solver
class FredkinKoehler(DemagSolver):
    """FEM-BEM stray field on a tetrahedral magnet mesh (P1), see the module docstring.

    Parameters
    ----------
    mesh
        The magnet (tetrahedra); its communicator is used throughout.
    rtol
        Relative tolerance of the two CG solves (unpreconditioned residual
        relative to the right-hand side); ``solver = "iterative"`` only.
    max_it
        Iteration limit of the CG solves.
    solver
        ``"iterative"`` (CG + GAMG per evaluation, warm-started) or ``"direct"``
        (MUMPS Cholesky factorizations of both constant operators at setup,
        then two triangular solves per evaluation; the singular Neumann
        operator gets one pinned dof per connected body, which only shifts
        ``u1`` by a constant per body that (ii) removes again).
    precision
        ``"float64"`` or ``"float32"`` storage of ``B`` (half the memory and
        memory traffic of the dense product; the weights are computed in
        float64 and rounded once, the product accumulates in float32: relative
        field errors of order 1e-6, see ``tests/test_demag_fembem.py``).
    chunk_bytes
        Memory budget of the temporaries of the ``B`` assembly (per rank).
    max_matrix_bytes
        Refuse (ConfigError on every rank) to build ``B`` if some rank's block
        of rows would exceed this many bytes.

    Notes
    -----
    PETSc options prefixes ``femhomog_demag_u1_`` (Neumann problem) and
    ``femhomog_demag_u2_`` (Dirichlet problem) allow tuning, e.g.
    ``-femhomog_demag_u1_ksp_monitor``.
    """

    method = "fembem"

    def __init__(
        self,
        mesh: dolfinx.mesh.Mesh,
        *,
        rtol: float = 1e-10,
        max_it: int = 1000,
        solver: str = "iterative",
        precision: str = "float64",
        chunk_bytes: float = 256e6,
        max_matrix_bytes: float = 16e9,
    ) -> None:
        self.comm: MPI.Comm = mesh.comm
        if mesh.topology.dim != 3 or mesh.geometry.dim != 3:
            raise MeshError("Fredkin-Koehler stray field: the magnet mesh must be 3D")
        if mesh.topology.cell_type != dolfinx.mesh.CellType.tetrahedron:
            raise MeshError(
                "Fredkin-Koehler stray field: the magnet mesh must consist of tetrahedra, "
                f"got {mesh.topology.cell_type.name}"
            )
        if mesh.geometry.cmaps[0].degree != 1:
            raise MeshError("Fredkin-Koehler stray field: the mesh geometry must be affine (P1)")
        if not (isinstance(rtol, float | int) and 0 < rtol < 1):
            raise ConfigError(f"Fredkin-Koehler: rtol must be in (0, 1), got {rtol!r}")
        if solver not in LAPLACE_SOLVERS:
            raise ConfigError(f"Fredkin-Koehler: solver must be one of "
                              f"{', '.join(LAPLACE_SOLVERS)}, got {solver!r}")
        if precision not in BEM_PRECISIONS:
            raise ConfigError(f"Fredkin-Koehler: precision must be one of "
                              f"{', '.join(BEM_PRECISIONS)}, got {precision!r}")
        self.mesh = mesh
        self.solver = solver
        self.precision = precision
        self._dtype = np.dtype(precision)
        self.rtol = float(rtol)
        self.max_it = int(max_it)
        self.chunk_bytes = float(chunk_bytes)
        self.stats: dict[str, Any] = {
            "evaluations": 0,
            "u1_iterations": [],
            "u2_iterations": [],
            "evaluation_s": [],
            # accumulated wall time of the phases of compute() (per rank)
            "phase_s": {"u1": 0.0, "bem": 0.0, "u2": 0.0, "project": 0.0},
        }
        t_all = time.perf_counter()
        self.V = dolfinx.fem.functionspace(mesh, ("Lagrange", 1))
        imap = self.V.dofmap.index_map
        self._n_owned = imap.size_local
        self.num_dofs = imap.size_global

        t0 = time.perf_counter()
        self._setup_boundary()
        self.stats["boundary_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        need = float(self._dtype.itemsize) * self._nb_owned * self.num_boundary
        worst = self.comm.allreduce(need, op=MPI.MAX)
        if worst > max_matrix_bytes:
            raise ConfigError(
                f"Fredkin-Koehler: the dense boundary matrix needs {worst / 1e9:.2f} GB on one "
                f"rank ({self.num_boundary} boundary nodes), above max_matrix_bytes = "
                f"{max_matrix_bytes / 1e9:.2f} GB; use more ranks or the shell transformation"
            )
        self.B = self._build_compressed()
        self.stats["B_build_s"] = self.comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
        self.stats["B_bytes_total"] = self.comm.allreduce(int(self.B.nbytes))

        t0 = time.perf_counter()
        self._setup_solvers()
        self.stats["solver_setup_s"] = time.perf_counter() - t0
        self._ops: dict[int, tuple[Any, ...]] = {}
        self.stats["setup_s"] = time.perf_counter() - t_all
        log.info(
            "Fredkin-Koehler: %d dofs, %d boundary nodes, B %.1f MB in %.2fs, AMG setup %.2fs",
            self.num_dofs,
            self.num_boundary,
            self.stats["B_bytes_total"] / 1e6,
            self.stats["B_build_s"],
            self.stats["solver_setup_s"],
        )

    # ------------------------------------------------------------------ setup
    def _vertex_to_dof(self) -> np.ndarray:
        mesh = self.mesh
        top = mesh.topology
        c_to_v = top.connectivity(3, 0)
        nv = top.index_map(0).size_local + top.index_map(0).num_ghosts
        v2d = np.full(nv, -1, dtype=np.int64)
        ncell = top.index_map(3).size_local + top.index_map(3).num_ghosts
        cv = c_to_v.array.reshape(ncell, 4)
        cd = self.V.dofmap.list.reshape(ncell, 4)
        v2d[cv.ravel()] = cd.ravel()
        return v2d

    def _setup_boundary(self) -> None:
        """Boundary triangles (all ranks), global boundary numbering, solid angles."""
        mesh, comm, V = self.mesh, self.comm, self.V
        top = mesh.topology
        top.create_connectivity(2, 3)
        top.create_connectivity(2, 0)
        top.create_connectivity(3, 0)
        facets = dolfinx.mesh.exterior_facet_indices(top)  # owned exterior facets
        v2d = self._vertex_to_dof()
        X = V.tabulate_dof_coordinates()

        f_to_v = top.connectivity(2, 0)
        f_to_c = top.connectivity(2, 3)
        c_to_v = top.connectivity(3, 0)
        fv_off, fv_arr = f_to_v.offsets, f_to_v.array
        fdofs = np.stack([v2d[fv_arr[fv_off[facets] + k]] for k in range(3)], axis=1)
        cells = f_to_c.array[f_to_c.offsets[facets]]
        cv = c_to_v.array.reshape(-1, 4)[cells]
        cdofs = v2d[cv]
        # the cell's vertex opposite the facet
        opp = cdofs.sum(axis=1) - fdofs.sum(axis=1)
        # outward orientation: the normal points away from the opposite vertex
        x0, x1, x2 = (X[fdofs[:, k]] for k in range(3))
        nrm = np.cross(x1 - x0, x2 - x0)
        flip = np.einsum("ij,ij->i", nrm, X[opp] - x0) > 0
        fdofs[flip] = fdofs[flip][:, [0, 2, 1]]

        # boundary dofs: owned ones numbered contiguously per rank
        bd_all = dolfinx.fem.locate_dofs_topological(V, 2, facets)
        # a boundary dof may be owned by a rank that holds none of its exterior facets:
        # mark through a reverse scatter of the local flags
        flag = dolfinx.fem.Function(V)
        flag.x.array[:] = 0.0
        flag.x.array[bd_all] = 1.0
        flag.x.scatter_reverse(dolfinx.la.InsertMode.add)
        owned_b = np.flatnonzero(flag.x.array[: self._n_owned] > 0.5).astype(np.int32)
        nb_own = owned_b.size
        offset = comm.exscan(nb_own) or 0
        self.num_boundary = comm.allreduce(nb_own)
        counts = np.asarray(comm.allgather(nb_own), dtype=np.int64)
        self._counts = counts
        self._displs = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self._nb_owned = nb_own
        self._offset = offset
        self._owned_b = owned_b
        number = dolfinx.fem.Function(V)
        number.x.array[:] = -1.0
        number.x.array[owned_b] = offset + np.arange(nb_own, dtype=np.float64)
        number.x.scatter_forward()
        bnum = np.rint(number.x.array).astype(np.int64)
        consistent = not (fdofs.size and np.any(bnum[fdofs] < 0))
        if not comm.allreduce(consistent, op=MPI.LAND):
            raise MeshError("Fredkin-Koehler: inconsistent boundary numbering (ghost layer)")
        tri_nodes = bnum[fdofs]
        tri_coords = X[fdofs].reshape(-1, 9)

        # gather all boundary triangles on every rank
        nt = np.asarray(comm.allgather(len(facets)), dtype=np.int64)
        self.num_triangles = int(nt.sum())
        all_nodes = np.empty((self.num_triangles, 3), dtype=np.int64)
        all_coords = np.empty((self.num_triangles, 9), dtype=np.float64)
        comm.Allgatherv(np.ascontiguousarray(tri_nodes), [all_nodes, nt * 3])
        comm.Allgatherv(np.ascontiguousarray(tri_coords), [all_coords, nt * 9])
        self._tri_nodes = all_nodes
        self._tri_coords = all_coords.reshape(-1, 3, 3)
        self._targets = X[owned_b].copy()

        # interior solid angles at the vertices from the tetrahedra (independent of B)
        ncell = top.index_map(3).size_local
        cd = V.dofmap.list[:ncell]
        ang = tetra_solid_angles(X[cd])
        acc = dolfinx.fem.Function(V)
        acc.x.array[:] = 0.0
        np.add.at(acc.x.array, cd.ravel(), ang.ravel())
        acc.x.scatter_reverse(dolfinx.la.InsertMode.add)
        self.solid_angles = acc.x.array[owned_b].copy()
        #: solid angle of the owned interior vertices (4 pi each): a mesh check
        interior = np.setdiff1d(np.arange(self._n_owned), owned_b)
        self._interior_angle_err = float(
            np.max(np.abs(acc.x.array[interior] - FOUR_PI), initial=0.0)
        )

    def double_layer_rows(self, rows: np.ndarray | None = None) -> np.ndarray:
        """``K_ij = -1/(4 pi) sum_T I_j(T, x_i)`` for the owned boundary rows ``i``
        (``rows``: local row numbers, default all).

        Shape ``(len(rows), Nb)``, in the storage precision (each chunk is
        computed in float64 and rounded once); ``B = K + diag(Omega_i/(4 pi) - 1)``.
        """
        nb, Nb, Nt = self._nb_owned, self.num_boundary, self.num_triangles
        rows = np.arange(nb) if rows is None else np.asarray(rows, dtype=np.int64)
        K = np.zeros((len(rows), Nb), dtype=self._dtype)
        if Nt == 0:
            return K
        try:  # every rank holds all triangles: the same outcome everywhere
            geom = triangle_geometry(self._tri_coords)
        except ValueError as err:
            raise MeshError(f"Fredkin-Koehler: {err}") from None
        # incidence S_k (Nb x Nt): column t -> node tri_nodes[t, k]
        cols = np.arange(Nt)
        S = [
            scipy.sparse.csr_matrix((np.ones(Nt), (self._tri_nodes[:, k], cols)), shape=(Nb, Nt))
            for k in range(3)
        ]
        # I (3 x chunk x Nt), omega and the products: about 8 arrays of chunk x Nt
        chunk = max(1, int(self.chunk_bytes // (8 * 8 * Nt)))
        # triangles incident to each owned target (x_i a vertex of T): zero pairs
        tn = self._tri_nodes - self._offset
        inc_t, inc_k = np.nonzero((tn >= 0) & (tn < nb))
        inc_row = tn[inc_t, inc_k]
        finite = True
        position = np.full(nb, -1, dtype=np.int64)  # local row -> position in its chunk
        for i0 in range(0, len(rows), chunk):
            i1 = min(len(rows), i0 + chunk)
            with np.errstate(divide="ignore", invalid="ignore"):
                I, _ = lindholm_weights(self._targets[rows[i0:i1]], geom)
            position[rows[i0:i1]] = np.arange(i1 - i0)
            sel = position[inc_row] >= 0
            I[:, position[inc_row[sel]], inc_t[sel]] = 0.0
            position[rows[i0:i1]] = -1
            if not np.all(np.isfinite(I)):
                finite = False
                break
            # K[i, j] = sum_k sum_t I[k, i, t] [tri_nodes[t, k] == j]
            acc = S[0] @ I[0].T
            acc += S[1] @ I[1].T
            acc += S[2] @ I[2].T
            acc *= -1.0 / FOUR_PI
            K[i0:i1] = acc.T
        if not self.comm.allreduce(finite, op=MPI.LAND):
            raise MeshError(
                "Fredkin-Koehler: non-finite double-layer weight (a boundary node on a "
                "non-incident boundary triangle: non-conforming surface mesh?)"
            )
        return K

    def _build_compressed(self) -> np.ndarray | CoplanarBlocks:
        """``B`` without the exactly-zero diagonal blocks of flat faces (:mod:`.coplanar`)
        when that saves at least 10 % on every rank, built face by face (the dense rows of
        one face at a time); otherwise dense."""
        plane = node_planes(self._tri_nodes, self._tri_coords, self.num_boundary)
        nb, Nb = self._nb_owned, self.num_boundary
        row_plane = plane[self._offset + np.arange(nb)]
        faces, counts = np.unique(plane[plane >= 0], return_counts=True)
        size = dict(zip(faces.tolist(), counts.tolist(), strict=True))
        kept = sum(Nb - size.get(int(p), 0) for p in row_plane)
        if self.comm.allreduce(kept <= 0.9 * nb * Nb, op=MPI.LAND):
            try:
                blocks = CoplanarBlocks(self._build_B, nb, Nb, self._offset, plane, self._dtype)
                ok = True
            except ValueError:  # a dropped entry is not zero: keep the dense matrix
                ok = False
            if self.comm.allreduce(ok, op=MPI.LAND):
                return blocks
        return self._build_B()

    def _build_B(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Dense owned rows of ``B`` (``rows``: local row numbers, default all)."""
        rows = np.arange(self._nb_owned) if rows is None else np.asarray(rows)
        B = self.double_layer_rows(rows)
        B[np.arange(len(rows)), self._offset + rows] += self.solid_angles[rows] / FOUR_PI - 1.0
        return B

    def _setup_solvers(self) -> None:
        V = self.V
        u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
        a = dolfinx.fem.form(ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx)
        A = dolfinx.fem.petsc.assemble_matrix(a)
        A.assemble()
        self.A = A  # stiffness without boundary conditions (Neumann problem, lifting)
        self.A_dir = A.copy()
        start = A.getOwnershipRange()[0]
        self.A_dir.zeroRowsColumns(self._owned_b_petsc() + start, diag=1.0)
        self.A_dir.setOption(PETSc.Mat.Option.SPD, True)
        # one constant per connected body (several magnets / layers): the
        # Neumann problem is singular on each
        self._null_vectors = self._component_indicators(A)
        self.nullspace = PETSc.NullSpace().create(vectors=self._null_vectors, comm=self.comm)
        A.setNullSpace(self.nullspace)
        A.setOption(PETSc.Mat.Option.SYMMETRIC, True)
        self._pins = np.empty(0, dtype=PETSc.IntType)  # owned pinned rows (direct)
        self.A_neu: PETSc.Mat | None = None
        if self.solver == "direct":
            # a factorization needs a regular matrix: pin u1 = 0 at one dof of
            # every body (the global first one); the rest of the system is
            # unchanged and consistent (b is orthogonal to the indicators)
            first = np.full(self.num_components, np.iinfo(np.int64).max, dtype=np.int64)
            gidx = start + np.arange(self._n_owned, dtype=np.int64)
            np.minimum.at(first, self._comp_of_dof, gidx)
            self.comm.Allreduce(MPI.IN_PLACE, first, op=MPI.MIN)
            self._pins = (first[(first >= start) & (first < start + self._n_owned)]
                          - start).astype(PETSc.IntType)
            self.A_neu = A.copy()
            self.A_neu.zeroRowsColumns(self._pins + start, diag=1.0)
            self.A_neu.setOption(PETSc.Mat.Option.SPD, True)
            self.ksp1 = self._ksp(self.A_neu, "femhomog_demag_u1_")
        else:
            self.ksp1 = self._ksp(A, "femhomog_demag_u1_")
        # every node on the boundary (e.g. a film one element thick): u2 = B u1
        # everywhere and there is nothing to solve.  (GAMG on the resulting
        # identity matrix hangs on 2 ranks in PETSc 3.25 -- measured -- so it
        # is not set up at all.)
        self._interior = self.num_dofs - self.num_boundary
        self.ksp2 = self._ksp(self.A_dir, "femhomog_demag_u2_") if self._interior > 0 else None
        one = dolfinx.fem.form(v * ufl.dx)
        self.lumped = dolfinx.fem.petsc.assemble_vector(one)
        self.lumped.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        self._lumped_owned = self.lumped.array[: self._n_owned].copy()
        self.u1 = A.createVecRight()
        self.u2 = A.createVecRight()
        self.b = A.createVecRight()
        self.g = A.createVecRight()
        self.u1.set(0.0)
        self.u2.set(0.0)

    def _component_indicators(self, A: PETSc.Mat) -> list[PETSc.Vec]:
        """Normalized indicator vectors of the connected components of the mesh.

        Local components of the vertex graph (owned and ghost cells), merged
        across ranks through the shared dofs by a union-find that every rank
        runs on the same gathered pairs.
        """
        comm, V = self.comm, self.V
        n_loc = self._n_owned + V.dofmap.index_map.num_ghosts
        cells = V.dofmap.list
        rows = np.repeat(cells, 4, axis=1).ravel()
        cols = np.tile(cells, (1, 4)).ravel()
        graph = scipy.sparse.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n_loc, n_loc))
        n_comp, label = scipy.sparse.csgraph.connected_components(graph, directed=False)
        offset = comm.exscan(n_comp) or 0
        total = comm.allreduce(n_comp)
        glabel = label + offset  # a global id of (rank, local component)
        f = dolfinx.fem.Function(V)
        f.x.array[:] = glabel
        f.x.scatter_forward()  # ghosts get the owner's component id
        owner = np.rint(f.x.array[self._n_owned :]).astype(np.int64)
        pairs = np.unique(np.stack([glabel[self._n_owned :], owner], axis=1), axis=0)
        pairs = np.vstack(comm.allgather(pairs)) if comm.size > 1 else pairs
        parent = np.arange(total)

        def find(a: int) -> int:
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        for a, b in pairs:
            ra, rb = find(int(a)), find(int(b))
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
        roots = np.array([find(a) for a in range(total)])
        uniq, comp = np.unique(roots, return_inverse=True)
        comp_of_dof = comp[glabel[: self._n_owned]]
        self._comp_of_dof = comp_of_dof
        self.num_components = int(uniq.size)
        vectors = []
        for k in range(self.num_components):
            v = A.createVecRight()
            v.array[:] = (comp_of_dof == k).astype(np.float64)
            v.normalize()
            vectors.append(v)
        return vectors

    def _owned_b_petsc(self) -> np.ndarray:
        return self._owned_b.astype(PETSc.IntType)

    def _ksp(self, A: PETSc.Mat, prefix: str) -> PETSc.KSP:
        ksp = PETSc.KSP().create(self.comm)
        ksp.setOptionsPrefix(prefix)
        ksp.setOperators(A)
        if self.solver == "direct":
            # SPD and constant: one Cholesky factorization, reused by every solve
            ksp.setType("preonly")
            pc = ksp.getPC()
            pc.setType("cholesky")
            pc.setFactorSolverType("mumps")
        else:
            ksp.setType("cg")
            ksp.setTolerances(rtol=self.rtol, atol=0.0, max_it=self.max_it)
            ksp.setNormType(PETSc.KSP.NormType.UNPRECONDITIONED)
            ksp.setInitialGuessNonzero(True)
            ksp.getPC().setType("gamg")
        ksp.setFromOptions()
        try:
            ksp.setUp()
        except PETSc.Error as err:
            raise SolverError(f"Fredkin-Koehler: solver setup failed, PETSc error {err.ierr}")
        return ksp

    def _operators(self, W: dolfinx.fem.FunctionSpace) -> tuple[Any, ...]:
        """``D_{v, m} = int m . grad v`` for the vector space ``W`` of ``m`` (cached)."""
        key = id(W)
        if key not in self._ops or self._ops[key][0] is not W:
            if W.mesh is not self.mesh or W.value_shape != (3,) or W.dofmap.index_map_bs != 3:
                raise ConfigError(
                    "Fredkin-Koehler: m must be a P1 vector function (3 components) on the "
                    "solver's mesh"
                )
            mt = ufl.TrialFunction(W)
            v = ufl.TestFunction(self.V)
            D = dolfinx.fem.petsc.assemble_matrix(
                dolfinx.fem.form(ufl.inner(mt, ufl.grad(v)) * ufl.dx)
            )
            D.assemble()
            h = D.createVecRight()
            self._ops[key] = (W, D, h)
        return self._ops[key]

    # ------------------------------------------------------------------ evaluation
    def _solve(self, ksp: PETSc.KSP, b: PETSc.Vec, x: PETSc.Vec, what: str) -> int:
        ksp.solve(b, x)
        reason = ksp.getConvergedReason()
        if reason < 0:
            raise SolverError(
                f"Fredkin-Koehler: {what} solve diverged (KSP reason {reason}) after "
                f"{ksp.getIterationNumber()} iterations"
            )
        return int(ksp.getIterationNumber())

    def potential(self, m: dolfinx.fem.Function) -> tuple[PETSc.Vec, PETSc.Vec]:
        """Solve (i)-(iii): the PETSc vectors of ``u1`` and ``u2`` (owned by the solver)."""
        _, D, _ = self._operators(m.function_space)
        phase = self.stats["phase_s"]
        t0 = time.perf_counter()
        # (i) Neumann problem
        D.mult(m.x.petsc_vec, self.b)
        self.nullspace.remove(self.b)
        if self._pins.size:
            self.b.array[self._pins] = 0.0
        it1 = self._solve(self.ksp1, self.b, self.u1, "u1 (Neumann)")
        t1 = time.perf_counter()
        phase["u1"] += t1 - t0
        # (ii) boundary values of u2 = B u1|_bd
        u1_own = np.ascontiguousarray(self.u1.array_r[self._owned_b])
        u1_bd = np.empty(self.num_boundary)
        self.comm.Allgatherv(u1_own, [u1_bd, self._counts, self._displs, MPI.DOUBLE])
        if self._dtype == np.float64:
            u2_bd = self.B @ u1_bd
        else:
            u2_bd = (self.B @ u1_bd.astype(self._dtype)).astype(np.float64)
        t2 = time.perf_counter()
        phase["bem"] += t2 - t1
        # (iii) Dirichlet problem by lifting: A_dir u2 = b, b = -A g inside, g on the boundary
        ob = self._owned_b
        if self.ksp2 is None:
            self.u2.array[ob] = u2_bd
            self.stats["u1_iterations"].append(it1)
            self.stats["u2_iterations"].append(0)
            return self.u1, self.u2
        self.g.set(0.0)
        self.g.array[ob] = u2_bd
        self.A.mult(self.g, self.b)
        self.b.scale(-1.0)
        self.b.array[ob] = u2_bd
        # the boundary values are exact; start from them
        self.u2.array[ob] = u2_bd
        it2 = self._solve(self.ksp2, self.b, self.u2, "u2 (Dirichlet)")
        phase["u2"] += time.perf_counter() - t2
        self.stats["u1_iterations"].append(it1)
        self.stats["u2_iterations"].append(it2)
        return self.u1, self.u2

    def compute(self, m: dolfinx.fem.Function, out: dolfinx.fem.Function) -> None:
        """Nodal ``H_s = -grad(u1 + u2)`` by the lumped projection (iv) into ``out``."""
        t0 = time.perf_counter()
        if out.function_space is not m.function_space:
            self._operators(out.function_space)  # validates out's space
        _, D, h = self._operators(m.function_space)
        u1, u2 = self.potential(m)
        t1 = time.perf_counter()
        u = u1.copy()
        u.axpy(1.0, u2)
        D.multTranspose(u, h)  # h_i = int grad u . phi_i
        u.destroy()
        n = self._n_owned
        vals = h.array_r.reshape(-1, 3)[:n]
        out.x.array[: 3 * n] = (-vals / self._lumped_owned[:, None]).ravel()
        out.x.scatter_forward()
        self.stats["phase_s"]["project"] += time.perf_counter() - t1
        self.stats["evaluations"] += 1
        self.stats["evaluation_s"].append(time.perf_counter() - t0)

    # ------------------------------------------------------------------ meta
    def describe(self) -> dict[str, Any]:
        ev = self.stats["evaluation_s"]
        it1, it2 = self.stats["u1_iterations"], self.stats["u2_iterations"]
        return {
            "method": self.method,
            "dofs": int(self.num_dofs),
            "boundary_nodes": int(self.num_boundary),
            "boundary_triangles": int(self.num_triangles),
            "components": int(self.num_components),
            "B_bytes_total": int(self.stats["B_bytes_total"]),
            "B_build_s": float(self.stats["B_build_s"]),
            "solver_setup_s": float(self.stats["solver_setup_s"]),
            "setup_s": float(self.stats["setup_s"]),
            "evaluations": int(self.stats["evaluations"]),
            "mean_evaluation_s": float(np.mean(ev)) if ev else None,
            "mean_iterations_u1": float(np.mean(it1)) if it1 else None,
            "mean_iterations_u2": float(np.mean(it2)) if it2 else None,
            "rtol": self.rtol,
            "solver": self.solver,
            "precision": self.precision,
            "mean_phase_s": {k: v / max(1, self.stats["evaluations"])
                             for k, v in self.stats["phase_s"].items()},
        }

    def destroy(self) -> None:
        for obj in (self.ksp1, self.ksp2, self.A, self.A_dir, self.A_neu, self.u1, self.u2,
                    self.b, self.g):
            if obj is not None:
                obj.destroy()
        for v in self._null_vectors:
            v.destroy()
        for _, D, h in self._ops.values():
            D.destroy()
            h.destroy()
        self._ops.clear()
        self.lumped.destroy()
