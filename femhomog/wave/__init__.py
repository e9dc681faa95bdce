"""Wave propagation in periodic media: the fine-scale equation (13) and the effective
equations (14) of the wave paper.

``fourier``     exact Fourier-mode evolution of the effective equations (14), (29) on
                periodic boxes (pure numpy)
``fine_scale``  the fine-scale equation (13): GLL spectral elements with a lumped mass,
                explicit leapfrog of order 2 or 4 (dolfinx, PETSc)
``chebyshev``   time-exact propagation of the space-discrete equation (Chebyshev series)
``effective_fe`` the effective equations (14) of order s = 0, 1 with finite elements on
                bounded boxes (C0 interior penalty, trapezoidal rule)
``bloch``       the same discrete fine-scale solution as ``fine_scale``/``chebyshev``,
                exact in time, by Bloch-Floquet decomposition of the assembled operator
                (pure numpy): on a uniform mesh of a periodic box the GLL operator
                (K, M lumped) commutes with the translation by one period (one element
                along an axis a does not depend on), so it splits into one small
                Hermitian problem per Bloch wave number.  Applies to periodic boxes,
                uniform meshes, f = 0; ``bloch_fe`` extracts the blocks from
                ``FineScaleWave`` and maps the solution to its vectors, ``bloch_runs``
                runs Fig. 1/Fig. 2 with it (``demos/wave_fig1.py``, ``wave_fig2.py``)

Importing this package does not import dolfinx: the dolfinx classes load on first
access, e.g. ``from femhomog.wave import FineScaleWave``.
"""

from importlib import import_module
from typing import Any

from femhomog.wave.fourier import (
    EffectiveFourierSolver,
    PeriodicGrid,
    mode_propagators,
    relative_l2_error,
)

_LAZY = {
    "ChebyshevPropagator": "chebyshev",
    "EffectiveWaveFE": "effective_fe",
    "FineScaleWave": "fine_scale",
    "LeapfrogStepper": "fine_scale",
    "WaveSource": "fine_scale",
}

__all__ = [
    "ChebyshevPropagator",
    "EffectiveFourierSolver",
    "EffectiveWaveFE",
    "FineScaleWave",
    "LeapfrogStepper",
    "PeriodicGrid",
    "WaveSource",
    "mode_propagators",
    "relative_l2_error",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"femhomog.wave.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'femhomog.wave' has no attribute {name!r}")
