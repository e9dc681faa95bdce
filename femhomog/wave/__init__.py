"""Wave propagation in periodic media: the fine-scale equation (13) and the effective
equations (14) of the wave paper.

``fourier``  exact Fourier-mode evolution of the effective equations (14), (29) on
             periodic boxes (pure numpy)

Importing this package does not import dolfinx.
"""

from femhomog.wave.fourier import (
    EffectiveFourierSolver,
    PeriodicGrid,
    mode_propagators,
    relative_l2_error,
)

__all__ = ["EffectiveFourierSolver", "PeriodicGrid", "mode_propagators", "relative_l2_error"]
