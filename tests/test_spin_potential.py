"""The computed potential of a conductor (femhomog.spin.potential): closed forms and errors.

* two conductivities in series along z between electrodes at z = 0 and z = 1: phi is
  piecewise linear with the series current J = V / (a/sigma_1 + (1 - a)/sigma_2); P1 on a
  mesh that resolves the interface reproduces it to the solver tolerance, and the
  electrode currents are +-J |A| (summing to zero);
* as the drift of the spin transport, a uniform conductor's computed potential acts as
  the given linear expression does, and its current j = -sigma grad phi as the given
  constant current source;
* 1 vs 2 ranks (``mpi``); bad input (unknown tag, sigma <= 0, no electrode).
"""

from __future__ import annotations

import numpy as np
import pytest

from femhomog import ConfigError, _fenicsx  # noqa: F401

# isort: split
import dolfinx
import ufl
from mpi4py import MPI

from femhomog.spin.build import box_facet_tags
from femhomog.spin.potential import CurrentPotential
from femhomog.spin.transport import SpinTransport


def layered_box(comm: MPI.Comm, n: int = 3, nz: int = 5, a: float = 0.4
                ) -> tuple[dolfinx.mesh.Mesh, dolfinx.mesh.MeshTags]:
    """The unit cube (tetrahedra), cells below z = a tagged 1, above 2."""
    mesh = dolfinx.mesh.create_box(comm, [[0, 0, 0], [1, 1, 1]], [n, n, nz],
                                   dolfinx.mesh.CellType.tetrahedron)
    tdim = mesh.topology.dim
    imap = mesh.topology.index_map(tdim)
    cells = np.arange(imap.size_local + imap.num_ghosts, dtype=np.int32)
    mid = dolfinx.mesh.compute_midpoints(mesh, tdim, cells)
    tags = dolfinx.mesh.meshtags(mesh, tdim, cells, np.where(mid[:, 2] < a, 1, 2).astype(np.int32))
    return mesh, tags


@pytest.mark.parametrize("solver", ["iterative", "direct"])
def test_two_layers_in_series(solver):
    a, s1, s2, V = 0.4, 1.0, 3.0, 2.0
    mesh, tags = layered_box(MPI.COMM_WORLD, a=a)
    pot = CurrentPotential(mesh, facet_tags=box_facet_tags(mesh), cell_tags=tags,
                           electrodes={5: 0.0, 6: V}, sigma={1: s1, 2: s2}, solver=solver)
    phi = pot.solve()
    J = V / (a / s1 + (1 - a) / s2)  # series current density (along -z)
    z = pot.V.tabulate_dof_coordinates()[:, 2]
    exact = np.where(z < a, J * z / s1, J * a / s1 + J * (z - a) / s2)
    assert np.max(np.abs(phi.x.array - exact)) < 1e-9
    bottom, top = pot.electrode_current(5), pot.electrode_current(6)
    assert bottom == pytest.approx(J, rel=1e-9)  # unit area; leaves through z = 0
    assert top == pytest.approx(-J, rel=1e-9)
    # the current density itself: j = -sigma grad phi = -J e_z in both layers
    jz = dolfinx.fem.assemble_scalar(dolfinx.fem.form(pot.current[2] * ufl.dx))
    assert MPI.COMM_WORLD.allreduce(jz, op=MPI.SUM) == pytest.approx(-J, rel=1e-9)
    if solver == "iterative":
        assert 0 < pot.iterations < 100
    pot.destroy()


