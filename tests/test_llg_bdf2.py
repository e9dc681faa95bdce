"""The BDF2 tangent-plane scheme (:mod:`femhomog.micromag.tangent_plane_bdf2`).

Independent truths:

* time order 2 against a same-mesh implicit-midpoint reference with a much smaller
  step on the manufactured solutions of ``test_llg_manufactured`` (the spatial error
  cancels), 1D and 2D, on meshes coarse enough that the steps are past the stiff
  pre-asymptotic range (1D with 16 cells the rates are 1.9, 1.8, 1.8 for 16..128
  steps: the exchange modes with ``k lambda >> 1``; with 8 cells 1.4, 1.6, 1.9, 2.1);
  the first-order (TPS), theta = 1, on the same problem for contrast;
* with an explicit FEM-BEM stray field (extrapolated): order 2, where (TPS) with
  theta = 1/2 is order 1;
* ``|m| = 1`` at the nodes to round-off (nodal normalization);
* energy decay with damping (relaxation of a random state: the energy is not
  monotone step by step for BDF2 as it is for (TPS), but it decays, and every
  step's increase is tiny against the energy drop);
* variable steps (the loop shortens steps to land on output times) keep order 2;
* 1 vs 2 ranks: same errors to solver tolerance;
* restart through the job (the previous state and step are checkpointed): bitwise
  on one rank.
"""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
from helpers import run_ok
from test_llg_manufactured import (
    discrete_l2_difference,
    manufactured_problem,
    rates,
    report,
    run,
)
from test_llg_restart import KILL_STEP, TANGENT, assert_same_run, read_table, run_killed

from femhomog import _fenicsx  # noqa: F401

# isort: split
import dolfinx
from mpi4py import MPI

from femhomog.meshes import periodic_box_mesh
from femhomog.micromag import (
    Exchange,
    LLGProblem,
    TangentPlaneBDF2Integrator,
    TangentPlaneIntegrator,
    Zeeman,
)
from femhomog.micromag.demag import StrayField
from femhomog.micromag.demag.fembem import FredkinKoehler
from femhomog.micromag.demag.grid import GridConvolution

# (dimension, cells per side, cell, final time, BDF2 steps, midpoint reference steps)
ORDER_CASES = {
    1: (1, 8, "interval", 0.5, (64, 128, 256), 1024),
    2: (2, 4, "quadrilateral", 0.5, (16, 32, 64), 512),
}


def bdf2_run(d: int, n: int, cell: str, t_end: float, steps, comm=MPI.COMM_WORLD,
             integrator=TangentPlaneBDF2Integrator, **solver):
    """BDF2 on the manufactured problem; ``steps`` an int (uniform) or a list of sizes.
    ``solver``: keyword arguments of the integrator (default a direct solve)."""
    prob = manufactured_problem(comm, d, n, cell)
    integ = integrator(prob, **(solver or {"solver": "direct"}))
    sizes = [t_end / steps] * steps if isinstance(steps, int) else steps
    its = sum(integ.step(k).iterations for k in sizes)
    assert prob.t == pytest.approx(t_end)
    assert prob.norm_deviation() < 1e-12
    assert integ.start_steps == 1
    integ.destroy()
    prob.krylov_iterations = its
    return prob


class _ZeroGuessBDF2(TangentPlaneBDF2Integrator):
    """The BDF2 scheme with GMRES started from zero (the behaviour before the guess)."""

    def _velocity_guess(self):
        return None


def test_bdf2_krylov_guess_same_answer_fewer_iterations():
    """GMRES started from the difference quotient of the history gives the direct
    solve's answer (to the Krylov tolerance) in fewer iterations than from zero."""
    d, n, cell, t_end, steps = 2, 16, "triangle", 0.5, 16
    direct = bdf2_run(d, n, cell, t_end, steps)
    gmres = {"solver": "iterative", "rtol": 1e-10}
    warm = bdf2_run(d, n, cell, t_end, steps, **gmres)
    cold = bdf2_run(d, n, cell, t_end, steps, integrator=_ZeroGuessBDF2, **gmres)
    # |m| = 1 on the unit cell: ||m||_L2 = 1 sets the scale of the difference
    for p in (warm, cold):
        assert discrete_l2_difference(p, direct) < 1e-7
    report(f"{d}D BDF2, {steps} steps: GMRES + ILU iterations",
           [(f"from the history's difference quotient {warm.krylov_iterations}, "
             f"from zero {cold.krylov_iterations}")])
    # measured: 345 vs 383 (the guess is O(k) off: it saves ~1/7 of a 1e-10 solve)
    assert warm.krylov_iterations < 0.95 * cold.krylov_iterations


