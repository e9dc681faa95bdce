"""The cell coefficient ``a(y)`` of a periodic cell problem (a :class:`Coefficient`).

``a`` is a scalar or a symmetric ``d x d`` matrix, given either

* as expressions in ``y`` (:meth:`CellCoefficient.from_expression`), parsed
  safely by :mod:`femhomog.expression`, e.g. ``"1 + 0.5*sin(2*pi*y[0])"`` or
  ``[["2", "0.1*cos(2*pi*y[0])"], ["0.1*cos(2*pi*y[0])", "1"]]``; or
* as constants per gmsh physical group, i.e. per cell tag
  (:meth:`CellCoefficient.from_materials`), e.g. ``{1: 1.0, 2: 10.0}``.

:meth:`CellCoefficient.ufl` gives the UFL expression for forms (a DG0 function
for materials); :meth:`CellCoefficient.check` verifies positivity and, for
expressions, Y-periodicity on the mesh.  Both are collective over the mesh
communicator and raise the same :class:`femhomog.ConfigError` on every rank.
Symmetry and positive definiteness are judged by :mod:`femhomog.spd`.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from femhomog import _fenicsx  # noqa: F401  (must precede dolfinx / petsc4py)

# isort: split
import dolfinx
import ufl
from mpi4py import MPI

from femhomog import ConfigError
from femhomog.coefficients.base import Coefficient, fmt_point
from femhomog.expression import Expression, parse_expression
from femhomog.spd import SYMMETRY_RTOL, check_spd, check_symmetric

__all__ = ["CellCoefficient"]

# Relative tolerance for a(y) == a(y + L e_i); rounding in e.g. sin(2*pi*(y+1))
# is ~1e-15, while a genuinely non-periodic coefficient differs at O(1).
_PERIODIC_RTOL = 1e-10
# Random points per cell for check(); with the nodes and midpoints this resolves
# features down to the mesh size, which is all the FE solution can see anyway.
_RANDOM_POINTS_PER_CELL = 2


def _fmt_tags(tags: Sequence[int]) -> str:
    return ", ".join(str(t) for t in tags) if len(tags) else "none"


def _check_dim(dim: Any) -> int:
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or not 1 <= dim <= 3:
        raise ConfigError(f"coefficient: cell dimension must be 1, 2 or 3, got {dim!r}")
    return int(dim)


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


class CellCoefficient(Coefficient):
    """Scalar or symmetric matrix coefficient ``a(y)`` on the periodic cell.

    Do not call the constructor; use :meth:`from_expression` or
    :meth:`from_materials`.

    Attributes
    ----------
    dim : int
        Cell dimension ``d``.
    is_matrix : bool
        True for a ``d x d`` matrix coefficient, False for a scalar.
    kind : str
        ``"expression"`` or ``"materials"``.
    """

    def __init__(
        self,
        dim: int,
        *,
        expressions: Expression | tuple[tuple[Expression, ...], ...] | None = None,
        materials: dict[int, float | np.ndarray] | None = None,
        given: Any = None,
    ) -> None:
        if (expressions is None) == (materials is None):
            raise TypeError("give exactly one of expressions= or materials=")
        self._dim = dim
        self._expr = expressions
        self._materials = materials
        self._given = given  # original spec, for describe()
        if expressions is not None:
            self._is_matrix = not isinstance(expressions, Expression)
        else:
            self._is_matrix = any(isinstance(v, np.ndarray) for v in materials.values())

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_expression(
        cls, spec: str | float | Sequence[Sequence[str | float]], dim: int
    ) -> CellCoefficient:
        """Coefficient from an expression in ``y`` or a ``d x d`` matrix of them.

        Parameters
        ----------
        spec : str or float or list of list of (str or float)
            A scalar expression/number, or a nested ``d x d`` list.
        dim : int
            Cell dimension ``d``.

        Raises
        ------
        ConfigError
            For invalid expressions, a matrix of the wrong shape, or a matrix
            that is not symmetric (``a_ij`` and ``a_ji`` are compared at sample
            points, so equivalent formulas written differently are accepted).
        """
        dim = _check_dim(dim)
        if isinstance(spec, str) or _is_number(spec):
            return cls(dim, expressions=parse_expression(spec, dim, what="coefficient"))
        if isinstance(spec, np.ndarray):
            spec = spec.tolist()
        if not isinstance(spec, Sequence):
            raise ConfigError(
                f"coefficient must be a number, an expression in y or a {dim} x {dim} matrix "
                f"(list of rows) of those, got {type(spec).__name__}"
            )
        shape_msg = (
            f"coefficient matrix must be {dim} x {dim} (a list of {dim} rows of {dim} entries)"
        )
        if len(spec) != dim:
            raise ConfigError(f"{shape_msg}, got {len(spec)} rows")
        rows = []
        for i, row in enumerate(spec):
            if isinstance(row, str) or not isinstance(row, (Sequence, np.ndarray)):
                raise ConfigError(f"{shape_msg}, but row {i} is {row!r}")
            if len(row) != dim:
                raise ConfigError(f"{shape_msg}, but row {i} has {len(row)} entries")
            rows.append(
                tuple(
                    parse_expression(v, dim, what=f"coefficient a[{i}][{j}]")
                    for j, v in enumerate(row)
                )
            )
        exprs = tuple(rows)
        _check_symmetric(exprs, dim)
        return cls(dim, expressions=exprs)

    @classmethod
    def from_materials(
        cls, materials: Mapping[int | str, float | Sequence[Sequence[float]]], dim: int
    ) -> CellCoefficient:
        """Constant coefficient per gmsh physical group (cell tag).

        Parameters
        ----------
        materials : dict
            Physical group number -> number or ``d x d`` symmetric matrix.  Keys
            may be strings of integers (TOML table keys are strings).  If any
            value is a matrix, numbers ``s`` are taken as ``s * I``.
        dim : int
            Cell dimension ``d``.

        Raises
        ------
        ConfigError
            For non-integer keys, non-finite values, wrong shapes or
            non-symmetric matrices.
        """
        dim = _check_dim(dim)
        if not isinstance(materials, Mapping) or not materials:
            raise ConfigError(
                f"materials must be a non-empty table {{physical group: value}}, got {materials!r}"
            )
        values: dict[int, float | np.ndarray] = {}
        given: dict[str, Any] = {}
        for key, val in materials.items():
            tag = _tag_key(key)
            if tag in values:
                raise ConfigError(f"material for physical group {tag} given twice")
            if _is_number(val):
                v = float(val)
                if not np.isfinite(v):
                    raise ConfigError(f"material for physical group {tag} is not finite: {v}")
                values[tag] = v
                given[str(tag)] = v
                continue
            try:
                arr = np.asarray(val, dtype=np.float64)
            except (TypeError, ValueError):
                arr = None
            if arr is None or arr.shape != (dim, dim):
                raise ConfigError(
                    f"material for physical group {tag} must be a number or a {dim} x {dim} "
                    f"matrix, got {val!r}"
                )
            if not np.all(np.isfinite(arr)):
                raise ConfigError(f"material for physical group {tag} is not finite: {val!r}")
            # symmetrized: removes rounding asymmetry
            arr = check_symmetric(arr, f"material for physical group {tag}")
            arr.setflags(write=False)
            values[tag] = arr
            given[str(tag)] = arr.tolist()
        if any(isinstance(v, np.ndarray) for v in values.values()):
            for tag, v in values.items():
                if not isinstance(v, np.ndarray):
                    m = v * np.eye(dim)
                    m.setflags(write=False)
                    values[tag] = m
        given = dict(sorted(given.items(), key=lambda kv: int(kv[0])))
        return cls(dim, materials=dict(sorted(values.items())), given=given)

    # ------------------------------------------------------------------ properties

    @property
    def dim(self) -> int:
        """Cell dimension ``d``."""
        return self._dim

    @property
    def is_matrix(self) -> bool:
        """True for a ``d x d`` matrix coefficient."""
        return self._is_matrix

    @property
    def kind(self) -> str:
        """``"expression"`` or ``"materials"``."""
        return "expression" if self._expr is not None else "materials"

    @property
    def materials(self) -> dict[int, float | np.ndarray]:
        """Physical group -> value (read-only arrays); empty for expressions."""
        return dict(self._materials) if self._materials is not None else {}

    @property
    def constant(self) -> bool:
        """True if ``a`` does not depend on ``y`` (expressions without ``y``)."""
        if self._expr is None:
            return len({_as_key(v) for v in self._materials.values()}) == 1
        return all(e.constant for e in self._expr_list())

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable description (for result metadata)."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "dim": self._dim,
            "shape": "matrix" if self._is_matrix else "scalar",
        }
        if self._expr is not None:
            if isinstance(self._expr, Expression):
                out["a"] = self._expr.text
            else:
                out["a"] = [[e.text for e in row] for row in self._expr]
        else:
            out["materials"] = dict(self._given)
        return out

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, points: np.ndarray) -> np.ndarray:
        """Values of an expression coefficient at points.

        Parameters
        ----------
        points : numpy.ndarray
            Shape ``(N, k)``, ``k >= dim`` (dolfinx 3-column coordinates work).

        Returns
        -------
        numpy.ndarray
            ``(N,)`` for a scalar, ``(N, d, d)`` for a matrix coefficient.

        Raises
        ------
        ConfigError
            For a coefficient given per physical group (it has no formula in y).
        """
        if self._expr is None:
            raise ConfigError(
                "coefficient given per physical group (materials) cannot be evaluated at "
                "points y; give it as an expression in y"
            )
        if isinstance(self._expr, Expression):
            return self._expr.evaluate(points)
        d = self._dim
        vals = [[e.evaluate(points) for e in row] for row in self._expr]
        n = vals[0][0].shape[0]
        out = np.empty((n, d, d))
        for i in range(d):
            for j in range(d):
                out[:, i, j] = vals[i][j]
        return out

    def ufl(
        self, mesh: dolfinx.mesh.Mesh, cell_tags: dolfinx.mesh.MeshTags | None = None, y: Any = None
    ) -> Any:
        """UFL expression of ``a``.

        Parameters
        ----------
        mesh : dolfinx.mesh.Mesh
            The cell mesh (its topological dimension must be ``dim``).
        cell_tags : dolfinx.mesh.MeshTags, optional
            Physical groups of the cells; required for materials.
        y : UFL vector expression, optional
            Where to evaluate an expression coefficient; defaults to
            ``ufl.SpatialCoordinate(mesh)``.  Pass ``x / eps`` for ``a(x/eps)``.

        Returns
        -------
        ufl.core.expr.Expr
            A scalar expression, or a ``d x d`` matrix (``ufl.as_matrix`` for
            expressions, a DG0 tensor :class:`dolfinx.fem.Function` for materials).

        Raises
        ------
        ConfigError
            Dimension mismatch; for materials: missing cell tags, untagged
            cells, a physical group without material or a material for a group
            that is not in the mesh.  Collective for materials.
        """
        self._check_mesh(mesh)
        if self._expr is not None:
            if y is None:
                y = ufl.SpatialCoordinate(mesh)
            if isinstance(self._expr, Expression):
                return self._expr.to_ufl(y)
            return ufl.as_matrix([[e.to_ufl(y) for e in row] for row in self._expr])

        if y is not None:
            raise ConfigError(
                "coefficient given per physical group (materials) cannot be evaluated at "
                "y = x/eps; give it as an expression in y"
            )
        tags = self._owned_cell_tags(mesh, cell_tags)
        d = self._dim
        n_owned = tags.shape[0]
        if self._is_matrix:
            V = dolfinx.fem.functionspace(mesh, ("DG", 0, (d, d)))
            lookup = {
                t: np.asarray(v, dtype=np.float64).reshape(d * d)
                for t, v in self._materials.items()
            }
        else:
            V = dolfinx.fem.functionspace(mesh, ("DG", 0))
            lookup = {t: np.array([v], dtype=np.float64) for t, v in self._materials.items()}
        a = dolfinx.fem.Function(V, name="a")
        bs = V.dofmap.index_map_bs
        vals = a.x.array.reshape(-1, bs)
        dofs = V.dofmap.list[:n_owned, 0]
        for t, v in lookup.items():
            vals[dofs[tags == t]] = v
        # ghost cells get their owner's value
        a.x.scatter_forward()
        return a

    # ------------------------------------------------------------------ checks

    def check(
        self,
        mesh: dolfinx.mesh.Mesh,
        cell_tags: dolfinx.mesh.MeshTags | None = None,
        period: Sequence[float] | np.ndarray | None = None,
    ) -> None:
        """Check positivity (and Y-periodicity) of ``a`` on the mesh.

        Collective: every rank of ``mesh.comm`` must call it, and every rank
        raises the same error.

        Parameters
        ----------
        mesh : dolfinx.mesh.Mesh
            The cell mesh.
        cell_tags : dolfinx.mesh.MeshTags, optional
            For materials: if given, also check that tags and materials match.
        period : sequence of float, optional
            Box lengths ``L_i`` of the cell; if given, expression coefficients
            are checked for ``a(y) == a(y + L_i e_i)`` at sample points.

        Raises
        ------
        ConfigError
            ``a`` not finite, not positive (scalar) or not positive definite
            (matrix) somewhere, or not periodic.
        """
        self._check_mesh(mesh)
        if self._expr is None:
            self._check_materials()
            if cell_tags is not None:
                self._owned_cell_tags(mesh, cell_tags)
            return

        comm = mesh.comm
        pts = self._sample_points(mesh)
        self.check_positive(comm, pts)
        if period is not None:
            self._check_periodic(comm, pts, period)

    # ------------------------------------------------------------------ internals

    def _expr_list(self) -> list[Expression]:
        if isinstance(self._expr, Expression):
            return [self._expr]
        return [e for row in self._expr for e in row]

    def _check_mesh(self, mesh: dolfinx.mesh.Mesh) -> None:
        tdim = mesh.topology.dim
        if tdim != self._dim or mesh.geometry.dim < self._dim:
            raise ConfigError(
                f"coefficient is given for a {self._dim}D cell but the mesh is {tdim}D"
            )

    def _owned_cell_tags(
        self, mesh: dolfinx.mesh.Mesh, cell_tags: dolfinx.mesh.MeshTags | None
    ) -> np.ndarray:
        """Tag of every owned cell, after checking tags against materials (collective)."""
        if cell_tags is None:
            raise ConfigError(
                "coefficient is given per physical group (materials), but the mesh has "
                "no cell tags (physical groups)"
            )
        tdim = mesh.topology.dim
        if cell_tags.dim != tdim:
            raise ConfigError(
                f"cell tags are for entities of dimension {cell_tags.dim}, expected cells "
                f"(dimension {tdim})"
            )
        comm = mesh.comm
        imap = mesh.topology.index_map(tdim)
        n_owned = imap.size_local
        n_all = n_owned + imap.num_ghosts
        tags = np.zeros(n_all, dtype=np.int64)
        has = np.zeros(n_all, dtype=bool)
        idx = np.asarray(cell_tags.indices)
        tags[idx] = cell_tags.values
        has[idx] = True
        tags, has = tags[:n_owned], has[:n_owned]

        # Gather everything first, then decide: all ranks take the same branch.
        n_untagged = comm.allreduce(int(np.count_nonzero(~has)))
        n_cells = imap.size_global
        present_local = np.unique(tags[has]).tolist()
        present = sorted(set().union(*comm.allgather(present_local)))
        if n_untagged:
            raise ConfigError(
                f"{n_untagged} of {n_cells} cells have no physical group (cell tag); every "
                f"cell needs a material (physical groups in the mesh: {_fmt_tags(present)})"
            )
        given = sorted(self._materials)
        missing = [t for t in present if t not in self._materials]
        if missing:
            s = "s" if len(missing) > 1 else ""
            raise ConfigError(
                f"material for physical group{s} {_fmt_tags(missing)} missing; materials "
                f"given for {_fmt_tags(given)}"
            )
        unused = [t for t in given if t not in present]
        if unused:
            s = "s" if len(unused) > 1 else ""
            raise ConfigError(
                f"material given for physical group{s} {_fmt_tags(unused)}, which "
                f"{'are' if s else 'is'} not in the mesh (physical groups in the mesh: "
                f"{_fmt_tags(present)})"
            )
        return tags

    def _check_materials(self) -> None:
        for tag, v in self._materials.items():
            check_spd(v, "coefficient", where=f" in physical group {tag}")

    def _sample_points(self, mesh: dolfinx.mesh.Mesh) -> np.ndarray:
        """Geometry nodes, cell midpoints and random points in each owned cell."""
        d = self._dim
        x = mesh.geometry.x[:, :d]
        n_owned = mesh.topology.index_map(self._dim).size_local
        cell_x = x[mesh.geometry.dofmaps[0][:n_owned]]  # (cells, nodes per cell, d)
        mid = cell_x.mean(axis=1)
        # Seeded per rank: deterministic results for a given partition.
        rng = np.random.default_rng([20240611, mesh.comm.rank])
        k = cell_x.shape[1]
        w = rng.dirichlet(np.ones(k), size=(n_owned, _RANDOM_POINTS_PER_CELL))
        # Convex combinations of the nodes lie in the (convex, affine) cell.
        rand = np.einsum("cmk,ckd->cmd", w, cell_x).reshape(-1, d)
        return np.concatenate([x, mid, rand])

    def _check_periodic(self, comm: Any, pts: np.ndarray, period: Any) -> None:
        d = self._dim
        try:
            L = np.asarray(period, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            L = None
        if L is None or L.shape != (d,) or not np.all(np.isfinite(L)) or np.any(L <= 0):
            raise ConfigError(f"cell period must be {d} positive box lengths, got {period!r}")

        if isinstance(self._expr, Expression):
            entries = [("", self._expr)]
        else:
            entries = [(f"[{i}][{j}]", self._expr[i][j]) for i in range(d) for j in range(i, d)]
        entries = [(lbl, e) for lbl, e in entries if not e.constant]

        base = {lbl: e.evaluate(pts) for lbl, e in entries}
        local_scale = max(
            (float(np.max(np.abs(v[np.isfinite(v)]), initial=0.0)) for v in base.values()),
            default=0.0,
        )
        scale = comm.allreduce(local_scale, op=MPI.MAX)

        bad_local = None
        for i in range(d):
            shifted = pts.copy()
            shifted[:, i] += L[i]
            for lbl, e in entries:
                if i not in e.components:
                    continue
                v0, v1 = base[lbl], e.evaluate(shifted)
                tol = _PERIODIC_RTOL * np.maximum(np.maximum(np.abs(v0), np.abs(v1)), scale)
                with np.errstate(invalid="ignore"):
                    bad = ~(np.abs(v0 - v1) <= tol)
                bad &= np.isfinite(v0) | np.isfinite(v1)  # both nan/inf: check() reported it
                if np.any(bad):
                    k = int(np.flatnonzero(bad)[0])
                    bad_local = (i, lbl, pts[k].tolist(), float(v0[k]), float(v1[k]))
                    break
            if bad_local is not None:
                break

        bad = [b for b in comm.allgather(bad_local) if b is not None]
        if bad:
            i, lbl, p, v0, v1 = min(bad, key=lambda b: b[0])
            raise ConfigError(
                f"coefficient{' a' + lbl if lbl else ''} is not periodic in y[{i}] on the cell "
                f"(period L = {fmt_point(L)}): a{lbl}(y) = {v0:.10g} at "
                f"y = {fmt_point(np.asarray(p))} but {v1:.10g} at y + {L[i]:g} e_{i}"
            )


def _as_key(v: float | np.ndarray) -> Any:
    return tuple(np.asarray(v).reshape(-1).tolist())


def _tag_key(key: Any) -> int:
    """Physical group number from a dict key (TOML keys are strings)."""
    if isinstance(key, (bool, np.bool_)):
        raise ConfigError(f"material key {key!r} is not a physical group number (an integer)")
    if isinstance(key, numbers.Integral):
        return int(key)
    if isinstance(key, str):
        try:
            return int(key.strip())
        except ValueError:
            pass
    raise ConfigError(f"material key {key!r} is not a physical group number (an integer)")


def _check_symmetric(exprs: tuple[tuple[Expression, ...], ...], dim: int) -> None:
    """Compare a_ij and a_ji numerically (ConfigError if they differ)."""
    # Points well outside the unit cell too: the cell may be any box.
    rng = np.random.default_rng(12345)
    pts = rng.uniform(-1.0, 2.0, size=(64, dim))
    for i in range(dim):
        for j in range(i + 1, dim):
            aij, aji = exprs[i][j], exprs[j][i]
            if aij.text == aji.text:
                continue
            vij, vji = aij.evaluate(pts), aji.evaluate(pts)
            both = np.concatenate([vij, vji])
            # relative to the size of the entry, so tiny off-diagonals are not waved through
            scale = max(
                float(np.max(np.abs(both[np.isfinite(both)]), initial=0.0)), np.finfo(float).tiny
            )
            with np.errstate(invalid="ignore"):
                differ = ~(np.abs(vij - vji) <= SYMMETRY_RTOL * scale)
            differ &= ~(np.isnan(vij) & np.isnan(vji))
            if np.any(differ):
                k = int(np.flatnonzero(differ)[0])
                raise ConfigError(
                    f"coefficient matrix is not symmetric: a[{i}][{j}] = '{aij.text}' but "
                    f"a[{j}][{i}] = '{aji.text}' ({vij[k]:.6g} vs {vji[k]:.6g} at "
                    f"y = {fmt_point(pts[k])})"
                )
