"""The P1 spin operator applied component by component: ``K (x) I_3 + c P``.

Without the spin-anisotropic diffusion, every part of the spin operator but the
precession acts on the three components of ``s`` alike: mass, diffusion (a number or a
matrix ``D``), drift and spin flip give ``K (x) I_3`` with ``K`` the operator of one
scalar component on the same P1 nodes, and the vertex-rule precession is block diagonal,
``(P s)_i = q_i x s_i`` (:mod:`femhomog.spin.precession`).  Applying ``K`` to the three
components at once (one pass over a matrix with 1/9 of the entries of the assembled
vector operator) and ILU / block Jacobi of ``K`` to each component (with ILU(0) the
same preconditioner as ILU(0) of the m-independent vector operator, whose 3 x 3 blocks
are diagonal; ILU(1) here, see :class:`ComponentwisePC`) moves 3-6x less matrix data
per GMRES iteration (measured on the spin-valve mesh with 10,794 nodes: 2.29 -> 0.35 ms
per product, 1.41 -> 0.69 ms per ILU(0) application).

:class:`ComponentwiseOperator` and :class:`ComponentwisePC` are the contexts of a PETSc
Python matrix and preconditioner on the interleaved vector layout (node-major, 3
components per node) of the transport's P1 space.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from femhomog import _fenicsx  # noqa: F401  (must precede petsc4py)

# isort: split
from mpi4py import MPI
from petsc4py import PETSc

__all__ = ["ComponentwiseOperator", "ComponentwisePC"]


class ComponentwiseOperator:
    """``y = (K (x) I_3) x + c q x x`` node by node (a PETSc Python matrix's context).

    Parameters
    ----------
    comm
        Communicator.
    n_local
        Owned nodes.
    nodal
        Returns ``q`` (owned nodes, (n, 3)) for the current ``m``.
    """

    def __init__(self, comm: MPI.Comm, n_local: int,
                 nodal: Callable[[], np.ndarray]) -> None:
        self.nodal, self.c = nodal, 1.0
        self.K: PETSc.Mat | None = None
        self.n = n_local
        self._X = PETSc.Mat().createDense(((n_local, None), (None, 3)), comm=comm)
        self._X.setUp()
        self._X.assemble()
        self._Y: PETSc.Mat | None = None  # K X, created by the first product

    def mult(self, mat: PETSc.Mat, x: PETSc.Vec, y: PETSc.Vec) -> None:
        assert self.K is not None
        xs = x.array_r.reshape(self.n, 3)
        self._X.getDenseArray()[:] = xs
        if self._Y is None:
            self._Y = self.K.matMult(self._X)
        else:
            self.K.matMult(self._X, self._Y)
        y.array[:] = (self._Y.getDenseArray() + self.c * np.cross(self.nodal(), xs)).reshape(-1)

    def release(self) -> None:
        """Free the work matrices (not ``destroy``: PETSc calls that on its own)."""
        self._X.destroy()
        if self._Y is not None:
            self._Y.destroy()


class ComponentwisePC:
    """ILU(1) (1 rank) or block Jacobi + ILU(1) of the scalar ``K`` on each component (a
    PETSc Python preconditioner's context); :meth:`set_base` when ``K`` changed.

    ILU(1) of the scalar ``K`` (its fill is on the scalar pattern, 1/9 of the vector
    one's): spin-valve demo mesh 9.3 -> 6.1 GMRES iterations per dynamic step and
    21.5 -> 15.1 quasi-static, the 4x finer mesh 16.7 -> 10.7 and 40.5 -> 21.6; per
    step about as fast dynamic, 10-15 % faster quasi-static; ILU(2) slower."""

    #: ILU fill level.
    LEVELS = 1

    def __init__(self, comm: MPI.Comm, n_local: int) -> None:
        self.pc = PETSc.PC().create(comm)
        self.parallel = comm.size > 1
        self.pc.setType("bjacobi" if self.parallel else "ilu")
        if not self.parallel:
            self.pc.setFactorLevels(self.LEVELS)
        self.n = n_local
        self._x: PETSc.Vec | None = None
        self._y: PETSc.Vec | None = None

    def set_base(self, K: PETSc.Mat) -> None:
        self.pc.setOperators(K)
        self.pc.setUp()
        if self.parallel:  # the blocks' ILU, before their set-up at the first apply
            for sub in self.pc.getBJacobiSubKSP():
                sub.getPC().setType("ilu")
                sub.getPC().setFactorLevels(self.LEVELS)
        if self._x is None:
            self._x, self._y = K.createVecs()

    def apply(self, pc: PETSc.PC, x: PETSc.Vec, y: PETSc.Vec) -> None:
        assert self._x is not None and self._y is not None
        xs = x.array_r.reshape(self.n, 3)
        out = np.empty((self.n, 3))
        for k in range(3):
            self._x.array[:] = xs[:, k]
            self.pc.apply(self._x, self._y)
            out[:, k] = self._y.array_r
        y.array[:] = out.reshape(-1)

    def release(self) -> None:
        """Free the scalar preconditioner (not ``destroy``: PETSc calls that on its own)."""
        self.pc.destroy()
        for v in (self._x, self._y):
            if v is not None:
                v.destroy()
