"""Open-boundary stray field (Boltzmann-LLG paper (1.8)-(1.9)): see :mod:`.base`."""

from femhomog.micromag.demag.base import DemagSolver, StrayField

__all__ = ["DemagSolver", "StrayField"]
