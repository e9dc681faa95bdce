"""Quadrature rules of the field terms: vertex (lumped) and tensor Gauss-Legendre.

``lumped_measure``         the vertex rule: with P1 functions every lower-order
                           form becomes a sum over nodes (diagonal, "lumped" mass)
``tensor_gauss_metadata``  an anisotropic tensor Gauss rule on axis-aligned
                           quadrilaterals/hexahedra (exchange ``a(x/eps)`` of laminates)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from femhomog import (
    ConfigError,
    _fenicsx,  # noqa: F401  (must precede dolfinx / petsc4py)
)

# isort: split
import dolfinx
import ufl

__all__ = ["lumped_measure", "tensor_gauss_metadata"]

#: Vertex quadrature: with P1 functions the mass matrix is diagonal (lumped)
#: and every lower-order form becomes a sum over nodes.
VERTEX_METADATA = {"quadrature_rule": "vertex", "quadrature_degree": 1}


def lumped_measure(mesh: dolfinx.mesh.Mesh) -> ufl.Measure:
    """The cell measure with vertex quadrature (nodal / mass-lumped integrals)."""
    return ufl.Measure("dx", domain=mesh, metadata=VERTEX_METADATA)


def tensor_gauss_metadata(mesh: dolfinx.mesh.Mesh, points: Sequence[int]) -> dict[str, Any]:
    """UFL metadata of a tensor Gauss-Legendre rule with ``points[i]`` points along x_i.

    The form compiler's own rules have the same number of points along every
    axis; an anisotropic rule needs the "custom" rule with explicit points on
    the reference cell.  Which reference axis runs along which physical axis
    is read off the cell geometry (dolfinx's box generators map the reference
    X axis to x_2 on quadrilaterals): every cell must agree.

    Raises
    ------
    femhomog.ConfigError
        If the mesh is not made of quadrilaterals/hexahedra, ``points`` does
        not have one entry per axis, or the cells are not axis-aligned with one
        common orientation (collective check).
    """
    import basix

    name = mesh.topology.cell_name()
    d = mesh.topology.dim
    if name not in ("quadrilateral", "hexahedron") or len(points) != d:
        raise ConfigError(
            f"exchange: gauss_points needs a quadrilateral/hexahedral mesh and one count per "
            f"axis, got {tuple(points)} on {name} cells"
        )
    # tensor-product node order: vertices 1, 2 (and 4) are the neighbours of
    # vertex 0 along the reference axes X, Y (and Z)
    geo = mesh.geometry
    nodes = geo.dofmaps[0][: mesh.topology.index_map(d).size_local]
    edges = np.stack([geo.x[nodes[:, k], :d] - geo.x[nodes[:, 0], :d] for k in (1, 2, 4)[:d]], 1)
    axis = np.argmax(np.abs(edges), axis=2)  # (cells, reference axis) -> physical axis
    ok = bool(np.all(axis == axis[:1])) if len(axis) else True
    off = np.abs(edges).sum(axis=2) - np.abs(edges).max(axis=2)
    ok = ok and bool(np.all(off <= 1e-10 * np.abs(edges).max(axis=2)))
    mine = tuple(axis[0]) if len(axis) else None
    views = mesh.comm.allgather((ok, mine))
    orientations = {v[1] for v in views if v[1] is not None}
    if not all(v[0] for v in views) or len(orientations) != 1:
        raise ConfigError(
            "exchange: gauss_points needs axis-aligned cells with one common orientation "
            "(a periodic_box_mesh grid)"
        )
    (physical,) = orientations
    rules = [
        basix.make_quadrature(
            basix.CellType.interval,
            2 * points[physical[r]] - 1,
            rule=basix.QuadratureType.gauss_jacobi,
        )
        for r in range(d)
    ]
    grids = np.meshgrid(*[r[0][:, 0] for r in rules], indexing="ij")
    pts = np.column_stack([g.ravel() for g in grids])
    wts = np.prod(np.meshgrid(*[r[1] for r in rules], indexing="ij"), axis=0).ravel()
    return {"quadrature_rule": "custom", "quadrature_points": pts, "quadrature_weights": wts}
