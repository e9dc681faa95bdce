"""Spin drift-diffusion: charge density rho and spin accumulation s on a conductor,
coupled to the magnetization m of a magnet inside it (Boltzmann-LLG paper, Sect. 4).

``transport``  (4.6) for s (conservative drift, sharp magnet indicator, pinned layers,
               implicit steps, quasi-static)
``charge``     (4.5) for rho (Slotboom form: positive, mass-conserving)
``potential``  phi of the current equation div(sigma grad phi) = 0 with electrode values
``transfer``   m on the magnet (sub)mesh <-> the conductor's spaces, exact nodal copies
``coupled``    the pair (m, s) with rho: problem and integrator of the time-stepping layer
``build``      the ``[spin]`` section of the LLG job -> the coupled problem and integrator
``outputs``    the averages columns (sx, sy, sz, s_rms, rho_mean) and field functions
``units``      SI (Zhang-Levy-Fert / magnum.fe: D0, lambda_sf, lambda_J, beta, beta') -> the
               nondimensional parameters (pure numpy)

Importing this package does not import dolfinx: the classes load on first access.
"""

from importlib import import_module
from typing import Any

_LAZY = {
    "SpinTransport": "transport",
    "ChargeTransport": "charge",
    "magnet_indicator": "transport",
    "SCHEMES": "transport",
    "CurrentPotential": "potential",
    "MagnetTransfer": "transfer",
    "magnet_submesh": "transfer",
    "MODES": "coupled",
    "CoupledStepInfo": "coupled",
    "SpinLLGIntegrator": "coupled",
    "SpinLLGProblem": "coupled",
}

__all__ = ["MODES", "SCHEMES", "ChargeTransport", "CoupledStepInfo", "CurrentPotential",
           "MagnetTransfer",
           "SpinLLGIntegrator", "SpinLLGProblem", "SpinTransport", "magnet_indicator",
           "magnet_submesh"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"femhomog.spin.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'femhomog.spin' has no attribute {name!r}")