def test_bdf2_variable_steps_order_two():
    """Steps alternating k and k/2 (ratios 1/2 and 2): still order 2."""
    d, n, cell, t_end, _, ref_steps = ORDER_CASES[1]
    ref = run(d, n, "midpoint", t_end, ref_steps, cell=cell)
    errors = []
    for m in (32, 64, 128):
        k = t_end / (1.5 * m)
        sizes = [k, k / 2] * m
        errors.append(discrete_l2_difference(bdf2_run(d, n, cell, t_end, sizes), ref))
    r = rates(errors, [2, 2])
    report("1D variable steps k, k/2: BDF2", [f"errors {errors}, rates {r.tolist()}"])
    assert abs(r[-1] - 2.0) < 0.25, (errors, r)


def film_run(scheme: str, steps: int, t_end: float = 2.0, comm=MPI.COMM_WORLD,
             demag: str = "fembem"):
    """A small film (exchange, FEM-BEM or FFT stray field, tilted Zeeman field, alpha =
    0.05) from a non-uniform state; the energies are evaluated after every step like the
    job's outputs do.  Returns (the problem, stray-field evaluations)."""
    mesh = dolfinx.mesh.create_box(comm, [[0, 0, 0], [4.0, 2.0, 0.5]], [8, 4, 1],
                                   dolfinx.mesh.CellType.tetrahedron)
    solver = FredkinKoehler(mesh) if demag == "fembem" else GridConvolution(mesh, 0.5)
    stray = StrayField(solver=solver)
    prob = LLGProblem(mesh, [Exchange(0.1), stray, Zeeman([-0.3, 0.1, 0.0])], 0.05)
    prob.set_magnetization(
        lambda x: np.vstack([np.cos(0.8 * x[0]), np.sin(0.8 * x[0]) + 0.2 * x[1],
                             0.3 + 0 * x[0]]), normalize=True)
    integ = (TangentPlaneBDF2Integrator(prob) if scheme == "bdf2"
             else TangentPlaneIntegrator(prob, theta=0.5))
    for _ in range(steps):
        integ.step(t_end / steps)
        prob.energies()
    integ.destroy()
    return prob, stray.evaluations


def test_bdf2_with_extrapolated_stray_field_order_two():
    """The stray field is explicit: (TPS) with theta = 1/2 is first order (measured
    1.01, 1.00, 1.00 for 16..256 steps), BDF2 with the extrapolated stray field second
    order (1.83, 1.94, 1.99, 2.01); one stray-field evaluation per step, shared with
    the energy output (the cache of :class:`StrayField`)."""
    ref, _ = film_run("bdf2", 1024)
    n = 3 * ref.num_owned_nodes

    def err(p):
        d = p.m.x.array[:n] - ref.m.x.array[:n]
        return math.sqrt(p.comm.allreduce(float(p.mass.array[:n] @ d**2), op=MPI.SUM))

    out = {}
    for scheme, steps in (("bdf2", (32, 64, 128)), ("tps", (32, 64, 128))):
        runs = [film_run(scheme, s) for s in steps]
        out[scheme] = [err(p) for p, _ in runs]
        assert [ev for _, ev in runs] == [s + 1 for s in steps]  # one per step (+ t = 0)
    rb, rt = rates(out["bdf2"], [2, 2]), rates(out["tps"], [2, 2])
    report("film with FEM-BEM stray field, alpha = 0.05, T = 2",
           [f"BDF2 errors {np.round(out['bdf2'], 7).tolist()} rates {rb.round(3).tolist()}",
            f"TPS  errors {np.round(out['tps'], 7).tolist()} rates {rt.round(3).tolist()}"])
    assert abs(rb[-1] - 2.0) < 0.2, out
    assert abs(rt[-1] - 1.0) < 0.2, out
    assert out["bdf2"][-1] < 0.1 * out["tps"][-1]


