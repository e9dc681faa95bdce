"""Coefficients and data of the spin and charge transports: the magnet's indicator, ``D``,
the diffusive flux, pinned layers, Dirichlet (injection) conditions.

Shared by :mod:`femhomog.spin.transport` and :mod:`femhomog.spin.charge`; every
function checks its input and raises a one-line :class:`femhomog.ConfigError`
(collective where it gathers the tags of all ranks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from femhomog import (
    ConfigError,
    _fenicsx,  # noqa: F401  (must precede dolfinx)
)

# isort: split
import dolfinx
import ufl

from femhomog.coefficients import CellCoefficient

__all__ = ["diffusion", "dirichlet_conditions", "flux", "magnet_indicator",
           "pinned_magnetization"]


def magnet_indicator(mesh: dolfinx.mesh.Mesh, cell_tags: dolfinx.mesh.MeshTags | None,
                     magnet_tags: Sequence[int] | None) -> dolfinx.fem.Function:
    """DG0 function: 1 on the cells tagged ``magnet_tags``, 0 elsewhere.

    ``magnet_tags = None`` makes the whole conductor magnetic (a single-layer problem).
    """
    Q = dolfinx.fem.functionspace(mesh, ("DG", 0))
    chi = dolfinx.fem.Function(Q, name="chi_magnet")
    if magnet_tags is None:
        chi.x.array[:] = 1.0
        return chi
    if cell_tags is None:
        raise ConfigError("magnet tags need the conductor mesh's cell tags")
    known = set(np.unique(np.concatenate(mesh.comm.allgather(cell_tags.values))).tolist())
    missing = [t for t in magnet_tags if t not in known]
    if missing:
        raise ConfigError(f"unknown magnet cell tag(s) {missing} (the mesh has "
                          f"{sorted(known)})")
    cells = cell_tags.indices[np.isin(cell_tags.values, list(magnet_tags))]
    chi.x.array[:] = 0.0
    chi.x.array[cells] = 1.0
    chi.x.scatter_forward()
    return chi


def diffusion(D: CellCoefficient | float, mesh: dolfinx.mesh.Mesh,
               cell_tags: dolfinx.mesh.MeshTags | None) -> tuple[CellCoefficient, Any]:
    dim = mesh.topology.dim
    if isinstance(D, int | float):
        if not (np.isfinite(D) and D > 0):
            raise ConfigError(f"spin D must be > 0, got {D!r}")
        D = CellCoefficient.from_expression(repr(float(D)), dim)
    try:
        D.check(mesh, cell_tags)  # positive (definite) everywhere: collective
    except ConfigError as exc:
        raise ConfigError(f"spin D: {exc}") from None
    return D, D.ufl(mesh, cell_tags)


def flux(D_ufl: Any, grad_part: Any) -> Any:
    """``D g`` row-wise for a scalar or matrix ``D`` (``g`` a vector or a 3 x d matrix)."""
    if len(ufl.shape(D_ufl)) == 0:
        return D_ufl * grad_part
    if len(ufl.shape(grad_part)) == 1:
        return ufl.dot(D_ufl, grad_part)
    return ufl.dot(grad_part, ufl.transpose(D_ufl))  # row k: D (grad s_k + s_k grad phi)


def pinned_magnetization(mesh: dolfinx.mesh.Mesh, pinned: Mapping[int, Sequence[float]],
                     cell_tags: dolfinx.mesh.MeshTags | None,
                     magnet_tags: Sequence[int] | None) -> dolfinx.fem.Function | None:
    """DG0 vector function: the fixed unit ``m`` on the pinned cells, 0 elsewhere."""
    if not pinned:
        return None
    if cell_tags is None or magnet_tags is None:
        raise ConfigError("pinned magnetic layers need the conductor's cell tags and "
                          "magnet_tags (the pinned cells are not part of the magnet)")
    known = set(np.unique(np.concatenate(mesh.comm.allgather(cell_tags.values))).tolist())
    Q = dolfinx.fem.functionspace(mesh, ("DG", 0, (3,)))
    m_pinned = dolfinx.fem.Function(Q, name="m_pinned")
    values = m_pinned.x.array.reshape(-1, 3)
    for tag, vec in pinned.items():
        v = np.asarray(vec, dtype=float).reshape(-1)
        if int(tag) not in known or int(tag) in magnet_tags:
            raise ConfigError(f"pinned cell tag {tag} must be a tag of the mesh "
                              f"({sorted(known)}) outside the magnet {list(magnet_tags)}")
        if v.shape != (3,) or not np.all(np.isfinite(v)) or np.linalg.norm(v) == 0:
            raise ConfigError(f"pinned magnetization of tag {tag} must be a non-zero "
                              f"3-vector, got {vec!r}")
        cells = cell_tags.indices[cell_tags.values == int(tag)]
        values[Q.dofmap.list[cells, 0]] = v / np.linalg.norm(v)
    m_pinned.x.scatter_forward()
    return m_pinned


def dirichlet_conditions(V: dolfinx.fem.FunctionSpace, values: Mapping[int, Any],
                         facet_tags: dolfinx.mesh.MeshTags | None
                         ) -> list[dolfinx.fem.DirichletBC]:
    """``s = value`` on the facets of each tag (3 numbers or a callable of ``x``)."""
    if not values:
        return []
    if facet_tags is None:
        raise ConfigError("spin Dirichlet conditions need the mesh's facet tags")
    fdim = V.mesh.topology.dim - 1
    known = set(np.unique(np.concatenate(V.mesh.comm.allgather(facet_tags.values))).tolist())
    bcs = []
    for tag, value in values.items():
        if int(tag) not in known:
            raise ConfigError(f"unknown facet tag {tag} for a spin Dirichlet condition "
                              f"(the mesh has {sorted(known)})")
        g = dolfinx.fem.Function(V)
        if callable(value):
            g.interpolate(value)
        else:
            vec = np.asarray(value, dtype=float)
            if vec.shape != (3,) or not np.all(np.isfinite(vec)):
                raise ConfigError(f"spin Dirichlet value on tag {tag} must be 3 finite "
                                  f"numbers, got {value!r}")
            g.interpolate(lambda x, v=vec: np.tile(v[:, None], (1, x.shape[1])))
        dofs = dolfinx.fem.locate_dofs_topological(V, fdim,
                                                   facet_tags.find(int(tag)))
        bcs.append(dolfinx.fem.dirichletbc(g, dofs))
    return bcs
