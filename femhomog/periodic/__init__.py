"""Linear constraints for dolfinx function spaces (prolongation P, reduced P^T A P):
periodicity and homogeneous Dirichlet conditions."""

from femhomog.periodic.constraint import (
    LinearConstraint,
    PeriodicBox,
    PeriodicConstraint,
    mesh_bounding_box,
    periodic_constraint,
)
from femhomog.periodic.dirichlet import dirichlet_constraint

__all__ = [
    "LinearConstraint",
    "PeriodicBox",
    "PeriodicConstraint",
    "dirichlet_constraint",
    "mesh_bounding_box",
    "periodic_constraint",
]
