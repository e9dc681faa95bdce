"""Homogeneous Dirichlet conditions as a linear constraint ``u = P u_r``.

The reduced unknowns are the dofs off the boundary; ``P`` injects them and sets the
boundary dofs to zero.  With this map an explicit scheme keeps a diagonal reduced mass
``P^T m`` and needs no lifting or row zeroing, and the same machinery as periodicity
(:class:`~femhomog.periodic.constraint.LinearConstraint`) applies.
"""

from __future__ import annotations

import numpy as np

from femhomog import _fenicsx  # noqa: F401  (must precede dolfinx/petsc4py)

# isort: split
import dolfinx
import dolfinx.mesh
from petsc4py import PETSc

from femhomog.periodic.constraint import LinearConstraint


def dirichlet_constraint(V: dolfinx.fem.FunctionSpace) -> LinearConstraint:
    """``u = 0`` on the whole boundary of the mesh of ``V`` (scalar Lagrange space)."""
    mesh = V.mesh
    tdim = mesh.topology.dim
    mesh.topology.create_connectivity(tdim - 1, tdim)
    facets = dolfinx.mesh.exterior_facet_indices(mesh.topology)
    boundary = dolfinx.fem.locate_dofs_topological(V, tdim - 1, facets)
    imap = V.dofmap.index_map
    n_owned = imap.size_local
    free = np.ones(n_owned, dtype=bool)
    free[boundary[boundary < n_owned]] = False
    n_free = int(free.sum())
    comm = mesh.comm
    offset = comm.exscan(n_free) or 0
    n_free_global = comm.allreduce(n_free)
    # one entry per free row, none on boundary rows
    nnz = free.astype(PETSc.IntType)
    indptr = np.concatenate([[0], np.cumsum(nnz)]).astype(PETSc.IntType)
    cols = (offset + np.arange(n_free)).astype(PETSc.IntType)
    P = PETSc.Mat().createAIJ(
        size=((n_owned, imap.size_global), (n_free, n_free_global)),
        csr=(indptr, cols, np.ones(n_free, dtype=PETSc.ScalarType)),
        comm=comm,
    )
    P.assemble()
    return LinearConstraint(V, P)
