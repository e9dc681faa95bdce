# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # muMAG standard problem 3: the single-domain limit of a cube
#
# Standard problem 3 (proposed by A. Hubert, NIST muMAG 1998) asks for the edge
# length $L$ of a ferromagnetic cube at which the *flower* state (a splayed,
# nearly uniform state) and the *vortex* (curling) state have the same total
# energy.  The cube has a uniaxial anisotropy $K_u = 0.1\,K_m$ along a cube
# axis ($z$), $K_m = \mu_0 M_s^2/2$; lengths are measured in
# $l_{ex} = \sqrt{A/K_m}$ and energies in $K_m L^3$.  Published answer:
# $L \approx 8.47\,l_{ex}$ with $e = E/(K_m L^3) \approx 0.3027$ (Rave, Fabian,
# Hubert, JMMM 190 (1998) 332), confirmed by finite differences with
# extrapolation (Martins, Ribeiro, Freitas: 8.4687, $e = 0.3026$).
#
# This demo shows how to
#
# - mesh the cube with gmsh (`femhomog.meshes.magnets.cuboid`),
# - set up the Fredkin-Koehler FEM-BEM stray field once and reuse it for all
#   edge lengths,
# - relax a state with the damped LLG dynamics (tangent-plane scheme,
#   $\alpha = 1$) until the torque $\max_i |m_i \times H_i|$ is below a tolerance
#   (`femhomog.micromag.relax.relax`),
# - check that each relaxed state is the one intended (a state can collapse
#   into the other), and find the crossing of the two energy curves.
#
# Run it as
#
# ```sh
# python demos/sp3.py --out results/sp3                     # h = 0.6 l_ex, L = 8, 8.25, 8.5
# mpirun -n 2 python demos/sp3.py --out results/sp3
# python demos/sp3.py --mesh-size 0.45 --out results/sp3_h045
# python demos/sp3.py --quick --out /tmp/sp3                # coarse, 2 lengths (a minute)
# ```
#
# It writes `sp3.csv` (one row per edge length and state: total and partial
# energies in $K_m L^3$, $\langle m \rangle$, the vortex circulation, the
# relaxation statistics), `sp3.json` (the crossing, the partial energies there,
# the published values and the checks) and `sp3.png` (if matplotlib is
# installed).
#
# ## The problem in the units of femhomog
#
# The nondimensional LLG of `femhomog.micromag` (see `femhomog/micromag/units.py`)
# measures lengths in $\sqrt{2A/(\mu_0 M_s^2)} = \sqrt{A/K_m} = l_{ex}$, fields
# in $M_s$ and energies in $\mu_0 M_s^2\,l_{ex}^3 = 2 K_m l_{ex}^3$, with
#
# $$
# E(m) = \int_\Omega \tfrac{a}{2}|\nabla m|^2 - \tfrac{q}{2}(m\cdot e_z)^2
#        - \tfrac12 H_s(m)\cdot m \,dx, \qquad q = \frac{2K_u}{\mu_0 M_s^2}
#        = \frac{K_u}{K_m} = 0.1 .
# $$
#
# **One mesh for all edge lengths.**  Instead of meshing a cube of edge $L$
# for every $L$ we measure lengths in units of $L$ itself: the cube is the
# unit cube, the exchange coefficient becomes $a = (l_{ex}/L)^2$, and $q$ and
# the stray field (scale-free) do not change.  Energies are then in units of
# $\mu_0 M_s^2 L^3 = 2 K_m L^3$, so the SP3 energy densities are simply
# $e_{term} = 2 E_{term}$ (the volume is 1).  The element size in $l_{ex}$
# is then proportional to $L$, like the fixed number $N$ of cells per edge of a
# finite-difference study: `--mesh-size h` is the size at the reference
# edge $L_{ref} = 8.47\,l_{ex}$, i.e. the unit cube is meshed with size
# $h/L_{ref}$ (at $L = 8$ the elements are 6% smaller in $l_{ex}$, at $L = 9$
# 6% larger).  A single mesh also makes the energy curves smooth in $L$ (no
# re-meshing noise), which the linear interpolation of the crossing needs, and
# the dense BEM matrix is built once.
#
# **Anisotropy offset.**  SP3 writes the anisotropy energy as
# $K_u \int (1 - (m\cdot e_z)^2)$, which vanishes for $m = \pm e_z$;
# `UniaxialAnisotropy` has $-\frac q2 \int (m\cdot e_z)^2$.  The two differ by
# the constant $\frac q2 |\Omega|$, i.e. by $q = 0.1$ in $K_m L^3$:
# $e_{anis} = 2 E_{anis} + q$.  The constant changes neither the dynamics nor
# the energy difference of the two states, hence not the crossing; it matters
# only for comparing total and anisotropy energies with the published ones.
#
# ## Numerical choices, and why
#
# *Space.*  P1 tetrahedra (gmsh, unstructured); exchange with exact
# integration, anisotropy with vertex quadrature (`micromag/terms/`), stray field by
# Fredkin-Koehler FEM-BEM with the lumped nodal field, whose discrete energy
# $-\frac12 (H_h, m_h)_h$ is the variational one.  The energies converge from
# below as $h \to 0$ (the uniform state's stray-field energy is $1/3$ exactly,
# the P1 value is lower: 0.330 at $h = 0.8$, 0.332 at $h = 0.5$).
#
# *Relaxation.*  Only the end states matter, so the damping is $\alpha = 1$
# and the tangent-plane scheme with $\theta = 1$ (exchange and anisotropy
# implicit, stray field explicit) takes large steps ($\Delta t = 1$ in units of
# $(1 + \alpha^2)/(\gamma M_s)$); it is unconditionally energy-decreasing
# for the implicit terms, and the explicit stray field (an operator of norm
# $\le 1$) is stable at this step.  The relaxation stops when the maximal nodal
# torque is below `--torque-tol` (default $10^{-4}\,M_s$; the energy is then
# converged to about $10^{-7}$).  The energy is checked every `check_every`
# steps and must never increase (`energy_increases` in the CSV).
#
# *Initial states.*  Flower: $m = e_z$ (the saturated state; it relaxes into
# the four-fold symmetric flower).  Vortex: $m \propto c\,e_x + e_x \times r$
# with $r$ the position relative to the cube centre and $c = 0.1$ (a core along
# $x$), i.e. a curling state whose axis is perpendicular to the easy axis:
# it relaxes into the vortex of the published data (anisotropy energy
# $\approx 0.052 \approx q/2$: the circulating magnetization lies in the
# $yz$ plane, half of it along the easy axis).  `--vortex-axis z` starts a
# vortex around the easy axis instead, which costs more anisotropy energy.
#
# *State checks.*  A relaxation can end in the other state (a vortex can
# unwind into a flower in a small cube, a flower can curl in a large one), so
# each relaxed state is classified: a flower has $\langle m_z \rangle > 0.9$;
# a vortex has $|\langle m_z \rangle| < 0.5$ and a circulation
# $\langle (e_v \times \hat r_\perp) \cdot m \rangle > 0.5$ around its axis
# $e_v$ ($\hat r_\perp$ the unit vector from the axis to the point; a
# perfect curling state has 1, a flower about 0).  Edge lengths where a state
# did not survive are reported and left out of the crossing.  The same
# circulation around the easy axis $z$ is recorded as `twist`: it detects a
# flower that has curled around $z$ (a twisted flower, or the vortex around
# the easy axis).

