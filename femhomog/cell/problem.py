"""The periodic cell Y: mesh, coefficient a(y), periodic Lagrange space and its solver."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from femhomog import _fenicsx  # noqa: F401

# isort: split
import dolfinx
import ufl

from femhomog.cell.solver import CellSolver
from femhomog.coefficients import CellCoefficient
from femhomog.periodic import PeriodicConstraint, mesh_bounding_box, periodic_constraint


@dataclass
class PeriodicCell:
    """A periodic cell problem set up once and reused for every corrector.

    Attributes
    ----------
    mesh, cell_tags
        Cell mesh (a box, usually Y = (0,1)^d) and its material tags (or None).
    coefficient
        The coefficient specification; ``a`` is its UFL form on ``mesh``.
    V
        Scalar Lagrange space of degree ``degree``.
    constraint
        Periodic identification of the dofs of ``V``.
    solver
        :class:`CellSolver` with the assembled and factorized periodic operator.
    dx
        Integration measure used in every cell form (quadrature degree included).
    """

    mesh: dolfinx.mesh.Mesh
    cell_tags: dolfinx.mesh.MeshTags | None
    coefficient: CellCoefficient
    degree: int
    V: dolfinx.fem.FunctionSpace
    a: ufl.core.expr.Expr
    constraint: PeriodicConstraint
    solver: CellSolver
    dx: ufl.Measure

    @classmethod
    def create(
        cls,
        mesh: dolfinx.mesh.Mesh,
        coefficient: CellCoefficient,
        degree: int = 1,
        cell_tags: dolfinx.mesh.MeshTags | None = None,
        quadrature_degree: int | None = None,
        solver_type: str = "auto",
        rtol: float = 1e-10,
        max_it: int = 2000,
    ) -> PeriodicCell:
        """Check the coefficient, build the periodic space and factorize the cell operator.

        Raises
        ------
        ConfigError
            Non-positive or non-periodic coefficient, missing materials.
        MeshError
            Mesh not periodic-compatible.
        """
        lo, hi = mesh_bounding_box(mesh)
        coefficient.check(mesh, cell_tags, period=hi - lo)
        V = dolfinx.fem.functionspace(mesh, ("Lagrange", degree))
        constraint = periodic_constraint(V)
        a = coefficient.ufl(mesh, cell_tags)
        if quadrature_degree is None and not coefficient.constant and coefficient.kind == "expression":
            # UFL's estimate adds 2 per transcendental function (sin*cos*... -> degree 10+,
            # i.e. 1000+ points per hexahedron).  2p + 2 keeps a^0 at O(h^{2p}) (checked
            # by the convergence tests) at a fraction of the cost.
            quadrature_degree = 2 * degree + 2
        md = {} if quadrature_degree is None else {"quadrature_degree": quadrature_degree}
        dx = ufl.Measure("dx", domain=mesh, metadata=md)
        solver = CellSolver(V, a, constraint, solver_type=solver_type, rtol=rtol, max_it=max_it, dx=dx)
        return cls(mesh, cell_tags, coefficient, degree, V, a, constraint, solver, dx)

    @property
    def dim(self) -> int:
        return self.mesh.topology.dim

    @property
    def volume(self) -> float:
        """|Y|."""
        return float(self.solver.volume)

    @property
    def num_dofs(self) -> int:
        """Global number of dofs of the (unconstrained) space."""
        return self.V.dofmap.index_map.size_global

    @property
    def num_periodic_dofs(self) -> int:
        """Global number of periodic (reduced) dofs: the size of each cell problem."""
        return self.constraint.num_reduced_global

    def flux(self, grad_v: ufl.core.expr.Expr) -> ufl.core.expr.Expr:
        """a grad_v for scalar or matrix a."""
        return self.a * grad_v if ufl.rank(self.a) == 0 else ufl.dot(self.a, grad_v)

    def unit_vector(self, i: int) -> np.ndarray:
        e = np.zeros(self.dim)
        e[i] = 1.0
        return e
