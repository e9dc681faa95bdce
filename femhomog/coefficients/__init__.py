"""Coefficients ``a`` of the cell problems and the field terms, behind one protocol.

``base``  :class:`Coefficient` (the protocol: ``ufl(mesh, y=...)``, ``check(mesh)``,
          ``check_positive``, ``evaluate``, ``describe``) and :class:`ConstantCoefficient`
          (a number or an SPD matrix such as ``A^H``)
``cell``  :class:`CellCoefficient`: expressions in ``y`` or constants per physical group

Symmetry and positive definiteness are judged once, by :mod:`femhomog.spd`.
"""

from femhomog.coefficients.base import Coefficient, ConstantCoefficient
from femhomog.coefficients.cell import CellCoefficient

__all__ = ["CellCoefficient", "Coefficient", "ConstantCoefficient"]