# %%
from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from femhomog import _fenicsx  # noqa: F401  (must precede dolfinx / petsc4py)

# isort: split
import dolfinx
from mpi4py import MPI

from femhomog.io.output import write_csv_atomic, write_json_atomic
from femhomog.io.plotting import agg_pyplot
from femhomog.meshes.magnets import cuboid
from femhomog.micromag.demag.base import StrayField
from femhomog.micromag.demag.fembem import FredkinKoehler
from femhomog.micromag.driver import FixedStepper
from femhomog.micromag.problem import LLGProblem
from femhomog.micromag.relax import relax
from femhomog.micromag.tangent_plane import TangentPlaneIntegrator
from femhomog.micromag.terms import Exchange, UniaxialAnisotropy

#: Anisotropy quality factor q = 2 K_u / (mu0 Ms^2) = K_u / K_m of SP3.
Q = 0.1
#: Reference edge length (l_ex) at which --mesh-size is the element size.
L_REF = 8.47
#: Published crossing and energies (units K_m L^3): Rave, Fabian, Hubert (1998)
#: for L and e; partial energies at the crossing from the finite-difference
#: convergence study of Martins, Ribeiro, Freitas (finest grid, N = 70 cells per
#: edge; their extrapolated crossing is L = 8.4687, e = 0.3026).
PUBLISHED: dict[str, Any] = {
    "L": 8.47,
    "e": 0.3027,
    "flower": {"demag": 0.2792, "exchange": 0.0177, "anisotropy": 0.0056},
    "vortex": {"demag": 0.0780, "exchange": 0.1724, "anisotropy": 0.0521},
}
TERMS = ("demag", "exchange", "anisotropy")
STATES = ("flower", "vortex")
CSV_HEADER = (
    "L",
    "state",
    "e_total",
    "e_demag",
    "e_exchange",
    "e_anisotropy",
    "mx",
    "my",
    "mz",
    "circulation",
    "twist",
    "state_ok",
    "converged",
    "steps",
    "torque",
    "energy_increases",
    "wall_s",
)
#: PETSc options prefix of the integrator of this demo.
PREFIX = "sp3_"
#: Default run and the quick (test-sized) variant.
DEFAULTS: dict[str, Any] = {
    "lengths": (8.0, 8.25, 8.5),
    "mesh_size": 0.6,
    "torque_tol": 1e-4,
    "dt": 1.0,
    "check_every": 5,
    "max_steps": 3000,
    "vortex_axis": "x",
}
QUICK: dict[str, Any] = {**DEFAULTS, "lengths": (8.0, 9.0), "mesh_size": 1.0,
                         "torque_tol": 1e-3}
