# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Homogenization of the Landau-Lifshitz equation
#
# This demo reproduces the homogenization experiment of the LL paper
# (`landau-lifshitz-homogenization`, Sect. 3-4, Fig. 4.1/4.2).  It shows how to
#
# - compute the homogenized coefficient $A^H$ with the periodic cell solver,
# - integrate the fine-scale equation (3.1) and the homogenized equation (3.2)
#   with the second-order implicit midpoint rule and step-size control,
# - measure $\|m^\varepsilon(T) - m_0(T)\|$ in $L^2$ and $H^1$ for a sequence of
#   $\varepsilon$, with the observed rate, and the error of the corrected
#   approximation $m_0 + \varepsilon \nabla m_0\,\chi(x/\varepsilon)$,
# - show that the discretization errors of both solutions are far below the
#   homogenization error being measured (self-convergence; in the 2D case only
#   the measured difference is resolved that well, see "What to expect").
#
# Run it as
#
# ```sh
# .venv/bin/python demos/ll_homogenization.py --out results/ll_homogenization  # 1D, a few minutes
# .venv/bin/mpirun -n 2 .venv/bin/python demos/ll_homogenization.py --out results/ll_homogenization
# .venv/bin/python demos/ll_homogenization.py --case 2d --out results/ll_homogenization_2d
# .venv/bin/python demos/ll_homogenization.py --quick --out /tmp/llh  # the test's run, ~10-30 s
# ```
#
# It writes `rates.csv` (`eps,T,err_L2,err_H1`), `convergence.csv`
# (self-convergence differences next to the errors), `corrected.csv`,
# `summary.json` and, if matplotlib is installed, `rates.png`.  Options:
# `--case 1d|2d`, `--inv-eps K...` (the values $1/\varepsilon$), `--quick`.
#
# The code of the experiment is the module
# `femhomog.micromag.experiments.ll_homogenization` (imported below as
# `experiment`; the tests and benchmarks use the same functions); this document
# explains what it computes and why, and runs it.
#
# ## The problem
#
# On the periodic box $\Omega$ the magnetization $m^\varepsilon$ solves the
# Landau-Lifshitz equation with an oscillating exchange coefficient
# $a^\varepsilon(x) = a(x/\varepsilon)$,
#
# $$
# \partial_t m^\varepsilon = -m^\varepsilon \times \mathcal{L}^\varepsilon m^\varepsilon
#   - \alpha\, m^\varepsilon \times m^\varepsilon \times \mathcal{L}^\varepsilon m^\varepsilon,
# \qquad \mathcal{L}^\varepsilon m = \nabla\cdot(a^\varepsilon \nabla m),
# \qquad m^\varepsilon(0) = m_{init}, \tag{3.1}
# $$
#
# and the homogenized solution $m_0$ solves the same equation with the constant
# matrix $A^H$, $\bar{\mathcal{L}} m = \nabla\cdot(\nabla m\, A^H)$ (3.2).  The
# multiscale expansion of Sect. 4 gives
# $m^\varepsilon \approx m_0 + \varepsilon m_1(x, x/\varepsilon, t, t/\varepsilon^2)$ with
#
# $$
# m_1 = \nabla m_0\, \chi(y) + v(x, y, t, \tau), \qquad
# \nabla_y\cdot(a \nabla_y \chi) = -\nabla_y a, \qquad
# A^H = \int_Y a (I + \nabla_y \chi)\, dy,  \tag{4.12, 4.13}
# $$
#
# where $v$ solves the linear equation (4.15) with $v(\tau = 0) = -\nabla m_0 \chi$:
# it oscillates on the fast time $\tau = t/\varepsilon^2$ and decays like
# $\exp(-c\,\alpha t/\varepsilon^2)$.  Theorem 3.1 (3.8) predicts, at fixed times,
#
# $$
# \|m^\varepsilon - m_0\|_{L^2} \le C \varepsilon, \qquad \|m^\varepsilon - m_0\|_{H^1} \le C,
# $$
#
# and the $H^1$ error does not go to zero: $\nabla m^\varepsilon - \nabla m_0 \approx
# \nabla m_0 \nabla_y \chi(x/\varepsilon)$ is $O(1)$.  After the transient ($v$
# has decayed by $T = 0.1$ for every $\varepsilon$ used here) the corrected
# approximation $m_0 + \varepsilon \nabla m_0 \chi(x/\varepsilon)$ should be one
# order better in both norms; we measure that too.
#
# ## Numerical choices, and why
#
# *Space.* P1 elements on a uniform periodic mesh with `nodes_per_period` nodes
# per period $\varepsilon$ for $m^\varepsilon$.  The exchange integral
# $\int a(x/\varepsilon) \nabla m : \nabla \phi$ uses the one-point (midpoint)
# rule.  Why: the leading discretization error of $m^\varepsilon$ is the error
# of the *discrete* homogenized coefficient.  On a 1D grid, P1 elements with
# element values $a_K$ homogenize to the harmonic mean of the $a_K$; with
# exact integration $a_K$ is the element average and the discrete $A^H_h$ is
# off by $O((h/\varepsilon)^2)$ (5e-4 relative at 32 nodes per period, which
# shifts $m^\varepsilon(T)$ by 5e-5 in $L^2$: as large as a third of the
# homogenization error at $\varepsilon = 1/80$, and it does not decrease with
# $\varepsilon$).  With the midpoint rule the $a_K$ are point samples and their
# harmonic mean is the periodic midpoint rule for $\langle 1/a \rangle$, exact
# to rounding.  The fine-scale structure ($\chi$) is still resolved only to
# $O((h/\varepsilon)^2)$, which the self-convergence check measures.  For a
# general 2D coefficient no rule makes $A^H_h$ exact (Q1 with the 2x2 Gauss rule:
# $|A^H_h - A^H| \approx 8\cdot 10^{-4}$ at 16 nodes per period; P1 triangles
# $2$-$3.5\cdot 10^{-3}$).  The 2D case is a laminate on Q1 quadrilaterals with
# a tensor rule: the midpoint rule across the layers and two Gauss points along
# them (`Exchange(gauss_points=(1, 2))`).  Then $A^H_{h,11}$ is the harmonic
# and $A^H_{h,22}$ the arithmetic mean of point samples, both exact to rounding,
# and the hourglass mode of Q1 (which the one-point rule would leave without
# stiffness) keeps its stiffness from the two points along $x_2$.
#
# *Time.* The implicit midpoint rule (second order, $|m| = 1$ nodally) with
# step doubling.  The fast transient $v$ oscillates with frequencies
# $\omega \approx A^H (2\pi/\varepsilon)^2$ and is damped only at the rate
# $\alpha\omega$: it lasts ~$\ln(\varepsilon/\mathrm{tol})/(2\pi\alpha)$ periods,
# i.e. a few hundred steps independently of $\varepsilon$.  It has to be
# resolved: the midpoint rule is not L-stable, so a mode stepped over with
# $\omega\,\Delta t \gg 1$ is not damped and would survive to $T$.  The
# step-doubling controller resolves every mode whose amplitude exceeds the
# tolerance, starting from $\Delta t_0 = 10^{-3}\varepsilon^2$, and then grows
# the step to the slow time scale of $m_0$.
#
# *Self-convergence.*  For $m_0$ and for $m^\varepsilon$ at the coarsest and the
# finest $\varepsilon$ (2D: the coarsest only, `Case.check_inv_eps`) the run is
# repeated with $h/2$ and tolerance/8 (the
# local error of the midpoint rule is $O(\Delta t^3)$, so the steps halve).  The
# meshes are nested, so comparing P1 fields on the finer mesh is exact
# (`femhomog.micromag.homogenization.difference_norms`).

