"""Micromagnetics: the Landau-Lifshitz(-Gilbert) equation (LL paper (3.1), (3.2)).

``units``          SI <-> nondimensional scaling (Gilbert and LL forms), in one place
``terms``          field terms, one per module, the field derived from the energy:
                   exchange a(x/eps) or A^H, anisotropy, Zeeman, applied field h(x, t), hook
``problem``        :class:`LLGProblem`: P1 magnetization, (periodic) constraint, nodal checks
``tangent_plane``  Alouges' tangent-plane theta-scheme (linear, first order, energy-stable)
``midpoint``       implicit midpoint rule with SNES (second order, nodal |m| exact), step doubling
``outputs``        what an LLG run records: averages columns, output units, progress text
``build``, ``job`` config -> objects, and the ``femhomog llg`` job on :class:`femhomog.Simulation`

Importing this package imports only the pure-python ``units``; the FEniCSx
classes (``LLGProblem``, the field terms and integrators) are loaded on first
access, e.g. ``from femhomog.micromag import LLGProblem``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from femhomog.micromag.units import (
    GAMMA_FREE_ELECTRON,
    MU0,
    Units,
    check_damping,
    gilbert_to_landau_lifshitz,
    landau_lifshitz_to_gilbert,
)

# name -> submodule, imported lazily (they import dolfinx)
_LAZY = {
    "FieldTerm": "terms",
    "AppliedField": "terms",
    "Exchange": "terms",
    "UniaxialAnisotropy": "terms",
    "Zeeman": "terms",
    "ExtraField": "terms",
    "lumped_measure": "terms",
    "LLGProblem": "problem",
    "TangentPlaneIntegrator": "tangent_plane",
    "TangentPlaneBDF2Integrator": "tangent_plane_bdf2",
    "NodalTangentConstraint": "tangent_plane",
    "MidpointIntegrator": "midpoint",
    "AdaptiveStepInfo": "midpoint",
    "StepInfo": "_solvers",
    "OutputScales": "outputs",
    "llg_columns": "outputs",
    "llg_line": "outputs",
    "llg_postfix": "outputs",
    "llg_state": "outputs",
}

__all__ = [
    "GAMMA_FREE_ELECTRON",
    "MU0",
    "AdaptiveStepInfo",
    "AppliedField",
    "Exchange",
    "ExtraField",
    "FieldTerm",
    "LLGProblem",
    "MidpointIntegrator",
    "NodalTangentConstraint",
    "OutputScales",
    "StepInfo",
    "TangentPlaneBDF2Integrator",
    "TangentPlaneIntegrator",
    "UniaxialAnisotropy",
    "Units",
    "Zeeman",
    "check_damping",
    "gilbert_to_landau_lifshitz",
    "landau_lifshitz_to_gilbert",
    "llg_columns",
    "llg_line",
    "llg_postfix",
    "llg_state",
    "lumped_measure",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"femhomog.micromag.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'femhomog.micromag' has no attribute {name!r}")