_AXES = {"x": np.array([1.0, 0.0, 0.0]), "y": np.array([0.0, 1.0, 0.0]),
         "z": np.array([0.0, 0.0, 1.0])}


# %% [markdown]
# ## Mesh, stray field and initial states
#
# The unit cube $|x_i| < 1/2$ (centred at the origin) is meshed once; the
# Fredkin-Koehler solver builds its dense boundary matrix once and is shared
# by every relaxation.


# %%
def cube(comm: MPI.Comm, mesh_size: float) -> tuple[dolfinx.mesh.Mesh, FredkinKoehler]:
    """Unit cube (edge = L) with element size ``mesh_size / L_REF`` and its stray-field solver.

    Parameters
    ----------
    comm
        Communicator of the mesh.
    mesh_size
        Element size in ``l_ex`` at the reference edge ``L_REF = 8.47``.

    Returns
    -------
    mesh, solver
    """
    mm = cuboid(comm, (1.0, 1.0, 1.0), mesh_size=mesh_size / L_REF)
    return mm.mesh, FredkinKoehler(mm.mesh)


def initial_state(state: str, vortex_axis: str = "x") -> Any:
    """Initial magnetization of a state (unit cube centred at 0; normalized by the problem).

    ``"flower"``: ``e_z``.  ``"vortex"``: ``0.1 e_v + e_v x r`` (curling around
    the axis ``e_v`` through the centre, with a core along ``e_v``).
    """
    if state == "flower":
        return (0.0, 0.0, 1.0)
    if state != "vortex":
        raise ValueError(f"unknown state {state!r}")
    ev = _AXES[vortex_axis]

    def m0(x: np.ndarray) -> np.ndarray:
        curl = np.cross(ev[:, None], x, axis=0)
        return 0.1 * ev[:, None] + curl

    return m0


