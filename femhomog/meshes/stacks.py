"""Stacks of layers along z: magnetic multilayers with non-magnetic spacers.

The layers are prisms extruded from one rectangle (:func:`femhomog.meshes.magnets._prism_volumes`),
so they conform at their interfaces and can be meshed with a fixed number of element
layers each; tags, shells and the returned :class:`~femhomog.meshes.magnets.MagnetMesh`
follow the conventions of :mod:`femhomog.meshes.magnets` (layers 1..n, spacers
``SPACER_TAG_BASE + k``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from femhomog import (
    ConfigError,
    _fenicsx,  # noqa: F401  (must precede dolfinx, petsc4py and mpi4py)
)

# isort: split
from dolfinx.mesh import GhostMode
from mpi4py import MPI

from femhomog.meshes.gmsh_cells import _check_positive
from femhomog.meshes.magnets import (
    MagnetMesh,
    ShellSpec,
    _build,
    _check_mesh_size,
    _layers,
    _positive_vector,
    _prism_volumes,
)

__all__ = ["multilayer"]


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
    n_spacers = kinds.count("spacer")

    def make(model):
        vols = _prism_volumes(model, "rect", tuple(Lxy), segments, [n] * len(segments))
        mags = [v for v, kd in zip(vols, kinds, strict=True) if kd == "layer"]
        sps = [v for v, kd in zip(vols, kinds, strict=True) if kd == "spacer"]
        return mags, sps

    total = float(sum(segments))
    info = {
        "dimensions": {
            "lengths_xy": Lxy.tolist(),
            "thicknesses": t.tolist(),
            "spacers": s.tolist(),
            "z_layers": n,
        },
        "volume_exact": float(Lxy.prod() * t.sum()),
        "layer_volumes_exact": (Lxy.prod() * t).tolist(),
        "spacer_volumes_exact": (Lxy.prod() * s[s > 0]).tolist(),
    }
    half = np.array([0.5 * Lxy[0], 0.5 * Lxy[1], 0.5 * total])
    return _build(comm, "multilayer", make, half, float(np.linalg.norm(half)), h, shell, info,
                  n_magnets=t.size, n_spacers=n_spacers, ghost_mode=ghost_mode,
                  verbose=verbose)  # fmt: skip
