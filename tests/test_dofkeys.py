"""P1/P2 dofs keyed by mesh node pairs (femhomog.timestepping.dofkeys): P2 checkpoints.

Independent truths: a P2 Lagrange space has one dof per vertex and one per edge, so the
keys are unique and as many as the global dofs; a vertex dof's key is its node's (k, k);
a state gathered on N ranks and assigned on M ranks is the same function (compared with
the interpolation of the same expression on the M-rank mesh, which is exact at the dofs).
"""

from __future__ import annotations

import numpy as np
import pytest

from femhomog import (
    ConfigError,
    _fenicsx,  # noqa: F401
)

# isort: split
import dolfinx
from mpi4py import MPI

from femhomog.timestepping.dofkeys import assign_keyed, dof_keys, gather_keyed


def field(x):
    return np.vstack([np.sin(3 * x[0]) + x[1] ** 2, x[0] * x[1] + x[2], np.cos(x[2] + x[0])])


def cube(comm, degree):
    mesh = dolfinx.mesh.create_unit_cube(comm, 3, 2, 2)
    V = dolfinx.fem.functionspace(mesh, ("Lagrange", degree, (3,)))
    u = dolfinx.fem.Function(V)
    u.interpolate(field)
    return mesh, V, u


@pytest.mark.parametrize("degree", [1, 2])
def test_keys_are_unique_and_vertex_keys_are_node_pairs(degree):
    mesh, V, u = cube(MPI.COMM_SELF, degree)
    keys = dof_keys(V)
    assert len(np.unique(keys)) == len(keys) == V.dofmap.index_map.size_global
    n = int(np.max(mesh.geometry.input_global_indices)) + 1
    a, b = keys // n, keys % n
    assert np.count_nonzero(a == b) == mesh.geometry.index_map().size_global  # the vertices
    # an edge dof lies at the midpoint of its two nodes
    x_in = np.empty((n, 3))
    x_in[mesh.geometry.input_global_indices] = mesh.geometry.x
    X = V.tabulate_dof_coordinates()
    assert np.allclose(X, 0.5 * (x_in[a] + x_in[b]), atol=1e-14)
    # a round trip; a P1 state has no edge values for a P2 function: one line
    w = dolfinx.fem.Function(V)
    assign_keyed({"w": w}, {k.replace("u", "w"): v for k, v in gather_keyed({"u": u}).items()},
                 what="test")
    assert np.array_equal(w.x.array, u.x.array)
    if degree == 1:
        p2 = cube(MPI.COMM_SELF, 2)[2]
        with pytest.raises(ConfigError, match="no value at some degree-2 dof"):
            assign_keyed({"u": p2}, gather_keyed({"u": u}), what="test")


@pytest.mark.mpi
def test_gathered_on_two_ranks_assigned_on_one():
    _, _, u = cube(MPI.COMM_WORLD, 2)
    arrays = MPI.COMM_WORLD.bcast(gather_keyed({"s": u}, "p_"), root=0)
    _, _, ref = cube(MPI.COMM_SELF, 2)
    w = dolfinx.fem.Function(ref.function_space)
    assign_keyed({"s": w}, arrays, "p_", what="test")
    assert np.abs(w.x.array - ref.x.array).max() < 1e-14
