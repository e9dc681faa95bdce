"""Tests of femhomog.meshes: structured boxes, gmsh periodic cells, .msh reading.

Serial tests are unmarked; ``test_cells_parallel`` is marked ``mpi`` and meant for
``mpirun -n 2 python -m mpi4py -m pytest -m mpi tests/test_meshes.py`` (it works
with COMM_WORLD of any size, including 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from femhomog import (
    ConfigError,
    MeshError,
    _fenicsx,  # noqa: F401  (must precede dolfinx, petsc4py and mpi4py)
)

# isort: split
import gmsh
import ufl
from dolfinx import fem
from dolfinx import mesh as dmesh
from mpi4py import MPI

from femhomog.meshes import (
    FACET_TAG_INTERFACE,
    INCLUSION_TAG,
    MATERIAL1_TAG,
    MATERIAL2_TAG,
    MATRIX_TAG,
    boundary_facet_tag,
    check_periodic_boundary,
    inclusion_cell,
    laminate_cell,
    periodic_box_mesh,
    read_cell_mesh,
)

MESH_DIR = Path(__file__).resolve().parents[1] / "meshes"


# ---------------------------------------------------------------------------
# helpers (independent of the library's own periodicity check)
# ---------------------------------------------------------------------------


def _integrate(msh: dmesh.Mesh, measure: ufl.Measure) -> float:
    """Global integral of 1 over ``measure``."""
    form = fem.form(fem.Constant(msh, 1.0) * measure)
    return msh.comm.allreduce(fem.assemble_scalar(form), op=MPI.SUM)


def _cell_volume(msh: dmesh.Mesh, cell_tags=None, tag: int | None = None) -> float:
    dx = ufl.Measure("dx", domain=msh, subdomain_data=cell_tags)
    return _integrate(msh, dx if tag is None else dx(tag))


def _face_points(msh: dmesh.Mesh, edim: int, axis: int, value: float) -> np.ndarray:
    """Midpoints of the ``edim``-entities on ``y[axis] = value``, gathered on all ranks."""
    msh.topology.create_entities(edim)
    ents = dmesh.locate_entities_boundary(
        msh, edim, lambda x: np.isclose(x[axis], value, rtol=0.0, atol=1e-9)
    )
    ents = ents[ents < msh.topology.index_map(edim).size_local]  # owned: no duplicates
    pts = dmesh.compute_midpoints(msh, edim, ents)[:, : msh.geometry.dim]
    return np.concatenate(msh.comm.allgather(pts), axis=0)


def _sorted(points: np.ndarray) -> np.ndarray:
    # Lexicographic order on rounded coordinates (noise of 1e-16 must not
    # change the order), comparison then on the exact values.
    keys = np.round(points, 8)
    return points[np.lexsort(keys.T[::-1])]


def _assert_faces_translate(msh: dmesh.Mesh, edim: int, lengths=None) -> None:
    """For every axis, entities on y_i=0 shifted by L_i e_i == entities on y_i=L_i (1e-10)."""
    dim = msh.topology.dim
    L = np.ones(dim) if lengths is None else np.asarray(lengths, dtype=float)
    for axis in range(dim):
        lo = _face_points(msh, edim, axis, 0.0)
        hi = _face_points(msh, edim, axis, L[axis])
        assert len(lo) == len(hi) > 0, (axis, len(lo), len(hi))
        lo[:, axis] += L[axis]
        np.testing.assert_allclose(_sorted(lo), _sorted(hi), rtol=0.0, atol=1e-10)


# ---------------------------------------------------------------------------
# structured boxes
# ---------------------------------------------------------------------------

CELLS_PER_GRID_CELL = {
    "interval": 1,
    "triangle": 2,
    "quadrilateral": 1,
    "tetrahedron": 6,
    "hexahedron": 1,
}
DIM_OF = {"interval": 1, "triangle": 2, "quadrilateral": 2, "tetrahedron": 3, "hexahedron": 3}


@pytest.mark.parametrize("cell_type", list(CELLS_PER_GRID_CELL))
def test_structured_counts_volume_periodic(cell_type: str) -> None:
    comm = MPI.COMM_WORLD
    dim, n = DIM_OF[cell_type], 3
    msh = periodic_box_mesh(comm, dim, cell_type, n)
    num_cells = msh.topology.index_map(dim).size_global
    assert num_cells == CELLS_PER_GRID_CELL[cell_type] * n**dim
    assert _cell_volume(msh) == pytest.approx(1.0, abs=1e-12)
    # Vertices and facets (the face triangulations, which P2/P3 dofs need)
    # on opposite faces are translates.
    _assert_faces_translate(msh, 0)
    _assert_faces_translate(msh, dim - 1)
    check_periodic_boundary(comm, msh)


@pytest.mark.parametrize(
    ("dim", "cell_type", "lengths"),
    [(1, "interval", 2.5), (2, "triangle", (2.0, 0.5)), (3, "tetrahedron", (1.0, 2.0, 0.5))],
)
def test_structured_lengths(dim: int, cell_type: str, lengths) -> None:
    comm = MPI.COMM_WORLD
    msh = periodic_box_mesh(comm, dim, cell_type, 2, lengths=lengths)
    assert _cell_volume(msh) == pytest.approx(float(np.prod(lengths)), rel=1e-12)
    L = np.broadcast_to(np.asarray(lengths, dtype=float), (dim,))
    _assert_faces_translate(msh, dim - 1, L)
    check_periodic_boundary(comm, msh, lengths=lengths)


@pytest.mark.parametrize(
    ("dim", "cell_type", "counts"),
    [(2, "quadrilateral", (6, 2)), (2, "triangle", (2, 5)), (3, "hexahedron", (4, 1, 3))],
)
def test_structured_anisotropic_counts(dim: int, cell_type: str, counts) -> None:
    """Per-axis cell counts: grid spacing L_i/n_i along axis i, still periodic."""
    comm = MPI.COMM_WORLD
    msh = periodic_box_mesh(comm, dim, cell_type, counts, lengths=[1.0, 2.0, 0.5][:dim])
    num_cells = msh.topology.index_map(dim).size_global
    assert num_cells == CELLS_PER_GRID_CELL[cell_type] * int(np.prod(counts))
    x = msh.geometry.x
    for i, n in enumerate(counts):
        coords = np.unique(np.round(np.concatenate(comm.allgather(x[:, i])), 12))
        assert len(coords) == n + 1
    check_periodic_boundary(comm, msh, lengths=[1.0, 2.0, 0.5][:dim])


@pytest.mark.parametrize(
    ("dim", "cell_type", "n", "lengths"),
    [
        (2, "quadrilateral", (2, 0), 1.0),
        (2, "quadrilateral", (2, 2, 2), 1.0),
        (2, "quadrilateral", (2, 2.0), 1.0),
        (2, "tetrahedron", 2, 1.0),
        (3, "triangle", 2, 1.0),
        (1, "quadrilateral", 2, 1.0),
        (4, "hexahedron", 2, 1.0),
        (2, "prism", 2, 1.0),
        (2, "triangle", 0, 1.0),
        (2, "triangle", 2.5, 1.0),
        (2, "triangle", 2, (1.0, 1.0, 1.0)),
        (2, "triangle", 2, -1.0),
    ],
)
def test_structured_config_errors(dim, cell_type, n, lengths) -> None:
    with pytest.raises(ConfigError):
        periodic_box_mesh(MPI.COMM_WORLD, dim, cell_type, n, lengths=lengths)


def test_check_periodic_boundary_detects_mismatch() -> None:
    comm = MPI.COMM_WORLD
    msh = periodic_box_mesh(comm, 2, "triangle", 4)
    x = msh.geometry.x
    # Move the node (1, 0.5) along the face on every rank that has it.
    hit = np.isclose(x[:, 0], 1.0) & np.isclose(x[:, 1], 0.5)
    x[hit, 1] += 1e-6
    with pytest.raises(MeshError, match="not periodic"):
        check_periodic_boundary(comm, msh)


# ---------------------------------------------------------------------------
# gmsh inclusion cells
# ---------------------------------------------------------------------------


def test_inclusion_2d_area_converges() -> None:
    """The disc is meshed by an inscribed polygon.

    With chords of length s <= c h on a circle of radius r, the relative area
    deficit of the polygon is 1 - sin(t)/t with t = 2 asin(s / 2r), i.e.
    about (s/r)^2 / 6.  gmsh targets s ~ h; c = 1.5 leaves room for longer
    chords.  The deficit is positive (inscribed) and O(h^2): it must drop by
    well over 2 when h halves (4 asymptotically).
    """
    comm, r = MPI.COMM_WORLD, 0.25
    exact = np.pi * r**2
    errors = []
    for h in (0.1, 0.05):
        data = inclusion_cell(comm, 2, radius=r, mesh_size=h)
        assert _cell_volume(data.mesh) == pytest.approx(1.0, abs=1e-12)
        area = _cell_volume(data.mesh, data.cell_tags, INCLUSION_TAG)
        matrix = _cell_volume(data.mesh, data.cell_tags, MATRIX_TAG)
        assert area + matrix == pytest.approx(1.0, abs=1e-12)
        rel = (exact - area) / exact
        assert 0.0 < rel < (1.5 * h / r) ** 2 / 6.0
        errors.append(rel)
        _assert_faces_translate(data.mesh, 0)
        check_periodic_boundary(comm, data.mesh)
    assert errors[1] < errors[0] / 3.0


def test_inclusion_3d_volume_converges() -> None:
    """The ball is meshed by an inscribed polyhedron.

    A flat triangle with edges s on a sphere of radius r misses a cap of mean
    height s^2 / (8 r), so the relative volume deficit is about
    3 s^2 / (8 r^2).  With s <= 1.5 h_in the bound is (27/32) (h_in/r)^2; the
    deficit is O(h^2) and must drop by well over 2 when h_in halves.
    """
    comm, r = MPI.COMM_WORLD, 0.25
    exact = 4.0 / 3.0 * np.pi * r**3
    errors = []
    for h_in in (0.1, 0.05):
        data = inclusion_cell(comm, 3, radius=r, mesh_size=0.25, inclusion_mesh_size=h_in)
        assert _cell_volume(data.mesh) == pytest.approx(1.0, abs=1e-12)
        vol = _cell_volume(data.mesh, data.cell_tags, INCLUSION_TAG)
        rel = (exact - vol) / exact
        assert 0.0 < rel < 27.0 / 32.0 * (h_in / r) ** 2
        errors.append(rel)
        _assert_faces_translate(data.mesh, 0)
        _assert_faces_translate(data.mesh, 2)
    assert errors[1] < errors[0] / 3.0


@pytest.mark.parametrize(("dim", "h"), [(2, 0.1), (3, 0.2)])
def test_inclusion_order2(dim: int, h: float) -> None:
    """Quadratic geometry: curved interface, periodic high-order nodes.

    Quadratic interpolation of the circle / sphere has a geometric error
    O((h/r)^3) per unit length, far below the O((h/r)^2) of the flat mesh: the
    volume error must be below 1/4 of the flat-element bound (measured: 5e-5
    in 2D, 5e-3 in 3D).
    """
    comm, r = MPI.COMM_WORLD, 0.25
    data = inclusion_cell(comm, dim, radius=r, mesh_size=h, order=2)
    assert data.mesh.geometry.cmaps[0].degree == 2
    exact = np.pi * r**2 if dim == 2 else 4.0 / 3.0 * np.pi * r**3
    vol = _cell_volume(data.mesh, data.cell_tags, INCLUSION_TAG)
    flat_bound = (1.5 * h / r) ** 2 / 6.0 if dim == 2 else 27.0 / 32.0 * (h / r) ** 2
    assert abs(vol - exact) / exact < flat_bound / 4.0
    # Geometry nodes include the mid-edge nodes: all must match across faces.
    check_periodic_boundary(comm, data.mesh)
    _assert_faces_translate(data.mesh, dim - 1)


def test_inclusion_order2_too_coarse_is_mesh_error() -> None:
    # h = r: projecting mid-edge nodes onto the sphere inverts elements.
    with pytest.raises(MeshError, match="inverted"):
        inclusion_cell(MPI.COMM_WORLD, 3, radius=0.25, mesh_size=0.25, order=2)


def test_inclusion_facet_tags() -> None:
    comm = MPI.COMM_WORLD
    r, c = 0.2, (0.4, 0.55, 0.5)
    data = inclusion_cell(comm, 3, radius=r, center=c, mesh_size=0.2, inclusion_mesh_size=0.1)
    names = {k: (v.dim, v.tag) for k, v in data.physical_groups.items()}
    assert names["matrix"] == (3, MATRIX_TAG) and names["inclusion"] == (3, INCLUSION_TAG)
    assert names["interface"] == (2, FACET_TAG_INTERFACE)
    ds = ufl.Measure("ds", domain=data.mesh, subdomain_data=data.facet_tags)
    for axis in range(3):
        for side in (0, 1):
            assert names[f"y{axis}_{side}"] == (2, boundary_facet_tag(axis, side))
            area = _integrate(data.mesh, ds(boundary_facet_tag(axis, side)))
            assert area == pytest.approx(1.0, abs=1e-12)
    dS = ufl.Measure("dS", domain=data.mesh, subdomain_data=data.facet_tags)
    sphere = _integrate(data.mesh, dS(FACET_TAG_INTERFACE))
    assert sphere == pytest.approx(4 * np.pi * r**2, rel=0.1)
    # Off-centre inclusion: the periodic copy still works.
    check_periodic_boundary(comm, data.mesh)

    plain = inclusion_cell(comm, 2, mesh_size=0.2, tag_facets=False)
    assert plain.facet_tags is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dim": 1},
        {"dim": 4},
        {"dim": 2, "radius": 0.0},
        {"dim": 2, "radius": 0.5},
        {"dim": 3, "radius": 0.6},
        {"dim": 2, "radius": 0.2, "center": (0.1, 0.5)},
        {"dim": 2, "center": (0.5, 0.5, 0.5)},
        {"dim": 2, "mesh_size": 0.0},
        {"dim": 2, "mesh_size": "fine"},
        {"dim": 2, "inclusion_mesh_size": -0.1},
        {"dim": 2, "order": 3},
        {"dim": 2, "msh_file": "cell.vtk"},
    ],
)
def test_inclusion_config_errors(kwargs) -> None:
    with pytest.raises(ConfigError):
        inclusion_cell(MPI.COMM_WORLD, **kwargs)


# ---------------------------------------------------------------------------
# gmsh laminate cells
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("dim", "axis"), [(1, 0), (2, 1), (2, 0), (3, 2), (3, 0)])
def test_laminate_fraction_exact(dim: int, axis: int) -> None:
    comm, f = MPI.COMM_WORLD, 0.3
    data = laminate_cell(comm, dim, fraction=f, axis=axis, mesh_size=0.2)
    msh, ct = data.mesh, data.cell_tags
    # Planar interface: the layer volumes are exact up to round-off.
    assert _cell_volume(msh, ct, MATERIAL1_TAG) == pytest.approx(f, abs=1e-12)
    assert _cell_volume(msh, ct, MATERIAL2_TAG) == pytest.approx(1 - f, abs=1e-12)
    # Material 1 is the layer y[axis] < fraction.
    mid = dmesh.compute_midpoints(msh, dim, ct.indices)[:, axis]
    assert np.all((mid < f) == (ct.values == MATERIAL1_TAG))
    if dim > 1:
        dS = ufl.Measure("dS", domain=msh, subdomain_data=data.facet_tags)
        assert _integrate(msh, dS(FACET_TAG_INTERFACE)) == pytest.approx(1.0, abs=1e-12)
        _assert_faces_translate(msh, 0)
        _assert_faces_translate(msh, dim - 1)
    check_periodic_boundary(comm, msh)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dim": 0},
        {"dim": 2, "fraction": 0.0},
        {"dim": 2, "fraction": 1.0},
        {"dim": 2, "axis": 2},
        {"dim": 3, "axis": -1},
        {"dim": 2, "mesh_size": -1.0},
    ],
)
def test_laminate_config_errors(kwargs) -> None:
    with pytest.raises(ConfigError):
        laminate_cell(MPI.COMM_WORLD, **kwargs)


# ---------------------------------------------------------------------------
# .msh files
# ---------------------------------------------------------------------------


def test_msh_roundtrip(tmp_path: Path) -> None:
    comm = MPI.COMM_WORLD
    path = tmp_path / "sub" / "cell.msh"
    built = inclusion_cell(comm, 2, mesh_size=0.1, order=2, msh_file=path)
    read = read_cell_mesh(comm, path)
    assert read.mesh.geometry.dim == 2 and read.mesh.geometry.cmaps[0].degree == 2
    for tag in (MATRIX_TAG, INCLUSION_TAG):
        assert _cell_volume(read.mesh, read.cell_tags, tag) == pytest.approx(
            _cell_volume(built.mesh, built.cell_tags, tag), rel=1e-12
        )
    assert set(read.physical_groups) == set(built.physical_groups)
    check_periodic_boundary(comm, read.mesh)


@pytest.mark.parametrize(
    ("name", "groups"),
    [
        ("inclusion2d.msh", {"matrix", "inclusion"}),
        ("inclusion3d.msh", {"matrix", "inclusion"}),
        ("laminate2d.msh", {"material1", "material2"}),
    ],
)
def test_example_meshes(name: str, groups: set[str]) -> None:
    path = MESH_DIR / name
    assert path.stat().st_size < 400_000
    data = read_cell_mesh(MPI.COMM_WORLD, path)
    assert groups <= set(data.physical_groups)
    assert _cell_volume(data.mesh) == pytest.approx(1.0, abs=1e-12)
    check_periodic_boundary(MPI.COMM_WORLD, data.mesh)


def _write_unphysical_msh(path: Path) -> None:
    """A valid .msh with a mesh but no physical groups."""
    gmsh.initialize(readConfigFiles=False, interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("nophys")
        gmsh.model.occ.addRectangle(0, 0, 0, 1, 1)
        gmsh.model.occ.synchronize()
        gmsh.option.setNumber("Mesh.MeshSizeMax", 0.5)
        gmsh.model.mesh.generate(2)
        gmsh.option.setNumber("Mesh.SaveAll", 1)
        gmsh.write(str(path))
    finally:
        gmsh.finalize()


@pytest.mark.parametrize(
    ("content", "suffix", "match"),
    [
        (None, ".msh", "not found"),
        ("garbage\nfoo bar\n", ".msh", "cannot read"),
        ("$MeshFormat\n4.1 0 8\n$EndMeshFormat\n$Nodes\n1 2 3\n", ".msh", "cannot read"),
        ("$MeshFormat\n4.1 0 8\n$EndMeshFormat\n", ".msh", "no mesh elements"),
        ("Point(1) = {0, 0, 0};\n", ".geo", "not a gmsh .msh"),
        ("unphysical", ".msh", "no physical groups"),
    ],
)
def test_read_errors(tmp_path: Path, content: str | None, suffix: str, match: str) -> None:
    path = tmp_path / f"bad{suffix}"
    if content == "unphysical":
        _write_unphysical_msh(path)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(MeshError, match=match) as info:
        read_cell_mesh(MPI.COMM_WORLD, path)
    assert "\n" not in str(info.value)


def test_gmsh_session_is_preserved() -> None:
    """Builders reuse a caller's gmsh session and leave its model and options alone."""
    gmsh.initialize(readConfigFiles=False, interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("callers-model")
        gmsh.option.setNumber("Mesh.MeshSizeMax", 0.123)
        for _ in range(2):
            laminate_cell(MPI.COMM_WORLD, 2, mesh_size=0.3)
        with pytest.raises(MeshError):
            read_cell_mesh(MPI.COMM_WORLD, "missing.msh")
        assert gmsh.isInitialized()
        assert gmsh.model.getCurrent() == "callers-model"
        assert not any(m.startswith("femhomog") for m in gmsh.model.list())
        assert gmsh.option.getNumber("Mesh.MeshSizeMax") == 0.123
    finally:
        gmsh.finalize()
    # ... and initialize/finalize it themselves otherwise.
    laminate_cell(MPI.COMM_WORLD, 1, mesh_size=0.3)
    assert not gmsh.isInitialized()


# ---------------------------------------------------------------------------
# parallel
# ---------------------------------------------------------------------------


@pytest.mark.mpi
def test_cells_parallel(shared_tmp_path: Path) -> None:
    """Distributed cells: volumes, periodicity gathered over ranks, collective errors."""
    comm = MPI.COMM_WORLD
    shared = shared_tmp_path  # one directory for all ranks

    data = inclusion_cell(comm, 2, mesh_size=0.05, msh_file=shared / "incl.msh")
    area = _cell_volume(data.mesh, data.cell_tags, INCLUSION_TAG)
    assert 0.0 < np.pi / 16 - area < np.pi / 16 * (1.5 * 0.05 / 0.25) ** 2 / 6
    assert _cell_volume(data.mesh) == pytest.approx(1.0, abs=1e-12)
    _assert_faces_translate(data.mesh, 0)
    check_periodic_boundary(comm, data.mesh)

    read = read_cell_mesh(comm, shared / "incl.msh")
    assert read.mesh.topology.index_map(2).size_global == (
        data.mesh.topology.index_map(2).size_global
    )
    assert _cell_volume(read.mesh, read.cell_tags, INCLUSION_TAG) == pytest.approx(area)

    lam = laminate_cell(comm, 3, fraction=0.3, mesh_size=0.2)
    assert _cell_volume(lam.mesh, lam.cell_tags, MATERIAL1_TAG) == pytest.approx(0.3, abs=1e-12)
    # Interior-facet integrals need the shared_facet ghost mode in parallel.
    dS = ufl.Measure("dS", domain=lam.mesh, subdomain_data=lam.facet_tags)
    assert _integrate(lam.mesh, dS(FACET_TAG_INTERFACE)) == pytest.approx(1.0, abs=1e-12)
    _assert_faces_translate(lam.mesh, 0)
    _assert_faces_translate(lam.mesh, 2)
    check_periodic_boundary(comm, lam.mesh)

    box = periodic_box_mesh(comm, 3, "tetrahedron", 4)
    assert box.topology.index_map(3).size_global == 6 * 4**3
    _assert_faces_translate(box, 2)
    check_periodic_boundary(comm, box)

    # Errors found on rank 0 are raised on every rank (no hang).
    with pytest.raises(MeshError, match="not found"):
        read_cell_mesh(comm, shared / "missing.msh")
