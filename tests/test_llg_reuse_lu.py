"""Tangent plane with ``solver = "reuse_lu"``: GMRES preconditioned by an earlier LU.

The reused factorization changes only how the linear system of each step is
solved (to ``rtol``), not the scheme: the same first order against the
macrospin closed form, the same energy decay for every step size (theta = 1),
``|m| = 1``, the same trajectory as the direct solver, a refactorization when
GMRES fails with the old factors, and the same answers on 1 and 2 ranks.
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
from test_llg_core import (
    energy_problem,
    macrospin_exact,
    macrospin_problem,
    measured_orders,
    run_fixed,
)

from femhomog.micromag.config import load_llg_config
from femhomog.micromag.demag import FredkinKoehler, StrayField
from femhomog.micromag.midpoint import MidpointIntegrator
from femhomog.micromag.problem import LLGProblem
from femhomog.micromag.tangent_plane import TangentPlaneIntegrator
from femhomog.micromag.terms import Exchange, Zeeman


def test_macrospin_first_order():
    errors = []
    for n in (10, 20, 40, 80):
        prob = macrospin_problem()
        run_fixed(TangentPlaneIntegrator(prob, theta=1.0, solver="reuse_lu"), 1.0, n)
        errors.append(np.linalg.norm(prob.average() - macrospin_exact(1.0)))
    orders = measured_orders(errors)
    assert np.all(np.abs(orders - 1.0) < 0.05), (errors, orders)


@pytest.mark.parametrize("periodic", [True, False])
def test_energy_decreases_and_factorizations_are_reused(periodic):
    prob = energy_problem(MPI.COMM_WORLD, 0.2, periodic=periodic)
    tps = TangentPlaneIntegrator(prob, theta=1.0, solver="reuse_lu", refactor_its=6)
    energies = [prob.energy()]
    for _ in range(15):
        tps.step(0.05)
        assert prob.norm_deviation() < 1e-12
        energies.append(prob.energy())
    assert np.all(np.diff(energies) <= 1e-12 * abs(energies[0])), np.diff(energies)
    assert energies[-1] < 0.2 * energies[0]
    # far fewer factorizations than steps (the first one is always needed)
    assert 1 <= tps.factorizations < 10, tps.factorizations
    assert tps.describe()["factorizations"] == tps.factorizations


def test_matches_direct():
    results = []
    for solver in ("direct", "reuse_lu"):
        prob = energy_problem(MPI.COMM_WORLD, 0.2, extra=[Zeeman((0.1, 0.0, 0.3))])
        run_fixed(TangentPlaneIntegrator(prob, theta=0.5, solver=solver, rtol=1e-12), 0.2, 8)
        results.append(np.concatenate([prob.average(), [prob.energy()]]))
    assert np.allclose(results[0], results[1], rtol=1e-9, atol=1e-10), results


def test_refactorizes_when_gmres_fails():
    """One GMRES iteration is enough only with the current LU: every step refactorizes
    after its failed first attempt, and the step is still taken (no retry, no halving)."""
    prob = energy_problem(MPI.COMM_WORLD, 0.2)
    ref = energy_problem(MPI.COMM_WORLD, 0.2)
    tps = TangentPlaneIntegrator(prob, solver="reuse_lu", rtol=1e-10, max_it=1)
    direct = TangentPlaneIntegrator(ref)
    for _ in range(4):
        info = tps.step(0.05)
        direct.step(0.05)
        assert info.retries == 0 and info.dt == 0.05
    assert tps.factorizations == 4
    assert np.allclose(prob.m.x.array, ref.m.x.array, atol=1e-8)


def test_with_stray_field_dissipates():
    """Exchange + FEM-BEM stray field (factorized Laplace solves, float32 B), damped:
    the energy decreases at every step and |m| = 1."""
    comm = MPI.COMM_WORLD
    mesh = dolfinx.mesh.create_box(comm, [[0.0, 0.0, 0.0], [4.0, 2.0, 0.5]], [12, 6, 2],
                                   dolfinx.mesh.CellType.tetrahedron)

    def m0(x):
        v = np.vstack([np.cos(x[1]), np.sin(x[1]) + 0.3 * x[0], 0.2 + 0 * x[0]])
        return v / np.linalg.norm(v, axis=0)

    demag = StrayField(solver=FredkinKoehler(mesh, solver="direct", precision="float32"))
    prob = LLGProblem(mesh, [Exchange(1.0), demag], 0.5, m0=m0)
    tps = TangentPlaneIntegrator(prob, theta=1.0, solver="reuse_lu")
    total = [prob.energy()]
    for _ in range(10):
        tps.step(0.1)
        assert prob.norm_deviation() < 1e-12
        total.append(prob.energy())
    assert np.all(np.diff(total) < 0), total
    assert tps.factorizations < 10


def test_bad_input():
    prob = macrospin_problem()
    with pytest.raises(ConfigError, match="refactor_its"):
        TangentPlaneIntegrator(prob, solver="reuse_lu", refactor_its=0)
    with pytest.raises(ConfigError, match="linear solver must be one of direct, iterative,"):
        MidpointIntegrator(prob, solver="reuse_lu")
    base = ["mesh.dim=1", "mesh.cell_type='interval'", "mesh.cells_per_side=4",
            "material.exchange=1.0", "material.alpha=0.1", "time.dt=0.1", "time.t_end=1.0",
            "initial.value=[0.0, 0.0, 1.0]", "solver.type='reuse_lu'"]
    assert load_llg_config(None, base, text="").solver.type == "reuse_lu"
    with pytest.raises(ConfigError, match="needs time.integrator = 'tangent_plane'"):
        load_llg_config(None, [*base, "time.integrator='midpoint'"], text="")


def averages(comm):
    prob = energy_problem(comm, 0.2, periodic=False, extra=[Zeeman((0.1, 0.0, 0.3))])
    tps = TangentPlaneIntegrator(prob, theta=0.75, solver="reuse_lu", rtol=1e-12)
    run_fixed(tps, 0.2, 8)
    return np.concatenate([prob.average(), [prob.energy()]])


@pytest.mark.mpi
def test_parallel_equals_serial():
    par = averages(MPI.COMM_WORLD)
    ser = averages(MPI.COMM_SELF)
    assert np.allclose(par, ser, rtol=1e-9, atol=1e-10), par - ser
