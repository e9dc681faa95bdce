"""The P1 spin precession with the vertex rule: a block-diagonal matrix from nodal values.

The precession term of (4.6), ``(2/tau_ex) (chi_M m x s, w)``, integrated with the vertex
quadrature (as the LLG field terms) couples only the three components at each node:
node ``i``'s 3 x 3 block is ``[q_i]_x`` (``[q]_x s = q x s``) with

    q_i = (2/tau_ex) (w_i m_i + p_i),
    w_i = sum_{magnet cells K at i} |K|/(d+1),
    p_i = sum_{pinned cells K at i} |K|/(d+1) m_K,

the magnet cells' share of the node's lumped mass and the pinned layers' fixed ``m``.
It is sharp: a node outside the magnet has ``w_i = 0``, an interface node only its magnet
cells' share.  A new ``m`` then costs an O(n) update of 9 values per node of the
operator (:meth:`VertexPrecession.write`) instead of an assembly; Dirichlet nodes get no
precession (their rows are the identity).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from femhomog import _fenicsx  # noqa: F401  (must precede dolfinx / petsc4py)

# isort: split
import dolfinx
import dolfinx.la
import ufl
from petsc4py import PETSc

__all__ = ["VERTEX_RULE", "VertexPrecession"]

#: Quadrature metadata of the vertex rule.
VERTEX_RULE = {"quadrature_rule": "vertex", "quadrature_degree": 1}


class VertexPrecession:
    """Vertex-rule weights and the block-diagonal pattern of the precession on ``V``.

    Parameters
    ----------
    V
        The spin space (P1, 3 components).
    chi
        DG0 indicator of the magnet cells.
    m_pinned
        DG0 vector function: the pinned layers' unit ``m`` (0 elsewhere), or None.
    bcs
        The Dirichlet conditions of ``s`` (their nodes get no precession).
    inv_ex
        ``2/tau_ex``.
    """

    def __init__(self, V: dolfinx.fem.FunctionSpace, chi: dolfinx.fem.Function,
                 m_pinned: dolfinx.fem.Function | None,
                 bcs: Sequence[dolfinx.fem.DirichletBC], inv_ex: float) -> None:
        mesh = V.mesh
        dxv = ufl.Measure("dx", domain=mesh, metadata=VERTEX_RULE)
        Q = dolfinx.fem.functionspace(mesh, ("Lagrange", 1))
        n = V.dofmap.index_map.size_local
        w = dolfinx.fem.assemble_vector(dolfinx.fem.form(chi * ufl.TestFunction(Q) * dxv))
        w.scatter_reverse(dolfinx.la.InsertMode.add)
        self.w = w.array[:n].copy()
        self.p = np.zeros((n, 3))
        if m_pinned is not None:
            p = dolfinx.fem.assemble_vector(dolfinx.fem.form(
                ufl.inner(m_pinned, ufl.TestFunction(V)) * dxv))
            p.scatter_reverse(dolfinx.la.InsertMode.add)
            self.p = p.array[: 3 * n].reshape(n, 3).copy()
        self.start = V.dofmap.index_map.local_range[0]
        rows = 3 * (self.start + np.arange(n))
        self._ptr = np.arange(0, 9 * n + 1, 3, dtype=PETSc.IntType)
        cols = np.repeat(rows, 3)[:, None] + np.arange(3)  # (3n, 3): the node's columns
        self._idx = cols.astype(PETSc.IntType).reshape(-1)
        constrained = np.zeros(3 * n, dtype=bool)
        for bc in bcs:
            dofs = bc.dof_indices()[0]
            constrained[dofs[dofs < 3 * n]] = True
        self.free = ~constrained.reshape(n, 3).any(axis=1)
        self.inv_ex = float(inv_ex)

    def nodal(self, m_values: np.ndarray) -> np.ndarray:
        """``q`` (owned nodes, (n, 3)) for the nodal values ``m_values`` of ``m`` on ``V``
        (``(P s)_i = q_i x s_i``; 0 at Dirichlet nodes)."""
        n = self.w.size
        q = self.w[:, None] * m_values[: 3 * n].reshape(n, 3) + self.p
        q *= self.inv_ex * self.free[:, None]
        return q

    @staticmethod
    def blocks(q: np.ndarray) -> np.ndarray:
        """The 3 x 3 blocks ``[q_i]_x`` ((n, 3, 3))."""
        zero = np.zeros(len(q))
        return np.stack([np.stack([zero, -q[:, 2], q[:, 1]], axis=1),
                         np.stack([q[:, 2], zero, -q[:, 0]], axis=1),
                         np.stack([-q[:, 1], q[:, 0], zero], axis=1)], axis=1)

    def diagonal_blocks(self, A: PETSc.Mat) -> np.ndarray:
        """The node-diagonal 3 x 3 blocks of ``A`` (owned rows, (n, 3, 3)); a P1 vector
        operator's sparsity holds them all."""
        ai, aj, av = A.getValuesCSR()
        row_node = self.start + np.repeat(np.arange(len(ai) - 1), np.diff(ai)) // 3
        return av[aj // 3 == row_node].reshape(-1, 3, 3).copy()

    def write(self, A: PETSc.Mat, blocks: np.ndarray) -> None:
        """Replace the node-diagonal blocks of ``A`` by ``blocks`` and assemble it."""
        A.setValuesCSR(self._ptr, self._idx, np.ascontiguousarray(blocks).reshape(-1))
        A.assemble()
