"""Bounded 3D magnets meshed with gmsh, optionally inside an air region and a shell.

The builders mesh a magnet centred at the origin on rank 0 of ``comm`` (gmsh
OpenCASCADE kernel) and distribute it with :func:`dolfinx.io.gmsh.model_to_mesh`
(``shared_facet`` ghost mode, see :mod:`femhomog.meshes.gmsh_cells` for the gmsh
session conventions).  They are unit-free: pass lengths in whatever unit the
problem uses (e.g. nm for muMAG standard problem 4).

``sphere``      ball ``|x| < radius``
``ellipsoid``   ``sum (x_i / a_i)^2 < 1`` (semi-axes along x, y, z)
``cuboid``      ``|x_i| < L_i / 2`` (cube: equal lengths; thin film: small ``L_z``)
``cylinder``    disk / cylinder ``x^2 + y^2 < R^2``, ``|z| < H / 2``
``multilayer``  (:mod:`femhomog.meshes.stacks`) stack along z of magnetic layers,
                optionally separated by non-magnetic spacers

With ``shell=ShellSpec(...)`` the magnet is embedded in an *air* region and a
*shell* around it (for the shell-transformation stray-field solver
:class:`femhomog.micromag.demag.shell.ShellTransformation`):

* ``kind="sphere"``: air ``|x| < R1``, shell ``R1 < |x| < R2`` with
  ``R1 = air_size * r_mag`` (``r_mag`` the circumradius of the magnet) and
  ``R2 = R1 (1 + shell_thickness)``;
* ``kind="box"``: air ``|x_i| < a_i``, shell ``a_i < |x_i| < b_i`` (outside the
  air box) with ``a_i = c_i + (air_size - 1) max_j c_j`` (``c_i`` the magnet's
  half extents, i.e. a uniform padding) and
  ``b_i = a_i + shell_thickness * max_j a_j``.  The box shell is built from the
  26 boxes around the air box, so the mesh conforms to the planes
  ``|x_i| = a_i`` where the per-axis shell map changes its form.

Structured layering through the thickness: the prism-shaped magnets
(``cuboid``, ``cylinder``, ``multilayer``) are built by extruding their 2D base
along z; with ``z_layers=n`` the extrusion is meshed with exactly ``n`` element
layers per magnetic layer (the in-plane mesh has size ``mesh_size``), so a
3 nm film can be meshed with 4 nm or 2.5 nm in-plane cells and 1-2 cells
through the thickness.  The structured magnet mesh survives the fusion with
air and shell.

Tag conventions:

=======  =============  ===================  ====================================
entity   tag            physical name        meaning
=======  =============  ===================  ====================================
cells    1              ``magnet``           the magnet (single-magnet builders)
cells    1..n           ``layer{k}``         magnetic layers of ``multilayer`` (bottom up)
cells    51..           ``spacer{k}``        non-magnetic spacers of ``multilayer``
cells    100            ``air``              air region (with a shell only)
cells    101            ``shell``            shell mapped to infinity
facets   10             ``magnet_boundary``  boundary of the union of the magnetic cells
facets   20             ``shell_inner``      inner boundary of the shell (= air boundary)
facets   30             ``outer``            outermost boundary (the shell's outer
                                             boundary; without a shell only the
                                             outer faces of spacers)
=======  =============  ===================  ====================================

Each facet carries one tag: without a shell the magnet's outer boundary is
tagged 10 only (it is also the outermost boundary).

The ``MagnetMesh`` carries the dolfinx mesh, tags and an ``info`` dict (shape,
dimensions, mesh sizes, shell geometry, global numbers of cells per region and
of vertices); :func:`magnet_submesh` extracts the magnetic cells (the mesh on
which an LLG problem lives when air and shell are present).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

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

from femhomog.meshes.gmsh_cells import _check_positive, _distribute, _mesh_options

__all__ = [
    "AIR_TAG",
    "FACET_MAGNET",
    "FACET_OUTER",
    "FACET_SHELL_INNER",
    "MAGNET_TAG",
    "SHELL_TAG",
    "SPACER_TAG_BASE",
    "MagnetMesh",
    "ShellSpec",
    "cuboid",
    "cylinder",
    "ellipsoid",
    "magnet_submesh",
    "sphere",
]

#: Cell tag of a single magnet (layers of a multilayer: 1..n).
MAGNET_TAG = 1
#: Spacer k (1-based, bottom up) of a multilayer has cell tag SPACER_TAG_BASE + k.
SPACER_TAG_BASE = 50
#: Cell tag of the air region.
AIR_TAG = 100
#: Cell tag of the shell mapped to infinity.
SHELL_TAG = 101
#: Facet tag of the boundary of the magnetic region.
FACET_MAGNET = 10
#: Facet tag of the shell's inner boundary (the air region's boundary).
FACET_SHELL_INNER = 20
#: Facet tag of the outermost boundary.
FACET_OUTER = 30


@dataclass(frozen=True)
class ShellSpec:
    """Air region and shell around a magnet (see the module docstring).

    Parameters
    ----------
    kind
        ``"sphere"`` (spherical air and shell) or ``"box"`` (axis-aligned boxes).
    air_size
        Air region size relative to the magnet (> 1): ``R1 = air_size * r_mag``
        for a sphere, a uniform padding ``(air_size - 1) * max half extent``
        for a box.
    shell_thickness
        Shell thickness relative to the air region (> 0):
        ``R2 = R1 (1 + shell_thickness)`` / ``b_i = a_i + shell_thickness max a``.
    air_mesh_size
        Element size at the air boundary (the size grows linearly from
        ``mesh_size`` at the magnet); default
        ``max(2 mesh_size, (air padding) / 3)``.
    shell_mesh_size
        Element size in the shell; default ``air_mesh_size``.
    """

    kind: str = "sphere"
    air_size: float = 1.5
    shell_thickness: float = 1.0
    air_mesh_size: float | None = None
    shell_mesh_size: float | None = None

    def validated(self) -> ShellSpec:
        """Check the fields (ConfigError on bad values)."""
        if self.kind not in ("sphere", "box"):
            raise ConfigError(f"shell kind must be 'sphere' or 'box', got {self.kind!r}")
        a = _check_positive("shell air_size", self.air_size)
        if not a > 1.0:
            raise ConfigError(f"shell air_size must be > 1 (air around the magnet), got {a!r}")
        _check_positive("shell_thickness", self.shell_thickness)
        if self.air_mesh_size is not None:
            _check_positive("air_mesh_size", self.air_mesh_size)
        if self.shell_mesh_size is not None:
            _check_positive("shell_mesh_size", self.shell_mesh_size)
        return self


@dataclass
class MagnetMesh:
    """A magnet mesh, possibly with air and shell.

    Attributes
    ----------
    mesh
        The dolfinx mesh (magnet only, or magnet + air + shell).
    cell_tags, facet_tags
        Cell tags (magnet tags, spacers, 100 air, 101 shell) and facet tags
        (10 magnet boundary, 20 shell inner boundary, 30 outermost boundary).
    magnet_tags
        Cell tags of the magnetic cells (``(1,)``, or ``1..n`` for a multilayer).
    air_tag, shell_tag
        100 / 101, or None without a shell.
    spacer_tags
        Cell tags of the non-magnetic spacers of a multilayer.
    info
        Shape, dimensions, mesh sizes, shell geometry, global numbers of
        cells per region (``num_cells``), of all cells and of vertices.
    """

    mesh: dolfinx.mesh.Mesh
    cell_tags: dolfinx.mesh.MeshTags
    facet_tags: dolfinx.mesh.MeshTags
    magnet_tags: tuple[int, ...] = (MAGNET_TAG,)
    air_tag: int | None = None
    shell_tag: int | None = None
    spacer_tags: tuple[int, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def comm(self) -> MPI.Comm:
        """The mesh communicator."""
        return self.mesh.comm

    @property
    def has_shell(self) -> bool:
        """True if the mesh has air and shell regions."""
        return self.shell_tag is not None

    def magnet_cells(self) -> np.ndarray:
        """Local indices (owned and ghost) of the magnetic cells."""
        return np.sort(
            self.cell_tags.indices[np.isin(self.cell_tags.values, self.magnet_tags)]
        ).astype(np.int32)


# ---------------------------------------------------------------------------
# Validation helpers
# ---------------------------------------------------------------------------


def _positive_vector(name: str, value: Any, n: int) -> np.ndarray:
    try:
        v = np.asarray(value, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be {n} positive numbers, got {value!r}") from None
    if v.size != n:
        raise ConfigError(f"{name} must be {n} positive numbers, got {value!r}")
    if not np.all(np.isfinite(v) & (v > 0)):
        raise ConfigError(f"{name} must be positive, got {value!r}")
    return v


def _layers(z_layers: Any) -> int | None:
    if z_layers is None:
        return None
    if isinstance(z_layers, bool) or not isinstance(z_layers, (int, np.integer)) or z_layers < 1:
        raise ConfigError(f"z_layers must be a positive integer or None, got {z_layers!r}")
    return int(z_layers)


def _check_mesh_size(h: float, smallest: float, what: str) -> None:
    if h > smallest:
        raise ConfigError(
            f"mesh_size {h:g} is larger than the {what} {smallest:g} of the magnet; "
            "use a smaller mesh_size"
            + (" (or z_layers for a thin film)" if "thickness" in what else "")
        )


# ---------------------------------------------------------------------------
# Core builder
# ---------------------------------------------------------------------------


def _prism_volumes(model, base: str, dims: tuple[float, ...], segments, n_layers):
    """Extrude a rectangle (``dims = (Lx, Ly)``) or disk (``(R,)``) along z.

    ``segments``: list of thicknesses stacked bottom-up from ``z = -sum/2``;
    ``n_layers``: per segment, number of element layers or None (unstructured).
    Returns the volume tags, one per segment.
    """
    occ = model.occ
    z0 = -0.5 * float(sum(segments))
    if base == "rect":
        surf = occ.addRectangle(-0.5 * dims[0], -0.5 * dims[1], z0, dims[0], dims[1])
    else:
        surf = occ.addDisk(0.0, 0.0, z0, dims[0], dims[0])
    vols = []
    top = [(2, surf)]
    for t, n in zip(segments, n_layers, strict=True):
        kw = {} if n is None else {"numElements": [n], "recombine": False}
        out = occ.extrude(top, 0.0, 0.0, float(t), **kw)
        vol = [tag for d, tag in out if d == 3]
        vols.append(vol[0])
        top = [out[0]]  # the extruded copy of the base: the top surface
    return vols


def _build(
    comm: MPI.Comm,
    shape: str,
    make_magnet,
    half_extents: np.ndarray,
    circumradius: float,
    mesh_size: float,
    shell: ShellSpec | None,
    info: dict[str, Any],
    n_magnets: int = 1,
    n_spacers: int = 0,
    ghost_mode: GhostMode = GhostMode.shared_facet,
    verbose: bool = False,
) -> MagnetMesh:
    """Mesh ``make_magnet(model) -> (magnet_vols, spacer_vols)`` (+ air/shell), distribute."""
    h = mesh_size
    shell_info: dict[str, Any] | None = None
    if shell is not None:
        shell = shell.validated()
        if shell.kind == "sphere":
            r1 = shell.air_size * circumradius
            r2 = r1 * (1.0 + shell.shell_thickness)
            pad = r1 - circumradius
            shell_info = {"kind": "sphere", "R1": r1, "R2": r2}
        else:
            a = half_extents + (shell.air_size - 1.0) * float(np.max(half_extents))
            b = a + shell.shell_thickness * float(np.max(a))
            pad = float(np.min(a - half_extents))
            shell_info = {"kind": "box", "a": a.tolist(), "b": b.tolist()}
        h_air = max(2.0 * h, pad / 3.0) if shell.air_mesh_size is None else shell.air_mesh_size
        h_shell = h_air if shell.shell_mesh_size is None else float(shell.shell_mesh_size)
        h_air = float(h_air)
        shell_info.update(air_mesh_size=h_air, shell_mesh_size=h_shell, pad=pad)

    def prepare(model) -> int:
        occ = model.occ
        magnet_vols, spacer_vols = make_magnet(model)
        solid = magnet_vols + spacer_vols
        air_vols: list[int] = []
        shell_vols: list[int] = []
        if shell_info is not None:
            if shell_info["kind"] == "sphere":
                air = [occ.addSphere(0, 0, 0, shell_info["R1"])]
                outer = occ.addSphere(0, 0, 0, shell_info["R2"])
                shells, _ = occ.cut([(3, outer)], [(3, air[0])], removeTool=False)
                shell_in = [t for _, t in shells]
            else:
                a = np.asarray(shell_info["a"])
                b = np.asarray(shell_info["b"])
                air = [occ.addBox(*(-a), *(2 * a))]
                cuts = [(-b, -a), (-a, a), (a, b)]
                shell_in = []
                for i in range(3):
                    for j in range(3):
                        for k in range(3):
                            if i == j == k == 1:
                                continue
                            lo = np.array([cuts[i][0][0], cuts[j][0][1], cuts[k][0][2]])
                            hi = np.array([cuts[i][1][0], cuts[j][1][1], cuts[k][1][2]])
                            shell_in.append(occ.addBox(*lo, *(hi - lo)))
            tools = [(3, t) for t in air + shell_in]
            _, children = occ.fragment([(3, t) for t in solid], tools)
            occ.synchronize()
            n_solid = len(solid)
            solid_children = [[t for _, t in c] for c in children[:n_solid]]
            used = {t for c in solid_children for t in c}
            magnet_vols = [t for c in solid_children[: len(magnet_vols)] for t in c]
            spacer_vols_new = [t for c in solid_children[len(magnet_vols) :] for t in c]
            spacer_vols = spacer_vols_new
            air_vols = [t for _, t in children[n_solid] if t not in used]
            shell_vols = sorted(
                {t for c in children[n_solid + 1 :] for _, t in c} - used - set(air_vols)
            )
            if not air_vols or not shell_vols:
                raise MeshError(f"{shape}: fragmenting magnet, air and shell failed")
            layer_groups = solid_children
        else:
            occ.synchronize()
            layer_groups = None
        # Physical groups ----------------------------------------------------
        if n_magnets == 1:
            model.addPhysicalGroup(3, magnet_vols, tag=MAGNET_TAG, name="magnet")
        else:
            groups = layer_groups if layer_groups is not None else [[v] for v in magnet_vols]
            for k, g in enumerate(groups[:n_magnets]):
                model.addPhysicalGroup(3, g, tag=k + 1, name=f"layer{k + 1}")
        if n_spacers:
            if layer_groups is not None:
                sp_groups = layer_groups[n_magnets:]
            else:
                sp_groups = [[v] for v in spacer_vols]
            for k, g in enumerate(sp_groups):
                model.addPhysicalGroup(3, g, tag=SPACER_TAG_BASE + k + 1, name=f"spacer{k + 1}")
        mag_faces = [
            t for _, t in model.getBoundary([(3, v) for v in magnet_vols], oriented=False)
        ]
        model.addPhysicalGroup(2, mag_faces, tag=FACET_MAGNET, name="magnet_boundary")
        all_vols = magnet_vols + spacer_vols + air_vols + shell_vols
        outer_faces = [t for _, t in model.getBoundary([(3, v) for v in all_vols], oriented=False)]
        # A facet carries one tag: magnet faces on the outer boundary keep 10.
        outer_faces = [t for t in outer_faces if t not in set(mag_faces)]
        if outer_faces:
            model.addPhysicalGroup(2, outer_faces, tag=FACET_OUTER, name="outer")
        if shell_info is not None:
            model.addPhysicalGroup(3, air_vols, tag=AIR_TAG, name="air")
            model.addPhysicalGroup(3, shell_vols, tag=SHELL_TAG, name="shell")
            inner = [
                t
                for _, t in model.getBoundary(
                    [(3, v) for v in magnet_vols + spacer_vols + air_vols], oriented=False
                )
            ]
            model.addPhysicalGroup(2, inner, tag=FACET_SHELL_INNER, name="shell_inner")
            # Mesh size: h in the solid, growing linearly from its surface to
            # h_air at the air boundary; h_shell in the shell.
            fld = model.mesh.field
            solid_faces = [
                t
                for _, t in model.getBoundary(
                    [(3, v) for v in magnet_vols + spacer_vols], oriented=False
                )
            ]
            dist = fld.add("Distance")
            fld.setNumbers(dist, "SurfacesList", solid_faces)
            fld.setNumber(dist, "Sampling", 40)
            thr = fld.add("Threshold")
            fld.setNumber(thr, "InField", dist)
            fld.setNumber(thr, "SizeMin", h)
            fld.setNumber(thr, "SizeMax", shell_info["air_mesh_size"])
            fld.setNumber(thr, "DistMin", 0.0)
            fld.setNumber(thr, "DistMax", shell_info["pad"])
            f_air = fld.add("Restrict")
            fld.setNumber(f_air, "InField", thr)
            fld.setNumbers(f_air, "VolumesList", air_vols)
            c_solid = fld.add("MathEval")
            fld.setString(c_solid, "F", repr(float(h)))
            f_solid = fld.add("Restrict")
            fld.setNumber(f_solid, "InField", c_solid)
            fld.setNumbers(f_solid, "VolumesList", magnet_vols + spacer_vols)
            c_shell = fld.add("MathEval")
            fld.setString(c_shell, "F", repr(float(shell_info["shell_mesh_size"])))
            f_shell = fld.add("Restrict")
            fld.setNumber(f_shell, "InField", c_shell)
            fld.setNumbers(f_shell, "VolumesList", shell_vols)
            fmin = fld.add("Min")
            fld.setNumbers(fmin, "FieldsList", [f_air, f_solid, f_shell])
            fld.setAsBackgroundMesh(fmin)
        model.mesh.generate(3)
        return 3

    hmax = h
    if shell_info is not None:
        hmax = max(h, shell_info["air_mesh_size"], shell_info["shell_mesh_size"])
    options = _mesh_options(hmax)
    data = _distribute(comm, f"magnet-{shape}", prepare, ghost_mode, verbose, options)
    magnet_tags = tuple(range(1, n_magnets + 1))
    spacer_tags = tuple(SPACER_TAG_BASE + k + 1 for k in range(n_spacers))
    mm = MagnetMesh(
        mesh=data.mesh,
        cell_tags=data.cell_tags,
        facet_tags=data.facet_tags,
        magnet_tags=magnet_tags,
        air_tag=AIR_TAG if shell_info is not None else None,
        shell_tag=SHELL_TAG if shell_info is not None else None,
        spacer_tags=spacer_tags,
    )
    # Global counts (owned cells only).
    tdim = 3
    n_owned = data.mesh.topology.index_map(tdim).size_local
    tags = data.cell_tags
    owned = tags.indices < n_owned
    region_tags = list(magnet_tags) + list(spacer_tags)
    if shell_info is not None:
        region_tags += [AIR_TAG, SHELL_TAG]
    counts = {
        int(t): int(comm.allreduce(int(np.sum(tags.values[owned] == t)), op=MPI.SUM))
        for t in region_tags
    }
    info.update(
        shape=shape,
        mesh_size=float(h),
        shell=shell_info,
        num_cells=counts,
        num_cells_total=int(data.mesh.topology.index_map(tdim).size_global),
        num_vertices=int(data.mesh.topology.index_map(0).size_global),
        num_magnet_vertices=_count_magnet_vertices(mm),
    )
    mm.info = info
    return mm


def _count_magnet_vertices(mm: MagnetMesh) -> int:
    """Global number of vertices of the magnetic cells."""
    mesh = mm.mesh
    mesh.topology.create_connectivity(3, 0)
    c2v = mesh.topology.connectivity(3, 0)
    cells = mm.magnet_cells()
    verts = np.unique(np.concatenate([c2v.links(c) for c in cells])) if len(cells) else []
    imap = mesh.topology.index_map(0)
    verts = np.asarray(verts, dtype=np.int32)
    owned = verts[verts < imap.size_local]
    return int(mesh.comm.allreduce(len(owned), op=MPI.SUM))


# ---------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------


def sphere(
    comm: MPI.Comm,
    radius: float = 1.0,
    *,
    mesh_size: float,
    shell: ShellSpec | None = None,
    ghost_mode: GhostMode = GhostMode.shared_facet,
    verbose: bool = False,
) -> MagnetMesh:
    """Ball ``|x| < radius`` (see the module docstring for tags and ``shell``).

    Raises
    ------
    femhomog.ConfigError
        Non-positive radius or mesh size, ``mesh_size`` larger than the radius,
        bad ``shell``.
    """
    r = _check_positive("radius", radius)
    h = _check_positive("mesh_size", mesh_size)
    _check_mesh_size(h, r, "radius")

    def make(model):
        return [model.occ.addSphere(0.0, 0.0, 0.0, r)], []

    info = {"dimensions": {"radius": r}, "volume_exact": 4.0 / 3.0 * np.pi * r**3}
    return _build(comm, "sphere", make, np.full(3, r), r, h, shell, info,
                  ghost_mode=ghost_mode, verbose=verbose)  # fmt: skip


def ellipsoid(
    comm: MPI.Comm,
    semi_axes: Sequence[float],
    *,
    mesh_size: float,
    shell: ShellSpec | None = None,
    ghost_mode: GhostMode = GhostMode.shared_facet,
    verbose: bool = False,
) -> MagnetMesh:
    """Ellipsoid ``sum (x_i / a_i)^2 < 1`` with semi-axes ``(a_x, a_y, a_z)``.

    Raises
    ------
    femhomog.ConfigError
        Non-positive semi-axes or mesh size, ``mesh_size`` larger than the
        smallest semi-axis, bad ``shell``.
    """
    a = _positive_vector("semi_axes", semi_axes, 3)
    h = _check_positive("mesh_size", mesh_size)
    _check_mesh_size(h, float(a.min()), "smallest semi-axis")

    def make(model):
        occ = model.occ
        v = occ.addSphere(0.0, 0.0, 0.0, 1.0)
        occ.dilate([(3, v)], 0.0, 0.0, 0.0, *a)
        return [v], []

    info = {"dimensions": {"semi_axes": a.tolist()}, "volume_exact": 4.0 / 3.0 * np.pi * a.prod()}
    return _build(comm, "ellipsoid", make, a, float(a.max()), h, shell, info,
                  ghost_mode=ghost_mode, verbose=verbose)  # fmt: skip


def cuboid(
    comm: MPI.Comm,
    lengths: Sequence[float],
    *,
    mesh_size: float,
    z_layers: int | None = None,
    shell: ShellSpec | None = None,
    ghost_mode: GhostMode = GhostMode.shared_facet,
    verbose: bool = False,
) -> MagnetMesh:
    """Cuboid ``|x_i| < L_i / 2`` (cube: equal lengths; thin film: small ``L_z``).

    Parameters
    ----------
    lengths
        Edge lengths ``(L_x, L_y, L_z)``.
    mesh_size
        Element size (in-plane size with ``z_layers``).
    z_layers
        If given, the cuboid is the extrusion of an unstructured triangulation
        of its ``L_x x L_y`` base with exactly ``z_layers`` element layers along
        z (each prism split into 3 tetrahedra).
    shell
        Optional air + shell.

    Raises
    ------
    femhomog.ConfigError
        Non-positive lengths or mesh size, ``mesh_size`` larger than the
        smallest edge (larger than the smallest in-plane edge with
        ``z_layers``), bad ``z_layers`` or ``shell``.
    """
    L = _positive_vector("lengths", lengths, 3)
    h = _check_positive("mesh_size", mesh_size)
    n = _layers(z_layers)
    if n is None:
        _check_mesh_size(h, float(L.min()), "smallest edge (thickness)")
    else:
        _check_mesh_size(h, float(L[:2].min()), "smallest in-plane edge")

    def make(model):
        return _prism_volumes(model, "rect", (L[0], L[1]), [L[2]], [n]), []

    info = {"dimensions": {"lengths": L.tolist(), "z_layers": n}, "volume_exact": float(L.prod())}
    return _build(comm, "cuboid", make, 0.5 * L, 0.5 * float(np.linalg.norm(L)), h, shell,
                  info, ghost_mode=ghost_mode, verbose=verbose)  # fmt: skip


def cylinder(
    comm: MPI.Comm,
    radius: float,
    height: float,
    *,
    mesh_size: float,
    z_layers: int | None = None,
    shell: ShellSpec | None = None,
    ghost_mode: GhostMode = GhostMode.shared_facet,
    verbose: bool = False,
) -> MagnetMesh:
    """Disk / cylinder ``x^2 + y^2 < radius^2``, ``|z| < height / 2``.

    ``z_layers`` as in :func:`cuboid`.

    Raises
    ------
    femhomog.ConfigError
        Non-positive radius, height or mesh size, ``mesh_size`` larger than the
        radius or (without ``z_layers``) the height, bad ``z_layers`` / ``shell``.
    """
    r = _check_positive("radius", radius)
    H = _check_positive("height", height)
    h = _check_positive("mesh_size", mesh_size)
    n = _layers(z_layers)
    _check_mesh_size(h, r if n is not None else min(r, H), "radius or thickness")

    def make(model):
        return _prism_volumes(model, "disk", (r,), [H], [n]), []

    info = {
        "dimensions": {"radius": r, "height": H, "z_layers": n},
        "volume_exact": np.pi * r**2 * H,
    }
    half = np.array([r, r, 0.5 * H])
    return _build(comm, "cylinder", make, half, float(np.hypot(r, 0.5 * H)), h, shell, info,
                  ghost_mode=ghost_mode, verbose=verbose)  # fmt: skip


# ---------------------------------------------------------------------------
# Submesh
# ---------------------------------------------------------------------------


def magnet_submesh(
    mm: MagnetMesh,
) -> tuple[dolfinx.mesh.Mesh, dolfinx.mesh.EntityMap, dolfinx.mesh.EntityMap]:
    """The mesh of the magnetic cells (owned and ghost cells of each rank).

    Returns
    -------
    submesh, cell_map, vertex_map
        The magnet mesh and the :class:`dolfinx.mesh.EntityMap` objects from
        :func:`dolfinx.mesh.create_submesh` relating its cells / vertices to
        those of ``mm.mesh`` (``cell_map.sub_topology_to_topology(c, inverse=False)``
        gives the parent cells of submesh cells ``c``).
    """
    sub, cell_map, vertex_map, _ = dolfinx.mesh.create_submesh(mm.mesh, 3, mm.magnet_cells())
    return sub, cell_map, vertex_map