# %%
from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from femhomog import _fenicsx  # noqa: F401  (must precede mpi4py)

# isort: split
from mpi4py import MPI

from femhomog.micromag.experiments import ll_homogenization as experiment

# %% [markdown]
# ## Initial data and cases
#
# The 1D case is the one of Fig. 4.1: $\Omega = [0, 1]$,
# $a(y) = 1 + 0.5\sin(2\pi y)$, $\alpha = 0.02$ and
# $m_{init} = m_{nn}/|m_{nn}|$ with
# $m_{nn}(x) = 0.5 + [e^{-0.1\cos(2\pi(x - 0.2))}, e^{-0.2\cos(2\pi x)},
# e^{-0.1\cos(2\pi(x - 0.2))}]$.  Its $A^H$ is the harmonic mean
# $\langle 1/a \rangle^{-1} = \sqrt{1 - 0.5^2} = \sqrt{0.75}$.
#
# The 2D case is a laminate: $\Omega = [0, 1]^2$, the same
# $a(y) = 1 + 0.5\sin(2\pi y_1)$, now across layers normal to $x_1$, and the 2D
# analogue of $m_{nn}$ below, which varies along $x_1$, $x_2$ and $x_1 + x_2$.
# Its $A^H = \mathrm{diag}(\langle 1/a\rangle^{-1}, \langle a\rangle) =
# \mathrm{diag}(\sqrt{0.75}, 1)$ is anisotropic: an isotropic stand-in (either
# mean) would miss $m_0$ by $O(1)$ in the $x_2$-dependence.  Why a laminate: a
# coefficient oscillating along both axes needs 16-32 nodes per period along
# both, i.e. $1.6$-$6.6\cdot 10^6$ nodes at $\varepsilon = 1/80$ (and 4x that for
# the refinement), out of reach of a 2-core machine for the ~1500 implicit steps
# the transient needs; the laminate needs the fine scale along $x_1$ only
# (`Case.cells_along_layers`).  Both are `experiment.CASES`; `--quick` replaces
# some of their fields by `experiment.QUICK` (smaller $1/\varepsilon$, coarser meshes,
# looser tolerances: a CI-sized run).


