"""Stacks of layers along z: magnetic multilayers, spin valves and conductor bars.

The layers are prisms extruded from one rectangle (:func:`femhomog.meshes.magnets._prism_volumes`),
so they conform at their interfaces and can be meshed with a fixed number of element
layers each; tags, shells and the returned :class:`~femhomog.meshes.magnets.MagnetMesh`
follow the conventions of :mod:`femhomog.meshes.magnets` (magnetic layers 1..n bottom up,
non-magnetic layers ``SPACER_TAG_BASE + k``).

``multilayer``       magnetic layers with optional spacers between them (stray-field
                     problems: the spacers are air-like gaps of the magnet region)
``conductor_stack``  any sequence of magnetic and non-magnetic conducting layers
                     (leads, spacers), with the bottom and top faces tagged as
                     electrodes: the conductor of a spin drift-diffusion problem
                     (current perpendicular to the planes) with its magnets inside
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from femhomog import (
    ConfigError,
    MeshError,
    _fenicsx,  # noqa: F401  (must precede dolfinx, petsc4py and mpi4py)
)

# isort: split
import dolfinx
from dolfinx.mesh import GhostMode
from mpi4py import MPI

from femhomog.meshes.gmsh_cells import _check_positive
from femhomog.meshes.magnets import (
    FACET_MAGNET,
    FACET_OUTER,
    MagnetMesh,
    ShellSpec,
    _build,
    _check_mesh_size,
    _layers,
    _positive_vector,
    _prism_volumes,
)

__all__ = ["FACET_ELECTRODE_BOTTOM", "FACET_ELECTRODE_TOP", "conductor_stack", "multilayer"]

#: Facet tag of the bottom face ``z = -H/2`` of a conductor stack (an electrode).
FACET_ELECTRODE_BOTTOM = 31
#: Facet tag of the top face ``z = +H/2`` of a conductor stack (an electrode).
FACET_ELECTRODE_TOP = 32


def multilayer(
    comm: MPI.Comm,
    lengths_xy: Sequence[float],
    thicknesses: Sequence[float],
    *,
    mesh_size: float,
    spacers: Sequence[float] | None = None,
    z_layers: int | None = None,
    shell: ShellSpec | None = None,
    ghost_mode: GhostMode = GhostMode.shared_facet,
    verbose: bool = False,
) -> MagnetMesh:
    """Stack of ``n`` magnetic layers ``L_x x L_y x t_k`` along z, centred at 0.

    Parameters
    ----------
    lengths_xy
        In-plane edge lengths ``(L_x, L_y)``.
    thicknesses
        Thicknesses ``t_1..t_n`` of the magnetic layers, bottom up (cell tags 1..n).
    spacers
        ``n - 1`` thicknesses of the non-magnetic spacers between consecutive
        layers (cell tags 51..), 0 for layers in direct contact; default: no
        spacers.
    z_layers
        Element layers through each layer and spacer (see :func:`cuboid`).

    Raises
    ------
    femhomog.ConfigError
        Non-positive sizes, wrong number of spacers, negative spacer, mesh size
        too large, bad ``z_layers`` / ``shell``.
    """
    Lxy = _positive_vector("lengths_xy", lengths_xy, 2)
    try:
        t = np.asarray(thicknesses, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise ConfigError(f"thicknesses must be positive numbers, got {thicknesses!r}") from None
    if t.size < 1:
        raise ConfigError("multilayer needs at least one layer thickness")
    t = _positive_vector("thicknesses", t, t.size)
    if spacers is None:
        s = np.zeros(t.size - 1)
    else:
        try:
            s = np.asarray(spacers, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            raise ConfigError(f"spacers must be numbers, got {spacers!r}") from None
        if s.size != t.size - 1:
            raise ConfigError(f"multilayer: {t.size} layers need {t.size - 1} spacers, got {s.size}")
        if not np.all(np.isfinite(s) & (s >= 0)):
            raise ConfigError(f"spacer thicknesses must be >= 0, got {spacers!r}")
    h = _check_positive("mesh_size", mesh_size)
    n = _layers(z_layers)
    thin = float(min(t.min(), s[s > 0].min() if np.any(s > 0) else np.inf))
    _check_mesh_size(h, float(Lxy.min()) if n is not None else min(float(Lxy.min()), thin),
                     "smallest in-plane edge or layer thickness")  # fmt: skip

    segments: list[float] = []
    kinds: list[str] = []
    for k, tk in enumerate(t):
        segments.append(float(tk))
        kinds.append("layer")
        if k < s.size and s[k] > 0:
            segments.append(float(s[k]))
            kinds.append("spacer")
    dimensions = {"lengths_xy": Lxy.tolist(), "thicknesses": t.tolist(), "spacers": s.tolist(),
                  "z_layers": n}
    return _stack(comm, "multilayer", Lxy, segments, kinds, h, n, shell, dimensions,
                  ghost_mode, verbose)


def _stack(comm: MPI.Comm, shape: str, Lxy: np.ndarray, segments: list[float],
           kinds: list[str], h: float, n: int | None, shell: ShellSpec | None,
           dimensions: dict, ghost_mode: GhostMode, verbose: bool) -> MagnetMesh:
    """Extrude ``segments`` (bottom up; ``kinds``: "layer" magnetic, "spacer" not) and mesh."""

    def make(model):
        vols = _prism_volumes(model, "rect", tuple(Lxy), segments, [n] * len(segments))
        mags = [v for v, kd in zip(vols, kinds, strict=True) if kd == "layer"]
        sps = [v for v, kd in zip(vols, kinds, strict=True) if kd == "spacer"]
        return mags, sps

    area = float(Lxy.prod())
    magnetic = np.array([t for t, kd in zip(segments, kinds, strict=True) if kd == "layer"])
    other = np.array([t for t, kd in zip(segments, kinds, strict=True) if kd == "spacer"])
    info = {
        "dimensions": dimensions,
        "volume_exact": float(area * magnetic.sum()),
        "layer_volumes_exact": (area * magnetic).tolist(),
        "spacer_volumes_exact": (area * other).tolist(),
    }
    total = float(sum(segments))
    half = np.array([0.5 * Lxy[0], 0.5 * Lxy[1], 0.5 * total])
    return _build(comm, shape, make, half, float(np.linalg.norm(half)), h, shell, info,
                  n_magnets=magnetic.size, n_spacers=other.size, ghost_mode=ghost_mode,
                  verbose=verbose)  # fmt: skip


def conductor_stack(
    comm: MPI.Comm,
    lengths_xy: Sequence[float],
    thicknesses: Sequence[float],
    magnetic: Sequence[bool],
    *,
    mesh_size: float,
    z_layers: int | None = None,
    ghost_mode: GhostMode = GhostMode.shared_facet,
    verbose: bool = False,
) -> MagnetMesh:
    """A conductor ``L_x x L_y x sum(t_k)`` of layers along z, some of them magnetic.

    E.g. a spin valve with current perpendicular to the planes: lead | fixed layer |
    spacer | free layer | lead is ``thicknesses = (t_lead, t_fixed, t_spacer, t_free,
    t_lead)``, ``magnetic = (False, True, False, True, False)``.  The whole mesh is the
    conductor; the magnetic layers are the magnet (cell tags 1, 2, ... bottom up, the
    submesh of :func:`~femhomog.meshes.magnets.magnet_submesh`), the others have tags
    ``SPACER_TAG_BASE + 1, + 2, ...`` bottom up.  Facet tags: the bottom face
    ``z = -H/2`` is :data:`FACET_ELECTRODE_BOTTOM` (31), the top face
    :data:`FACET_ELECTRODE_TOP` (32) (these replace 10 or 30 there), the rest of the
    magnet boundary 10, the other outer faces 30.

    Parameters
    ----------
    lengths_xy
        In-plane edge lengths ``(L_x, L_y)``.
    thicknesses
        Layer thicknesses, bottom up.
    magnetic
        One flag per layer: magnetic (part of the magnet) or not.
    mesh_size, z_layers
        As for :func:`~femhomog.meshes.magnets.cuboid` (``z_layers`` element layers
        through each layer).

    Raises
    ------
    femhomog.ConfigError
        Non-positive sizes, flags not matching the layers, no magnetic layer, mesh size
        too large, bad ``z_layers``.
    """
    Lxy = _positive_vector("lengths_xy", lengths_xy, 2)
    try:
        t = np.asarray(thicknesses, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise ConfigError(f"thicknesses must be positive numbers, got {thicknesses!r}") from None
    if t.size < 1:
        raise ConfigError("a conductor stack needs at least one layer thickness")
    t = _positive_vector("thicknesses", t, t.size)
    flags = list(magnetic)
    if len(flags) != t.size or not all(isinstance(f, bool | np.bool_) for f in flags):
        raise ConfigError(f"magnetic must be {t.size} booleans (one per layer), got {magnetic!r}")
    if not any(flags):
        raise ConfigError("a conductor stack needs at least one magnetic layer")
    h = _check_positive("mesh_size", mesh_size)
    n = _layers(z_layers)
    _check_mesh_size(h, float(Lxy.min()) if n is not None else min(float(Lxy.min()),
                                                                   float(t.min())),
                     "smallest in-plane edge or layer thickness")  # fmt: skip
    kinds = ["layer" if f else "spacer" for f in flags]
    dimensions = {"lengths_xy": Lxy.tolist(), "thicknesses": t.tolist(),
                  "magnetic": [bool(f) for f in flags], "z_layers": n}
    mm = _stack(comm, "conductor_stack", Lxy, [float(v) for v in t], kinds, h, n, None,
                dimensions, ghost_mode, verbose)
    mm.facet_tags = _tag_electrodes(mm, 0.5 * float(t.sum()))
    return mm


def _tag_electrodes(mm: MagnetMesh, half_height: float) -> dolfinx.mesh.MeshTags:
    """The facet tags of ``mm`` with the faces ``z = -/+ half_height`` retagged 31 / 32."""
    mesh = mm.mesh
    fdim = mesh.topology.dim - 1
    mesh.topology.create_connectivity(fdim, fdim + 1)
    tol = 1e-9 * half_height
    indices = np.asarray(mm.facet_tags.indices, dtype=np.int32)
    values = np.asarray(mm.facet_tags.values, dtype=np.int32).copy()
    for z, tag in ((-half_height, FACET_ELECTRODE_BOTTOM), (half_height, FACET_ELECTRODE_TOP)):
        faces = dolfinx.mesh.locate_entities_boundary(
            mesh, fdim, lambda x, z=z: np.abs(x[2] - z) < tol)
        where = np.isin(indices, faces)
        # every boundary facet of the stack already carries tag 10 or 30
        if where.sum() != faces.size or not np.all(np.isin(values[where],
                                                           (FACET_MAGNET, FACET_OUTER))):
            raise MeshError("conductor_stack: electrode faces are not tagged boundary facets")
        values[where] = tag
    return dolfinx.mesh.meshtags(mesh, fdim, indices, values)
