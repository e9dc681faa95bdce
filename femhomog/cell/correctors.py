"""First-order cell correctors chi^1 and the homogenized tensor a^0 = A^H.

Wave paper (``wave-effective-equations-arbitrary-timescales``):

* (23a): chi^1_i in W_per(Y), zero mean,
  (a grad chi^1_i, grad w)_Y = -(a e_i, grad w)_Y  for all w in W_per(Y);
* (26):  a^0_ij = <e_i^T a (grad chi^1_j + e_j)>_Y.

LL paper (``landau-lifshitz-homogenization``): the same cell problem (4.13) and
A^H of Sect. 4.2 (A^H = a^0).

a^0 is evaluated in the symmetric energy form
``<(e_i + grad chi_i)^T a (e_j + grad chi_j)>``, which equals (26) for the Galerkin
correctors (test (23a) with chi_i), is symmetric by construction, converges as
O(h^{2p}) and is insensitive to the linear-solver tolerance to first order.
"""

from __future__ import annotations

import numpy as np

from femhomog import _fenicsx  # noqa: F401

# isort: split
import dolfinx
import ufl

from femhomog.cell.problem import PeriodicCell


def first_order_correctors(cell: PeriodicCell) -> list[dolfinx.fem.Function]:
    """Solve (23a) for chi^1_1 ... chi^1_d with one factorization.

    One linear form with a constant direction vector e is compiled once and
    re-assembled for each i (d right-hand sides, one operator).
    """
    e = dolfinx.fem.Constant(cell.mesh, np.zeros(cell.dim))
    w = ufl.TestFunction(cell.V)
    L = dolfinx.fem.form(-ufl.inner(cell.flux(e), ufl.grad(w)) * cell.dx)
    chis = []
    for i in range(cell.dim):
        e.value[:] = cell.unit_vector(i)
        chi = dolfinx.fem.Function(cell.V, name=f"chi1_{i}")
        cell.solver.solve(L, chi)
        chis.append(chi)
    return chis


def homogenized_tensor(cell: PeriodicCell, chis: list[dolfinx.fem.Function]) -> np.ndarray:
    """a^0 = A^H from the first-order correctors, wave paper (26) / LL paper Sect. 4.2.

    Returns a symmetric d x d array (identical on every rank).
    """
    d = cell.dim
    ei = dolfinx.fem.Constant(cell.mesh, np.zeros(d))
    ej = dolfinx.fem.Constant(cell.mesh, np.zeros(d))
    chi_i = dolfinx.fem.Function(cell.V)
    chi_j = dolfinx.fem.Function(cell.V)
    form = dolfinx.fem.form(
        ufl.inner(cell.flux(ej + ufl.grad(chi_j)), ei + ufl.grad(chi_i)) * cell.dx
    )
    a0 = np.zeros((d, d))
    for i in range(d):
        for j in range(i, d):
            ei.value[:] = cell.unit_vector(i)
            ej.value[:] = cell.unit_vector(j)
            chi_i.x.array[:] = chis[i].x.array
            chi_j.x.array[:] = chis[j].x.array
            local = dolfinx.fem.assemble_scalar(form)
            a0[i, j] = a0[j, i] = cell.mesh.comm.allreduce(local) / cell.volume
    return a0
