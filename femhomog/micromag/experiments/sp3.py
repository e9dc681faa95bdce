"""muMAG standard problem 3: flower and vortex states of a cube, their energy crossing.

A cube with uniaxial anisotropy ``K_u = 0.1 K_m`` (``K_m = mu0 Ms^2 / 2``) along
``z``: the edge length ``L`` (in ``l_ex = sqrt(A/K_m)``) where the relaxed flower
and vortex states have the same energy (published ``L = 8.47``, ``e = E/(K_m L^3)
= 0.3027``).  One mesh of the unit cube serves every edge length (lengths in
units of ``L``: the exchange coefficient is ``(l_ex/L)^2``), the FEM-BEM stray
field is set up once, each state is relaxed with damped LLG (tangent plane,
``alpha = 1``) and classified.  ``demos/sp3.py`` is the document that explains
the units and the checks and runs it; the tests call the pieces directly.

``cube``, ``initial_state``         mesh and stray-field solver, initial states
``relax_state``                     relax one state at one edge length, classify it
``energy_densities``, ``circulation``  energies in ``K_m L^3`` (SP3 convention), curling
``crossing``, ``analyse``           the zero of ``e_flower - e_vortex``
``run``                             the whole problem; ``report``, ``write_outputs``
"""

from __future__ import annotations

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
from femhomog.micromag import Exchange, LLGProblem, UniaxialAnisotropy
from femhomog.micromag.demag.base import StrayField
from femhomog.micromag.demag.fembem import FredkinKoehler
from femhomog.micromag.relax import relax
from femhomog.micromag.tangent_plane import TangentPlaneIntegrator
from femhomog.timestepping import FixedStepper

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
#: PETSc options prefix of the integrator of this experiment.
PREFIX = "sp3_"
#: Default run and the quick (test-sized) variant (``run`` parameters).
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
#: Axes of the initial vortex (``vortex_axis``).
AXES = {"x": np.array([1.0, 0.0, 0.0]), "y": np.array([0.0, 1.0, 0.0]),
         "z": np.array([0.0, 0.0, 1.0])}


# ---------------------------------------------------------------- mesh, stray field and initial states
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
    ev = AXES[vortex_axis]

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


# ---------------------------------------------------------------- relaxing one state
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
        axis = AXES[vortex_axis]
        circ = circulation(prob, axis)
        twist = circulation(prob, AXES["z"])
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


# ---------------------------------------------------------------- the crossing
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


# ---------------------------------------------------------------- the run
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