# %% [markdown]
# ## The cell problem and $A^H$
#
# The cell problem (4.13) is solved once on the unit cell with P2 elements.
# The cell mesh lives on `MPI.COMM_SELF`: it is tiny, and every rank needs
# $\chi$ at the nodes it owns of every fine mesh (for the corrector), which
# point evaluation on a rank-local mesh provides without communication
# (`experiment.cell_problem`).


# %% [markdown]
# ## Time integration
#
# `experiment.integrate` drives `MidpointIntegrator.adaptive_step` to the final time.
# The Newton tolerance is absolute and nodal: the default `1e-13` lies below
# the rounding floor of the residual, $\sim 10^{-16}\,\Delta t\, a/h^2$, once
# the controller takes large steps on fine meshes, so Newton would stall;
# `1e-11` is still two orders below the smallest local error tolerance used.
# In serial 1D runs the Jacobian (3x3 blocks, three block diagonals and the
# periodic corners) is factored with PETSc's own LU in reverse Cuthill-McKee
# order, which has little fill and no analysis overhead; MUMPS is used in
# parallel (`experiment.configure_solver`).  The 2D case uses GMRES + ILU
# (`Case.solver`).  `experiment.fine_solution` and
# `experiment.homogenized_solution` build the problems and call it.


# %% [markdown]
# ## The experiment
#
# `experiment.run` computes $A^H$, $m_0$ (and its refinement), then for every
# $\varepsilon$ the fine solution and the errors of $m_0$ and of the corrected
# approximation; at the coarsest and the finest $\varepsilon$ it repeats the
# fine solve with $h/2$ and tol/8.  The self-convergence difference of $m_0$
# is reported next to the smallest error (finest $\varepsilon$), the one it
# must resolve.


# %% [markdown]
# ## Output
#
# `rates.csv` holds the errors of $m_0$ (the $H^1$ column is the seminorm
# $\|\nabla(m^\varepsilon - m_0)\|_{L^2}$), `corrected.csv` the same columns for
# $m_0 + \varepsilon\nabla m_0\chi(x/\varepsilon)$, `convergence.csv` the
# self-convergence differences next to the errors they must be below, and the
# errors recomputed with the refined solution(s) (`*_ref`).


