"""Applied field varying in space and time, ``H = h(x, t)``: ``E = -int h . m``.

Given as a UFL expression of ``(x, t)`` or as a callable interpolated into P1;
integrated with the vertex rule like :mod:`.zeeman`.
"""

from __future__ import annotations

from collections.abc import Callable
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

from femhomog.micromag.terms.base import FieldTerm, mesh_of
from femhomog.micromag.terms.quadrature import lumped_measure

__all__ = ["AppliedField"]


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
        return -ufl.inner(self._field(m), m) * lumped_measure(mesh_of(m))

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "h": "symbolic" if self.symbolic else "callable"}
