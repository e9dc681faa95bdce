"""The stray-field interface: one field term, several open-boundary solvers.

The stray field of the Boltzmann-LLG paper (1.8)-(1.9) is ``H_s = -grad u`` with

    Delta u = div(m 1_Omega)  in R^3,    u -> 0 at infinity,

i.e. ``u`` continuous across ``dOmega`` with the jump ``[du/dn] = -m.n`` of the
normal derivative (m = 0 outside the magnet).  In the nondimensional units of
:mod:`femhomog.micromag.units` (fields in ``Ms``, energies in ``mu0 Ms^2 L^3``)
its energy is ``E_demag = -1/2 int_Omega H_s . m``.

A :class:`DemagSolver` computes the *nodal* field ``H_s`` of a P1
magnetization on the magnet mesh; :class:`StrayField` wraps any solver as an
explicit :class:`~femhomog.micromag.terms.FieldTerm` (field linear in ``m``,
energy factor 1/2) through the :class:`~femhomog.micromag.terms.ExtraField`
hook, so the integrators and the driver treat every method the same way.  Its
field form is the computed nodal field, not a derivative of the energy form
(``H_s(m)`` is not a UFL expression of ``m``).  The methods:

``fembem.FredkinKoehler``       FEM-BEM (Fredkin & Koehler 1990), dense double layer
``shell.ShellTransformation``   sparse: air region + shell mapped to infinity
``grid.GridConvolution``        FFT convolution (Newell tensor) on a grid over the magnet
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from femhomog import (
    ConfigError,
    _fenicsx,  # noqa: F401  (must precede dolfinx / petsc4py)
)

# isort: split
import dolfinx
import numpy as np
from mpi4py import MPI

from femhomog.micromag.terms import ExtraField

__all__ = ["DemagSolver", "StrayField"]


class DemagSolver(ABC):
    """An open-boundary solver for the stray field of a magnetization.

    Set up once per magnet mesh (matrices, preconditioners, boundary
    operators) and then evaluated many times.  All methods are collective over
    the magnet mesh's communicator.
    """

    #: Short name used in metadata (``"fembem"``, ``"shell"``, ``"fft"``).
    method: str = "demag"

    @abstractmethod
    def compute(self, m: dolfinx.fem.Function, out: dolfinx.fem.Function) -> None:
        """Write the nodal stray field ``H_s(m)`` (units of Ms) into ``out``.

        ``m`` and ``out`` live on the same P1 vector space ``("Lagrange", 1, (3,))``
        of the magnet mesh; owned values of ``out`` must be set (ghosts are
        updated by the caller).
        """

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable facts (method, dofs, setup times, ...)."""
        return {"method": self.method}

    def destroy(self) -> None:
        """Free PETSc objects."""


@dataclass(eq=False)
class StrayField(ExtraField):
    """The stray-field (demagnetizing) term ``H_s(m)``, ``E = -1/2 int H_s . m``.

    Parameters
    ----------
    solver
        The open-boundary method computing ``H_s``.
    name
        Key in the energy table (``E_demag`` in ``averages.csv``).
    """

    solver: DemagSolver | None = None
    provider: Any = field(default=None, init=False)
    energy_factor: float | None = field(default=0.5, init=False)
    name: str = "demag"

    def __post_init__(self) -> None:
        if not isinstance(self.solver, DemagSolver):
            raise ConfigError(f"stray field: solver must be a DemagSolver, got {self.solver!r}")
        solver = self.solver

        def provider(t: float, m: dolfinx.fem.Function, out: dolfinx.fem.Function) -> None:
            solver.compute(m, out)

        self.provider = provider
        super().__post_init__()
        # The field depends on m only; prepare() must still run at every state.
        self.time_dependent = False
        self.evaluations = 0
        self._last: tuple[Any, np.ndarray] | None = None  # (m, its values): the cache

    #: the field is linear in ``m`` and independent of ``t``: integrators may combine
    #: fields of earlier states instead of evaluating it at a combination of states
    linear = True

    def prepare(self, t: float, m: dolfinx.fem.Function) -> None:
        """Compute ``H_s(m)`` unless the field function already holds it (same ``m``
        function with the same values on every rank as at the last computation)."""
        last = self._last
        hit = last is not None and last[0] is m and np.array_equal(last[1], m.x.array)
        if m.function_space.mesh.comm.allreduce(hit, op=MPI.LAND):
            return
        super().prepare(t, m)
        self.evaluations += 1
        self._last = (m, m.x.array.copy())

    def field_values(self, m: dolfinx.fem.Function) -> np.ndarray:
        """A copy of the nodal ``H_s(m)`` (all local values; computed or cached)."""
        self.prepare(0.0, m)
        return self.field_function(m.function_space).x.array.copy()

    def set_field(self, space: dolfinx.fem.FunctionSpace, values: np.ndarray) -> None:
        """Put ``values`` (all local values) into the field function that the field form
        reads, e.g. an extrapolation of earlier fields; the cache is forgotten."""
        self.field_function(space).x.array[:] = values
        self._last = None

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), **self.solver.describe()}