def test_bdf2_with_fft_stray_field_order_two():
    """The same film with the FFT stray field (a different linear operator, the same
    extrapolation): BDF2 stays second order."""
    ref, _ = film_run("bdf2", 512, demag="fft")
    n = 3 * ref.num_owned_nodes

    def err(p):
        d = p.m.x.array[:n] - ref.m.x.array[:n]
        return math.sqrt(p.comm.allreduce(float(p.mass.array[:n] @ d**2), op=MPI.SUM))

    errors = [err(film_run("bdf2", s, demag="fft")[0]) for s in (32, 64, 128)]
    r = rates(errors, [2, 2])
    report("film with FFT stray field, alpha = 0.05, T = 2",
           [f"BDF2 errors {np.round(errors, 7).tolist()} rates {r.round(3).tolist()}"])
    assert abs(r[-1] - 2.0) < 0.2, (errors, r)


def relaxation(comm, integrator: str, steps: int, dt: float) -> list[float]:
    """Energies of a damped relaxation (exchange + Zeeman) from a rough state."""
    mesh = periodic_box_mesh(comm, 2, "triangle", 8)
    prob = LLGProblem(mesh, [Exchange(1.0), Zeeman([0.0, 0.0, 2.0])], 1.0, periodic=True)

    def m0(x):
        tp = 2 * np.pi
        return np.vstack([np.cos(tp * (x[0] + 2 * x[1])), np.sin(tp * x[1]) + 0.3,
                          np.sin(tp * x[0]) * np.cos(2 * tp * x[1])])

    prob.set_magnetization(m0, normalize=True)
    integ = (TangentPlaneBDF2Integrator(prob) if integrator == "bdf2"
             else TangentPlaneIntegrator(prob, theta=1.0))
    energies = [prob.energy()]
    for _ in range(steps):
        integ.step(dt)
        energies.append(prob.energy())
        assert prob.norm_deviation() < 1e-12
    integ.destroy()
    return energies


def test_bdf2_energy_decays_with_damping():
    e = np.array(relaxation(MPI.COMM_WORLD, "bdf2", 40, 0.005))
    drop = e[0] - e[-1]
    rises = np.diff(e)
    report("2D relaxation, alpha = 1, BDF2 dt = 0.005",
           [f"E: {e[0]:.6f} -> {e[-1]:.6f}; largest step increase {rises.max():.3e}"])
    assert drop > 0.5 * abs(e[0] - (-2.0 * 1.0))  # most of the way to E_min = -2 |Omega|
    assert rises.max() < 1e-3 * drop, rises.max()


def parallel_figures(comm) -> list[float]:
    d, n, cell, t_end = 2, 4, "quadrilateral", 0.25
    p = bdf2_run(d, n, cell, t_end, 10, comm=comm)
    return [*p.average().tolist(), *relaxation(comm, "bdf2", 5, 0.01)]


@pytest.mark.mpi
def test_bdf2_parallel_equals_serial():
    par = parallel_figures(MPI.COMM_WORLD)
    ser = parallel_figures(MPI.COMM_SELF)
    assert np.allclose(par, ser, rtol=1e-9, atol=1e-12), (par, ser)


@pytest.mark.parametrize("solver", ["direct", "iterative"])
def test_bdf2_job_restart_bitwise(tmp_path, solver):
    """A killed BDF2 job restarted from its checkpoint (m and m_prev, the previous step)
    repeats the uninterrupted run bitwise on one rank; without the history it would
    take a start step and differ (and GMRES would start from another guess)."""
    (tmp_path / "bdf.toml").write_text(
        TANGENT.replace('integrator = "tangent_plane"', 'integrator = "tangent_plane_bdf2"')
        + f'[solver]\ntype = "{solver}"\nrtol = 1e-8\n')
    run_ok(["llg", "bdf.toml", "--out", "full"], tmp_path)
    shutil.rmtree(tmp_path / "killed", ignore_errors=True)
    run_killed(["llg", "bdf.toml", "--out", "killed"], tmp_path, **{KILL_STEP: 13})
    run_ok(["llg", "bdf.toml", "--restart", "killed"], tmp_path)
    assert_same_run(tmp_path / "killed", tmp_path / "full", 1e-10)
    assert np.array_equal(read_table(tmp_path / "killed" / "averages.csv"),
                          read_table(tmp_path / "full" / "averages.csv"))
