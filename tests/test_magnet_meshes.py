"""Magnet geometry builders (femhomog.meshes.magnets).

Truths: exact volumes and surface areas of the regions (cuboids, layers and box
shells exactly; curved bodies to the O(h^2) error of the inscribed polyhedron,
measured to shrink at about that rate), the structured z-layering of extruded
films (vertex z-coordinates and counts), and 1 vs 2 ranks identical figures.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from femhomog import (
    ConfigError,
    _fenicsx,  # noqa: F401
)

# isort: split
import dolfinx
import ufl
from mpi4py import MPI

from femhomog.meshes.magnets import (
    AIR_TAG,
    FACET_MAGNET,
    FACET_OUTER,
    FACET_SHELL_INNER,
    SHELL_TAG,
    SPACER_TAG_BASE,
    ShellSpec,
    cuboid,
    cylinder,
    ellipsoid,
    magnet_submesh,
    sphere,
)
from femhomog.meshes.stacks import (
    FACET_ELECTRODE_BOTTOM,
    FACET_ELECTRODE_TOP,
    conductor_stack,
    multilayer,
)


def _sum(comm, form) -> float:
    return comm.allreduce(dolfinx.fem.assemble_scalar(dolfinx.fem.form(form)), op=MPI.SUM)


def volumes(mm) -> dict[int, float]:
    dx = ufl.Measure("dx", domain=mm.mesh, subdomain_data=mm.cell_tags)
    one = dolfinx.fem.Constant(mm.mesh, 1.0)
    return {t: _sum(mm.comm, one * dx(t)) for t in mm.info["num_cells"]}


def area(mm, tag: int, interior: bool) -> float:
    one = dolfinx.fem.Constant(mm.mesh, 1.0)
    if interior:
        dS = ufl.Measure("dS", domain=mm.mesh, subdomain_data=mm.facet_tags)
        return _sum(mm.comm, one("+") * dS(tag))
    ds = ufl.Measure("ds", domain=mm.mesh, subdomain_data=mm.facet_tags)
    return _sum(mm.comm, one * ds(tag))


def test_sphere_volume_and_area_converge():
    errs_v, errs_a, hs = [], [], (0.5, 0.25)
    for h in hs:
        mm = sphere(MPI.COMM_WORLD, 1.3, mesh_size=h)
        assert mm.magnet_tags == (1,) and mm.shell_tag is None and mm.air_tag is None
        v = volumes(mm)[1]
        errs_v.append(abs(v - 4 / 3 * math.pi * 1.3**3) / (4 / 3 * math.pi * 1.3**3))
        a = area(mm, FACET_MAGNET, interior=False)
        assert area(mm, FACET_OUTER, interior=False) == 0.0  # one tag per facet
        errs_a.append(abs(a - 4 * math.pi * 1.3**2) / (4 * math.pi * 1.3**2))
    rate_v = math.log(errs_v[0] / errs_v[1]) / math.log(hs[0] / hs[1])
    rate_a = math.log(errs_a[0] / errs_a[1]) / math.log(hs[0] / hs[1])
    assert errs_v[1] < 0.02 and errs_a[1] < 0.02
    # inscribed polyhedron: O(h^2)
    assert rate_v > 1.5 and rate_a > 1.5, (errs_v, errs_a)


def test_sphere_with_spherical_shell():
    r = 1.0
    mm = sphere(MPI.COMM_WORLD, r, mesh_size=0.3, shell=ShellSpec(air_size=1.5, shell_thickness=1.0))
    r1, r2 = 1.5, 3.0
    assert mm.info["shell"]["R1"] == pytest.approx(r1) and mm.info["shell"]["R2"] == r2
    assert (mm.air_tag, mm.shell_tag) == (AIR_TAG, SHELL_TAG) and mm.has_shell
    vol = volumes(mm)
    ball = 4 / 3 * math.pi
    assert set(vol) == {1, AIR_TAG, SHELL_TAG}
    assert vol[1] == pytest.approx(ball * r**3, rel=0.05)
    # coarse air / shell (default sizes 0.6): inscribed polyhedra, a few % small
    assert vol[AIR_TAG] == pytest.approx(ball * (r1**3 - r**3), rel=0.1)
    assert vol[SHELL_TAG] == pytest.approx(ball * (r2**3 - r1**3), rel=0.1)
    assert sum(vol.values()) == pytest.approx(ball * r2**3, rel=0.1)
    assert area(mm, FACET_MAGNET, True) == pytest.approx(4 * math.pi * r**2, rel=0.05)
    assert area(mm, FACET_SHELL_INNER, True) == pytest.approx(4 * math.pi * r1**2, rel=0.1)
    assert area(mm, FACET_OUTER, False) == pytest.approx(4 * math.pi * r2**2, rel=0.1)
    # the magnet mesh keeps the magnet's size; the submesh is exactly the magnet
    sub, cell_map, vertex_map = magnet_submesh(mm)
    one = dolfinx.fem.Constant(sub, 1.0)
    assert _sum(sub.comm, one * ufl.dx(domain=sub)) == pytest.approx(vol[1], rel=1e-12)
    assert sub.topology.index_map(0).size_global == mm.info["num_magnet_vertices"]
    parents = cell_map.sub_topology_to_topology(
        np.arange(sub.topology.index_map(3).size_local, dtype=np.int32), inverse=False
    )
    ct = dict(zip(mm.cell_tags.indices, mm.cell_tags.values, strict=True))
    assert all(ct[int(c)] == 1 for c in parents)
    vparents = vertex_map.sub_topology_to_topology(
        np.arange(sub.topology.index_map(0).size_local, dtype=np.int32), inverse=False
    )
    # vertex map: same coordinates (P1 geometry: geometry node == vertex)
    sub_x = _vertex_coords(sub)
    par_x = _vertex_coords(mm.mesh)
    assert np.allclose(sub_x[: len(vparents)], par_x[vparents])


def _vertex_coords(mesh) -> np.ndarray:
    """Coordinates of the local vertices (owned and ghost), by vertex index."""
    n = mesh.topology.index_map(0).size_local + mesh.topology.index_map(0).num_ghosts
    mesh.topology.create_connectivity(0, 3)
    nodes = dolfinx.mesh.entities_to_geometry(mesh, 0, np.arange(n, dtype=np.int32))
    return mesh.geometry.x[nodes.ravel()]


def test_cube_with_box_shell_exact():
    mm = cuboid(MPI.COMM_WORLD, (1.0, 2.0, 0.5), mesh_size=0.25, shell=ShellSpec(kind="box"))
    a = np.array([0.5, 1.0, 0.25]) + 0.5  # uniform padding (air_size - 1) * max half extent
    b = a + 1.0 * a.max()
    assert np.allclose(mm.info["shell"]["a"], a) and np.allclose(mm.info["shell"]["b"], b)
    vol = volumes(mm)
    assert vol[1] == pytest.approx(1.0, rel=1e-12)
    assert vol[AIR_TAG] == pytest.approx(8 * a.prod() - 1.0, rel=1e-12)
    assert vol[SHELL_TAG] == pytest.approx(8 * (b.prod() - a.prod()), rel=1e-12)
    assert area(mm, FACET_MAGNET, True) == pytest.approx(2 * (2 + 0.5 + 1), rel=1e-12)
    box_area = lambda h: 8 * (h[0] * h[1] + h[1] * h[2] + h[0] * h[2])
    assert area(mm, FACET_SHELL_INNER, True) == pytest.approx(box_area(a), rel=1e-12)
    assert area(mm, FACET_OUTER, False) == pytest.approx(box_area(b), rel=1e-12)
    # the shell mesh conforms to the planes |x_i| = a_i: no shell cell straddles one
    mesh = mm.mesh
    shell_cells = mm.cell_tags.indices[mm.cell_tags.values == SHELL_TAG]
    x = mesh.geometry.x[mesh.geometry.dofmaps[0][shell_cells]]  # (cells, 4, 3)
    for i in range(3):
        s = np.abs(x[:, :, i]) - a[i]
        assert not np.any((s.min(axis=1) < -1e-9) & (s.max(axis=1) > 1e-9))


@pytest.mark.parametrize("n", [1, 2])
def test_thin_film_layers(n):
    L = (100.0, 25.0, 3.0)
    mm = cuboid(MPI.COMM_WORLD, L, mesh_size=5.0, z_layers=n)
    assert volumes(mm)[1] == pytest.approx(np.prod(L), rel=1e-12)
    z = _vertex_coords(mm.mesh)[:, 2]
    planes = np.linspace(-1.5, 1.5, n + 1)
    assert np.allclose(np.min(np.abs(z[:, None] - planes[None, :]), axis=1), 0.0, atol=1e-9)
    # an extruded mesh: the same triangulation on each of the n+1 planes,
    # 3 tetrahedra per prism
    nv = mm.info["num_vertices"]
    assert nv % (n + 1) == 0
    assert mm.info["num_cells_total"] % (3 * n) == 0
    # Euler for a triangulated rectangle: T = 2 V - B - 2 (B boundary vertices)
    tri = mm.info["num_cells_total"] // (3 * n)
    assert tri < 2 * (nv // (n + 1))
    assert area(mm, FACET_MAGNET, False) == pytest.approx(
        2 * (L[0] * L[1] + L[0] * L[2] + L[1] * L[2]), rel=1e-12
    )


def test_cylinder_and_ellipsoid_volumes_converge():
    errs_c, errs_e = [], []
    for h in (0.4, 0.2):
        mm = cylinder(MPI.COMM_WORLD, 1.0, 0.3, mesh_size=h, z_layers=2)
        errs_c.append(abs(volumes(mm)[1] / (math.pi * 0.3) - 1))
        mm = ellipsoid(MPI.COMM_WORLD, (1.0, 0.6, 0.5), mesh_size=h)
        errs_e.append(abs(volumes(mm)[1] / (4 / 3 * math.pi * 0.3) - 1))
    # O(h^2): a factor ~4 per halving of h
    assert errs_c[1] < errs_c[0] / 2.5 and errs_e[1] < errs_e[0] / 2.5, (errs_c, errs_e)
    assert errs_c[1] < 0.02 and errs_e[1] < 0.05


def test_multilayer_tags_and_volumes():
    mm = multilayer(
        MPI.COMM_WORLD, (2.0, 1.0), (0.2, 0.3, 0.2), spacers=[0.1, 0.0], mesh_size=0.25,
        z_layers=1, shell=ShellSpec(kind="box", air_size=1.4),
    )  # fmt: skip
    assert mm.magnet_tags == (1, 2, 3)
    assert mm.spacer_tags == (SPACER_TAG_BASE + 1,)  # the 0-thickness spacer is no region
    vol = volumes(mm)
    for k, t in enumerate((0.2, 0.3, 0.2)):
        assert vol[k + 1] == pytest.approx(2.0 * t, rel=1e-12)
    assert vol[SPACER_TAG_BASE + 1] == pytest.approx(0.2, rel=1e-12)
    # magnet boundary: the union of layers 2 and 3 (in contact) and layer 1
    assert area(mm, FACET_MAGNET, True) == pytest.approx(
        2 * (2 + 0.4 + 0.2) + 2 * (2 + 1.0 + 0.5), rel=1e-12
    )
    sub, _, _ = magnet_submesh(mm)
    one = dolfinx.fem.Constant(sub, 1.0)
    assert _sum(sub.comm, one * ufl.dx(domain=sub)) == pytest.approx(1.4, rel=1e-12)


def spin_valve(comm):
    """lead | fixed | spacer | free | lead, 2 x 1 in plane."""
    return conductor_stack(comm, (2.0, 1.0), (0.3, 0.2, 0.1, 0.2, 0.3),
                           (False, True, False, True, False), mesh_size=0.25, z_layers=1)


def test_conductor_stack_tags_areas_volumes():
    mm = spin_valve(MPI.COMM_WORLD)
    assert mm.magnet_tags == (1, 2)
    assert mm.spacer_tags == tuple(SPACER_TAG_BASE + k for k in (1, 2, 3))
    vol = volumes(mm)
    for tag, t in zip((SPACER_TAG_BASE + 1, 1, SPACER_TAG_BASE + 2, 2, SPACER_TAG_BASE + 3),
                      (0.3, 0.2, 0.1, 0.2, 0.3), strict=True):
        assert vol[tag] == pytest.approx(2.0 * t, rel=1e-12)
    # the electrodes are the whole bottom and top faces, each 2 x 1
    assert area(mm, FACET_ELECTRODE_BOTTOM, False) == pytest.approx(2.0, rel=1e-12)
    assert area(mm, FACET_ELECTRODE_TOP, False) == pytest.approx(2.0, rel=1e-12)
    # the side faces: of the magnets (tag 10, outer part) and of the rest (30)
    side = 2 * (2.0 + 1.0)
    assert area(mm, FACET_OUTER, False) == pytest.approx(side * 0.7, rel=1e-12)
    assert area(mm, FACET_MAGNET, False) == pytest.approx(side * 0.4, rel=1e-12)
    # inside, the magnet boundary is the four layer interfaces
    assert area(mm, FACET_MAGNET, True) == pytest.approx(4 * 2.0, rel=1e-12)
    sub, _, _ = magnet_submesh(mm)
    one = dolfinx.fem.Constant(sub, 1.0)
    assert _sum(sub.comm, one * ufl.dx(domain=sub)) == pytest.approx(0.8, rel=1e-12)


@pytest.mark.mpi
def test_conductor_stack_parallel():
    serial, parallel = (spin_valve(c) for c in (MPI.COMM_SELF, MPI.COMM_WORLD))
    for tag in (FACET_ELECTRODE_BOTTOM, FACET_ELECTRODE_TOP, FACET_OUTER):
        assert area(parallel, tag, False) == pytest.approx(area(serial, tag, False), rel=1e-12)
    assert serial.info["num_cells"] == parallel.info["num_cells"]


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda c: sphere(c, -1.0, mesh_size=0.1), "radius"),
        (lambda c: sphere(c, 1.0, mesh_size=0.0), "mesh_size"),
        (lambda c: sphere(c, 1.0, mesh_size=2.0), "larger than"),
        (lambda c: ellipsoid(c, (1.0, 0.0, 1.0), mesh_size=0.1), "semi_axes"),
        (lambda c: ellipsoid(c, (1.0, 2.0), mesh_size=0.1), "semi_axes"),
        (lambda c: cuboid(c, (500, 125, 3), mesh_size=4.0), "z_layers"),
        (lambda c: cuboid(c, (1, 1, 1), mesh_size=0.1, z_layers=0), "z_layers"),
        (lambda c: cuboid(c, (1, 1, float("nan")), mesh_size=0.1), "lengths"),
        (lambda c: cylinder(c, 1.0, -1.0, mesh_size=0.1), "height"),
        (lambda c: multilayer(c, (1, 1), (0.2, 0.2), spacers=[0.1, 0.1], mesh_size=0.1),
         "spacers"),
        (lambda c: multilayer(c, (1, 1), (0.2, 0.2), spacers=[-0.1], mesh_size=0.1), ">= 0"),
        (lambda c: conductor_stack(c, (1, 1), (0.2, 0.2), (True,), mesh_size=0.1), "booleans"),
        (lambda c: conductor_stack(c, (1, 1), (0.2, 0.2), (False, False), mesh_size=0.1),
         "at least one magnetic"),
        (lambda c: conductor_stack(c, (1, 1), (0.2, -0.2), (True, False), mesh_size=0.1),
         "thicknesses"),
        (lambda c: sphere(c, 1.0, mesh_size=0.5, shell=ShellSpec(kind="cone")), "kind"),
        (lambda c: sphere(c, 1.0, mesh_size=0.5, shell=ShellSpec(air_size=0.9)), "air_size"),
        (lambda c: sphere(c, 1.0, mesh_size=0.5, shell=ShellSpec(shell_thickness=0)),
         "shell_thickness"),
    ],
)  # fmt: skip
def test_bad_input(build, match):
    with pytest.raises(ConfigError, match=match):
        build(MPI.COMM_WORLD)


def _figures(comm) -> list[float]:
    mm = sphere(comm, 1.0, mesh_size=0.35, shell=ShellSpec(kind="box"))
    out = [mm.info["num_cells_total"], mm.info["num_vertices"], mm.info["num_magnet_vertices"]]
    out += list(volumes(mm).values())
    out += [area(mm, FACET_MAGNET, True), area(mm, FACET_OUTER, False)]
    sub, _, _ = magnet_submesh(mm)
    out.append(sub.topology.index_map(0).size_global)
    return out


@pytest.mark.mpi
def test_parallel_equals_serial():
    par = _figures(MPI.COMM_WORLD)
    ser = _figures(MPI.COMM_SELF)
    assert np.allclose(par, ser, rtol=1e-12), (par, ser)
