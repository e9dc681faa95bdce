"""Uniaxial anisotropy ``E = -q/2 int (m.e)^2`` with a convex implicit part.

The field is the derivative of the (lumped) energy; the implicit bilinear
form is not the Hessian of this possibly concave energy but of its convex
representative on unit vectors (module docstring of :mod:`.base`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from femhomog import (
    ConfigError,
    _fenicsx,  # noqa: F401  (must precede dolfinx / petsc4py)
)

# isort: split
import dolfinx
import ufl

from femhomog.micromag.terms.base import FieldTerm, finite_number, finite_vector, mesh_of
from femhomog.micromag.terms.quadrature import lumped_measure

__all__ = ["UniaxialAnisotropy"]


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
        self.q = finite_number(self.q, "anisotropy: q")
        e = finite_vector(self.axis, "anisotropy: axis")
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
        mesh = mesh_of(m)
        q, _, e = self._consts(mesh)
        return -0.5 * q * ufl.inner(m, e) ** 2 * lumped_measure(mesh)

    # field_form: the derivative q ((m.e), (phi.e))_h of the energy

    def bilinear(self, u: Any, phi: Any) -> ufl.Form | None:
        """``q+ (u, phi)_h - q (u.e, phi.e)_h`` (positive semi-definite for either sign)."""
        if not self.implicit:
            return None
        mesh = mesh_of(phi)
        q, q_plus, e = self._consts(mesh)
        return (q_plus * ufl.inner(u, phi) - q * ufl.inner(u, e) * ufl.inner(phi, e)) * (
            lumped_measure(mesh)
        )

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "q": self.q, "axis": self._e.tolist()}
