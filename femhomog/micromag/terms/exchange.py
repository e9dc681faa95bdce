"""Exchange ``H = div(a(x/eps) grad m)`` (LL paper (3.1)) or ``H = div(grad m A^H)`` (3.2).

The coefficient is a number, a symmetric positive definite matrix (``A^H``
from :mod:`femhomog.cell`) or an expression ``a(y)`` evaluated at ``y = x/eps``;
the quadrature resolving the oscillation is the form compiler's, a given
degree, or a tensor Gauss rule (:func:`.quadrature.tensor_gauss_metadata`).
The field and the implicit bilinear form are the first and second derivative
of the energy (:mod:`.base`).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from femhomog import (
    ConfigError,
    _fenicsx,  # noqa: F401  (must precede dolfinx / petsc4py)
)

# isort: split
import dolfinx
import ufl

from femhomog.coefficients import CellCoefficient, Coefficient, ConstantCoefficient
from femhomog.micromag.terms.base import FieldTerm, finite_number, mesh_of
from femhomog.micromag.terms.quadrature import tensor_gauss_metadata

__all__ = ["Exchange"]


@dataclass(eq=False)
class Exchange(FieldTerm):
    """Exchange ``H = div(a(x/eps) grad m)`` (3.1) or ``H = div(grad m A^H)`` (3.2).

    Energy ``E = 1/2 int a |grad m|^2`` (scalar ``a``) or
    ``1/2 int (grad m A^H) : grad m`` (matrix).  Natural (Neumann) boundary
    conditions on non-periodic meshes.

    Parameters
    ----------
    a
        A positive number, an expression in ``y`` evaluated at ``y = x/eps``
        (e.g. ``"1 + 0.5*sin(2*pi*y[0])"``, the coefficient of Fig. 4.1), a
        symmetric positive definite ``d x d`` matrix of numbers (e.g. ``A^H``
        from :mod:`femhomog.cell`), or any :class:`femhomog.coefficients.Coefficient`
        but one given per physical group (a ``CellCoefficient`` of expressions, a
        ``ConstantCoefficient``).  Symmetry and definiteness are checked by
        :func:`femhomog.spd.check_spd`, ``a(x/eps)`` on the mesh by
        :meth:`~femhomog.coefficients.Coefficient.check_positive`.
    eps
        Period ``eps`` of ``a(x/eps)`` (ignored for constant ``a``).
    quadrature_degree
        Quadrature degree for ``a(x/eps)``; default UFL's estimate.  Resolve the
        oscillation: the same rule serves energy and operator.
    gauss_points
        Instead of ``quadrature_degree``, on axis-aligned quadrilaterals and
        hexahedra (:func:`femhomog.meshes.periodic_box_mesh` grids): a tensor
        Gauss-Legendre rule with these numbers of points along ``x_1, ...,
        x_d`` (:func:`tensor_gauss_metadata`), e.g. ``(1, 2)`` for a laminate
        ``a(y_1)``: the midpoint rule across the layers (the discrete ``A^H``
        is then the periodic midpoint rule of the harmonic and arithmetic
        means, exact for trigonometric ``a``) and two points along them, which
        keeps the Q1 hourglass mode stiff.
    name
        Key in the energy table.
    """

    a: Any = 1.0
    eps: float = 1.0
    quadrature_degree: int | None = None
    gauss_points: tuple[int, ...] | None = None
    name: str = "exchange"
    implicit: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        self.eps = finite_number(self.eps, "exchange: eps")
        if self.eps <= 0:
            raise ConfigError(f"exchange: eps must be > 0, got {self.eps!r}")
        qd = self.quadrature_degree
        if qd is not None and (isinstance(qd, bool) or not isinstance(qd, int) or qd < 0):
            raise ConfigError(f"exchange: quadrature_degree must be an integer >= 0, got {qd!r}")
        gp = self.gauss_points
        if gp is not None:
            if qd is not None:
                raise ConfigError("exchange: give quadrature_degree or gauss_points, not both")
            if not isinstance(gp, (tuple, list)) or not all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in gp
            ):
                raise ConfigError(
                    f"exchange: gauss_points must be integers >= 1 per axis, got {gp!r}"
                )
            self.gauss_points = tuple(gp)
        a = self.a
        what = "exchange: coefficient a"
        coef: Coefficient
        if isinstance(a, Coefficient):
            if a.kind == "materials":
                raise ConfigError(
                    "exchange: a coefficient given per physical group cannot be evaluated at "
                    "x/eps; give it as an expression in y"
                )
            coef = a
        elif isinstance(a, str):
            # syntax check now (the dimension is known only with the mesh)
            coef = CellCoefficient.from_expression(a, 3)
            if coef.constant:
                coef = ConstantCoefficient(float(coef.evaluate(np.zeros((1, 3)))[0]), what)
        elif isinstance(a, numbers.Real) and not isinstance(a, bool):
            coef = ConstantCoefficient(finite_number(a, "exchange: a"), what)
        else:
            arr = np.asarray(a, dtype=object)
            if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] not in (1, 2, 3):
                raise ConfigError(
                    f"exchange: a must be a number, an expression in y or a d x d matrix, got {a!r}"
                )
            if all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in arr.flat):
                coef = ConstantCoefficient(np.asarray(a, dtype=np.float64), what)
            else:
                coef = CellCoefficient.from_expression(a, arr.shape[0])
        self._coef = coef

    @property
    def is_matrix(self) -> bool:
        """True for a matrix coefficient (e.g. ``A^H`` of (3.2))."""
        return self._coef.is_matrix

    def _dim_check(self, mesh: dolfinx.mesh.Mesh) -> int:
        d = mesh.topology.dim
        if mesh.geometry.dim != d:
            raise ConfigError(
                f"exchange: mesh of topological dimension {d} embedded in {mesh.geometry.dim}D "
                "is not supported"
            )
        n = self._coef.dim if self._coef.is_matrix else None
        if n is not None and n != d:
            raise ConfigError(f"exchange: matrix a is {n} x {n} but the mesh has dimension {d}")
        return d

    def coefficient(self, mesh: dolfinx.mesh.Mesh) -> Any:
        """UFL coefficient ``a(x/eps)`` (scalar or ``d x d``) on ``mesh``."""

        def build() -> Any:
            d = self._dim_check(mesh)
            if isinstance(self._coef, ConstantCoefficient):
                return self._coef.ufl(mesh)
            x = ufl.SpatialCoordinate(mesh)
            eps = dolfinx.fem.Constant(mesh, np.float64(self.eps))
            return self._coefficient_for_dim(d).ufl(mesh, y=x / eps)

        return self._per_mesh(mesh, build)

    def _coefficient_for_dim(self, d: int) -> Coefficient:
        """The expression coefficient parsed for dimension ``d`` (scalars were parsed
        for d = 3 up front; re-parsing makes y[i] with i >= d a clear ConfigError)."""
        coef = self._coef
        if isinstance(coef, CellCoefficient) and coef.dim != d and not coef.is_matrix:
            coef = CellCoefficient.from_expression(str(coef.describe()["a"]), d)
        return coef

    def _dx(self, mesh: dolfinx.mesh.Mesh) -> ufl.Measure:
        if self.gauss_points is not None:
            return ufl.Measure(
                "dx", domain=mesh, metadata=tensor_gauss_metadata(mesh, self.gauss_points)
            )
        if self.quadrature_degree is None:
            return ufl.Measure("dx", domain=mesh)
        return ufl.Measure(
            "dx", domain=mesh, metadata={"quadrature_degree": self.quadrature_degree}
        )

    def _flux(self, u: Any, mesh: dolfinx.mesh.Mesh) -> Any:
        a = self.coefficient(mesh)
        if ufl.rank(a) == 0:
            return a * ufl.grad(u)
        # (grad u)_{ij} = d u_i / d x_j: row i of grad(u) A is A grad u_i (A symmetric)
        return ufl.dot(ufl.grad(u), a)

    def check(self, mesh: dolfinx.mesh.Mesh) -> None:
        """Positivity of ``a(x/eps)`` at the mesh nodes and cell midpoints (collective)."""
        d = self._dim_check(mesh)
        self.coefficient(mesh)  # parses for dimension d (ConfigError on y[i >= d])
        if isinstance(self._coef, ConstantCoefficient):
            return  # checked on construction
        x = mesh.geometry.x[:, :d]
        n_owned = mesh.topology.index_map(d).size_local
        mid = x[mesh.geometry.dofmaps[0][:n_owned]].mean(axis=1)
        self._coefficient_for_dim(d).check_positive(
            mesh.comm, np.concatenate([x, mid]) / self.eps, what="exchange: coefficient",
            symbol="a(x/eps)", at="x/eps",
        )

    def energy_form(self, m: Any) -> ufl.Form:
        """``1/2 int a grad m : grad m`` (3.1) or with ``A^H`` (3.2).

        Its derivative is the field ``(div(a grad m), phi) = -(a grad m, grad phi)``
        (natural/periodic BC), its Hessian the implicit ``(a grad u, grad phi)``.
        """
        mesh = mesh_of(m)
        return 0.5 * ufl.inner(self._flux(m, mesh), ufl.grad(m)) * self._dx(mesh)

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        coef = self._coef.describe()
        out["a"] = coef["a"]
        if not isinstance(self._coef, ConstantCoefficient):
            out["eps"] = self.eps
        return out