def circulation(prob: LLGProblem, axis: np.ndarray) -> float:
    """Volume average of ``(e_v x r_perp/|r_perp|) . m`` around the axis ``e_v`` through 0.

    1 for a perfect curling state around ``e_v`` (sign: right-handed), about 0
    for a flower.  Nodes on the axis get weight 0 (collective).
    """
    n = prob.num_owned_nodes
    x = prob.V.tabulate_dof_coordinates()[:n]
    r_perp = x - np.outer(x @ axis, axis)
    norm = np.linalg.norm(r_perp, axis=1)
    tangent = np.cross(axis, r_perp) / np.where(norm > 0, norm, 1.0)[:, None]
    w = prob.mass.array[: 3 * n : 3]
    local = float(np.sum(w * np.einsum("ij,ij->i", tangent, prob.owned_values())))
    return prob.comm.allreduce(local, op=MPI.SUM) / prob.volume


def energy_densities(prob: LLGProblem) -> dict[str, float]:
    """Energies of ``prob`` (lengths in units of L) in the SP3 units ``K_m L^3``.

    ``e = 2 E / |Omega|`` (energy unit ``mu0 Ms^2 L^3 = 2 K_m L^3``); the
    anisotropy is shifted by ``q`` to the SP3 convention ``K_u (1 - (m.e_z)^2)``.
    """
    energies = prob.energies()
    e = {term: 2.0 * energies[term] / prob.volume for term in TERMS}
    e["anisotropy"] += Q
    e["total"] = sum(e[term] for term in TERMS)
    return e


# %% [markdown]
# ## Relaxing one state
#
# A fresh `LLGProblem` per edge length and state; the mesh and the stray-field
# solver are shared.  The exchange coefficient is $a = 1/L^2$.


# %%
def relax_state(
    mesh: dolfinx.mesh.Mesh,
    demag: FredkinKoehler,
    L: float,
    state: str,
    *,
    torque_tol: float,
    dt: float = 1.0,
    check_every: int = 5,
    max_steps: int = 3000,
    vortex_axis: str = "x",
    m0: Any = None,
) -> dict[str, Any]:
    """Relax the ``state`` of the cube of edge ``L`` (l_ex) and classify the result.

    Parameters
    ----------
    mesh, demag
        The unit cube and its stray-field solver (:func:`cube`).
    L
        Edge length in ``l_ex``.
    state
        ``"flower"`` or ``"vortex"`` (selects the initial state and the check).
    torque_tol, dt, check_every, max_steps
        Relaxation parameters (:func:`femhomog.micromag.relax.relax`).
    vortex_axis
        Axis of the initial vortex (``"x"``, ``"y"`` or ``"z"``).
    m0
        Initial magnetization overriding the state's (e.g. a relaxed state).

    Returns
    -------
    dict
        ``e`` (energies in ``K_m L^3``, SP3 convention), ``m_avg``,
        ``circulation``, ``state_ok``, ``converged``, ``steps``, ``torque``,
        ``energy_increases``, ``history`` (``(step, t, e_total, torque)``),
        ``wall_s`` and ``m`` (the relaxed nodal values, a copy).
    """
    t0 = time.perf_counter()
    terms = [
        Exchange(1.0 / L**2),
        UniaxialAnisotropy(Q, (0.0, 0.0, 1.0)),
        StrayField(solver=demag),
    ]
    init = initial_state(state, vortex_axis) if m0 is None else m0
    prob = LLGProblem(mesh, terms, 1.0, m0=init, normalize=True)
    integrator = TangentPlaneIntegrator(prob, theta=1.0, options_prefix=PREFIX)
    try:
        res = relax(FixedStepper(integrator), dt=dt, torque_tol=torque_tol,
                    max_steps=max_steps, check_every=check_every)
        e = energy_densities(prob)
        m_avg = prob.average()
        axis = _AXES[vortex_axis]
        circ = circulation(prob, axis)
        twist = circulation(prob, _AXES["z"])
        if state == "flower":
            ok = bool(m_avg[2] > 0.9)
        else:
            ok = bool(abs(m_avg[2]) < 0.5 and circ > 0.5)
        # history energies in K_m L^3 (SP3 convention)
        history = [(s, t, 2.0 * E / prob.volume + Q, tq) for s, t, E, tq in res.history]
        return {
            "L": float(L),
            "state": state,
            "e": e,
            "m_avg": m_avg.tolist(),
            "circulation": circ,
            "twist": twist,
            "state_ok": ok,
            "converged": res.converged,
            "steps": res.steps,
            "torque": res.torque,
            "energy_increases": res.energy_increases,
            "history": history,
            "wall_s": time.perf_counter() - t0,
            "m": prob.m.x.array.copy(),
        }
    finally:
        integrator.destroy()


