"""Periodic unit cells meshed with gmsh and distributed with dolfinx.

Every builder meshes the unit cell ``Y = [0, 1]^d`` on rank 0 of ``comm`` with
the OpenCASCADE kernel, makes the boundary mesh periodic with
``gmsh.model.mesh.setPeriodic`` (the mesh of each face ``y_i = 1`` is a copy of
the mesh of ``y_i = 0`` translated by ``e_i``, including the high-order nodes),
and distributes it with :func:`dolfinx.io.gmsh.model_to_mesh`.

Tag conventions (the same in the ``.msh`` files written with ``msh_file``):

=======  ======  ===============  =========================================
entity   tag     physical name    meaning
=======  ======  ===============  =========================================
cells    1       ``matrix``       inclusion cell: the host material
cells    2       ``inclusion``    inclusion cell: the disc / ball
cells    1       ``material1``    laminate: ``y[axis] < fraction``
cells    2       ``material2``    laminate: ``y[axis] > fraction``
facets   2i + 1  ``y{i}_0``       boundary face ``y_i = 0`` (i = 0..d-1)
facets   2i + 2  ``y{i}_1``       boundary face ``y_i = 1``
facets   10      ``interface``    interface between materials 1 and 2
=======  ======  ===============  =========================================

Facet tags are only created with ``tag_facets=True`` (the default).  The
laminate interface is the single plane ``y[axis] = fraction``; the other
material contact at ``y[axis] = 0 ~ 1`` is on the boundary (faces
``y{axis}_0`` / ``y{axis}_1``).

gmsh is a process-wide singleton: the builders initialize it only if it is not
initialized yet (and then finalize it again), always work in a fresh model
(removed afterwards) and restore the options they change, so they can be
called repeatedly and from code that uses gmsh itself.

The distributed meshes use the ``shared_facet`` ghost mode by default, like
the dolfinx box meshes (``model_to_mesh`` alone would give ``GhostMode.none``,
with which interior-facet integrals such as ``dS(10)`` fail in parallel).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import numpy as np

from femhomog import (
    ConfigError,
    MeshError,
    _fenicsx,  # noqa: F401  (must precede dolfinx, petsc4py and mpi4py)
)

# isort: split
from dolfinx.io import gmsh as dgmsh
from dolfinx.io.gmsh import MeshData
from dolfinx.mesh import GhostMode, create_cell_partitioner
from mpi4py import MPI

__all__ = [
    "FACET_TAG_INTERFACE",
    "INCLUSION_TAG",
    "MATERIAL1_TAG",
    "MATERIAL2_TAG",
    "MATRIX_TAG",
    "boundary_facet_tag",
    "inclusion_cell",
    "laminate_cell",
    "read_cell_mesh",
]

#: Cell tag of the matrix (host material) of :func:`inclusion_cell`.
MATRIX_TAG = 1
#: Cell tag of the inclusion (disc / ball) of :func:`inclusion_cell`.
INCLUSION_TAG = 2
#: Cell tag of the layer ``y[axis] < fraction`` of :func:`laminate_cell`.
MATERIAL1_TAG = 1
#: Cell tag of the layer ``y[axis] > fraction`` of :func:`laminate_cell`.
MATERIAL2_TAG = 2
#: Facet tag of the material interface (inclusion surface / laminate plane).
FACET_TAG_INTERFACE = 10

# Process-wide counter: a fresh gmsh model name for every build/read, so that
# a builder never reuses (or removes) a model somebody else is working on.
_MODEL_COUNTER = itertools.count()

# Tolerance used to find OCC entities on the faces of the unit cell.  OCC
# bounding boxes are enlarged by the shape tolerance (~1e-7), and no feature of
# a sensible cell is anywhere near this small.
_BBOX_EPS = 1e-5


def boundary_facet_tag(axis: int, side: int) -> int:
    """Facet tag of the boundary face ``y[axis] = side`` (``side`` 0 or 1).

    Parameters
    ----------
    axis
        Axis ``i`` (0-based) normal to the face.
    side
        0 for the face ``y_i = 0``, 1 for ``y_i = 1``.

    Returns
    -------
    int
        ``2 * axis + 1 + side``.
    """
    if side not in (0, 1):
        raise ConfigError(f"side must be 0 or 1, got {side!r}")
    return 2 * axis + 1 + side


# ---------------------------------------------------------------------------
# gmsh session handling (rank 0 only)
# ---------------------------------------------------------------------------


def _one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (MeshError messages are one-liners)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _fresh_model_name(kind: str) -> str:
    """A model name that is unique in this process."""
    return f"femhomog-{kind}-{os.getpid()}-{next(_MODEL_COUNTER)}"


@contextmanager
def _gmsh_model(kind: str, verbose: bool, options: dict[str, float] | None = None) -> Iterator:
    """Run a block in a fresh gmsh model, leaving gmsh as it was found.

    gmsh is initialized here only if nobody has done so (and finalized on
    exit); otherwise the caller's session is reused: the options changed here
    are restored and the caller's current model is made current again.
    """
    import gmsh

    owns_session = not gmsh.isInitialized()
    if owns_session:
        # interruptible=False: no SIGINT handler, which would fail outside the
        # main thread and would steal Ctrl-C from the Python program.
        # readConfigFiles=False: a user's ~/.gmsh-options must not change the
        # meshes (e.g. the meshing algorithm).
        gmsh.initialize(readConfigFiles=False, interruptible=False)
        previous_model = None
    else:
        previous_model = gmsh.model.getCurrent()
    all_options = {"General.Terminal": 1.0 if verbose else 0.0, **(options or {})}
    saved = {name: gmsh.option.getNumber(name) for name in all_options}
    name = _fresh_model_name(kind)
    try:
        for opt, value in all_options.items():
            gmsh.option.setNumber(opt, value)
        gmsh.model.add(name)
        yield gmsh.model
    finally:
        if owns_session:
            gmsh.finalize()
        else:
            # Best effort: never mask the real exception with a cleanup error
            # (gmsh raises plain Exception).
            with suppress(Exception):
                gmsh.model.setCurrent(name)
                gmsh.model.remove()
            for opt, value in saved.items():
                with suppress(Exception):
                    gmsh.option.setNumber(opt, value)
            if previous_model is not None:
                with suppress(Exception):
                    gmsh.model.setCurrent(previous_model)


def _distribute(
    comm: MPI.Comm,
    kind: str,
    prepare: Callable[[object], int],
    ghost_mode: GhostMode,
    verbose: bool = False,
    options: dict[str, float] | None = None,
    rank: int = 0,
) -> MeshData:
    """Run ``prepare(model)`` on ``rank`` in a fresh gmsh model and distribute the mesh.

    ``prepare`` builds (or reads) the mesh, returns the geometric dimension and
    raises :class:`MeshError` (or anything else) on failure.  The outcome is
    broadcast *before* the collective :func:`dolfinx.io.gmsh.model_to_mesh`, so
    a failure on ``rank`` raises the same :class:`MeshError` on every rank
    instead of leaving the others waiting in a broadcast forever.
    """
    if comm.rank == rank:
        with _gmsh_model(kind, verbose, options) as model:
            error: str | None = None
            gdim = 0
            try:
                gdim = prepare(model)
                # model_to_mesh asserts that the node tags are 1..N; a merged
                # file need not satisfy that.
                model.mesh.renumberNodes()
                model.mesh.renumberElements()
            except MeshError as exc:
                error = str(exc)
            except Exception as exc:  # noqa: BLE001  (gmsh raises plain Exception)
                error = f"gmsh failed for the {kind} mesh: {_one_line(exc)}"
            error, gdim = comm.bcast((error, gdim), root=rank)
            if error is not None:
                raise MeshError(error)
            return _model_to_mesh(model, comm, rank, gdim, ghost_mode)
    error, gdim = comm.bcast(None, root=rank)
    if error is not None:
        raise MeshError(error)
    return _model_to_mesh(None, comm, rank, gdim, ghost_mode)


def _model_to_mesh(model, comm: MPI.Comm, rank: int, gdim: int, ghost_mode: GhostMode) -> MeshData:
    """:func:`dolfinx.io.gmsh.model_to_mesh` with its collective errors as MeshError."""
    # Without a partitioner model_to_mesh (create_mesh) uses GhostMode.none,
    # unlike create_box & co; interior-facet integrals (dS, e.g. over the
    # interface tag) then fail in parallel.  Default to shared_facet like them.
    partitioner = create_cell_partitioner(ghost_mode, 2) if comm.size > 1 else None
    try:
        return dgmsh.model_to_mesh(model, comm, rank, gdim=gdim, partitioner=partitioner)
    except RuntimeError as exc:
        # The "no physical groups" / "cells tagged once" checks in dolfinx are
        # broadcast, so every rank gets here together.
        raise MeshError(f"cannot convert the gmsh mesh: {_one_line(exc)}") from None


def _mesh_options(mesh_size: float) -> dict[str, float]:
    """gmsh options shared by the builders (restored afterwards)."""
    return {
        # Sizes come only from Mesh.MeshSizeMax / the background field.
        "Mesh.MeshSizeFromPoints": 0.0,
        "Mesh.MeshSizeFromCurvature": 0.0,
        "Mesh.MeshSizeExtendFromBoundary": 0.0,
        "Mesh.MeshSizeMin": 0.0,
        "Mesh.MeshSizeMax": float(mesh_size),
        # High-order nodes are placed on the (curved) geometry by setOrder.
        "Mesh.SecondOrderLinear": 0.0,
        # Only elements in physical groups are written, nodes in msh 4.1.
        "Mesh.SaveAll": 0.0,
        "Mesh.MshFileVersion": 4.1,
        "Mesh.Binary": 0.0,
    }


def _entities_on_face(model, dim: int, fdim: int, axis: int, value: float) -> list[int]:
    """Tags of the ``fdim``-entities lying in the plane ``y[axis] = value`` of the unit cell."""
    lo = [-_BBOX_EPS] * 3
    hi = [1.0 + _BBOX_EPS] * 3
    for k in range(dim, 3):  # coordinates the cell does not have are 0
        hi[k] = _BBOX_EPS
    lo[axis] = value - _BBOX_EPS
    hi[axis] = value + _BBOX_EPS
    return [tag for _, tag in model.getEntitiesInBoundingBox(*lo, *hi, dim=fdim)]


def _make_periodic(model, dim: int) -> None:
    """Declare every face ``y_i = 1`` the translate of its face ``y_i = 0``.

    gmsh then meshes the master faces (``y_i = 0``) and copies their mesh,
    nodes included, to the slave faces, so the boundary meshes are exact
    translates.  Faces made of several OCC entities (laminates) are matched
    entity by entity through their bounding boxes.
    """
    fdim = dim - 1
    for axis in range(dim):
        shift = np.zeros(3)
        shift[axis] = 1.0
        affine = np.eye(4)
        affine[:3, 3] = shift
        masters = _entities_on_face(model, dim, fdim, axis, 0.0)
        slaves = _entities_on_face(model, dim, fdim, axis, 1.0)
        if len(masters) != len(slaves) or not masters:
            raise MeshError(
                f"faces y{axis}=0 and y{axis}=1 of the cell do not match "
                f"({len(masters)} vs {len(slaves)} entities)"
            )
        master_boxes = {m: np.array(model.getBoundingBox(fdim, m)) for m in masters}
        for s in slaves:
            box = np.array(model.getBoundingBox(fdim, s))
            target = box - np.concatenate([shift, shift])
            match = [m for m, mb in master_boxes.items() if np.allclose(mb, target, atol=1e-4)]
            if len(match) != 1:
                raise MeshError(f"no unique periodic partner of face entity {s} on y{axis}=0")
            model.mesh.setPeriodic(fdim, [s], match, affine.ravel().tolist())


def _tag_boundary(model, dim: int) -> None:
    """Physical groups ``y{i}_0`` / ``y{i}_1`` for the faces of the unit cell."""
    fdim = dim - 1
    for axis in range(dim):
        for side in (0, 1):
            ents = _entities_on_face(model, dim, fdim, axis, float(side))
            model.addPhysicalGroup(
                fdim, ents, tag=boundary_facet_tag(axis, side), name=f"y{axis}_{side}"
            )


def _msh_path(msh_file: str | Path | None) -> Path | None:
    """Validate the ``msh_file`` argument (on every rank, before any gmsh work)."""
    if msh_file is None:
        return None
    path = Path(msh_file)
    if path.suffix != ".msh":
        raise ConfigError(f"msh_file must end in .msh, got {str(path)!r}")
    return path


def _write_msh(path: Path | None) -> None:
    """Write the current gmsh model to ``path`` (rank 0 only; nothing if None)."""
    if path is None:
        return
    import gmsh

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        gmsh.write(str(path))
    except Exception as exc:  # noqa: BLE001  (gmsh raises plain Exception)
        raise MeshError(f"cannot write {str(path)!r}: {_one_line(exc)}") from None


def _check_positive(name: str, value: float) -> float:
    """``value`` as a float, or ConfigError if it is not a positive number."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a positive number, got {value!r}") from None
    if not (np.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be positive, got {value!r}")
    return value


# ---------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------


def inclusion_cell(
    comm: MPI.Comm,
    dim: int,
    radius: float = 0.25,
    center: float | Sequence[float] = 0.5,
    mesh_size: float = 0.05,
    inclusion_mesh_size: float | None = None,
    order: int = 1,
    msh_file: str | Path | None = None,
    tag_facets: bool = True,
    ghost_mode: GhostMode = GhostMode.shared_facet,
    verbose: bool = False,
) -> MeshData:
    """Periodic unit cell with a circular (2D) or spherical (3D) inclusion.

    The unit square / cube ``[0, 1]^d`` is fragmented with the disc / ball
    ``|y - center| < radius`` so that the mesh conforms to the interface.

    Parameters
    ----------
    comm
        Communicator; the mesh is built on its rank 0 and distributed.
    dim
        2 (disc) or 3 (ball).
    radius
        Inclusion radius; the inclusion must lie strictly inside the cell,
        i.e. ``radius < center_i < 1 - radius`` (``0 < radius < 0.5`` for the
        default centre).
    center
        Inclusion centre, one number for all coordinates or ``dim`` numbers.
    mesh_size
        Target element size in the matrix.
    inclusion_mesh_size
        Target element size inside and on the inclusion (default
        ``mesh_size``); the size grows to ``mesh_size`` over a layer of
        thickness ``mesh_size`` outside the inclusion.
    order
        Geometric order 1 or 2 (order 2: curved elements on the interface).
    msh_file
        If given, also write the mesh to this ``.msh`` file (rank 0).
    tag_facets
        Create the boundary-face and interface facet tags (see module docs).
    ghost_mode
        dolfinx ghost mode of the distributed mesh; ``shared_facet`` (the
        default, as for the dolfinx box meshes) is needed for interior-facet
        integrals such as ``dS(10)`` in parallel.
    verbose
        Let gmsh print to the terminal.

    Returns
    -------
    dolfinx.io.gmsh.MeshData
        ``mesh``, ``cell_tags`` (1 = matrix, 2 = inclusion), ``facet_tags``
        (``y{i}_0`` = 2i+1, ``y{i}_1`` = 2i+2, interface = 10; ``None`` with
        ``tag_facets=False``) and ``physical_groups``.

    Raises
    ------
    femhomog.ConfigError
        Bad ``dim``, ``order``, sizes, ``msh_file`` not ending in ``.msh``, or
        an inclusion not strictly inside.
    femhomog.MeshError
        gmsh failed or the file could not be written.
    """
    if dim not in (2, 3):
        raise ConfigError(f"inclusion_cell needs dim 2 or 3, got {dim!r}")
    if order not in (1, 2):
        raise ConfigError(f"inclusion_cell supports geometric order 1 or 2, got {order!r}")
    r = _check_positive("radius", radius)
    try:
        c = np.broadcast_to(np.asarray(center, dtype=float), (dim,)).copy()
    except (TypeError, ValueError):
        raise ConfigError(f"center must be a number or {dim} numbers, got {center!r}") from None
    if not np.all((c - r > 0.0) & (c + r < 1.0)):
        raise ConfigError(
            f"the inclusion (radius {r:g}, centre {c.tolist()}) must lie strictly inside "
            "the unit cell: need radius < center_i < 1 - radius (0 < radius < 0.5 for "
            "the centred inclusion)"
        )
    h = _check_positive("mesh_size", mesh_size)
    out = _msh_path(msh_file)
    h_in = (
        h
        if inclusion_mesh_size is None
        else _check_positive("inclusion_mesh_size", inclusion_mesh_size)
    )

    def prepare(model) -> int:
        occ = model.occ
        if dim == 2:
            cell = occ.addRectangle(0, 0, 0, 1, 1)
            incl = occ.addDisk(c[0], c[1], 0, r, r)
        else:
            cell = occ.addBox(0, 0, 0, 1, 1, 1)
            incl = occ.addSphere(c[0], c[1], c[2], r)
        # fragment makes the two regions share the interface (conforming mesh);
        # the children of the inclusion are the inclusion, the cell's other
        # children form the matrix.
        _, children = occ.fragment([(dim, cell)], [(dim, incl)])
        occ.synchronize()
        inclusion = [t for _, t in children[1]]
        matrix = [t for _, t in children[0] if t not in inclusion]
        model.addPhysicalGroup(dim, matrix, tag=MATRIX_TAG, name="matrix")
        model.addPhysicalGroup(dim, inclusion, tag=INCLUSION_TAG, name="inclusion")
        if tag_facets:
            _tag_boundary(model, dim)
            interface = [
                t for _, t in model.getBoundary([(dim, t) for t in inclusion], oriented=False)
            ]
            model.addPhysicalGroup(dim - 1, interface, tag=FACET_TAG_INTERFACE, name="interface")
        _make_periodic(model, dim)

        # Mesh size: h_in in the (slightly enlarged) inclusion so that the
        # interface itself is meshed with h_in, growing to h over a layer of
        # thickness h outside it.
        field = model.mesh.field
        ball = field.add("Ball")
        field.setNumber(ball, "Radius", r * (1.0 + 1e-6))
        field.setNumber(ball, "Thickness", h if h_in < h else 0.0)
        field.setNumber(ball, "VIn", h_in)
        field.setNumber(ball, "VOut", h)
        for k, name in enumerate(("XCenter", "YCenter", "ZCenter")):
            field.setNumber(ball, name, float(c[k]) if k < dim else 0.0)
        field.setAsBackgroundMesh(ball)

        model.mesh.generate(dim)
        if order > 1:
            model.mesh.setOrder(order)
            # Projecting the mid-edge nodes onto a coarsely resolved sphere can
            # invert elements.  gmsh's high-order optimizer would untangle them
            # but moves nodes on the periodic faces (breaks periodicity), so
            # report instead.
            _, elem_tags, _ = model.mesh.getElements(dim)
            det = np.concatenate(
                [model.mesh.getElementQualities(t, "minDetJac") for t in elem_tags]
            )
            if np.any(det <= 0.0):
                raise MeshError(
                    f"the order-{order} inclusion mesh has {int(np.sum(det <= 0))} inverted "
                    f"curved elements; use a smaller inclusion_mesh_size (now {h_in:g}) "
                    f"relative to the radius {r:g}"
                )
        _write_msh(out)
        return dim

    options = _mesh_options(max(h, h_in))
    return _distribute(comm, f"inclusion{dim}d", prepare, ghost_mode, verbose, options)


def laminate_cell(
    comm: MPI.Comm,
    dim: int,
    fraction: float = 0.5,
    axis: int | None = None,
    mesh_size: float = 0.05,
    msh_file: str | Path | None = None,
    tag_facets: bool = True,
    ghost_mode: GhostMode = GhostMode.shared_facet,
    verbose: bool = False,
) -> MeshData:
    """Periodic two-layer laminate cell ``[0, 1]^d``, layers normal to ``y[axis]``.

    Parameters
    ----------
    comm
        Communicator; the mesh is built on its rank 0 and distributed.
    dim
        1, 2 or 3.
    fraction
        Volume fraction of material 1, which fills ``y[axis] < fraction``;
        ``0 < fraction < 1``.  Material 2 fills ``y[axis] > fraction``.
    axis
        Lamination axis (0-based), default ``dim - 1``.
    mesh_size
        Target element size.
    msh_file
        If given, also write the mesh to this ``.msh`` file (rank 0).
    tag_facets
        Create the boundary-face and interface facet tags (see module docs).
    ghost_mode
        dolfinx ghost mode of the distributed mesh; ``shared_facet`` (the
        default, as for the dolfinx box meshes) is needed for interior-facet
        integrals such as ``dS(10)`` in parallel.
    verbose
        Let gmsh print to the terminal.

    Returns
    -------
    dolfinx.io.gmsh.MeshData
        ``mesh``, ``cell_tags`` (1 = material1, 2 = material2), ``facet_tags``
        (``y{i}_0`` = 2i+1, ``y{i}_1`` = 2i+2, interface = 10; ``None`` with
        ``tag_facets=False``) and ``physical_groups``.

    Raises
    ------
    femhomog.ConfigError
        Bad ``dim``, ``axis``, ``fraction``, ``mesh_size`` or ``msh_file``.
    femhomog.MeshError
        gmsh failed or the file could not be written.
    """
    if dim not in (1, 2, 3):
        raise ConfigError(f"laminate_cell needs dim 1, 2 or 3, got {dim!r}")
    ax = dim - 1 if axis is None else axis
    if isinstance(ax, bool) or not isinstance(ax, (int, np.integer)) or not 0 <= ax < dim:
        raise ConfigError(f"laminate axis must be in 0..{dim - 1}, got {axis!r}")
    f = float(fraction)
    if not 0.0 < f < 1.0:
        raise ConfigError(f"laminate fraction must be in (0, 1), got {fraction!r}")
    h = _check_positive("mesh_size", mesh_size)
    out = _msh_path(msh_file)

    def prepare(model) -> int:
        occ = model.occ
        layers = []
        for lo, hi in ((0.0, f), (f, 1.0)):
            origin = np.zeros(3)
            extent = np.zeros(3)
            extent[:dim] = 1.0
            origin[ax] = lo
            extent[ax] = hi - lo
            if dim == 1:
                p0 = occ.addPoint(*origin)
                p1 = occ.addPoint(*(origin + extent))
                layers.append(occ.addLine(p0, p1))
            elif dim == 2:
                layers.append(occ.addRectangle(*origin, extent[0], extent[1]))
            else:
                layers.append(occ.addBox(*origin, *extent))
        # fragment glues the layers along y[axis] = fraction (shared interface).
        _, children = occ.fragment([(dim, layers[0])], [(dim, layers[1])])
        occ.synchronize()
        mat1 = [t for _, t in children[0]]
        mat2 = [t for _, t in children[1]]
        model.addPhysicalGroup(dim, mat1, tag=MATERIAL1_TAG, name="material1")
        model.addPhysicalGroup(dim, mat2, tag=MATERIAL2_TAG, name="material2")
        if tag_facets:
            _tag_boundary(model, dim)
            interface = _entities_on_face(model, dim, dim - 1, ax, f)
            model.addPhysicalGroup(dim - 1, interface, tag=FACET_TAG_INTERFACE, name="interface")
        if dim > 1:  # in 1D the "faces" are single points: periodic already
            _make_periodic(model, dim)
        model.mesh.generate(dim)
        _write_msh(out)
        return dim

    options = _mesh_options(h)
    return _distribute(comm, f"laminate{dim}d", prepare, ghost_mode, verbose, options)


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


def read_cell_mesh(
    comm: MPI.Comm,
    path: str | Path,
    gdim: int | None = None,
    ghost_mode: GhostMode = GhostMode.shared_facet,
    verbose: bool = False,
) -> MeshData:
    """Read a cell mesh from a gmsh ``.msh`` file (e.g. written with ``msh_file``).

    Only elements in physical groups are used; the cell tags are the physical
    group tags of the top-dimensional elements.

    Parameters
    ----------
    comm
        Communicator; the file is read on its rank 0 and distributed.
    path
        ``.msh`` file.
    gdim
        Geometric dimension; default: the topological dimension of the cells.
    ghost_mode
        dolfinx ghost mode of the distributed mesh (default ``shared_facet``).
    verbose
        Let gmsh print to the terminal.

    Returns
    -------
    dolfinx.io.gmsh.MeshData
        Mesh, cell/facet tags and physical groups as in the file.

    Raises
    ------
    femhomog.MeshError
        The file is missing, not a ``.msh`` file, unreadable, contains no
        mesh, has no cell physical groups, or uses element types dolfinx does
        not support.
    """
    p = Path(path)
    # dolfinx.io.gmsh.read_from_msh is not used: it finalizes gmsh
    # unconditionally and fails on rank 0 only (deadlocking the others) when
    # the file is bad.  This does the same with collective errors.

    def prepare(model) -> int:
        import gmsh

        if not p.is_file():
            raise MeshError(f"mesh file {str(p)!r} not found")
        # gmsh.merge would also run .geo scripts or import CAD files; only
        # accept mesh files.
        if p.suffix.lower() != ".msh":
            raise MeshError(f"{str(p)!r} is not a gmsh .msh file")
        try:
            gmsh.merge(str(p))
        except Exception as exc:  # noqa: BLE001  (gmsh raises plain Exception)
            raise MeshError(f"cannot read mesh file {str(p)!r}: {_one_line(exc)}") from None
        tdim = max((d for d in (3, 2, 1) if len(model.mesh.getElementTypes(dim=d)) > 0), default=0)
        if tdim == 0:
            raise MeshError(f"{str(p)!r} contains no mesh elements (not a mesh file?)")
        if not model.getPhysicalGroups(dim=tdim):
            raise MeshError(
                f"{str(p)!r} has no physical groups of dimension {tdim} (cell tags); "
                "tag the cells with physical groups in gmsh"
            )
        g = tdim if gdim is None else int(gdim)
        if not tdim <= g <= 3:
            raise MeshError(f"gdim must be between {tdim} (cell dimension) and 3, got {g}")
        # model_to_mesh would fail on rank 0 only (the others hang) for element
        # types it does not know; check here, where the error is collective.
        known = getattr(dgmsh, "_gmsh_to_cells", None)
        for etype in model.mesh.getElementTypes(dim=tdim):
            if known is not None and etype not in known:
                name = model.mesh.getElementProperties(etype)[0]
                raise MeshError(f"{str(p)!r}: element type {name!r} is not supported")
        return g

    return _distribute(comm, "read", prepare, ghost_mode, verbose)
