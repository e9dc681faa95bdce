"""Comparing fine-scale and homogenized magnetizations (LL paper Sect. 3 and 4).

The LL paper compares the solution ``m^eps`` of (3.1) (exchange ``a(x/eps)``)
with the solution ``m_0`` of the homogenized equation (3.2) (exchange
``A^H``) and with the corrected approximation (3.3)

    m~_1^eps(x, t) = m_0(x, t) + eps m_1(x, x/eps, t, t/eps^2),
    m_1 = grad m_0 chi(y) + v(x, y, t, tau),                               (4.12)

where ``chi`` solves the cell problem (4.13) and ``v`` solves (4.15) and
decays exponentially in the fast time ``tau = t/eps^2`` (Sect. 4.2).  This
module holds the post-processing that such a comparison needs; the time
integration itself is :mod:`femhomog.micromag.midpoint`.

``transfer``                   a P1 field on another (nested) mesh, by interpolation
``difference_norms``           ``||u - v||_L2`` and ``|u - v|_H1`` of two P1 vector fields
``recovered_gradient``         nodal (lumped-L2) gradient ``d_j m`` of a P1 field, periodic-aware
``evaluate_periodic``          cell functions ``chi_j(y)`` at ``y = x/eps`` (mod the cell)
``first_order_approximation``  ``m_0 + eps grad m_0 chi(x/eps)``: (3.3) with J = 1, (4.12) without v

Meshes.  The fields compared live on different meshes (``m^eps`` must resolve
``eps``, ``m_0`` need not).  :func:`difference_norms` interpolates the coarser
field onto the finer mesh and integrates there; for P1 fields on *nested*
meshes (e.g. structured boxes with ``n_fine`` a multiple of ``n_coarse``)
that interpolation is exact, so the norms are the exact norms of ``u - v``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from femhomog import (
    ConfigError,
    _fenicsx,  # noqa: F401  (must precede dolfinx / petsc4py)
)

# isort: split
import dolfinx
import dolfinx.fem.petsc
import dolfinx.geometry
import ufl
from mpi4py import MPI
from petsc4py import PETSc

from femhomog.micromag.terms import lumped_measure
from femhomog.periodic import LinearConstraint, mesh_bounding_box

__all__ = [
    "difference_norms",
    "evaluate_periodic",
    "first_order_approximation",
    "recovered_gradient",
    "transfer",
]

#: Bounding-box padding of the point location in non-matching interpolation:
#: well above the rounding of vertex coordinates of nested structured meshes.
_PADDING = 1e-10


def _num_cells_global(mesh: dolfinx.mesh.Mesh) -> int:
    return mesh.topology.index_map(mesh.topology.dim).size_global


def _local_cells(mesh: dolfinx.mesh.Mesh) -> np.ndarray:
    """Owned and ghost cells: every local dof of a P1 space lies in one of them."""
    imap = mesh.topology.index_map(mesh.topology.dim)
    return np.arange(imap.size_local + imap.num_ghosts, dtype=np.int32)


def transfer(u: dolfinx.fem.Function, V: dolfinx.fem.FunctionSpace) -> dolfinx.fem.Function:
    """Interpolate ``u`` into ``V`` (another mesh on the same communicator).

    Parameters
    ----------
    u
        A function on any mesh covering the mesh of ``V``.
    V
        Target space.  For P1 ``u`` and a P1 ``V`` on a refinement of ``u``'s
        mesh the result equals ``u`` exactly (nested spaces).

    Returns
    -------
    dolfinx.fem.Function
        A new function on ``V`` (ghosts updated).  Collective on the mesh
        communicator.
    """
    out = dolfinx.fem.Function(V, name=u.name)
    if u.function_space.mesh is V.mesh:
        out.interpolate(u)
    else:
        cells = _local_cells(V.mesh)
        data = dolfinx.fem.create_interpolation_data(V, u.function_space, cells, padding=_PADDING)
        out.interpolate_nonmatching(u, cells, data)
    out.x.scatter_forward()
    return out


def difference_norms(
    u: dolfinx.fem.Function, v: dolfinx.fem.Function, quadrature_degree: int = 2
) -> tuple[float, float]:
    """``||u - v||_{L2(Omega)}`` and the H1 seminorm ``||grad(u - v)||_{L2(Omega)}``.

    The error measures of Theorem 3.1 (3.8): ``sqrt(int_Omega |u - v|^2 dx)``
    and ``sqrt(int_Omega |grad(u - v)|^2 dx)`` (Frobenius norm of the Jacobian,
    Sect. 2.1); the full H1 norm is ``sqrt(l2**2 + h1**2)``.

    Parameters
    ----------
    u, v
        Vector fields, on the same mesh or on two meshes of the same domain
        and communicator.  The field on the mesh with fewer cells is
        interpolated onto the other mesh (:func:`transfer`; exact for P1 on
        nested meshes) and the integrals are computed there.
    quadrature_degree
        Degree of the quadrature rule; 2 integrates P1 differences exactly.

    Returns
    -------
    tuple of float
        ``(l2, h1_seminorm)``, identical on every rank (collective).
    """
    if u.function_space.mesh is not v.function_space.mesh:
        if _num_cells_global(u.function_space.mesh) < _num_cells_global(v.function_space.mesh):
            u = transfer(u, v.function_space)
        else:
            v = transfer(v, u.function_space)
    mesh = u.function_space.mesh
    if u.ufl_shape != v.ufl_shape:
        raise ConfigError(f"difference_norms: shapes differ, {u.ufl_shape} vs {v.ufl_shape}")
    dx = ufl.Measure("dx", domain=mesh, metadata={"quadrature_degree": quadrature_degree})
    e = u - v
    comm = mesh.comm
    out = []
    for integrand in (ufl.inner(e, e), ufl.inner(ufl.grad(e), ufl.grad(e))):
        local = dolfinx.fem.assemble_scalar(dolfinx.fem.form(integrand * dx))
        out.append(float(np.sqrt(comm.allreduce(local, op=MPI.SUM))))
    return out[0], out[1]


def recovered_gradient(
    u: dolfinx.fem.Function, constraint: LinearConstraint | None = None
) -> list[dolfinx.fem.Function]:
    """Nodal gradient ``G_j ~ d u / d x_j`` of a P1 vector field (gradient recovery).

    ``grad u`` of a P1 field is piecewise constant; its lumped L2 projection
    onto the same P1 space, ``G_j = M_L^{-1} (d_j u, phi)``, averages the cell
    gradients around every node with the cell volumes as weights (on a
    uniform 1D grid: the central difference, second order at the nodes).
    It is what turns ``grad m_0`` into a continuous field, so that the
    corrector ``grad m_0 chi(x/eps)`` of (4.12) can be interpolated.

    Parameters
    ----------
    u
        A P1 function (any value shape; the LL magnetization has 3 components).
    constraint
        The periodic constraint of ``u``'s space (e.g.
        :attr:`LLGProblem.reduction`): then the nodes on opposite faces of the
        box are one node and get the average over the cells on both sides.
        None: no identification (natural boundary).

    Returns
    -------
    list of dolfinx.fem.Function
        ``[G_1, ..., G_d]`` on ``u``'s space.  Collective.
    """
    V = u.function_space
    mesh = V.mesh
    d = mesh.topology.dim
    phi = ufl.TestFunction(V)
    shape = u.ufl_shape
    ones = ufl.as_vector([1.0] * shape[0]) if shape else 1.0
    # The vertex rule makes the mass diagonal; d_j u is cellwise constant, so
    # any rule integrates the right-hand side exactly.
    dxl = lumped_measure(mesh)
    mass = dolfinx.fem.petsc.assemble_vector(dolfinx.fem.form(ufl.inner(ones, phi) * dxl))
    mass.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    if constraint is not None:
        mass_r = constraint.reduce_vector(mass)
        mass.destroy()
        mass = mass_r
    out = []
    for j in range(d):
        form = dolfinx.fem.form(ufl.inner(u.dx(j), phi) * ufl.dx(domain=mesh))
        G = dolfinx.fem.Function(V, name=f"d{j}_{u.name}")
        if constraint is None:
            b = dolfinx.fem.petsc.assemble_vector(form)
            b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
            b.pointwiseDivide(b, mass)
            G.x.petsc_vec.array[:] = b.array
            G.x.scatter_forward()
            b.destroy()
        else:
            b_r = constraint.assemble_reduced_vector(form)
            b_r.pointwiseDivide(b_r, mass)
            constraint.expand(b_r, G)
            b_r.destroy()
        out.append(G)
    mass.destroy()
    return out


def evaluate_periodic(
    functions: Sequence[dolfinx.fem.Function], points: np.ndarray, eps: float
) -> np.ndarray:
    """Values ``f_j(y)`` at ``y = x/eps`` wrapped into the periodic cell.

    Parameters
    ----------
    functions
        Scalar functions on one periodic cell mesh (e.g. the correctors
        ``chi_j`` of (4.13) from :func:`femhomog.cell.correctors.first_order_correctors`).
        The cell mesh must live on a single process (``MPI.COMM_SELF``): every
        rank then evaluates its own points without communication.
    points
        Physical points ``x``, shape ``(n, 3)`` (dolfinx coordinates) or ``(n, d)``.
    eps
        Period of the fine scale.

    Returns
    -------
    numpy.ndarray
        Shape ``(n, len(functions))``.

    Raises
    ------
    ConfigError
        Cell mesh distributed over several processes, or a point not found in
        the cell (a bug: wrapped points always lie in the cell).
    """
    if not functions:
        return np.zeros((len(points), 0))
    mesh = functions[0].function_space.mesh
    if mesh.comm.size != 1:
        raise ConfigError(
            "evaluate_periodic: the cell mesh must be created on MPI.COMM_SELF "
            f"(it is distributed over {mesh.comm.size} processes)"
        )
    d = mesh.topology.dim
    lo, hi = mesh_bounding_box(mesh)
    period = hi[:d] - lo[:d]
    y = np.zeros((len(points), 3))
    y[:, :d] = lo[:d] + np.mod(np.asarray(points)[:, :d] / eps - lo[:d], period)
    tree = dolfinx.geometry.bb_tree(mesh, d, padding=_PADDING)
    candidates = dolfinx.geometry.compute_collisions_points(tree, y)
    colliding = dolfinx.geometry.compute_colliding_cells(mesh, candidates, y)
    counts = np.diff(colliding.offsets)
    if len(points) and counts.min() == 0:
        i = int(np.argmin(counts))
        raise ConfigError(f"evaluate_periodic: point y = {y[i, :d].tolist()} not in the cell")
    cells = colliding.array[colliding.offsets[:-1]]
    out = np.empty((len(points), len(functions)))
    for j, f in enumerate(functions):
        out[:, j] = f.eval(y, cells).reshape(-1) if len(points) else 0.0
    return out


def first_order_approximation(
    m0: dolfinx.fem.Function,
    chis: Sequence[dolfinx.fem.Function],
    eps: float,
    V: dolfinx.fem.FunctionSpace,
    constraint: LinearConstraint | None = None,
) -> dolfinx.fem.Function:
    """``m_0 + eps grad m_0 chi(x/eps)`` interpolated into ``V``.

    The corrected approximation (3.3) with ``J = 1`` and ``m_1`` of (4.12)
    without the fast-time part ``v`` (which decays like ``exp(-c alpha
    t/eps^2)``, Sect. 4.2 and 7.2): ``(grad m_0 chi)^(k) = sum_j d_j m_0^(k)
    chi_j``.  ``grad m_0`` is recovered nodally on ``m_0``'s mesh
    (:func:`recovered_gradient`), ``m_0`` and the recovered gradient are
    interpolated into ``V`` (:func:`transfer`) and the corrector is
    evaluated at the nodes of ``V`` (:func:`evaluate_periodic`).

    Parameters
    ----------
    m0
        Homogenized solution of (3.2), P1 with 3 components.
    chis
        Cell correctors ``chi_1..chi_d`` of (4.13), zero mean, on a cell mesh
        on ``MPI.COMM_SELF``.
    eps
        Period of the fine scale.
    V
        Target P1 vector space; it must resolve ``eps`` (the corrector is
        interpolated nodally), e.g. the space of ``m^eps``.
    constraint
        Periodic constraint of ``m0``'s space (for the gradient recovery at
        the faces of the box).

    Returns
    -------
    dolfinx.fem.Function
        The approximation on ``V`` (not of unit length).  Collective.
    """
    d = V.mesh.topology.dim
    if len(chis) != d:
        raise ConfigError(f"first_order_approximation: need {d} correctors, got {len(chis)}")
    grads = [transfer(G, V) for G in recovered_gradient(m0, constraint)]
    out = transfer(m0, V)
    out.name = "m0_plus_eps_m1"
    x = V.tabulate_dof_coordinates()
    chi = evaluate_periodic(chis, x, eps)  # (n_nodes, d), owned and ghost nodes
    vals = out.x.array.reshape(-1, 3)
    for j in range(d):
        vals += eps * grads[j].x.array.reshape(-1, 3) * chi[:, j : j + 1]
    out.x.scatter_forward()
    return out
