"""Field terms of the effective field ``H = -dE/dm``, one per module.

``base``        :class:`FieldTerm`: the energy form, the field derived from it by
                ``ufl.derivative``, the implicit part (protocol of the integrators)
``quadrature``  vertex (lumped) measure, tensor Gauss rules
``exchange``    exchange ``a(x/eps)`` (3.1) or ``A^H`` (3.2), implicit
``anisotropy``  uniaxial anisotropy, convex implicit part
``zeeman``      uniform applied field ``h(t)``
``applied``     applied field ``h(x, t)`` (symbolic or interpolated)
``spin_torque`` the spin-accumulation field ``c_s s`` of the spin-LLG coupling
``extra``       hook for fields computed elsewhere; the stray field
                (:class:`femhomog.micromag.demag.StrayField`) is one
"""

from femhomog.micromag.terms.anisotropy import UniaxialAnisotropy
from femhomog.micromag.terms.applied import AppliedField
from femhomog.micromag.terms.base import FieldTerm
from femhomog.micromag.terms.exchange import Exchange
from femhomog.micromag.terms.extra import ExtraField
from femhomog.micromag.terms.quadrature import lumped_measure, tensor_gauss_metadata
from femhomog.micromag.terms.spin_torque import SpinTorque
from femhomog.micromag.terms.zeeman import Zeeman

__all__ = [
    "AppliedField",
    "Exchange",
    "ExtraField",
    "FieldTerm",
    "SpinTorque",
    "UniaxialAnisotropy",
    "Zeeman",
    "lumped_measure",
    "tensor_gauss_metadata",
]
