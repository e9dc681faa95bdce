"""The hook for fields computed outside UFL (stray field, spin accumulation, ...).

The provider fills a P1 function; the field form is written out, not derived:
the energy ``-f int H . m`` (``f = 1/2`` for a field linear in ``m``) does not
know how ``H`` depends on ``m``.
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

from femhomog.micromag.terms.base import FieldTerm, finite_number, mesh_of
from femhomog.micromag.terms.quadrature import lumped_measure

__all__ = ["ExtraField"]


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
            self.energy_factor = finite_number(self.energy_factor, "extra field: energy_factor")
        self.time_dependent = True

    def field_function(self, space: dolfinx.fem.FunctionSpace) -> dolfinx.fem.Function:
        """The function holding the provided field on ``space``'s mesh."""
        return self._per_mesh(space.mesh, lambda: dolfinx.fem.Function(space, name=self.name))

    def prepare(self, t: float, m: dolfinx.fem.Function) -> None:
        H = self.field_function(m.function_space)
        self.provider(t, m, H)
        H.x.scatter_forward()

    def energy_form(self, m: Any) -> ufl.Form:
        mesh = mesh_of(m)
        H = self.field_function(m.ufl_function_space())
        factor = 0.0 if self.energy_factor is None else self.energy_factor
        c = dolfinx.fem.Constant(mesh, np.float64(-factor))
        return c * ufl.inner(H, m) * lumped_measure(mesh)

    def field_form(self, m: Any, phi: Any) -> ufl.Form:
        """``(H, phi)_h`` with the provided ``H`` (not derived: ``H(m)`` is not UFL)."""
        mesh = mesh_of(phi)
        H = self.field_function(phi.ufl_function_space())
        return ufl.inner(H, phi) * lumped_measure(mesh)
