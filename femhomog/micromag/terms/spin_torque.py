"""The spin-accumulation field ``H_s = c_s s`` of the coupled spin-LLG system.

In the Boltzmann-LLG paper's diffusion limit (Sect. 4) the magnetization feels the
spin accumulation ``s`` as an extra field, ``d_t m = -gamma m x (H_eff + c_s s) +
alpha m x d_t m``.  ``s`` is computed by the spin transport on the conductor
(:mod:`femhomog.spin`) and copied onto the magnet's P1 space before each LLG step;
for the LLG integrators it is an explicit field that does not depend on ``m``.

Its "energy" ``E_spin = -c_s int s . m`` (vertex rule) is that of an applied field:
``s`` is held fixed while ``m`` moves, so ``H_s = -dE_spin/dm = c_s s`` follows by the
default derivative.  It is reported as the column ``E_spin``; it is not a conserved
quantity of the coupled system.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from femhomog import _fenicsx  # noqa: F401  (must precede dolfinx / petsc4py)

# isort: split
import dolfinx
import ufl

from femhomog.micromag.terms.base import FieldTerm, finite_number, mesh_of
from femhomog.micromag.terms.quadrature import lumped_measure

__all__ = ["SpinTorque"]


@dataclass(eq=False)
class SpinTorque(FieldTerm):
    """Field ``c_s s`` of a spin accumulation ``s`` given at the magnet's nodes.

    Parameters
    ----------
    coupling
        ``c_s`` (any finite number; 0 switches the torque off).
    name
        Key in the energy table.

    Notes
    -----
    :meth:`spin_function` is the P1 vector function on the magnet mesh that holds
    ``s``; whoever owns the transport writes it before the LLG step.
    """

    coupling: float = 1.0
    name: str = "spin"
    implicit: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.coupling = finite_number(self.coupling, "spin torque: coupling")
        self.time_dependent = True

    def _data(self, mesh: dolfinx.mesh.Mesh) -> tuple[dolfinx.fem.Function, Any]:
        """``(s, c_s)`` on ``mesh``: the P1 function (zero at first) and the constant."""
        def build() -> tuple[dolfinx.fem.Function, dolfinx.fem.Constant]:
            V = dolfinx.fem.functionspace(mesh, ("Lagrange", 1, (3,)))
            return (dolfinx.fem.Function(V, name="s_magnet"),
                    dolfinx.fem.Constant(mesh, np.float64(self.coupling)))
        return self._per_mesh(mesh, build)

    def spin_function(self, mesh: dolfinx.mesh.Mesh) -> dolfinx.fem.Function:
        """``s`` on the P1 vector space of ``mesh`` (created on first use, zero)."""
        return self._data(mesh)[0]

    def energy_form(self, m: Any) -> ufl.Form:
        s, c_s = self._data(mesh_of(m))
        return -c_s * ufl.inner(s, m) * lumped_measure(mesh_of(m))

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "coupling": self.coupling}