def test_drift_of_the_computed_potential_equals_the_expression():
    """Uniform sigma = 2, phi = 1 - x on the faces x = 0/1: the spin transport sees the same
    drift as the expression 1 - x[0], and the source j = -sigma grad phi = (2, 0, 0)."""
    results = []
    for computed in (True, False):
        mesh = dolfinx.mesh.create_box(MPI.COMM_WORLD, [[0, 0, 0], [1, 1, 1]], [4, 2, 2],
                                       dolfinx.mesh.CellType.tetrahedron)
        tags = box_facet_tags(mesh)
        if computed:
            pot = CurrentPotential(mesh, facet_tags=tags, electrodes={1: 1.0, 2: 0.0},
                                   sigma=2.0)
            phi, current = pot.solve(), pot.current
        else:
            phi, current = 1.0 - ufl.SpatialCoordinate(mesh)[0], [2.0, 0.0, 0.0]
        spin = SpinTransport(mesh, facet_tags=tags, potential=phi, current=current,
                             dirichlet={1: [0.0, 1.0, 0.0]}, rtol=1e-13)
        spin.set_magnetization([0.0, 0.0, 1.0])
        spin.set_state([0.0, 0.0, 0.0])
        for _ in range(3):
            spin.step(0.1)
        results.append(np.concatenate([spin.average(), [spin.rms()]]))
        spin.destroy()
    assert np.abs(results[0]).max() > 1e-2
    assert np.allclose(results[0], results[1], rtol=1e-9, atol=1e-12)


def half_bottom_and_top(mesh: dolfinx.mesh.Mesh) -> dolfinx.mesh.MeshTags:
    """Facet tags: 7 on the half x < 1/2 of the bottom face z = 0, 8 on the top face."""
    fdim = mesh.topology.dim - 1
    bottom = dolfinx.mesh.locate_entities_boundary(
        mesh, fdim, lambda x: np.isclose(x[2], 0.0) & (x[0] < 0.5 + 1e-12))
    top = dolfinx.mesh.locate_entities_boundary(mesh, fdim, lambda x: np.isclose(x[2], 1.0))
    facets = np.concatenate([bottom, top]).astype(np.int32)
    values = np.concatenate([np.full(bottom.size, 7), np.full(top.size, 8)]).astype(np.int32)
    order = np.argsort(facets)
    return dolfinx.mesh.meshtags(mesh, fdim, facets[order], values[order])


@pytest.mark.mpi
def test_parallel_equals_serial():
    """An electrode on part of a face (no closed form): 2 ranks = 1 rank."""
    results = []
    for comm in (MPI.COMM_WORLD, MPI.COMM_SELF):
        mesh, tags = layered_box(comm, n=4, nz=5)
        pot = CurrentPotential(mesh, facet_tags=half_bottom_and_top(mesh), cell_tags=tags,
                               electrodes={7: 0.0, 8: 1.0}, sigma={1: 1.0, 2: 5.0}, rtol=1e-13)
        phi = pot.solve()
        norm = comm.allreduce(dolfinx.fem.assemble_scalar(
            dolfinx.fem.form(phi * phi * ufl.dx)), op=MPI.SUM)
        results.append([pot.electrode_current(7), pot.electrode_current(8), norm])
        assert results[-1][0] == pytest.approx(-results[-1][1], rel=1e-9)
        pot.destroy()
    assert np.allclose(results[0], results[1], rtol=1e-9, atol=1e-12)


def test_bad_input():
    mesh, tags = layered_box(MPI.COMM_WORLD)
    facets = box_facet_tags(mesh)
    with pytest.raises(ConfigError, match="unknown facet tag 7 for an electrode"):
        CurrentPotential(mesh, facet_tags=facets, electrodes={7: 1.0, 6: 0.0})
    with pytest.raises(ConfigError, match="at least one electrode"):
        CurrentPotential(mesh, facet_tags=facets, electrodes={})
    with pytest.raises(ConfigError, match="sigma must be > 0"):
        CurrentPotential(mesh, facet_tags=facets, electrodes={5: 0.0}, sigma=0.0)
    with pytest.raises(ConfigError, match="sigma must be > 0"):
        CurrentPotential(mesh, facet_tags=facets, cell_tags=tags, electrodes={5: 0.0},
                         sigma={1: 1.0, 2: -1.0})
    with pytest.raises(ConfigError, match="spin sigma"):  # a region without a value
        CurrentPotential(mesh, facet_tags=facets, cell_tags=tags, electrodes={5: 0.0},
                         sigma={1: 1.0})
