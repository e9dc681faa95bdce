"""The coefficient protocol and its constant implementation.

:class:`Coefficient` is what forms and checks need from a scalar or symmetric
matrix coefficient ``a``: its UFL expression at a point ``y`` (the cell
coordinate, or ``x/eps`` for the oscillating ``a(x/eps)`` of the LL paper
(3.1)), a collective check on a mesh, point values and a JSON description.
The cell problems (:class:`~femhomog.coefficients.cell.CellCoefficient`: expressions or
per-material constants) and the exchange term (which also takes a number or a
constant matrix such as ``A^H``, :class:`ConstantCoefficient`) use it alike;
positivity goes through the one validator of :mod:`femhomog.spd`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from femhomog import _fenicsx  # noqa: F401  (must precede dolfinx / petsc4py)

# isort: split
import dolfinx

from femhomog import ConfigError
from femhomog.spd import check_spd, definiteness

__all__ = ["Coefficient", "ConstantCoefficient"]


def fmt_point(p: np.ndarray) -> str:
    """``(0.5, 1)``: a point in messages."""
    return "(" + ", ".join(f"{v:.6g}" for v in p) + ")"


class Coefficient(ABC):
    """A scalar or symmetric ``d x d`` matrix coefficient ``a(y)``.

    Attributes
    ----------
    dim : int or None
        Dimension ``d`` of the matrix and of ``y``; None for a constant
        number (any dimension).
    is_matrix : bool
        True for a ``d x d`` matrix coefficient.
    kind : str
        ``"expression"``, ``"materials"`` or ``"constant"``.
    constant : bool
        True if ``a`` does not depend on ``y``.
    """

    @property
    @abstractmethod
    def dim(self) -> int | None: ...

    @property
    @abstractmethod
    def is_matrix(self) -> bool: ...

    @property
    @abstractmethod
    def kind(self) -> str: ...

    @property
    @abstractmethod
    def constant(self) -> bool: ...

    @abstractmethod
    def evaluate(self, points: np.ndarray) -> np.ndarray:
        """Values at points ``(N, k)``, ``k >= dim``: ``(N,)`` or ``(N, d, d)``."""

    @abstractmethod
    def ufl(
        self, mesh: dolfinx.mesh.Mesh, cell_tags: dolfinx.mesh.MeshTags | None = None, y: Any = None
    ) -> Any:
        """UFL expression of ``a`` on ``mesh`` at ``y`` (default the spatial coordinate)."""

    @abstractmethod
    def check(
        self,
        mesh: dolfinx.mesh.Mesh,
        cell_tags: dolfinx.mesh.MeshTags | None = None,
        period: Sequence[float] | np.ndarray | None = None,
    ) -> None:
        """Validate ``a`` on a mesh (collective; the same ConfigError on every rank)."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """JSON-serialisable description (for result metadata)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()!r})"

    def check_positive(
        self,
        comm: Any,
        points: np.ndarray,
        *,
        what: str = "coefficient",
        symbol: str = "a(y)",
        at: str = "y",
    ) -> None:
        """``a`` finite and positive (definite) at ``points`` (collective).

        Every rank raises the same one-line ConfigError, reporting the first
        non-finite value or else the smallest eigenvalue among the points that
        fail :func:`femhomog.spd.definiteness`, e.g. ``"coefficient is not
        positive: a(y) = -0.5 at y = (0, 0.25)"``.
        """
        vals = self.evaluate(points)
        lam, ok = definiteness(vals)
        finite = ~np.isnan(lam)
        bad_local = None
        if not np.all(finite):
            i = int(np.flatnonzero(~finite)[0])
            v = vals[i]
            bad_local = (float(v) if not self.is_matrix else str(v.tolist()), points[i].tolist())
        fail_local = None
        if not np.all(ok[finite]):
            idx = np.flatnonzero(finite & ~ok)
            i = int(idx[np.argmin(lam[idx])])
            fail_local = (float(lam[i]), np.asarray(vals[i]).tolist(), points[i].tolist())
        gathered = comm.allgather((bad_local, fail_local))
        bad = [b for b, _ in gathered if b is not None]
        if bad:
            v, p = bad[0]
            raise ConfigError(
                f"{what} is not finite: {symbol} = {v} at {at} = {fmt_point(np.asarray(p))}"
            )
        fails = [f for _, f in gathered if f is not None]
        if fails:
            _, v, p = min(fails, key=lambda f: f[0])
            arr = np.asarray(v, dtype=np.float64)
            if arr.ndim:
                arr = 0.5 * (arr + arr.T)
            check_spd(arr, what, symbol=symbol, where=f" at {at} = {fmt_point(np.asarray(p))}")
            raise ConfigError(f"{what} is not positive (definite) at {at} = {fmt_point(p)}")


class ConstantCoefficient(Coefficient):
    """A positive number or a symmetric positive definite matrix (e.g. ``A^H`` of (3.2)).

    Parameters
    ----------
    value
        A number or a square matrix (nested lists or array).
    what
        Subject of the error messages (e.g. ``"exchange: coefficient a"``).

    Raises
    ------
    ConfigError
        Not finite, not symmetric or not positive (definite): :func:`femhomog.spd.check_spd`.
    """

    def __init__(self, value: Any, what: str = "coefficient") -> None:
        checked = check_spd(value, what)
        if isinstance(checked, np.ndarray):
            checked.setflags(write=False)
        self._value = checked
        self._what = what

    @property
    def value(self) -> float | np.ndarray:
        """The number or the (symmetrized, read-only) matrix."""
        return self._value

    @property
    def dim(self) -> int | None:
        return self._value.shape[0] if isinstance(self._value, np.ndarray) else None

    @property
    def is_matrix(self) -> bool:
        return isinstance(self._value, np.ndarray)

    @property
    def kind(self) -> str:
        return "constant"

    @property
    def constant(self) -> bool:
        return True

    def evaluate(self, points: np.ndarray) -> np.ndarray:
        n = np.asarray(points).shape[0]
        if isinstance(self._value, np.ndarray):
            return np.broadcast_to(self._value, (n, *self._value.shape)).copy()
        return np.full(n, self._value)

    def _check_mesh(self, mesh: dolfinx.mesh.Mesh) -> None:
        d = self.dim
        if d is not None and mesh.topology.dim != d:
            raise ConfigError(
                f"{self._what} is a {d} x {d} matrix but the mesh has dimension "
                f"{mesh.topology.dim}"
            )

    def ufl(
        self, mesh: dolfinx.mesh.Mesh, cell_tags: dolfinx.mesh.MeshTags | None = None, y: Any = None
    ) -> Any:
        """A :class:`dolfinx.fem.Constant` on ``mesh`` (``y`` is irrelevant)."""
        self._check_mesh(mesh)
        return dolfinx.fem.Constant(mesh, np.array(self._value, dtype=np.float64))

    def check(
        self,
        mesh: dolfinx.mesh.Mesh,
        cell_tags: dolfinx.mesh.MeshTags | None = None,
        period: Sequence[float] | np.ndarray | None = None,
    ) -> None:
        """The matrix dimension against the mesh (the value was checked on construction)."""
        self._check_mesh(mesh)

    def describe(self) -> dict[str, Any]:
        v = self._value
        return {
            "kind": "constant",
            "shape": "matrix" if self.is_matrix else "scalar",
            "a": v.tolist() if isinstance(v, np.ndarray) else v,
        }