# %% [markdown]
# ## The crossing
#
# With $\Delta e(L) = e_{flower}(L) - e_{vortex}(L)$ on the edge lengths where
# both states survived, the crossing is the zero of the linear interpolant of
# $\Delta e$ between the first pair of neighbours with a sign change; the
# energies there are interpolated the same way.  Without a sign change the
# zero of the line through the two nearest points is reported as an
# extrapolation.


# %%
def crossing(lengths: Sequence[float], diff: Sequence[float]) -> tuple[float | None, bool]:
    """Zero of the piecewise-linear interpolant of ``diff(L)``.

    Returns
    -------
    L_cross, extrapolated
        ``(None, False)`` with fewer than two points.
    """
    L = np.asarray(lengths, dtype=float)
    d = np.asarray(diff, dtype=float)
    order = np.argsort(L)
    L, d = L[order], d[order]
    if L.size < 2:
        return None, False
    for i in range(L.size - 1):
        if d[i] == 0.0:
            return float(L[i]), False
        if d[i] * d[i + 1] < 0.0:
            return float(L[i] - d[i] * (L[i + 1] - L[i]) / (d[i + 1] - d[i])), False
    if d[-1] == 0.0:
        return float(L[-1]), False
    # no sign change: extrapolate from the end closest to the zero
    i = 0 if abs(d[0]) < abs(d[-1]) else L.size - 2
    if d[i + 1] == d[i]:
        return None, True
    return float(L[i] - d[i] * (L[i + 1] - L[i]) / (d[i + 1] - d[i])), True


def interpolate_at(lengths: Sequence[float], values: Sequence[float], x: float) -> float:
    """Linear interpolation (extrapolation at the ends) of ``values(lengths)`` at ``x``."""
    L = np.asarray(lengths, dtype=float)
    v = np.asarray(values, dtype=float)
    order = np.argsort(L)
    L, v = L[order], v[order]
    i = int(np.clip(np.searchsorted(L, x) - 1, 0, L.size - 2))
    return float(v[i] + (v[i + 1] - v[i]) * (x - L[i]) / (L[i + 1] - L[i]))


