"""Open-boundary stray field (Boltzmann-LLG paper (1.8)-(1.9)).

``base``      :class:`DemagSolver` (the solver interface) and :class:`StrayField` (the term)
``fembem``    :class:`FredkinKoehler`: FEM-BEM, dense Lindholm double layer on the magnet mesh
``layered``   :class:`LayeredPotential`: FEM-BEM with the potential on more layers than m
              (films extruded along z)
``lindholm``  its pure numpy kernels: Lindholm's weights, vertex solid angles
``shell``     :class:`ShellTransformation`: sparse, air + a shell mapped to infinity
``grid``      :class:`GridConvolution`: FFT convolution on a regular grid over the magnet
``newell``    its pure numpy part: Newell's demagnetizing tensor, the padded FFT
``analytic``  closed-form demagnetizing factors (ellipsoids, prisms): the test truths
"""

from femhomog.micromag.demag.analytic import (
    ellipsoid_demag_factors,
    prism_demag_factors,
    spheroid_demag_factors,
)
from femhomog.micromag.demag.base import DemagSolver, StrayField
from femhomog.micromag.demag.fembem import FredkinKoehler
from femhomog.micromag.demag.grid import GridConvolution
from femhomog.micromag.demag.layered import LayeredPotential
from femhomog.micromag.demag.shell import ShellTransformation

__all__ = [
    "DemagSolver",
    "FredkinKoehler",
    "GridConvolution",
    "LayeredPotential",
    "ShellTransformation",
    "StrayField",
    "ellipsoid_demag_factors",
    "prism_demag_factors",
    "spheroid_demag_factors",
]