# %% [markdown]
# ## What to expect
#
# The default 1D run (serial, about 3 minutes) gives
#
# | eps  | err_L2   | rate | err_H1   | corrected L2 | rate | corrected H1 | rate |
# | ---- | -------- | ---- | -------- | ------------ | ---- | ------------ | ---- |
# | 1/20 | 7.751e-4 |      | 9.969e-2 | 6.93e-5      |      | 4.89e-3      |      |
# | 1/40 | 3.850e-4 | 1.01 | 9.953e-2 | 1.75e-5      | 1.98 | 2.52e-3      | 0.96 |
# | 1/80 | 1.922e-4 | 1.00 | 9.950e-2 | 4.48e-6      | 1.97 | 1.42e-3      | 0.83 |
#
# - the $L^2$ error of $m_0$ is $O(\varepsilon)$, as Theorem 3.1 (3.8) states;
# - the $H^1$ error of $m_0$ does not decrease at all (0.0995 for every
#   $\varepsilon$): it is $\|\nabla m_0 \nabla_y\chi(x/\varepsilon)\|_{L^2}$, the
#   weak-but-not-strong $H^1$ convergence the theorem allows;
# - with the corrector $\varepsilon\nabla m_0\chi(x/\varepsilon)$ the errors drop to
#   $O(\varepsilon^2)$ in $L^2$ and $O(\varepsilon)$ in $H^1$: at $T = 0.1$ the
#   fast part $v$ has decayed (by $e^{-27}$ already at $\varepsilon = 1/20$).
#
# Self-convergence ($h/2$, tol/8) against the errors being measured:
#
# | solution | eps  | diff L2 | err L2  | ratio | diff H1 | err H1  | ratio |
# | -------- | ---- | ------- | ------- | ----- | ------- | ------- | ----- |
# | m_0      | 1/80 | 1.54e-6 | 1.92e-4 | 125   | 6.24e-4 | 9.95e-2 | 160   |
# | m_eps    | 1/20 | 3.04e-6 | 7.75e-4 | 255   | 5.50e-3 | 9.97e-2 | 18    |
# | m_eps    | 1/80 | 1.86e-6 | 1.92e-4 | 103   | 5.45e-3 | 9.95e-2 | 18    |
#
# The $H^1$ difference of $m^\varepsilon$ is the P1 interpolation error of
# the $\varepsilon$-scale structure, $\sim (h/\varepsilon)|\nabla m_0||\chi''|$ with
# 32 nodes per period: it bounds the $H^1$ error of $m^\varepsilon$ by 6% of
# the measured one.  It is *larger* than the corrected $H^1$ error, which is
# nevertheless stable under refinement (`corr_H1_ref` in convergence.csv: 1.41e-3
# with the refined $m^\varepsilon$): in 1D the P1 solution is close to the
# nodal interpolant, and so is the interpolated corrected approximation, so the
# interpolation errors cancel.  With the refined $m_0$ it is 1.27e-3 (which
# would make the last rate 0.99): the nodal gradient of $m_0$ on 640 cells
# limits it.  The corrected $L^2$ error at the finest
# $\varepsilon$ (4.5e-6) is only two to three times above the discretization
# differences (3.2e-6 with the refined $m^\varepsilon$, 5.8e-6 with the refined
# $m_0$): its last rate is resolved to about $\pm 0.4$.
#
# The 2D laminate (`--case 2d`: $a = 1 + 0.5\sin(2\pi x_1/\varepsilon)$, 16 nodes
# per period across the layers, 64 cells along them, tol $10^{-6}$; $m_0$ on
# $320 \times 64$ cells at tol $10^{-7}$) on 2 ranks, 1 h 57 min in total:
#
# | eps  | cells      | steps | wall   | err_L2   | rate | err_H1   | corrected L2 | rate | corrected H1 | rate |
# | ---- | ---------- | ----- | ------ | -------- | ---- | -------- | ------------ | ---- | ------------ | ---- |
# | 1/20 | 320 x 64   | 571   | 255 s  | 5.314e-4 |      | 6.854e-2 | 7.96e-5      |      | 5.64e-3      |      |
# | 1/40 | 640 x 64   | 504   | 737 s  | 2.633e-4 | 1.01 | 6.831e-2 | 2.32e-5      | 1.78 | 3.02e-3      | 0.90 |
# | 1/80 | 1280 x 64  | 452   | 1635 s | 1.314e-4 | 1.00 | 6.824e-2 | 9.20e-6      | 1.33 | 1.86e-3      | 0.70 |
#
# (refinements: $m_0$ on $640 \times 128$ at tol/8, 381 steps, 1379 s;
# $m^\varepsilon$ at $\varepsilon = 1/20$ on $640 \times 128$ at tol/8, 1,144 steps,
# 2785 s.)  The $L^2$ error is $O(\varepsilon)$ and the $H^1$ error is $O(1)$, as in
# 1D; $A^H_{11}$ is the harmonic mean $\sqrt{0.75}$ and $A^H_{22} = 1$ the
# arithmetic mean, to $2\cdot 10^{-9}$.
#
# Its resolution along the layers is the weak point, and here the rule "each
# solution converged far below the error" does *not* hold: $m_0$ alone changes
# by $6.5\cdot 10^{-4}$, $1.6\cdot 10^{-4}$, $4.1\cdot 10^{-5}$ in $L^2$ from 32
# to 64, 128, 256 cells along $x_2$ (second order), and the refinement above
# changes $m_0$ by $1.7\cdot 10^{-4}$ and $m^\varepsilon(1/20)$ by
# $1.8\cdot 10^{-4}$ (H1: $7.2\cdot 10^{-3}$, $1.0\cdot 10^{-2}$), as much as the
# error at $\varepsilon = 1/80$.  Meeting the rule per solution would take about
# 256 cells along $x_2$, four times the cost.  What is resolved is the measured
# difference: $m^\varepsilon$ and $m_0$ share the $x_2$-discretization error to
# leading order (same grid along $x_2$, same slow dynamics), and it cancels in
# $m^\varepsilon - m_0$.  With both solutions refined ($h/2$ along both axes,
# tol/8) the error at $\varepsilon = 1/20$ moves from $5.3144\cdot 10^{-4}$ to
# $5.3393\cdot 10^{-4}$ (0.5 %) in $L^2$ and from $6.8544\cdot 10^{-2}$ to
# $6.8560\cdot 10^{-2}$ (0.02 %) in $H^1$ (`err_*_ref` in convergence.csv); the
# part that does not cancel is the difference of the two solutions'
# discretization errors, itself $O(\varepsilon)$ smaller, so it should shrink
# further at $\varepsilon = 1/40, 1/80$ (not measured: the refined run at
# $1/80$ would take about 3.5 hours here).  The columns that pair one refined
# solution with an unrefined one (`corr_*_ref`, and `err_*_ref` of the $m_0$
# row) mix two grids along $x_2$, so the error does not cancel there; in 2D
# they measure the $x_2$-discretization error, not the homogenization error.
# The corrected $L^2$ error is presumably limited by the same: its rate falls
# from 1.78 to 1.33 at $\varepsilon = 1/80$, where it (9.2e-6) is far below the
# per-solution $x_2$ error (not separated by a measurement).  Earlier measurements at $\varepsilon = 1/20$ (tol $10^{-7}$):
# from 32 to 64 cells along $x_2$, $m^\varepsilon$ and $m_0$ each change by
# $6.55\cdot 10^{-4}$ while the error goes from $5.3058\cdot 10^{-4}$ to
# $5.3105\cdot 10^{-4}$ (0.09 %), and tol $10^{-6}$ against $10^{-7}$ changes it by
# 0.07 %.  In the quick run (8 cells along $x_2$, each solution off by $10^{-2}$)
# the error at $\varepsilon = 1/8$ moves from $1.349\cdot 10^{-3}$ to
# $1.41\cdot 10^{-3}$ (4.5 %) under refinement, and the $L^2$ rate from
# $\varepsilon = 1/8$ to $1/16$ is already 1.06.


# %% [markdown]
# ## Command line


# %%
def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description="LL homogenization experiment")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--case", choices=sorted(experiment.CASES), default="1d")
    parser.add_argument("--quick", action="store_true", help="small fast run (tests)")
    parser.add_argument(
        "--inv-eps", type=int, nargs="+", default=None, help="values 1/eps (integers)"
    )
    args = parser.parse_args(argv)
    overrides = {} if args.inv_eps is None else {"inv_eps": tuple(args.inv_eps)}
    # tables, summary.json and rates.png in args.out; the tables printed on rank 0
    return experiment.run(args.case, args.out, quick=args.quick, comm=MPI.COMM_WORLD, **overrides)


if __name__ == "__main__":
    main()
