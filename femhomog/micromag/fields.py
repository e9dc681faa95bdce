"""Field terms of the effective field H = -dE/dm in the nondimensional scaling of (3.1).

Every term has an energy ``E_term(m)`` and the field ``H_term = -dE_term/dm``
(the L2 gradient), both in the units of :mod:`femhomog.micromag.units`
(energies in ``mu0 Ms^2 L^d``, fields in ``Ms``).  For the LL paper's equation
(3.1) the effective field is the exchange field ``H = div(a(x/eps) grad m)``,
for the homogenized equation (3.2) ``H = div(grad m A^H)``.

A term gives the integrators UFL forms (``m`` a magnetization, ``phi`` a test
function in the P1 vector space):

``field_form(m, phi)``  ``(H_term(m), phi)``: the explicit evaluation of the field.
``bilinear(u, phi)``    ``b(u, phi)`` for terms treated implicitly: the Hessian of a
                        *convex* quadratic energy ``E~ = b(m, m)/2`` whose field
                        ``-b(m, .)`` equals ``H_term(m)`` up to a component
                        parallel to ``m`` (nodally; which neither the LL
                        right-hand side nor tangent test functions see), else None.
``implicit``            whether the time integrators treat the term implicitly.

Lower-order terms (anisotropy, Zeeman, extra fields) are integrated with the
vertex quadrature ("mass lumping"): their forms are then *nodal*, which is what
makes the statements "parallel to m" and "tangent at the nodes" exact for the
discrete schemes (and is the usual choice of Alouges' tangent-plane scheme).

Convex splitting.  Exchange (convex) is implicit.  The easy-axis energy
``-q/2 (m.e)^2`` (q > 0) is concave, but on unit vectors it equals the convex
``q/2 |m x e|^2 - q/2``; :class:`UniaxialAnisotropy` therefore uses
``b(u, phi) = q (u - (u.e)e, phi)_h`` for ``q > 0`` and
``b(u, phi) = -q ((u.e), (phi.e))_h`` for ``q < 0``, both positive
semi-definite.  With all implicit terms convex the tangent-plane scheme for
theta >= 1/2 decreases the energy unconditionally (Alouges 2008, Bartels 2005).
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from femhomog import (
    ConfigError,
    _fenicsx,  # noqa: F401  (must precede dolfinx / petsc4py)
)

# isort: split
import dolfinx
import dolfinx.fem
import ufl
from mpi4py import MPI

from femhomog.coefficients import CellCoefficient

__all__ = [
    "AppliedField",
    "Exchange",
    "ExtraField",
    "FieldTerm",
    "UniaxialAnisotropy",
    "Zeeman",
    "lumped_measure",
]

#: Vertex quadrature: with P1 functions the mass matrix is diagonal (lumped)
#: and every lower-order form becomes a sum over nodes.
_VERTEX_METADATA = {"quadrature_rule": "vertex", "quadrature_degree": 1}


def lumped_measure(mesh: dolfinx.mesh.Mesh) -> ufl.Measure:
    """The cell measure with vertex quadrature (nodal / mass-lumped integrals)."""
    return ufl.Measure("dx", domain=mesh, metadata=_VERTEX_METADATA)


def tensor_gauss_metadata(mesh: dolfinx.mesh.Mesh, points: Sequence[int]) -> dict[str, Any]:
    """UFL metadata of a tensor Gauss-Legendre rule with ``points[i]`` points along x_i.

    The form compiler's own rules have the same number of points along every
    axis; an anisotropic rule needs the "custom" rule with explicit points on
    the reference cell.  Which reference axis runs along which physical axis
    is read off the cell geometry (dolfinx's box generators map the reference
    X axis to x_2 on quadrilaterals): every cell must agree.

    Raises
    ------
    femhomog.ConfigError
        If the mesh is not made of quadrilaterals/hexahedra, ``points`` does
        not have one entry per axis, or the cells are not axis-aligned with one
        common orientation (collective check).
    """
    import basix

    name = mesh.topology.cell_name()
    d = mesh.topology.dim
    if name not in ("quadrilateral", "hexahedron") or len(points) != d:
        raise ConfigError(
            f"exchange: gauss_points needs a quadrilateral/hexahedral mesh and one count per "
            f"axis, got {tuple(points)} on {name} cells"
        )
    # tensor-product node order: vertices 1, 2 (and 4) are the neighbours of
    # vertex 0 along the reference axes X, Y (and Z)
    geo = mesh.geometry
    nodes = geo.dofmaps[0][: mesh.topology.index_map(d).size_local]
    edges = np.stack([geo.x[nodes[:, k], :d] - geo.x[nodes[:, 0], :d] for k in (1, 2, 4)[:d]], 1)
    axis = np.argmax(np.abs(edges), axis=2)  # (cells, reference axis) -> physical axis
    ok = bool(np.all(axis == axis[:1])) if len(axis) else True
    off = np.abs(edges).sum(axis=2) - np.abs(edges).max(axis=2)
    ok = ok and bool(np.all(off <= 1e-10 * np.abs(edges).max(axis=2)))
    mine = tuple(axis[0]) if len(axis) else None
    views = mesh.comm.allgather((ok, mine))
    orientations = {v[1] for v in views if v[1] is not None}
    if not all(v[0] for v in views) or len(orientations) != 1:
        raise ConfigError(
            "exchange: gauss_points needs axis-aligned cells with one common orientation "
            "(a periodic_box_mesh grid)"
        )
    (physical,) = orientations
    rules = [
        basix.make_quadrature(
            basix.CellType.interval,
            2 * points[physical[r]] - 1,
            rule=basix.QuadratureType.gauss_jacobi,
        )
        for r in range(d)
    ]
    grids = np.meshgrid(*[r[0][:, 0] for r in rules], indexing="ij")
    pts = np.column_stack([g.ravel() for g in grids])
    wts = np.prod(np.meshgrid(*[r[1] for r in rules], indexing="ij"), axis=0).ravel()
    return {"quadrature_rule": "custom", "quadrature_points": pts, "quadrature_weights": wts}


def _mesh_of(phi: Any) -> dolfinx.mesh.Mesh:
    """The dolfinx mesh of a test/trial function or a Function."""
    space = phi.ufl_function_space()
    return space.mesh


def _finite_vector(v: Any, what: str, n: int = 3) -> np.ndarray:
    try:
        arr = np.asarray(v, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be {n} numbers, got {v!r}") from None
    if arr.shape != (n,) or not np.all(np.isfinite(arr)):
        raise ConfigError(f"{what} must be {n} finite numbers, got {v!r}")
    return arr


def _finite_number(v: Any, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(float(v)):
        raise ConfigError(f"{what} must be a finite number, got {v!r}")
    return float(v)


class FieldTerm(ABC):
    """A contribution ``E_term`` to the energy and ``H_term = -dE_term/dm`` to the field.

    Subclasses are dataclasses holding the (nondimensional) parameters; the
    UFL objects that depend on a mesh (constants, coefficient functions) are
    created on first use per mesh, so one term may serve several meshes
    (e.g. the same problem on ``COMM_WORLD`` and ``COMM_SELF``).

    Attributes
    ----------
    name : str
        Key of the term in :meth:`femhomog.micromag.LLGProblem.energies`.
    implicit : bool
        Treated implicitly by the time integrators (then :meth:`bilinear` is not None).
    time_dependent : bool
        The field depends on time explicitly (:meth:`prepare` must be called
        with the time before forms are assembled).
    """

    name: str
    implicit: bool
    time_dependent: bool = False

    # ------------------------------------------------------------------ forms
    @abstractmethod
    def energy_form(self, m: Any) -> ufl.Form:
        """UFL form of the energy ``E_term(m)`` (nondimensional)."""

    @abstractmethod
    def field_form(self, m: Any, phi: Any) -> ufl.Form:
        """UFL form ``(H_term(m), phi)`` (explicit field; ``m`` may be any UFL vector)."""

    def bilinear(self, u: Any, phi: Any) -> ufl.Form | None:
        """UFL form ``b(u, phi)`` of the implicit part, ``-(H_impl(u), phi)``, or None.

        ``b`` is symmetric positive semi-definite (the Hessian of a convex
        representative of the energy on unit vectors, see the module docstring).
        """
        return None

    # ------------------------------------------------------------------ hooks
    def check(self, mesh: dolfinx.mesh.Mesh) -> None:
        """Validate the term on a mesh (collective; ConfigError on every rank)."""

    def prepare(self, t: float, m: dolfinx.fem.Function) -> None:
        """Bring time- or state-dependent data up to date for ``(t, m)``.

        The integrators call this before assembling :meth:`field_form` at
        time ``t`` and state ``m`` (and :meth:`LLGProblem.energies` before
        evaluating energies).
        """

    # ------------------------------------------------------------------ energy
    def energy(self, m: dolfinx.fem.Function) -> float:
        """``E_term(m)``: collective over ``m``'s mesh communicator."""
        cache: dict[int, tuple[Any, dolfinx.fem.Form]] = self.__dict__.setdefault(
            "_energy_forms", {}
        )
        key = id(m)
        if key not in cache or cache[key][0] is not m:
            cache[key] = (m, dolfinx.fem.form(self.energy_form(m)))
        local = dolfinx.fem.assemble_scalar(cache[key][1])
        return float(m.function_space.mesh.comm.allreduce(local, op=MPI.SUM))

    def _per_mesh(self, mesh: dolfinx.mesh.Mesh, build: Callable[[], Any]) -> Any:
        """Mesh-dependent UFL data, built once per mesh."""
        cache: dict[int, tuple[Any, Any]] = self.__dict__.setdefault("_mesh_data", {})
        key = id(mesh)
        if key not in cache or cache[key][0] is not mesh:
            cache[key] = (mesh, build())
        return cache[key][1]

    def _all_mesh_data(self) -> list[Any]:
        return [v for _, v in self.__dict__.get("_mesh_data", {}).values()]

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable description (for result metadata)."""
        return {"type": type(self).__name__, "name": self.name, "implicit": self.implicit}


# ====================================================================== exchange
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
        from :mod:`femhomog.cell`), or a :class:`femhomog.coefficients.CellCoefficient`
        given by expressions.
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
        self.eps = _finite_number(self.eps, "exchange: eps")
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
        self._constant: float | np.ndarray | None = None
        self._coefficient: CellCoefficient | None = None
        a = self.a
        if isinstance(a, CellCoefficient):
            if a.kind != "expression":
                raise ConfigError(
                    "exchange: a coefficient given per physical group cannot be evaluated at "
                    "x/eps; give it as an expression in y"
                )
            self._coefficient = a
        elif isinstance(a, str):
            # syntax check now (the dimension is known only with the mesh)
            self._coefficient = CellCoefficient.from_expression(a, 3)
            if self._coefficient.constant:
                self._constant = float(self._coefficient.evaluate(np.zeros((1, 3)))[0])
                self._coefficient = None
        elif isinstance(a, numbers.Real) and not isinstance(a, bool):
            self._constant = _finite_number(a, "exchange: a")
        else:
            arr = np.asarray(a, dtype=object)
            if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] not in (1, 2, 3):
                raise ConfigError(
                    f"exchange: a must be a number, an expression in y or a d x d matrix, got {a!r}"
                )
            if all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in arr.flat):
                mat = np.asarray(a, dtype=np.float64)
                if not np.all(np.isfinite(mat)):
                    raise ConfigError(f"exchange: matrix a is not finite: {mat.tolist()}")
                scale = max(float(np.max(np.abs(mat))), np.finfo(float).tiny)
                if np.max(np.abs(mat - mat.T)) > 1e-12 * scale:
                    raise ConfigError(f"exchange: matrix a is not symmetric: {mat.tolist()}")
                self._constant = 0.5 * (mat + mat.T)
            else:
                self._coefficient = CellCoefficient.from_expression(a, arr.shape[0])
        if self._constant is not None:
            c = self._constant
            lam = float(np.linalg.eigvalsh(c)[0]) if isinstance(c, np.ndarray) else float(c)
            if lam <= 0:
                raise ConfigError(
                    "exchange: coefficient a must be positive (definite), got "
                    f"{c.tolist() if isinstance(c, np.ndarray) else c!r}"
                )

    @property
    def is_matrix(self) -> bool:
        """True for a matrix coefficient (e.g. ``A^H`` of (3.2))."""
        if self._constant is not None:
            return isinstance(self._constant, np.ndarray)
        return bool(self._coefficient is not None and self._coefficient.is_matrix)

    def _dim_check(self, mesh: dolfinx.mesh.Mesh) -> int:
        d = mesh.topology.dim
        if mesh.geometry.dim != d:
            raise ConfigError(
                f"exchange: mesh of topological dimension {d} embedded in {mesh.geometry.dim}D "
                "is not supported"
            )
        n = None
        if isinstance(self._constant, np.ndarray):
            n = self._constant.shape[0]
        elif self._coefficient is not None and self._coefficient.is_matrix:
            n = self._coefficient.dim
        if n is not None and n != d:
            raise ConfigError(f"exchange: matrix a is {n} x {n} but the mesh has dimension {d}")
        return d

    def coefficient(self, mesh: dolfinx.mesh.Mesh) -> Any:
        """UFL coefficient ``a(x/eps)`` (scalar or ``d x d``) on ``mesh``."""

        def build() -> Any:
            d = self._dim_check(mesh)
            if self._constant is not None:
                return dolfinx.fem.Constant(mesh, np.asarray(self._constant, dtype=np.float64))
            coef = self._coefficient_for_dim(d)
            x = ufl.SpatialCoordinate(mesh)
            eps = dolfinx.fem.Constant(mesh, np.float64(self.eps))
            return coef.ufl(mesh, y=x / eps)

        return self._per_mesh(mesh, build)

    def _coefficient_for_dim(self, d: int) -> CellCoefficient:
        """The expression coefficient parsed for dimension ``d`` (scalars were parsed
        for d = 3 up front; re-parsing makes y[i] with i >= d a clear ConfigError)."""
        coef = self._coefficient
        assert coef is not None
        if coef.dim != d and not coef.is_matrix:
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
        if self._coefficient is None:
            return
        coef = self._coefficient_for_dim(d)
        x = mesh.geometry.x[:, :d]
        n_owned = mesh.topology.index_map(d).size_local
        mid = x[mesh.geometry.dofmaps[0][:n_owned]].mean(axis=1)
        pts = np.concatenate([x, mid]) / self.eps
        vals = coef.evaluate(pts)
        if coef.is_matrix:
            low = np.linalg.eigvalsh(vals)[:, 0] if vals.size else np.empty(0)
        else:
            low = vals
        local = float(np.min(low)) if low.size else np.inf
        if not np.all(np.isfinite(low)):
            local = -np.inf
        worst = mesh.comm.allreduce(local, op=MPI.MIN)
        if not worst > 0:
            raise ConfigError(
                f"exchange: a(x/eps) must be positive (definite) on the mesh; its smallest "
                f"value (eigenvalue) at nodes and cell midpoints is {worst:.6g}"
            )

    def energy_form(self, m: Any) -> ufl.Form:
        """``1/2 int a grad m : grad m`` (3.1) or with ``A^H`` (3.2)."""
        mesh = _mesh_of(m)
        return 0.5 * ufl.inner(self._flux(m, mesh), ufl.grad(m)) * self._dx(mesh)

    def field_form(self, m: Any, phi: Any) -> ufl.Form:
        """``(div(a grad m), phi) = -(a grad m, grad phi)`` (natural/periodic BC)."""
        mesh = _mesh_of(phi)
        return -ufl.inner(self._flux(m, mesh), ufl.grad(phi)) * self._dx(mesh)

    def bilinear(self, u: Any, phi: Any) -> ufl.Form:
        """``(a grad u, grad phi)``."""
        mesh = _mesh_of(phi)
        return ufl.inner(self._flux(u, mesh), ufl.grad(phi)) * self._dx(mesh)

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        if self._constant is not None:
            c = self._constant
            out["a"] = c.tolist() if isinstance(c, np.ndarray) else c
        else:
            out["a"] = self._coefficient.describe()["a"] if self._coefficient else None
            out["eps"] = self.eps
        return out


# ====================================================================== anisotropy
@dataclass(eq=False)
class UniaxialAnisotropy(FieldTerm):
    """Uniaxial anisotropy ``E = -q/2 int (m.e)^2``, ``H = q (m.e) e``.

    ``q = 2K/(mu0 Ms^2)`` (:attr:`femhomog.micromag.Units.anisotropy_coefficient`);
    ``q > 0`` easy axis, ``q < 0`` hard axis (easy plane).  Integrated with
    vertex quadrature.  The implicit part is the convex representative of the
    module docstring; set ``implicit=False`` for a fully explicit treatment.

    Parameters
    ----------
    q
        Nondimensional anisotropy constant.
    axis
        Anisotropy axis ``e`` (normalized here; must be non-zero).
    implicit
        Treat the term implicitly (default) or explicitly.
    name
        Key in the energy table.
    """

    q: float
    axis: Sequence[float] = (0.0, 0.0, 1.0)
    implicit: bool = True
    name: str = "anisotropy"

    def __post_init__(self) -> None:
        self.q = _finite_number(self.q, "anisotropy: q")
        e = _finite_vector(self.axis, "anisotropy: axis")
        n = float(np.linalg.norm(e))
        if n == 0:
            raise ConfigError("anisotropy: axis must be a non-zero vector")
        self._e = e / n
        self.implicit = bool(self.implicit)

    def _consts(self, mesh: dolfinx.mesh.Mesh) -> tuple[Any, Any, Any]:
        def build() -> tuple[Any, Any, Any]:
            q = dolfinx.fem.Constant(mesh, np.float64(self.q))
            q_plus = dolfinx.fem.Constant(mesh, np.float64(max(self.q, 0.0)))
            e = dolfinx.fem.Constant(mesh, self._e.copy())
            return q, q_plus, e

        return self._per_mesh(mesh, build)

    def energy_form(self, m: Any) -> ufl.Form:
        mesh = _mesh_of(m)
        q, _, e = self._consts(mesh)
        return -0.5 * q * ufl.inner(m, e) ** 2 * lumped_measure(mesh)

    def field_form(self, m: Any, phi: Any) -> ufl.Form:
        mesh = _mesh_of(phi)
        q, _, e = self._consts(mesh)
        return q * ufl.inner(m, e) * ufl.inner(phi, e) * lumped_measure(mesh)

    def bilinear(self, u: Any, phi: Any) -> ufl.Form | None:
        """``q+ (u, phi)_h - q (u.e, phi.e)_h`` (positive semi-definite for either sign)."""
        if not self.implicit:
            return None
        mesh = _mesh_of(phi)
        q, q_plus, e = self._consts(mesh)
        return (q_plus * ufl.inner(u, phi) - q * ufl.inner(u, e) * ufl.inner(phi, e)) * (
            lumped_measure(mesh)
        )

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "q": self.q, "axis": self._e.tolist()}


# ====================================================================== Zeeman
@dataclass(eq=False)
class Zeeman(FieldTerm):
    """Applied field ``H = h(t)`` (spatially uniform): ``E = -int h . m``.

    Parameters
    ----------
    h
        Three numbers (constant field) or a callable ``t -> 3 numbers``
        (time-dependent; evaluated by :meth:`prepare`).  Nondimensional: use
        :meth:`femhomog.micromag.Units.field_from_tesla` for ``mu0 H`` in tesla.
    name
        Key in the energy table.
    """

    h: Sequence[float] | Callable[[float], Sequence[float]]
    name: str = "zeeman"
    implicit: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.time_dependent = callable(self.h)
        self._value = np.zeros(3) if self.time_dependent else _finite_vector(self.h, "Zeeman: h")
        self._t: float | None = None

    def value(self, t: float) -> np.ndarray:
        """``h(t)`` (validated)."""
        if not self.time_dependent:
            return self._value.copy()
        try:
            raw = self.h(t)  # type: ignore[operator]
        except Exception as err:  # noqa: BLE001  (a user callable: report what failed)
            raise ConfigError(f"Zeeman: h(t) failed at t = {t:g}: {err}") from None
        return _finite_vector(raw, f"Zeeman: h(t) at t = {t:g}")

    def _const(self, mesh: dolfinx.mesh.Mesh) -> Any:
        return self._per_mesh(mesh, lambda: dolfinx.fem.Constant(mesh, self._value.copy()))

    def prepare(self, t: float, m: dolfinx.fem.Function) -> None:
        if not self.time_dependent or self._t == t:
            return
        self._value = self.value(t)
        self._t = t
        for c in self._all_mesh_data():
            c.value[:] = self._value

    def energy_form(self, m: Any) -> ufl.Form:
        mesh = _mesh_of(m)
        return -ufl.inner(self._const(mesh), m) * lumped_measure(mesh)

    def field_form(self, m: Any, phi: Any) -> ufl.Form:
        mesh = _mesh_of(phi)
        return ufl.inner(self._const(mesh), phi) * lumped_measure(mesh)

    def describe(self) -> dict[str, Any]:
        h = "callable" if self.time_dependent else self._value.tolist()
        return {**super().describe(), "h": h}


# ====================================================================== applied field h(x, t)
@dataclass(eq=False)
class AppliedField(FieldTerm):
    """Applied field varying in space and time, ``H = h(x, t)``: ``E = -int h . m``.

    Integrated with the vertex quadrature like :class:`Zeeman`, so the field
    enters the schemes through its nodal values ``h(x_i, t)`` (the P1
    interpolant), in both modes below.  Typical uses: a localized or
    inhomogeneous pulse, and the forcing of a manufactured solution (its
    ``H_f = H* - div(a grad m_ex)`` is a UFL expression of ``x`` and ``t``).

    Parameters
    ----------
    h
        ``symbolic=True``: ``h(x, t) -> UFL vector of 3 components`` with ``x =
        ufl.SpatialCoordinate(mesh)`` and ``t`` a :class:`dolfinx.fem.Constant`
        holding the current time; any UFL expression of them, including
        derivatives (``ufl.grad``, ``ufl.div``, ``ufl.diff`` with respect to
        ``ufl.variable(t)``), evaluated at the nodes by the form compiler.
        ``symbolic=False``: ``h(x, t) -> array (3, N)`` for the points ``x`` of
        shape ``(3, N)`` (as for :meth:`dolfinx.fem.Function.interpolate`) and
        the time ``t`` (a float); interpolated into P1 whenever the time changes.
    symbolic
        Which of the two forms ``h`` has (default False).
    name
        Key in the energy table.

    Notes
    -----
    On a periodic box ``h`` must be periodic (its values at identified nodes
    are added to the same reduced dof).  The energy ``-int h . m`` is the
    potential of the field at fixed time; with a time-dependent ``h`` the
    energy need not decrease.
    """

    h: Callable[[Any, Any], Any]
    symbolic: bool = False
    name: str = "applied"
    implicit: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if not callable(self.h):
            raise ConfigError(
                f"applied field: h must be a callable (x, t) -> field, got {self.h!r}"
            )
        self.symbolic = bool(self.symbolic)
        self.time_dependent = True
        self._t = 0.0
        self._interpolated_at: dict[int, float] = {}

    # symbolic mode: (t constant, UFL expression) per mesh
    def _symbolic(self, mesh: dolfinx.mesh.Mesh) -> tuple[Any, Any]:
        def build() -> tuple[Any, Any]:
            t = dolfinx.fem.Constant(mesh, np.float64(self._t))
            try:
                expr = self.h(ufl.SpatialCoordinate(mesh), t)
                shape = ufl.as_ufl(expr).ufl_shape
            except Exception as err:  # noqa: BLE001  (a user callable: report what failed)
                raise ConfigError(f"applied field: building h(x, t) failed: {err}") from None
            if shape != (3,):
                raise ConfigError(
                    f"applied field: h(x, t) must be a UFL vector of 3 components, got shape "
                    f"{shape}"
                )
            return t, ufl.as_ufl(expr)

        return self._per_mesh(mesh, build)

    def field_function(self, space: dolfinx.fem.FunctionSpace) -> dolfinx.fem.Function:
        """The P1 function holding ``h(., t)`` (``symbolic=False`` only)."""
        return self._per_mesh(space.mesh, lambda: dolfinx.fem.Function(space, name=self.name))

    def _field(self, u: Any) -> Any:
        """The field as a UFL vector on the mesh of ``u`` (a function or test function)."""
        space = u.ufl_function_space()
        if self.symbolic:
            return self._symbolic(space.mesh)[1]
        return self.field_function(space)

    def _interpolate(self, H: dolfinx.fem.Function, t: float) -> None:
        comm = H.function_space.mesh.comm
        error = None
        try:
            H.interpolate(lambda x: self.h(x, t))
        except Exception as err:  # noqa: BLE001  (a user callable: report what failed)
            error = f"evaluating h(x, t) failed at t = {t:g}: {err}"
        if error is None and not np.all(np.isfinite(H.x.array)):
            error = f"h(x, t) is not finite at t = {t:g}"
        errors = [e for e in comm.allgather(error) if e is not None]
        if errors:
            raise ConfigError(f"applied field: {errors[0]}")
        H.x.scatter_forward()

    def prepare(self, t: float, m: dolfinx.fem.Function) -> None:
        self._t = float(t)
        if self.symbolic:
            for tc, _ in self._all_mesh_data():
                tc.value = self._t
            return
        H = self.field_function(m.function_space)
        key = id(H)
        if self._interpolated_at.get(key) != self._t:
            self._interpolate(H, self._t)
            self._interpolated_at[key] = self._t

    def energy_form(self, m: Any) -> ufl.Form:
        return -ufl.inner(self._field(m), m) * lumped_measure(_mesh_of(m))

    def field_form(self, m: Any, phi: Any) -> ufl.Form:
        return ufl.inner(self._field(phi), phi) * lumped_measure(_mesh_of(phi))

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "h": "symbolic" if self.symbolic else "callable"}


# ====================================================================== extension hook
@dataclass(eq=False)
class ExtraField(FieldTerm):
    """Hook for fields computed elsewhere (stray field, spin accumulation, ...).

    The provider fills a P1 vector function with the field for the current
    time and magnetization; the term is always explicit.

    Parameters
    ----------
    provider
        ``provider(t, m, out)`` writes ``H(t, m)`` into ``out`` (a
        :class:`dolfinx.fem.Function` on ``m``'s space; owned values suffice,
        ghosts are updated afterwards).
    energy_factor
        The energy is ``-energy_factor int H . m``: ``1/2`` for a field linear
        in ``m`` that derives from a quadratic energy (stray field), ``1`` for
        an external field, ``None`` to leave the term out of the energy.
    name
        Key in the energy table.
    """

    provider: Callable[[float, dolfinx.fem.Function, dolfinx.fem.Function], None]
    energy_factor: float | None = 0.5
    name: str = "extra"
    implicit: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if not callable(self.provider):
            raise ConfigError(f"extra field: provider must be callable, got {self.provider!r}")
        if self.energy_factor is not None:
            self.energy_factor = _finite_number(self.energy_factor, "extra field: energy_factor")
        self.time_dependent = True

    def field_function(self, space: dolfinx.fem.FunctionSpace) -> dolfinx.fem.Function:
        """The function holding the provided field on ``space``'s mesh."""
        return self._per_mesh(space.mesh, lambda: dolfinx.fem.Function(space, name=self.name))

    def prepare(self, t: float, m: dolfinx.fem.Function) -> None:
        H = self.field_function(m.function_space)
        self.provider(t, m, H)
        H.x.scatter_forward()

    def energy_form(self, m: Any) -> ufl.Form:
        mesh = _mesh_of(m)
        H = self.field_function(m.ufl_function_space())
        factor = 0.0 if self.energy_factor is None else self.energy_factor
        c = dolfinx.fem.Constant(mesh, np.float64(-factor))
        return c * ufl.inner(H, m) * lumped_measure(mesh)

    def field_form(self, m: Any, phi: Any) -> ufl.Form:
        mesh = _mesh_of(phi)
        H = self.field_function(phi.ufl_function_space())
        return ufl.inner(H, phi) * lumped_measure(mesh)
