"""The homogenization experiment of the LL paper (Sect. 3-4, Fig. 4.1/4.2).

Fine-scale solutions ``m^eps`` of (3.1) (exchange ``a(x/eps)``) against the
homogenized solution ``m_0`` of (3.2) (exchange ``A^H`` from the cell problem
(4.13)) and the corrected approximation ``m_0 + eps grad m_0 chi(x/eps)``, at a
fixed time for a sequence of ``eps``, with self-convergence checks (``h/2``,
tol/8) of both solutions.  ``demos/ll_homogenization.py`` is the document that
explains the choices (quadrature of ``a(x/eps)``, step-size control, nested
meshes) and runs it; the tests and benchmarks call the pieces directly.

``Case``, ``CASES``, ``QUICK``     parameters of the 1D and 2D (laminate) experiments
``cell_problem``                 ``A^H`` and the correctors ``chi_j``
``fine_solution``                ``m^eps(T)`` (``homogenized_solution``: ``m_0(T)``)
``integrate``, ``RunInfo``        adaptive midpoint rule to ``T`` and its statistics
``run``                          the whole experiment; ``report``, ``write_outputs``
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from femhomog import _fenicsx  # noqa: F401  (must precede dolfinx / petsc4py)

# isort: split
import dolfinx
from mpi4py import MPI
from petsc4py import PETSc

from femhomog.cell.correctors import first_order_correctors, homogenized_tensor
from femhomog.cell.problem import PeriodicCell
from femhomog.coefficients import CellCoefficient
from femhomog.io.output import write_csv_atomic, write_json_atomic
from femhomog.io.plotting import agg_pyplot
from femhomog.meshes import periodic_box_mesh
from femhomog.micromag import Exchange, LLGProblem, MidpointIntegrator
from femhomog.micromag.homogenization import difference_norms, first_order_approximation

#: Column names of rates.csv (the file format other tools read).
RATES_HEADER = ("eps", "T", "err_L2", "err_H1")
CONVERGENCE_HEADER = (
    "solution",
    "eps",
    "cells",
    "cells_ref",
    "tol",
    "tol_ref",
    "diff_L2",
    "diff_H1",
    "err_L2",
    "err_H1",
    "corr_L2",
    "corr_H1",
    "corr_L2_ref",
    "corr_H1_ref",
    "err_L2_ref",
    "err_H1_ref",
)
#: PETSc options prefix of every integrator of this experiment (tuning without
#: touching other solvers in the same process).
PREFIX = "ll_homog_"


# ---------------------------------------------------------------- initial data and cases
def m_init_1d(x: np.ndarray) -> np.ndarray:
    """Initial magnetization of Fig. 4.1 (unnormalized ``m_nn``; normalized at the nodes)."""
    c = np.exp(-0.1 * np.cos(2 * np.pi * (x[0] - 0.2)))
    return 0.5 + np.vstack([c, np.exp(-0.2 * np.cos(2 * np.pi * x[0])), c])


def m_init_2d(x: np.ndarray) -> np.ndarray:
    """A smooth periodic 2D analogue of ``m_nn`` (unnormalized)."""
    return 0.5 + np.vstack(
        [
            np.exp(-0.1 * np.cos(2 * np.pi * (x[0] - 0.2))),
            np.exp(-0.2 * np.cos(2 * np.pi * x[1])),
            np.exp(-0.1 * np.cos(2 * np.pi * (x[0] + x[1] - 0.2))),
        ]
    )


@dataclass(frozen=True)
class Case:
    """Parameters of one homogenization experiment.

    Attributes
    ----------
    name
        ``"1d"`` or ``"2d"``.
    dim
        Dimension of the periodic box ``[0, 1]^dim``.
    coefficient
        ``a(y)`` as an expression in ``y`` (1-periodic).
    m_init
        Unnormalized initial magnetization ``x -> (3, N)`` (normalized nodally, (A2)).
    inv_eps
        The values ``1/eps``: integers, so that the box holds whole periods ((A3)).
    nodes_per_period
        P1 nodes per period ``eps`` (per axis) for ``m^eps``.
    cells_m0
        Cells per axis of the mesh of ``m_0``; every ``nodes_per_period/eps``
        must be a multiple or a divisor of it (nested meshes).
    tol, tol_m0
        Local error tolerances of the step-doubling controller for ``m^eps`` and ``m_0``.
    alpha, T
        Damping of (3.1) and final time.
    cell_cells, cell_degree
        Mesh (cells per axis) and Lagrange degree of the cell problem (4.13).
    cell_type
        Cell type of all meshes.
    quadrature_degree
        Quadrature degree of the exchange integral with ``a(x/eps)`` (see the
        text: 1 in 1D, 2 on quadrilaterals, where the one-point rule would leave
        the hourglass mode of Q1 without stiffness).
    gauss_points
        Instead of ``quadrature_degree``: Gauss points per axis of a tensor rule
        on quadrilaterals (:class:`femhomog.micromag.Exchange`), ``(1, 2)`` for
        the laminate.
    cells_along_layers
        For a laminate ``a(y_1)``: cells along ``x_2, ..., x_d`` of every mesh,
        independent of ``eps`` (the fine scale lives along ``x_1`` only).  None:
        the same number of cells along every axis.
    check_inv_eps
        The ``1/eps`` whose fine solution is repeated with ``h/2`` and tol/8;
        None: the coarsest and the finest.
    solver
        Linear solver inside Newton (:class:`MidpointIntegrator`): ``"direct"``
        in 1D, ``"iterative"`` (GMRES + ILU) in 2D, where it is several times
        faster than MUMPS at these sizes and time steps.
    """

    name: str
    dim: int
    coefficient: str
    m_init: Callable[[np.ndarray], np.ndarray]
    inv_eps: tuple[int, ...]
    nodes_per_period: int
    cells_m0: int
    tol: float
    tol_m0: float
    alpha: float = 0.02
    T: float = 0.1
    cell_cells: int = 128
    cell_degree: int = 2
    cell_type: str = "interval"
    quadrature_degree: int = 1
    gauss_points: tuple[int, ...] | None = None
    cells_along_layers: int | None = None
    check_inv_eps: tuple[int, ...] | None = None
    solver: str = "direct"

    def grid(self, cells: int) -> int | tuple[int, ...]:
        """Cells per axis of a mesh with ``cells`` cells along ``x_1``."""
        if self.cells_along_layers is None:
            return cells
        return (cells,) + (self.cells_along_layers,) * (self.dim - 1)

    def refined_grid(self, cells: int) -> int | tuple[int, ...]:
        """:meth:`grid` with ``h/2`` along every axis."""
        g = self.grid(cells)
        return 2 * g if isinstance(g, int) else tuple(2 * n for n in g)


CASES: dict[str, Case] = {
    "1d": Case(
        name="1d",
        dim=1,
        coefficient="1 + 0.5*sin(2*pi*y[0])",
        m_init=m_init_1d,
        inv_eps=(20, 40, 80),
        nodes_per_period=32,
        cells_m0=640,
        tol=1e-7,
        tol_m0=1e-8,
    ),
    "2d": Case(
        name="2d",
        dim=2,
        coefficient="1 + 0.5*sin(2*pi*y[0])",
        m_init=m_init_2d,
        inv_eps=(20, 40, 80),
        nodes_per_period=16,
        cells_m0=320,
        tol=1e-6,
        tol_m0=1e-7,
        cell_cells=128,
        cell_type="quadrilateral",
        gauss_points=(1, 2),
        cells_along_layers=64,
        check_inv_eps=(20,),
        solver="iterative",
    ),
}

#: --quick: the test's run (about 30 s serially).  At eps = 1/12 and 1/24 the
#: L2 rate is already 1.03 and the transient v has decayed by T (at eps = 1/8 it
#: has not, and its phase makes the self-convergence check 5x harder); a looser
#: tolerance and coarser m_0 keep the discretization errors >= 50x below the
#: homogenization error in L2 and >= 18x in H1.
QUICK: dict[str, dict[str, Any]] = {
    "1d": {"inv_eps": (12, 24), "tol": 3e-6, "cells_m0": 384, "tol_m0": 1e-7},
    "2d": {
        "inv_eps": (8, 16),
        "nodes_per_period": 8,
        "cells_m0": 64,
        "cells_along_layers": 8,
        "tol": 1e-5,
        "tol_m0": 1e-6,
        "cell_cells": 32,
        "check_inv_eps": (8,),
    },
}


# ---------------------------------------------------------------- the cell problem
def cell_problem(case: Case) -> tuple[np.ndarray, list[dolfinx.fem.Function]]:
    """``A^H`` (Sect. 4.2) and the zero-mean correctors ``chi_j`` of (4.13).

    Returns
    -------
    tuple
        ``(A^H, [chi_1, ..., chi_d])``; the correctors live on a cell mesh on
        ``MPI.COMM_SELF`` (every rank computes the same, deterministic result).
    """
    mesh = periodic_box_mesh(MPI.COMM_SELF, case.dim, case.cell_type, case.cell_cells)
    coef = CellCoefficient.from_expression(case.coefficient, case.dim)
    cell = PeriodicCell.create(mesh, coef, degree=case.cell_degree)
    chis = first_order_correctors(cell)
    return homogenized_tensor(cell, chis), chis


# ---------------------------------------------------------------- time integration
@dataclass
class RunInfo:
    """Statistics of one time integration."""

    label: str
    cells: int  # along x_1
    grid: str  # cells per axis, e.g. "1280x64"
    tol: float
    steps: int = 0
    rejected: int = 0
    dt_min: float = math.inf
    dt_max: float = 0.0
    wall_s: float = 0.0
    newton: int = 0  # Newton iterations, rejected attempts included
    linear: int = 0  # linear (GMRES or LU) iterations inside Newton


def configure_solver(comm: MPI.Comm, dim: int) -> None:
    """Serial 1D: PETSc LU with RCM ordering for the Newton systems, else the default.

    The 1D Jacobian (3x3 blocks on three block diagonals and the periodic
    corners) has little fill in reverse Cuthill-McKee order, and PETSc's LU has
    no analysis overhead; MUMPS is used in parallel.
    """
    opts = PETSc.Options()
    if comm.size == 1 and dim == 1:
        opts[f"{PREFIX}pc_factor_mat_solver_type"] = "petsc"
        opts[f"{PREFIX}pc_factor_mat_ordering_type"] = "rcm"
    else:
        for key in ("pc_factor_mat_solver_type", "pc_factor_mat_ordering_type"):
            if opts.hasName(f"{PREFIX}{key}"):
                opts.delValue(f"{PREFIX}{key}")


def integrate(
    problem: LLGProblem,
    T: float,
    tol: float,
    dt0: float,
    solver: str,
    info: RunInfo,
    half_step_guesses: bool = True,
) -> None:
    """Advance ``problem`` to ``T`` with step-doubling control (local error ``<= tol``).

    The Newton tolerance is absolute and nodal: the default ``1e-13`` lies below
    the rounding floor of the residual, ``~1e-16 dt a/h^2``, once the controller
    takes large steps on fine meshes; ``1e-11`` is still two orders below the
    smallest local error tolerance used.  ``half_step_guesses=False`` is the
    baseline of ``benchmarks/midpoint_adaptive.py``.
    """
    integrator = MidpointIntegrator(
        problem,
        solver=solver,
        options_prefix=PREFIX,
        snes_atol=1e-11,
        half_step_guesses=half_step_guesses,
    )
    comm = problem.comm
    comm.Barrier()  # time the integration, not the wait for other ranks
    start = time.perf_counter()
    dt = dt0
    while problem.t < T * (1.0 - 1e-12):
        step = integrator.adaptive_step(min(dt, T - problem.t), tol)
        dt = step.dt_next
        info.steps += 1
        info.rejected += step.rejected
        info.dt_min = min(info.dt_min, step.dt)
        info.dt_max = max(info.dt_max, step.dt)
    info.wall_s = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
    info.newton, info.linear = integrator.newton_iterations, integrator.linear_iterations
    integrator.destroy()


def _box(case: Case, comm: MPI.Comm, cells: int, refined: bool) -> tuple[Any, str]:
    """The periodic mesh with ``cells`` cells along ``x_1`` (``h/2`` if refined), its label."""
    grid = case.refined_grid(cells) if refined else case.grid(cells)
    label = str(grid) if isinstance(grid, int) else "x".join(map(str, grid))
    return periodic_box_mesh(comm, case.dim, case.cell_type, grid), label


def fine_solution(
    case: Case,
    comm: MPI.Comm,
    k: int,
    tol: float,
    refined: bool = False,
    half_step_guesses: bool = True,
) -> tuple[LLGProblem, RunInfo]:
    """``m^eps(T)`` of (3.1) with ``eps = 1/k`` (on the ``h/2`` mesh if ``refined``)."""
    eps = 1.0 / k
    cells = case.nodes_per_period * k * (2 if refined else 1)
    mesh, grid = _box(case, comm, case.nodes_per_period * k, refined)
    # low-order rule for a(x/eps): accurate discrete A^H (see demos/ll_homogenization.py)
    if case.gauss_points is None:
        exchange = Exchange(case.coefficient, eps=eps, quadrature_degree=case.quadrature_degree)
    else:
        exchange = Exchange(case.coefficient, eps=eps, gauss_points=case.gauss_points)
    problem = LLGProblem(
        mesh, [exchange], case.alpha, periodic=True, m0=case.m_init, normalize=True
    )
    info = RunInfo(f"m_eps(1/{k})", cells, grid, tol)
    # start well inside the fast time scale eps^2 (the controller grows dt by <= 2x/step)
    integrate(problem, case.T, tol, 1e-3 * eps**2, case.solver, info, half_step_guesses)
    return problem, info


def homogenized_solution(
    case: Case, comm: MPI.Comm, AH: np.ndarray, tol: float, refined: bool = False
) -> tuple[LLGProblem, RunInfo]:
    """``m_0(T)`` of (3.2) (exchange ``div(grad m A^H)``), on the ``h/2`` mesh if ``refined``."""
    mesh, grid = _box(case, comm, case.cells_m0, refined)
    problem = LLGProblem(
        mesh, [Exchange(AH.tolist())], case.alpha, periodic=True, m0=case.m_init, normalize=True
    )
    info = RunInfo("m_0", case.cells_m0 * (2 if refined else 1), grid, tol)
    integrate(problem, case.T, tol, 1e-4, case.solver, info)
    return problem, info


# ---------------------------------------------------------------- the experiment
def observed_rates(eps: Sequence[float], err: Sequence[float]) -> list[float]:
    """Rates ``log(e_i/e_{i+1}) / log(eps_i/eps_{i+1})`` between consecutive eps."""
    return [
        math.log(err[i] / err[i + 1]) / math.log(eps[i] / eps[i + 1]) for i in range(len(eps) - 1)
    ]


def _check_nested(case: Case) -> None:
    for k in case.inv_eps:
        n = case.nodes_per_period * k
        for a, b in itertools.product((n, 2 * n), (case.cells_m0, 2 * case.cells_m0)):
            if max(a, b) % min(a, b):
                raise ValueError(
                    f"meshes of m_eps ({a} cells) and m_0 ({b} cells) are not nested; "
                    "choose cells_m0 dividing (or divisible by) nodes_per_period/eps"
                )


def run(
    case: str | Case = "1d",
    out: str | Path | None = None,
    quick: bool = False,
    comm: MPI.Comm = MPI.COMM_WORLD,
    verbose: bool = True,
    **overrides: Any,
) -> dict[str, Any]:
    """Run the homogenization experiment and write the result files.

    Parameters
    ----------
    case
        ``"1d"``, ``"2d"`` or a :class:`Case`.
    out
        Output directory (None: no files).
    quick
        Smaller, faster variant (:data:`QUICK`), used by the tests.
    comm
        Communicator of the fine and homogenized meshes.
    verbose
        Print progress and tables on rank 0.
    overrides
        Fields of :class:`Case` to replace (e.g. ``inv_eps=(20, 40)``).

    Returns
    -------
    dict
        ``A_H``, ``rows`` (eps, T, err_L2, err_H1), ``rates``, ``corrected``,
        ``corrected_rates``, ``convergence`` (dicts with the columns of
        convergence.csv), ``runs`` (step counts and wall times) and
        ``wall_s``.  Identical on every rank.
    """
    cfg = CASES[case] if isinstance(case, str) else case
    if quick:
        cfg = dataclasses.replace(cfg, **QUICK[cfg.name])
    cfg = dataclasses.replace(cfg, **overrides)
    cfg = dataclasses.replace(cfg, inv_eps=tuple(sorted(set(cfg.inv_eps))))
    _check_nested(cfg)
    say = print if (verbose and comm.rank == 0) else (lambda *a, **k: None)
    start = time.perf_counter()
    configure_solver(comm, cfg.dim)

    # --- A^H from the cell problem (4.13); 1D: harmonic mean sqrt(0.75)
    AH, chis = cell_problem(cfg)
    AH = comm.bcast(AH, root=0)  # one value on every rank, bit for bit
    say(f"A^H = {np.array2string(AH, precision=10)}")
    if cfg.coefficient == CASES["1d"].coefficient:
        # a laminate: harmonic mean across the layers, arithmetic mean along them
        exact = np.diag([math.sqrt(0.75)] + [1.0] * (cfg.dim - 1))
        dev = float(np.max(np.abs(AH - exact)))
        say(f"   |A^H - diag(sqrt(0.75), 1, ...)| = {dev:.2e}  (harmonic / arithmetic means)")
        # P2 cell solution: the 1D corrector is exact to rounding, 2D to O(h^4)
        assert dev < (1e-8 if cfg.dim == 1 else 1e-6), dev

    # --- m_0 and its refinement (h/2, tol/8)
    runs: list[RunInfo] = []
    m0, info = homogenized_solution(cfg, comm, AH, cfg.tol_m0)
    runs.append(info)
    m0_ref, info = homogenized_solution(cfg, comm, AH, cfg.tol_m0 / 8, refined=True)
    runs.append(info)
    for r in runs:
        say(f"{r.label}: {r.grid} cells, {r.steps} steps, {r.wall_s:.1f} s")

    def corrected_error(m_eps: LLGProblem, m_0: LLGProblem, eps: float) -> tuple[float, float]:
        """Error of m_0 + eps grad m_0 chi(x/eps), (3.3) with J = 1 and (4.12) without v."""
        approx = first_order_approximation(m_0.m, chis, eps, m_eps.V, m_0.reduction)
        return difference_norms(m_eps.m, approx)

    # --- m^eps for every eps: errors of m_0 and of the corrected approximation
    rows, corrected, convergence = [], [], []
    k_check = set(
        (cfg.inv_eps[0], cfg.inv_eps[-1]) if cfg.check_inv_eps is None else cfg.check_inv_eps
    )
    for k in cfg.inv_eps:
        eps = 1.0 / k
        m_eps, info = fine_solution(cfg, comm, k, cfg.tol)
        grid = info.grid
        runs.append(info)
        err = difference_norms(m_eps.m, m0.m)
        corr = corrected_error(m_eps, m0, eps)
        rows.append((eps, cfg.T, *err))
        corrected.append((eps, cfg.T, *corr))
        say(
            f"eps = 1/{k}: {grid} cells, {info.steps} steps ({info.rejected} rejected), "
            f"{info.wall_s:.1f} s; err L2 {err[0]:.4e}, H1 {err[1]:.4e}; "
            f"corrected L2 {corr[0]:.4e}, H1 {corr[1]:.4e}"
        )
        if k == cfg.inv_eps[-1]:
            # m_0's row: the finest eps has the smallest error, the hardest to resolve
            convergence.append(
                (
                    "m_0",
                    eps,
                    runs[0].grid,
                    runs[1].grid,
                    cfg.tol_m0,
                    cfg.tol_m0 / 8,
                    *difference_norms(m0.m, m0_ref.m),
                    *err,
                    *corr,
                    *corrected_error(m_eps, m0_ref, eps),
                    *difference_norms(m_eps.m, m0_ref.m),
                )
            )
        if k in k_check:
            m_ref, info = fine_solution(cfg, comm, k, cfg.tol / 8, refined=True)
            runs.append(info)
            diff = difference_norms(m_eps.m, m_ref.m)
            corr_ref = corrected_error(m_ref, m0, eps)
            convergence.append(
                (
                    "m_eps",
                    eps,
                    grid,
                    info.grid,
                    cfg.tol,
                    cfg.tol / 8,
                    *diff,
                    *err,
                    *corr,
                    *corr_ref,
                    # the measured error with both solutions refined
                    *difference_norms(m_ref.m, m0_ref.m),
                )
            )
            say(
                f"   refined ({info.grid} cells, tol/8): {info.steps} steps, {info.wall_s:.1f} s;"
                f" self-convergence L2 {diff[0]:.2e}, H1 {diff[1]:.2e}; corrected error with"
                f" it: L2 {corr_ref[0]:.4e}, H1 {corr_ref[1]:.4e}"
            )
    convergence.sort(key=lambda c: (c[0] != "m_0", -c[1]))

    eps_list = [r[0] for r in rows]
    result: dict[str, Any] = {
        "case": cfg.name,
        "A_H": AH.tolist(),
        "T": cfg.T,
        "alpha": cfg.alpha,
        "nodes_per_period": cfg.nodes_per_period,
        "norms": {
            "err_L2": "||m_eps(T) - m_0(T)||_L2(Omega)",
            "err_H1": "H1 seminorm ||grad(m_eps(T) - m_0(T))||_L2(Omega)",
        },
        "rows": rows,
        "rates": {
            "L2": observed_rates(eps_list, [r[2] for r in rows]),
            "H1": observed_rates(eps_list, [r[3] for r in rows]),
        },
        "corrected": corrected,
        "corrected_rates": {
            "L2": observed_rates(eps_list, [r[2] for r in corrected]),
            "H1": observed_rates(eps_list, [r[3] for r in corrected]),
        },
        "convergence": [dict(zip(CONVERGENCE_HEADER, c, strict=True)) for c in convergence],
        "runs": [dataclasses.asdict(r) for r in runs],
        "ranks": comm.size,
    }
    result["wall_s"] = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
    if verbose:
        report(result, say)
    if out is not None:
        write_outputs(Path(out), result, comm)
    return result


# ---------------------------------------------------------------- output
def report(result: dict[str, Any], say: Callable[..., None]) -> None:
    """Print the error table with rates and the self-convergence table."""

    def rate(rates: list[float], i: int) -> str:
        return f"{rates[i - 1]:6.2f}" if i else " " * 6

    def inv(eps: float) -> str:
        return f"1/{round(1 / eps)}"

    say(f"\nT = {result['T']}, alpha = {result['alpha']}, A^H = {result['A_H']}")
    say("errors of m_0 (err) and of m_0 + eps grad m_0 chi(x/eps) (corr); H1 = seminorm")
    say(
        f"{'eps':>6} {'err_L2':>10} {'rate':>6} {'err_H1':>10} {'rate':>6}"
        f" {'corr_L2':>10} {'rate':>6} {'corr_H1':>10} {'rate':>6}"
    )
    r, c = result["rates"], result["corrected_rates"]
    for i, (row, corr) in enumerate(zip(result["rows"], result["corrected"], strict=True)):
        say(
            f"{inv(row[0]):>6} {row[2]:10.4e} {rate(r['L2'], i)} {row[3]:10.4e} "
            f"{rate(r['H1'], i)} {corr[2]:10.4e} {rate(c['L2'], i)} {corr[3]:10.4e} "
            f"{rate(c['H1'], i)}"
        )
    say("\nself-convergence (h/2, tol/8): difference next to the error it must resolve")
    say(
        f"{'solution':>8} {'eps':>6} {'diff_L2':>9} {'err_L2':>9} {'ratio':>6} {'diff_H1':>9}"
        f" {'err_H1':>9} {'ratio':>6} | {'corr_L2':>9} {'(ref)':>9} {'corr_H1':>9} {'(ref)':>9}"
        f" | {'err_L2':>9} {'(ref)':>9}"
    )
    for row in result["convergence"]:
        say(
            f"{row['solution']:>8} {inv(row['eps']):>6} {row['diff_L2']:9.2e} "
            f"{row['err_L2']:9.2e} {row['err_L2'] / row['diff_L2']:6.0f} {row['diff_H1']:9.2e} "
            f"{row['err_H1']:9.2e} {row['err_H1'] / row['diff_H1']:6.0f} | "
            f"{row['corr_L2']:9.2e} {row['corr_L2_ref']:9.2e} {row['corr_H1']:9.2e} "
            f"{row['corr_H1_ref']:9.2e} | {row['err_L2']:9.2e} {row['err_L2_ref']:9.2e}"
        )
    say(
        f"\n{'run':>14} {'cells':>9} {'tol':>8} {'steps':>6} {'rejected':>8} {'Newton':>7} "
        f"{'linear':>8} {'wall_s':>8}"
    )
    for run_ in result["runs"]:
        say(
            f"{run_['label']:>14} {run_['grid']:>9} {run_['tol']:8.2e} {run_['steps']:6d} "
            f"{run_['rejected']:8d} {run_['newton']:7d} {run_['linear']:8d} {run_['wall_s']:8.1f}"
        )
    total = sum(run_["wall_s"] for run_ in result["runs"])
    say(
        f"time integration {total:.1f} s, total {result['wall_s']:.1f} s "
        f"on {result['ranks']} rank(s)"
    )


def write_outputs(out: Path, result: dict[str, Any], comm: MPI.Comm) -> None:
    """rates.csv, corrected.csv, convergence.csv, summary.json and (optional) rates.png."""
    write_csv_atomic(out / "rates.csv", RATES_HEADER, result["rows"], comm=comm)
    write_csv_atomic(out / "corrected.csv", RATES_HEADER, result["corrected"], comm=comm)
    write_csv_atomic(
        out / "convergence.csv",
        CONVERGENCE_HEADER,
        [[c[h] for h in CONVERGENCE_HEADER] for c in result["convergence"]],
        comm=comm,
    )
    write_json_atomic(out / "summary.json", result, comm=comm)
    if comm.rank == 0:
        plot_rates(out / "rates.png", result)
    comm.Barrier()


def plot_rates(path: Path, result: dict[str, Any]) -> bool:
    """Log-log plot of the errors with reference slopes; False if matplotlib is missing."""
    plt = agg_pyplot(path.name)
    if plt is None:
        return False
    eps = np.array([r[0] for r in result["rows"]])
    fig, ax = plt.subplots(figsize=(9, 4.5))
    series = [
        ("rows", 2, "o-", r"$\|m^\varepsilon - m_0\|_{L^2}$"),
        ("rows", 3, "s-", r"$|m^\varepsilon - m_0|_{H^1}$"),
        ("corrected", 2, "o--", r"$\|m^\varepsilon - m_0 - \varepsilon\nabla m_0\chi\|_{L^2}$"),
        ("corrected", 3, "s--", r"$|m^\varepsilon - m_0 - \varepsilon\nabla m_0\chi|_{H^1}$"),
    ]
    for key, col, style, label in series:
        ax.loglog(eps, [r[col] for r in result[key]], style, label=label)
    # reference slopes of Theorem 3.1 (L2: eps) and of the corrected L2 error (eps^2)
    for p, first, style in ((1, result["rows"][0][2], "k:"), (2, result["corrected"][0][2], "k-.")):
        ax.loglog(eps, first * (eps / eps[0]) ** p, style, lw=1, label=rf"$O(\varepsilon^{p})$")
    conv = [c for c in result["convergence"] if c["solution"] == "m_eps"]
    for norm, marker in (("L2", "kx"), ("H1", "k+")):
        ax.loglog(
            [c["eps"] for c in conv],
            [c[f"diff_{norm}"] for c in conv],
            marker,
            label=f"self-convergence of $m^\\varepsilon$, {norm} ($h/2$, tol/8)",
        )
    ax.set_xlabel(r"$\varepsilon$")
    ax.set_ylabel(f"error at T = {result['T']}")
    ax.set_title(f"LL homogenization, {result['case']}")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
