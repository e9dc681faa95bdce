"""Zeeman energy of a spatially uniform applied field ``h(t)``: ``E = -int h . m``.

Integrated with the vertex rule (:func:`.quadrature.lumped_measure`), so the
derived field ``(h, phi)_h`` is nodal.
"""

from __future__ import annotations

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
import ufl

from femhomog.micromag.terms.base import FieldTerm, finite_vector, mesh_of
from femhomog.micromag.terms.quadrature import lumped_measure

__all__ = ["Zeeman"]


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
        self._value = np.zeros(3) if self.time_dependent else finite_vector(self.h, "Zeeman: h")
        self._t: float | None = None

    def value(self, t: float) -> np.ndarray:
        """``h(t)`` (validated)."""
        if not self.time_dependent:
            return self._value.copy()
        try:
            raw = self.h(t)  # type: ignore[operator]
        except Exception as err:  # noqa: BLE001  (a user callable: report what failed)
            raise ConfigError(f"Zeeman: h(t) failed at t = {t:g}: {err}") from None
        return finite_vector(raw, f"Zeeman: h(t) at t = {t:g}")

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
        mesh = mesh_of(m)
        return -ufl.inner(self._const(mesh), m) * lumped_measure(mesh)

    def describe(self) -> dict[str, Any]:
        h = "callable" if self.time_dependent else self._value.tolist()
        return {**super().describe(), "h": h}