def analyse(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Crossing, energies at the crossing and the state checks of a list of runs."""
    by = {(r["L"], r["state"]): r for r in runs}
    lengths = sorted({r["L"] for r in runs})
    good = [L for L in lengths if all(by.get((L, s), {}).get("state_ok") for s in STATES)]
    collapsed = [
        {"L": r["L"], "state": r["state"], "m_avg": r["m_avg"], "circulation": r["circulation"],
         "twist": r["twist"]}
        for r in runs
        if not r["state_ok"]
    ]
    out: dict[str, Any] = {"lengths_used": good, "collapsed": collapsed}
    diff = [by[(L, "flower")]["e"]["total"] - by[(L, "vortex")]["e"]["total"] for L in good]
    out["e_flower_minus_vortex"] = diff
    L_cross, extrapolated = crossing(good, diff)
    out["L_cross"] = L_cross
    out["extrapolated"] = extrapolated
    if L_cross is not None and len(good) >= 2:
        at: dict[str, dict[str, float]] = {}
        for s in STATES:
            at[s] = {
                k: interpolate_at(good, [by[(L, s)]["e"][k] for L in good], L_cross)
                for k in (*TERMS, "total")
            }
        out["energies_at_crossing"] = at
        out["e_cross"] = 0.5 * (at["flower"]["total"] + at["vortex"]["total"])
        out["deviation"] = {
            "L": L_cross - PUBLISHED["L"],
            "L_relative": (L_cross - PUBLISHED["L"]) / PUBLISHED["L"],
            "e": out["e_cross"] - PUBLISHED["e"],
        }
    return out


# %% [markdown]
# ## The run


# %%
def run(
    out: str | Path | None = None,
    quick: bool = False,
    comm: MPI.Comm = MPI.COMM_WORLD,
    verbose: bool = True,
    **overrides: Any,
) -> dict[str, Any]:
    """Relax both states for every edge length, find the crossing and write the files.

    Parameters
    ----------
    out
        Output directory (None: no files).
    quick
        Coarse mesh, two edge lengths, looser torque (:data:`QUICK`).
    comm
        Communicator of the mesh.
    verbose
        Print progress and the summary on rank 0.
    overrides
        Keys of :data:`DEFAULTS` to replace (``lengths``, ``mesh_size``, ...).

    Returns
    -------
    dict
        ``params``, ``mesh`` (nodes, boundary nodes, element sizes), ``runs``
        (one dict per length and state, without the fields), the
        :func:`analyse` result and ``published``.
    """
    params = dict(QUICK if quick else DEFAULTS)
    unknown = set(overrides) - set(params)
    if unknown:
        raise ValueError(f"unknown parameters: {sorted(unknown)}")
    params.update(overrides)
    params["lengths"] = tuple(float(L) for L in params["lengths"])
    say = print if (verbose and comm.rank == 0) else (lambda *a, **k: None)
    wall0 = time.perf_counter()
    mesh, demag = cube(comm, params["mesh_size"])
    nodes = mesh.geometry.index_map().size_global
    say(
        f"unit cube: {nodes} nodes, {demag.num_boundary} boundary nodes, element size "
        f"{params['mesh_size']:.3g} l_ex at L = {L_REF} (BEM setup "
        f"{demag.stats['setup_s']:.1f} s) on {comm.size} rank(s)"
    )
    runs = []
    try:
        for L in params["lengths"]:
            for state in STATES:
                r = relax_state(
                    mesh, demag, L, state,
                    torque_tol=params["torque_tol"], dt=params["dt"],
                    check_every=params["check_every"], max_steps=params["max_steps"],
                    vortex_axis=params["vortex_axis"],
                )  # fmt: skip
                r.pop("m")
                runs.append(r)
                e = r["e"]
                say(
                    f"L = {L:6.3f} {state:>6}: e = {e['total']:.5f} (demag {e['demag']:.4f}, "
                    f"exchange {e['exchange']:.4f}, anisotropy {e['anisotropy']:.4f}), "
                    f"<m> = ({r['m_avg'][0]:+.3f}, {r['m_avg'][1]:+.3f}, {r['m_avg'][2]:+.3f}), "
                    f"circulation {r['circulation']:.3f}, twist {r['twist']:+.3f}, "
                    f"{r['steps']} steps, {r['wall_s']:.1f} s" + ("" if r["state_ok"] else "  <- NOT a " + state)
                    + ("" if r["converged"] else "  (torque not converged)")
                )
    finally:
        demag.destroy()
    result: dict[str, Any] = {
        "params": params,
        "ranks": comm.size,
        "mesh": {
            "nodes": nodes,
            "boundary_nodes": demag.num_boundary,
            "mesh_size_at_L_ref": params["mesh_size"],
            "L_ref": L_REF,
            "mesh_size_lex": {str(L): params["mesh_size"] * L / L_REF
                              for L in params["lengths"]},
        },
        "runs": runs,
        **analyse(runs),
        "published": PUBLISHED,
        "wall_s": time.perf_counter() - wall0,
    }
    report(result, say)
    if out is not None:
        write_outputs(Path(out), result, runs, comm)
    return result


def report(result: dict[str, Any], say: Callable[..., None]) -> None:
    """Print the crossing next to the published values."""
    for c in result["collapsed"]:
        say(
            f"WARNING: at L = {c['L']} the {c['state']} relaxed into another state "
            f"(<m> = {np.round(c['m_avg'], 3).tolist()}, circulation {c['circulation']:.3f}, "
            f"twist about z {c['twist']:+.3f})"
        )
    if result["L_cross"] is None:
        say("no crossing: fewer than two edge lengths with both states")
        return
    kind = "extrapolated" if result["extrapolated"] else "interpolated"
    say(
        f"crossing ({kind}): L = {result['L_cross']:.4f} l_ex, e = {result['e_cross']:.5f} "
        f"K_m L^3   (published {PUBLISHED['L']}, {PUBLISHED['e']})"
    )
    for s in STATES:
        at = result["energies_at_crossing"][s]
        pub = PUBLISHED[s]
        say(
            f"  {s:>6}: "
            + ", ".join(f"{k} {at[k]:.4f} ({pub[k]})" for k in TERMS)
            + f", total {at['total']:.5f}"
        )
    say(f"total {result['wall_s']:.1f} s")


def write_outputs(out: Path, result: dict[str, Any], runs: list[dict[str, Any]],
                  comm: MPI.Comm) -> None:
    """sp3.csv, sp3.json and (rank 0, if matplotlib is installed) sp3.png."""
    rows = [
        [r["L"], r["state"], r["e"]["total"], r["e"]["demag"], r["e"]["exchange"],
         r["e"]["anisotropy"], *r["m_avg"], r["circulation"], r["twist"], int(r["state_ok"]),
         int(r["converged"]), r["steps"], r["torque"], r["energy_increases"], r["wall_s"]]
        for r in runs
    ]  # fmt: skip
    write_csv_atomic(out / "sp3.csv", CSV_HEADER, rows, comm=comm)
    write_json_atomic(out / "sp3.json", result, comm=comm)
    if comm.rank == 0:
        plot(out / "sp3.png", result)
    comm.Barrier()


def plot(path: Path, result: dict[str, Any]) -> bool:
    """Total and partial energies against L; False if matplotlib is missing."""
    plt = agg_pyplot(path.name)
    if plt is None:
        return False
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.5))
    for s, style in zip(STATES, ("o-", "s-"), strict=True):
        rr = sorted((r for r in result["runs"] if r["state"] == s), key=lambda r: r["L"])
        Ls = [r["L"] for r in rr]
        ax0.plot(Ls, [r["e"]["total"] for r in rr], style, label=s)
        for k, c in zip(TERMS, ("C0", "C1", "C2"), strict=True):
            ax1.plot(Ls, [r["e"][k] for r in rr], style, color=c, mfc="none" if s == "vortex"
                     else c, label=f"{s} {k}")
    ax0.plot([PUBLISHED["L"]], [PUBLISHED["e"]], "k*", ms=12, label="published crossing")
    if result["L_cross"] is not None:
        ax0.plot([result["L_cross"]], [result["e_cross"]], "rx", ms=10, mew=2,
                 label=f"crossing {result['L_cross']:.3f}")
    for s in STATES:
        for k, c in zip(TERMS, ("C0", "C1", "C2"), strict=True):
            ax1.plot([PUBLISHED["L"]], [PUBLISHED[s][k]], "*", color=c, ms=10)
    ax0.set_xlabel(r"edge $L/l_{ex}$")
    ax0.set_ylabel(r"$e = E/(K_m L^3)$")
    ax0.set_title(f"SP3, mesh size {result['params']['mesh_size']} $l_{{ex}}$ at L = {L_REF}")
    ax0.legend(fontsize=8)
    ax0.grid(alpha=0.3)
    ax1.set_xlabel(r"edge $L/l_{ex}$")
    ax1.set_ylabel(r"partial energies ($K_m L^3$); stars: published")
    ax1.set_yscale("log")
    ax1.legend(fontsize=7, ncol=2, loc="center")
    ax1.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


# %% [markdown]
# ## What to expect
#
# Measured crossings (serial; `--quick` on 2 ranks gives the same numbers to the
# printed digits), next to the finite-difference convergence data of Martins,
# Ribeiro, Freitas ($N$ cells per edge, element size $8.47/N$ at the crossing):
#
# | element size at L = 8.47 | nodes | lengths used | $L^*/l_{ex}$ | $e^*$ | FD: N per edge (size): $L^*$, $e^*$ |
# | ------------------------ | ----- | ------------ | ------------ | ----- | ------------- |
# | 1.0 (`--quick`)          | 828   | 8.0, 9.0     | 8.3185       | 0.2985 | N = 10 (0.85): 8.4073, 0.2937 |
# | 0.6 (default)            | 2986  | 8.25, 8.5    | 8.3971       | 0.3011 | N = 20 (0.42): 8.4528, 0.3001 |
# | 0.45                     | 6316  | 8.25, 8.5    | 8.4290       | 0.3017 | N = 30 (0.28): 8.4635, 0.3014 |
# | published                |       |              | 8.47         | 0.3027 | N = 70: 8.4673, 0.3025 |
#
# The error of $L^*$ falls from 0.152 to 0.073 to 0.041 (order 2 between the
# two finer meshes); Richardson extrapolation with order 2 from h = 0.6 and
# 0.45 gives $L^* = 8.470$, $e^* = 0.3025$.  At the crossing (h = 0.45) the
# partial energies are, flower: demag 0.2777, exchange 0.0182, anisotropy
# 0.0058; vortex: demag 0.0764, exchange 0.1734, anisotropy 0.0520 (published
# 0.2792, 0.0177, 0.0056 and 0.0780, 0.1724, 0.0521).  The stray-field
# energies converge from below, the exchange energies from above.
#
# Cost: a relaxation takes 20-65 steps of $\Delta t = 1$ (torque $10^{-4}$);
# `--quick` needs 5.6 s of CPU time (828 nodes), the default run (2986 nodes)
# 20-50 s per relaxation and h = 0.45 (6316 nodes, BEM setup 34 s) 50-200 s
# per relaxation, wall times measured on a shared, heavily loaded 2-core
# machine.  No relaxation ever increased the energy.
#
# *States that do not survive.*  The symmetric flower becomes unstable in
# larger cubes: at h = 0.6 the flower relaxed from $e_z$ at $L = 8.75$ drifts
# (over 380 steps, seeded by the asymmetry of the unstructured mesh) into a
# state with $\langle m_z\rangle = 0.82$ and $e = 0.2965$ (the symmetric
# flower has 0.3006 at $L = 8.5$), while on the finer mesh (h = 0.45) the
# flower at $L = 8.75$ stays symmetric ($\langle m_z\rangle = 0.968$, $e =
# 0.3003$, vortex 0.2889): the instability is seeded by the mesh.  On the
# coarse mesh (h = 1) the flower
# becomes a state with $\langle m_z\rangle = 0.53$ and no circulation about
# $x$ at $L = 10$.  Presumably these are the twisted flower and its
# continuation into a vortex around the easy axis (Hertel and Kronmüller report
# the twisted flower's crossing with the vortex at 8.57, against 8.52 for the
# symmetric flower; the `twist` column, the circulation about $z$, tells them
# apart in new runs).  The demo flags such a state (`state_ok = 0`) and
# leaves that length out of the crossing, which is why the default lengths
# stop at 8.5.  The vortex survives down to $L = 7$ at least.


# %% [markdown]
# ## Command line


# %%
def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description="muMAG standard problem 3 (flower vs vortex)")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--quick", action="store_true", help="coarse mesh, two lengths (tests)")
    parser.add_argument("--lengths", type=float, nargs="+", default=None,
                        help="edge lengths in l_ex")
    parser.add_argument("--mesh-size", type=float, default=None,
                        help=f"element size in l_ex at L = {L_REF} (default 0.6; quick 1.0)")
    parser.add_argument("--torque-tol", type=float, default=None)
    parser.add_argument("--dt", type=float, default=None)
    parser.add_argument("--vortex-axis", choices=sorted(_AXES), default=None)
    args = parser.parse_args(argv)
    overrides = {
        k: v
        for k, v in {"lengths": args.lengths, "mesh_size": args.mesh_size,
                     "torque_tol": args.torque_tol, "dt": args.dt,
                     "vortex_axis": args.vortex_axis}.items()
        if v is not None
    }  # fmt: skip
    return run(args.out, quick=args.quick, comm=MPI.COMM_WORLD, **overrides)


if __name__ == "__main__":
    main()
