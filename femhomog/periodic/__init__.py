"""Periodic constraints for dolfinx function spaces (prolongation P, reduced P^T A P)."""

from femhomog.periodic.constraint import (
    LinearConstraint,
    PeriodicBox,
    PeriodicConstraint,
    mesh_bounding_box,
    periodic_constraint,
)

__all__ = [
    "LinearConstraint",
    "PeriodicBox",
    "PeriodicConstraint",
    "mesh_bounding_box",
    "periodic_constraint",
]
