"""Driver of ``femhomog llg CONFIG --out DIR``: config -> :class:`LLGProblem` -> time loop.

This module only translates a validated :class:`femhomog.io.config.LlgJobConfig`
into the objects of :mod:`femhomog.micromag` (units, mesh, field terms, initial
magnetization, integrator) and runs :class:`femhomog.micromag.driver.LLGDriver`;
the physics lives in ``fields``/``problem``/``tangent_plane``/``midpoint``.

Units.  Nondimensional jobs are run as given.  SI jobs are converted *once*, here,
through :class:`femhomog.micromag.Units`: lengths (box, .msh coordinates,
``x`` in initial expressions) are divided by the length unit ``L``, times
(``dt``, ``t_end``, ``dt_out``, ``t`` in field expressions) by the time unit
``T = (1 + alpha^2)/(gamma Ms)``, fields by ``Ms`` (A/m) or ``mu0 Ms`` (T);
the written ``t`` is in seconds and energies in ``mu0 Ms^2 L^d`` times the
nondimensional ones (J in 3D).

Files in DIR: ``averages.csv`` (see :mod:`.driver` for why it is appended),
``run.json`` (written atomically with ``status = "running"`` before the first
step and replaced at the end by ``"completed"`` or ``"failed"``), ``m.bp``
(``output.fields``), ``m_final.npz`` (``output.final``) and
``checkpoint/checkpoint.npz`` (:mod:`.checkpoint`; ``output.checkpoint_every``,
``output.checkpoint_wall``).

Restart (``femhomog llg CONFIG --restart DIR``): the configuration must equal
the checkpointed one except ``time.t_end`` and ``output.*``; ``m`` and the loop
state come from ``DIR/checkpoint/checkpoint.npz`` (any number of ranks),
``averages.csv`` is cut back to the rows written up to the checkpoint (later
rows came from the killed run and are computed again), the fields continue in
``m_restart<k>.bp`` (VTX files cannot be appended to; frames of earlier files
after the checkpoint time are superseded), and ``run.json`` counts the
restarts.  A run that completed is not run again unless ``time.t_end`` was
raised.
"""

from __future__ import annotations

import datetime
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from femhomog import (
    ConfigError,
    SolverError,
    __version__,
    _fenicsx,  # noqa: F401  (must precede dolfinx / petsc4py)
)

# isort: split
import dolfinx
from mpi4py import MPI

from femhomog.io.logging import get_logger
from femhomog.io.output import write_json_atomic
from femhomog.meshes import magnets, periodic_box_mesh, read_cell_mesh
from femhomog.micromag.checkpoint import (
    CHECKPOINT_DIR,
    CHECKPOINT_FILE,
    Checkpointer,
    checkpoint_path,
    config_fingerprint,
    read_checkpoint_meta,
    restore_checkpoint,
)
from femhomog.micromag.config import LlgJobConfig, parse_variable_expression
from femhomog.micromag.demag.base import DemagSolver, StrayField
from femhomog.micromag.driver import (
    AdaptiveStepper,
    AveragesTable,
    FieldWriter,
    FixedStepper,
    LLGDriver,
    OutputScales,
    write_state_npz,
)
from femhomog.micromag.midpoint import MidpointIntegrator
from femhomog.micromag.problem import LLGProblem
from femhomog.micromag.relax import relax
from femhomog.micromag.tangent_plane import TangentPlaneIntegrator
from femhomog.micromag.terms import Exchange, FieldTerm, UniaxialAnisotropy, Zeeman
from femhomog.micromag.units import Units
from femhomog.periodic import mesh_bounding_box

__all__ = ["LLGSetup", "build_llg", "run_llg_job", "run_relaxation"]

log = get_logger(__name__)

#: Nodes of an initial-state file must lie this close (relative to the domain
#: diameter) to the mesh nodes: far above rounding, far below any mesh size.
_FILE_MATCH_RTOL = 1e-6


@dataclass
class LLGSetup:
    """An LLG job ready to run (all quantities nondimensional).

    Attributes
    ----------
    problem : LLGProblem
        Problem with the initial magnetization set.
    stepper : FixedStepper or AdaptiveStepper
        The integrator.
    units : Units or None
        SI scaling (None for nondimensional jobs).
    scales : OutputScales
        Nondimensional -> written times and energies.
    length_scale : float
        Input length units per nondimensional length (``L`` in m for SI, else 1).
    dt, t_end, dt_out : float
        Nondimensional step, final time and output interval (None: ``every``).
    demag : DemagSolver or None
        The stray-field solver of ``[demag]`` (shared with the relaxation).
    magnet_mesh : femhomog.meshes.magnets.MagnetMesh or None
        The gmsh-built mesh of ``mesh.builder`` (with air and shell for
        ``demag.method = "shell"``; the LLG problem then lives on its magnet submesh).
    """

    problem: LLGProblem
    stepper: FixedStepper | AdaptiveStepper
    units: Units | None
    scales: OutputScales
    length_scale: float
    dt: float
    t_end: float
    dt_out: float | None
    demag: DemagSolver | None = None
    magnet_mesh: magnets.MagnetMesh | None = None


# ====================================================================== building blocks
def homogenized_matrix(cfg: LlgJobConfig) -> np.ndarray | None:
    """``A^H = factor * a0`` from ``[homogenized]`` (None if not given)."""
    h = cfg.homogenized
    if h.matrix is None:
        return None
    return h.factor * np.asarray(h.matrix, dtype=np.float64)


def build_units(cfg: LlgJobConfig) -> Units | None:
    """SI scaling of an SI job (None for nondimensional jobs).

    With ``[homogenized]`` the stiffness that sets the default length unit (the
    exchange length) is ``tr(A^H)/d``: a homogenized run has no other scalar A.
    """
    if not cfg.si:
        return None
    m = cfg.material
    AH = homogenized_matrix(cfg)
    A = m.A if AH is None else float(np.trace(AH)) / AH.shape[0]
    K = cfg.anisotropy.K if cfg.anisotropy.K is not None else 0.0
    return Units.from_si(Ms=m.Ms, A=A, alpha=m.alpha, gamma=m.gamma, K=K, length=m.length)


def build_mesh(cfg: LlgJobConfig, comm: MPI.Comm, length_scale: float) -> dolfinx.mesh.Mesh:
    """The box or the .msh mesh, in nondimensional lengths (input lengths / ``length_scale``).

    ``mesh.builder`` meshes are built by :func:`build_magnet_mesh`.
    """
    mc = cfg.mesh
    if mc.builder is not None:
        return build_magnet_mesh(cfg, comm, length_scale).mesh
    if mc.file is not None:
        mesh = read_cell_mesh(comm, mc.file).mesh
        if length_scale != 1.0:
            # SI files are in metres; the forms work in units of L
            mesh.geometry.x[:] /= length_scale
        return mesh
    lengths = np.atleast_1d(np.asarray(mc.lengths, dtype=np.float64)) / length_scale  # m -> L
    if lengths.size == 1:
        lengths = np.full(mc.dim, lengths[0])
    return periodic_box_mesh(comm, mc.dim, mc.cell_type, mc.cells_per_side, lengths.tolist())


def build_magnet_mesh(cfg: LlgJobConfig, comm: MPI.Comm,
                      length_scale: float) -> magnets.MagnetMesh:
    """The magnet of ``mesh.builder`` (gmsh, nondimensional lengths), with air and shell
    when ``demag.method = "shell"`` (:class:`femhomog.meshes.magnets.ShellSpec`)."""
    mc, dc = cfg.mesh, cfg.demag
    s = 1.0 / length_scale

    def scaled(v: float | None) -> float | None:
        return None if v is None else v * s

    shell = None
    if dc.method == "shell":
        shell = magnets.ShellSpec(kind=dc.shell_kind, air_size=dc.air_size,
                                  shell_thickness=dc.shell_thickness,
                                  air_mesh_size=scaled(dc.air_mesh_size),
                                  shell_mesh_size=scaled(dc.shell_mesh_size)).validated()
    h = mc.mesh_size * s
    if mc.builder == "cuboid":
        return magnets.cuboid(comm, [v * s for v in mc.lengths], mesh_size=h,
                              z_layers=mc.z_layers, shell=shell)
    if mc.builder == "sphere":
        return magnets.sphere(comm, mc.radius * s, mesh_size=h, shell=shell)
    if mc.builder == "ellipsoid":
        return magnets.ellipsoid(comm, [v * s for v in mc.semi_axes], mesh_size=h, shell=shell)
    assert mc.builder == "cylinder"
    return magnets.cylinder(comm, mc.radius * s, mc.height * s, mesh_size=h,
                            z_layers=mc.z_layers, shell=shell)


def build_demag(cfg: LlgJobConfig, mesh: dolfinx.mesh.Mesh,
                mm: magnets.MagnetMesh | None) -> tuple[DemagSolver | None, dolfinx.mesh.Mesh]:
    """The stray-field solver of ``[demag]`` and the mesh the LLG problem lives on.

    ``fembem``: :class:`~femhomog.micromag.demag.fembem.FredkinKoehler` on ``mesh``;
    ``shell``: :class:`~femhomog.micromag.demag.shell.ShellTransformation` on the
    magnet + air + shell mesh ``mm``, whose magnet submesh is returned.
    """
    dc = cfg.demag
    if dc.method == "none":
        return None, mesh
    if dc.method == "fembem":
        from femhomog.micromag.demag.fembem import FredkinKoehler

        return FredkinKoehler(mesh, rtol=dc.rtol, max_it=dc.max_it), mesh
    from femhomog.micromag.demag.shell import ShellTransformation

    assert mm is not None and mm.has_shell
    solver = ShellTransformation(mm, degree=dc.degree, rtol=dc.rtol, max_it=dc.max_it)
    return solver, solver.magnet_mesh


def _field_factor(cfg: LlgJobConfig, units: Units | None) -> float:
    """Input field unit -> Ms (the nondimensional field unit)."""
    unit = cfg.zeeman.unit
    if unit == "Ms":
        return 1.0
    assert units is not None  # the loader allows A/m and T for SI only
    return float(units.field_from_si(1.0) if unit == "A/m" else units.field_from_tesla(1.0))


def build_terms(cfg: LlgJobConfig, units: Units | None, time_scale: float, *,
                zeeman: bool = True, demag: DemagSolver | None = None) -> list[FieldTerm]:
    """Exchange, optional anisotropy, Zeeman (unless ``zeeman=False``) and stray-field
    (with a ``demag`` solver) terms, nondimensional."""
    mat = cfg.material
    AH = homogenized_matrix(cfg)
    qd = mat.quadrature_degree
    if AH is not None:
        a = units.exchange_coefficient_of(AH) if units is not None else AH
        terms: list[FieldTerm] = [Exchange(np.asarray(a).tolist(), quadrature_degree=qd)]
    elif units is not None:
        terms = [Exchange(units.exchange_coefficient, quadrature_degree=qd)]
    else:
        terms = [Exchange(mat.exchange, eps=mat.eps, quadrature_degree=qd)]

    ani = cfg.anisotropy
    if ani.q is not None:
        terms.append(UniaxialAnisotropy(ani.q, axis=tuple(ani.axis)))
    elif ani.K is not None:
        assert units is not None
        terms.append(UniaxialAnisotropy(units.anisotropy_coefficient, axis=tuple(ani.axis)))

    z = cfg.zeeman
    if zeeman and z.h is not None:
        factor = _field_factor(cfg, units)
        exprs = [parse_variable_expression(v, "t", 1, what=f"zeeman.h[{i}]")
                 for i, v in enumerate(z.h)]
        if all(e.constant for e in exprs):
            terms.append(Zeeman(tuple(factor * e.value() for e in exprs)))
        else:
            def h_of_t(t: float) -> list[float]:
                # t is nondimensional; the expressions are in the run's time unit
                pts = np.array([[t * time_scale]])
                return [factor * float(e.evaluate(pts)[0]) for e in exprs]

            terms.append(Zeeman(h_of_t))
    if demag is not None:
        terms.append(StrayField(solver=demag))
    return terms


def _random_unit_field(mesh: dolfinx.mesh.Mesh, seed: int, periodic: bool) -> Any:
    """``x -> m(x)``: independent uniform unit vectors per node, a function of the node's
    position only (so the same on any number of ranks, and equal on identified
    periodic nodes).

    Positions are quantized on the bounding box (2^32 steps per side, opposite
    faces mapped to the same value if periodic) and hashed with splitmix64.
    """
    lo, hi = mesh_bounding_box(mesh)
    gdim = lo.size
    steps = float(2**32)

    def mix(z: np.ndarray) -> np.ndarray:
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))

    def m0(x: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            h = mix(np.full(x.shape[1], np.uint64(seed)))
            for i in range(gdim):
                q = np.rint((x[i] - lo[i]) / (hi[i] - lo[i]) * steps).astype(np.int64)
                if periodic:
                    q %= 2**32
                h = mix(h ^ q.astype(np.uint64))
            h2 = mix(h)
        u1 = (h >> np.uint64(11)).astype(np.float64) * 2.0**-53
        u2 = (h2 >> np.uint64(11)).astype(np.float64) * 2.0**-53
        z = 2.0 * u1 - 1.0
        r = np.sqrt(np.maximum(0.0, 1.0 - z * z))
        phi = 2.0 * np.pi * u2
        return np.vstack([r * np.cos(phi), r * np.sin(phi), z])

    return m0


def _expression_field(cfg: LlgJobConfig, dim: int, length_scale: float) -> Any:
    exprs = [parse_variable_expression(v, "x", dim, what=f"initial.expressions[{i}]")
             for i, v in enumerate(cfg.initial.expressions)]

    def m0(x: np.ndarray) -> np.ndarray:
        pts = x.T * length_scale  # the expressions are in the mesh's input length unit
        return np.vstack([e.evaluate(pts) for e in exprs])

    return m0


def _file_field(path: Path, V: dolfinx.fem.FunctionSpace, length_scale: float) -> dolfinx.fem.Function:
    """Values of an ``.npz`` (arrays ``x``, ``m``) at the nodes of ``V``, matched by position.

    Read on every rank (same file, same verdict); ConfigError on every rank if a
    node has no value within ``1e-6`` of the domain diameter.
    """
    from scipy.spatial import cKDTree

    key = "initial.file"
    try:
        with np.load(path, allow_pickle=False) as data:
            x = np.asarray(data["x"], dtype=np.float64)
            m = np.asarray(data["m"], dtype=np.float64)
    except KeyError as exc:
        raise ConfigError(f"{key}: {path} has no array {exc} (expected x and m, as in "
                          "m_final.npz)") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{key}: cannot read {path} as .npz: {exc}") from None
    if x.ndim != 2 or m.shape != (x.shape[0], 3) or not 1 <= x.shape[1] <= 3 or not len(x):
        raise ConfigError(f"{key}: {path} must hold x of shape (N, 1..3) and m of shape (N, 3), "
                          f"got {x.shape} and {m.shape}")
    pts = np.zeros((x.shape[0], 3))
    pts[:, : x.shape[1]] = x / length_scale
    comm = V.mesh.comm
    lo, hi = mesh_bounding_box(V.mesh)
    tol = _FILE_MATCH_RTOL * float(np.linalg.norm(hi - lo))
    nodes = V.tabulate_dof_coordinates()
    dist, idx = cKDTree(pts).query(nodes) if len(nodes) else (np.zeros(0), np.zeros(0, int))
    worst = comm.allreduce(float(np.max(dist, initial=0.0)), op=MPI.MAX)
    if worst > tol:
        raise ConfigError(f"{key}: {path} has no value at some mesh node (nearest point "
                          f"{worst * length_scale:.3g} away); it must come from a run on the "
                          "same mesh")
    u = dolfinx.fem.Function(V)
    u.x.array.reshape(-1, 3)[:] = m[idx]
    return u


def set_initial(cfg: LlgJobConfig, problem: LLGProblem, length_scale: float) -> None:
    """Set ``problem.m`` from ``[initial]`` (ConfigError, prefixed ``initial:``, on every rank)."""
    ini = cfg.initial
    mesh = problem.mesh
    if ini.type == "uniform":
        m0: Any = tuple(ini.value)
    elif ini.type == "expression":
        m0 = _expression_field(cfg, mesh.topology.dim, length_scale)
    elif ini.type == "random":
        m0 = _random_unit_field(mesh, ini.seed, problem.periodic is not None)
    else:
        m0 = _file_field(ini.file, problem.V, length_scale)
    try:
        problem.set_magnetization(m0, normalize=ini.normalize)
    except ConfigError as exc:
        msg = str(exc).replace("(normalize=True)", "(or set initial.normalize = true)")
        raise ConfigError(f"initial ({ini.type}): {msg}") from None


def build_stepper(cfg: LlgJobConfig, problem: LLGProblem, *,
                  relaxation: bool = False) -> FixedStepper | AdaptiveStepper:
    """The integrator of ``[time]`` (or of ``[relax]``: theta = 1) with the ``[solver]``."""
    sc = cfg.solver
    tc: Any = cfg.relax if relaxation else cfg.time
    theta = 1.0 if relaxation else cfg.time.theta
    if tc.integrator == "tangent_plane":
        return FixedStepper(TangentPlaneIntegrator(
            problem, theta=theta, solver=sc.type, rtol=sc.rtol, max_it=sc.max_it,
            max_retries=sc.max_retries))
    mid = MidpointIntegrator(problem, solver=sc.type, max_retries=sc.max_retries)
    return AdaptiveStepper(mid, tc.tol) if tc.adaptive else FixedStepper(mid)


def output_scales(units: Units | None, dim: int) -> OutputScales:
    if units is None:
        return OutputScales()
    energy_unit = {3: "J", 2: "J/m", 1: "J/m^2"}[dim]
    return OutputScales(time=units.time_unit, energy=units.energy_unit(dim), time_unit="s",
                        energy_unit=energy_unit)


def build_llg(cfg: LlgJobConfig, comm: MPI.Comm) -> LLGSetup:
    """Units, mesh, terms, problem with m(0) and integrator of a job (collective).

    Raises
    ------
    ConfigError, MeshError
        On every rank, for input that only the mesh can reveal (a non-unit or
        zero m(0) somewhere, a matrix that does not fit the mesh, a mesh that
        is not periodic-compatible, ...).
    """
    units = build_units(cfg)
    length_scale = units.length if units is not None else 1.0
    time_scale = units.time_unit if units is not None else 1.0
    mm = None
    if cfg.mesh.builder is not None:
        mm = build_magnet_mesh(cfg, comm, length_scale)
        mesh = mm.mesh
    else:
        mesh = build_mesh(cfg, comm, length_scale)
    demag, mesh = build_demag(cfg, mesh, mm)
    terms = build_terms(cfg, units, time_scale, demag=demag)
    problem = LLGProblem(mesh, terms, cfg.material.alpha, periodic=cfg.mesh.periodic)
    set_initial(cfg, problem, length_scale)
    stepper = build_stepper(cfg, problem)
    tc = cfg.time

    def nondim_time(t: float) -> float:
        return float(units.time_from_si(t)) if units is not None else t

    dt_out = cfg.output.dt_out
    return LLGSetup(
        problem=problem,
        stepper=stepper,
        units=units,
        scales=output_scales(units, mesh.topology.dim),
        length_scale=length_scale,
        dt=nondim_time(tc.dt),
        t_end=nondim_time(tc.t_end),
        dt_out=None if dt_out is None else nondim_time(dt_out),
        demag=demag,
        magnet_mesh=mm,
    )


# ====================================================================== relaxation
#: Files of the relaxation phase in DIR.
RELAX_TABLE = "relax.csv"
RELAXED_STATE = "m_relaxed.npz"


def run_relaxation(cfg: LlgJobConfig, setup: LLGSetup, out_dir: Path,
                   comm: MPI.Comm) -> dict[str, Any]:
    """The ``[relax]`` phase: relax ``setup.problem.m`` in place (collective).

    A second :class:`LLGProblem` on the same mesh, with the terms of the job
    except the Zeeman field (the same stray-field solver) and the damping
    ``relax.alpha``, is advanced by :func:`femhomog.micromag.relax.relax` (tangent
    plane with theta = 1, or midpoint) until ``max_i |m_i x H_i| < relax.torque_tol``.
    Every ``relax.check_every`` steps a row ``step, t, mx, my, mz, E_<term>...,
    E_total, torque`` goes to ``DIR/relax.csv`` (t in the relaxation's time: for SI
    in seconds of the dynamics with damping ``relax.alpha``, time unit
    ``(1 + relax.alpha^2)/(gamma Ms)``; energies in the output units); the relaxed
    state goes to ``DIR/m_relaxed.npz`` and into ``setup.problem.m``.

    Returns
    -------
    dict
        The relaxation summary for ``run.json`` (:meth:`RelaxResult.as_dict` in
        output units, rows, files).  If the torque did not fall below
        ``relax.torque_tol`` within ``relax.max_steps`` it has ``converged = False``
        and an ``error`` message; unless ``relax.allow_unconverged`` the state is
        then neither written nor copied into ``setup.problem`` (the job fails).

    Raises
    ------
    SolverError
        A step failed (non-finite torque, linear or Newton solver failure).
    """
    rc = cfg.relax
    units = setup.units
    prob = setup.problem
    # time unit of the relaxation dynamics (the LL time unit depends on alpha)
    scale_t = (units.time_unit * (1.0 + rc.alpha**2) / (1.0 + cfg.material.alpha**2)
               if units is not None else 1.0)
    terms = build_terms(cfg, units, setup.scales.time, zeeman=False, demag=setup.demag)
    rprob = LLGProblem(prob.mesh, terms, rc.alpha, periodic=prob.periodic or False)
    rprob.m.x.array[:] = prob.m.x.array
    stepper = build_stepper(cfg, rprob, relaxation=True)
    header = ["step", "t", "mx", "my", "mz", *[f"E_{t.name}" for t in terms], "E_total",
              "torque"]
    table = AveragesTable(out_dir / RELAX_TABLE, header, comm)
    escale = setup.scales.energy
    wall0 = time.perf_counter()
    last_log = [-np.inf]
    interval = cfg.output.progress

    def callback(step: int, t: float, energies: dict[str, float], torque: float) -> None:
        avg = rprob.average()
        row = [float(step), t * scale_t, *avg.tolist(),
               *[energies[term.name] * escale for term in terms], energies["total"] * escale,
               torque]
        table.append(row)
        now = time.perf_counter()
        if interval is not None and now - last_log[0] >= interval:
            last_log[0] = now
            log.info("relax: step %d, t = %.6g%s, torque %.3e (tol %.1e), E = %.10g, "
                     "<m> = (%.6f, %.6f, %.6f), %.1f s", step, t * scale_t,
                     " s" if units is not None else "", torque, rc.torque_tol,
                     energies["total"] * escale, *avg, now - wall0)

    nondim = 1.0 / scale_t
    try:
        result = relax(stepper, dt=rc.dt * nondim, torque_tol=rc.torque_tol,
                       max_steps=rc.max_steps, check_every=rc.check_every,
                       dt_max=None if rc.dt_max is None else rc.dt_max * nondim,
                       callback=callback)
    finally:
        table.close()
        stepper.integrator.destroy()
    avg = rprob.average()
    summary = {
        **result.as_dict(),
        "t": result.t * scale_t,
        "energy": result.energy * escale,
        "torque_tol": rc.torque_tol,
        "alpha": rc.alpha,
        "average": avg.tolist(),
        "norm_dev": rprob.norm_deviation(),
        "rows": table.rows,
        "files": {"table": RELAX_TABLE, "state": RELAXED_STATE},
    }
    if not result.converged:
        msg = (f"relaxation did not converge: torque {result.torque:.3e} > relax.torque_tol = "
               f"{rc.torque_tol:.3e} after {result.steps} steps (raise relax.max_steps, "
               "change relax.dt, or set relax.allow_unconverged = true)")
        summary["error"] = msg
        if not rc.allow_unconverged:
            return summary
        log.warning("%s; continuing (relax.allow_unconverged)", msg)
    if result.energy_increases:
        log.warning("relax: the total energy increased at %d of %d checks",
                    result.energy_increases, len(result.history))
    write_state_npz(out_dir / RELAXED_STATE, rprob, setup.length_scale)
    prob.m.x.array[:] = rprob.m.x.array
    prob.t = 0.0
    log.info("relax: %s after %d steps (t = %.6g%s), torque %.3e, <m> = (%.6f, %.6f, %.6f), "
             "%.1f s", "converged" if result.converged else "NOT converged", result.steps,
             result.t * scale_t, " s" if units is not None else "", result.torque, *avg,
             result.wall)
    return summary


# ====================================================================== the job
def _peak_memory(comm: MPI.Comm) -> dict[str, float]:
    """Peak resident memory (MB): largest rank and sum over the ranks (collective)."""
    import resource
    import sys

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    mb = rss / 2**20 if sys.platform == "darwin" else rss / 2**10
    return {"max_rss_mb_per_rank": comm.allreduce(mb, op=MPI.MAX),
            "sum_rss_mb": comm.allreduce(mb, op=MPI.SUM)}


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _read_run_json(directory: Path, comm: MPI.Comm) -> dict[str, Any]:
    """``directory/run.json`` read on rank 0 ({} if missing or unreadable), on every rank."""
    info: dict[str, Any] = {}
    if comm.rank == 0:
        try:
            loaded = json.loads((directory / "run.json").read_text(encoding="utf-8"))
            info = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            info = {}
    return comm.bcast(info, root=0)


def _prepare_checkpoint_dir(out_dir: Path, fresh: bool, comm: MPI.Comm) -> None:
    """Rank 0: drop temporary files of killed writes, and a fresh run's stale checkpoint."""
    if comm.rank == 0:
        ckdir = out_dir / CHECKPOINT_DIR
        stale = list(ckdir.glob(f".{CHECKPOINT_FILE}.*.tmp")) if ckdir.is_dir() else []
        if fresh:
            stale.append(ckdir / CHECKPOINT_FILE)
        for path in stale:
            try:
                path.unlink()
            except OSError:
                pass
    comm.barrier()


def run_llg_job(cfg: LlgJobConfig, *, out_dir: Path, comm: MPI.Comm,
                restart: Path | None = None) -> dict[str, Any]:
    """Run an LLG job: ``averages.csv``, ``run.json`` and optional fields in ``out_dir``.

    Everything that can be checked is checked before anything is written to
    ``out_dir`` (a bad input leaves no ``run.json``).

    Parameters
    ----------
    cfg
        The validated job.
    out_dir
        Output directory.
    comm
        Communicator of the run.
    restart
        Output directory of an earlier run of the same configuration (up to
        ``time.t_end`` and ``output.*``) to continue from its checkpoint;
        usually ``out_dir`` itself.

    Returns
    -------
    dict
        The content of the final ``run.json`` plus ``run_json`` (its path).
        A restart of a completed run (checkpoint at ``t_end``) runs nothing and
        returns the earlier ``run.json`` with ``already_completed = True``.

    Raises
    ------
    ConfigError, MeshError
        Bad input (before any file is written); on restart also a missing,
        damaged or mismatched checkpoint, or an unusable ``averages.csv``.
    SolverError
        A step failed; ``run.json`` then has ``status = "failed"`` and the
        error, ``averages.csv`` the rows up to the failure.
    """
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    fingerprint = config_fingerprint(cfg.raw)
    meta: dict[str, Any] | None = None
    old_info: dict[str, Any] = {}
    if restart is not None:
        restart = Path(restart)
        meta = read_checkpoint_meta(restart, fingerprint, comm)
        old_info = _read_run_json(restart, comm)
        t_ck, t_end = float(meta["t_out"]), cfg.time.t_end
        unit = " s" if cfg.si else ""
        if t_ck > t_end * (1 + 1e-9):
            raise ConfigError(f"--restart: the checkpoint is at t = {t_ck:.6g}{unit}, after "
                              f"time.t_end = {t_end:.6g}{unit}")
        if t_ck >= t_end * (1 - 1e-9) and old_info.get("status") == "completed":
            log.info("llg: the run in %s already completed at t = %.6g%s; nothing to do "
                     "(raise time.t_end to continue it)", restart, t_ck, unit)
            return {**old_info, "already_completed": True,
                    "run_json": str(restart / "run.json")}

    setup = build_llg(cfg, comm)
    timings = {"setup_s": comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)}
    prob, sc = setup.problem, setup.scales
    mesh = prob.mesh
    tdim = mesh.topology.dim
    if restart is not None:
        meta = restore_checkpoint(restart, prob)
    log.info(
        "llg: %dD mesh, %d cells, %d nodes, periodic %s, terms %s, integrator %s",
        tdim, mesh.topology.index_map(tdim).size_global, prob.V.dofmap.index_map.size_global,
        prob.periodic is not None, ", ".join(t.name for t in prob.terms),
        setup.stepper.describe()["name"] + (" (adaptive)" if setup.stepper.adaptive else ""),
    )

    if comm.rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
    comm.barrier()
    fresh = restart is None or out_dir.resolve() != restart.resolve()
    _prepare_checkpoint_dir(out_dir, fresh, comm)
    run_json = out_dir / "run.json"
    oc = cfg.output
    restarts = 0
    fields_name = "m.bp"
    history: list[dict[str, Any]] = []
    if meta is not None:
        restarts = max(int(meta.get("restarts", 0)), int(old_info.get("restarts", 0))) + 1
        fields_name = f"m_restart{restarts}.bp"
        history = list(old_info.get("restart_history", []))
        history.append({"at": _now(), "t": meta["t_out"], "step": meta["loop"]["stats"]["steps"],
                        "rows": meta["rows"], "ranks": comm.size,
                        "checkpoint_ranks": meta.get("ranks"), "from": str(restart)})
    old_fields = old_info.get("files", {}).get("fields") if meta is not None else None
    if isinstance(old_fields, str):
        old_fields = [old_fields]
    field_files = [*(old_fields or []), fields_name] if oc.fields else (old_fields or None)
    checkpoints_on = oc.checkpoint_every > 0 or oc.checkpoint_wall > 0
    info: dict[str, Any] = {
        "job": "llg",
        "status": "running",
        "femhomog_version": __version__,
        "dolfinx_version": dolfinx.__version__,
        "ranks": comm.size,
        "started": old_info.get("started", _now()) if meta is not None else _now(),
        "restarts": restarts,
        "units": {
            "system": cfg.material.units,
            "time": sc.time_unit,
            "energy": sc.energy_unit,
            "time_unit_s": setup.units.time_unit if setup.units is not None else None,
            "si": setup.units.describe() if setup.units is not None else None,
        },
        "mesh": {
            "dim": tdim,
            "cells": mesh.topology.index_map(tdim).size_global,
            "nodes": prob.V.dofmap.index_map.size_global,
            "periodic": prob.periodic is not None,
            "builder": cfg.mesh.builder,
            **({"gmsh": setup.magnet_mesh.info} if setup.magnet_mesh is not None else {}),
        },
        "problem": prob.describe(),
        "integrator": setup.stepper.describe(),
        "files": {
            "averages": "averages.csv",
            "fields": field_files,
            "final_state": "m_final.npz" if oc.final else None,
            "checkpoint": f"{CHECKPOINT_DIR}/{CHECKPOINT_FILE}" if checkpoints_on else None,
        },
        "config": cfg.raw,
    }
    if history:
        info["restart_history"] = history
    write_json_atomic(run_json, info, comm)

    relax_info: dict[str, Any] | None = None
    if cfg.relax.enabled:
        if meta is not None:  # field-phase checkpoint: the relaxation is not repeated
            relax_info = meta.get("relax") or old_info.get("relax")
        else:
            error = None
            try:
                t_relax = time.perf_counter()
                relax_info = run_relaxation(cfg, setup, out_dir, comm)
                timings["relax_s"] = comm.allreduce(time.perf_counter() - t_relax, op=MPI.MAX)
                error = relax_info.get("error") if not relax_info["converged"] else None
                if cfg.relax.allow_unconverged:
                    error = None
            except SolverError as exc:  # collective
                error = f"relaxation failed: {exc}"
            if error is not None:
                info.update({"status": "failed", "finished": _now(), "error": error,
                             "relax": relax_info,
                             "wall_time_s": comm.allreduce(time.perf_counter() - t0,
                                                           op=MPI.MAX)})
                write_json_atomic(run_json, info, comm)
                raise SolverError(error)
        info["relax"] = relax_info
        info["files"]["relax_table"] = RELAX_TABLE
        info["files"]["relaxed_state"] = RELAXED_STATE

    header = LLGDriver.header(prob)
    if meta is None:
        averages = AveragesTable(out_dir / "averages.csv", header, comm)
    else:
        averages = AveragesTable(out_dir / "averages.csv", header, comm,
                                 keep_rows=int(meta["rows"]), source=restart / "averages.csv")
    fields = FieldWriter(out_dir / fields_name, prob) if oc.fields else None
    checkpointer = (Checkpointer(checkpoint_path(out_dir).parent, prob, fingerprint,
                                 extra={"restarts": restarts, "phase": "field",
                                        "relax": relax_info})
                    if checkpoints_on else None)
    driver = LLGDriver(
        setup.stepper,
        dt=setup.dt,
        t_end=setup.t_end,
        every=oc.every,
        dt_out=setup.dt_out,
        averages=averages,
        scales=sc,
        fields=fields,
        progress=oc.progress,
        checkpointer=checkpointer,
        checkpoint_every=oc.checkpoint_every,
        checkpoint_wall=oc.checkpoint_wall,
    )
    if meta is not None:
        driver.resume(meta)
        log.info("llg: restart %d from t = %.6g%s (step %d, %d rows) of %s", restarts,
                 meta["t_out"], " s" if sc.time_unit == "s" else "", driver.stats.steps,
                 averages.rows, restart)

    def finish(status: str, error: str | None = None) -> dict[str, Any]:
        stats = driver.stats.as_dict(sc.time)
        info.update({
            "status": status,
            "finished": _now(),
            "wall_time_s": comm.allreduce(time.perf_counter() - t0, op=MPI.MAX),
            "steps": stats["steps"],
            "rejected_steps": stats["rejected_steps"],
            "t_final": stats["t"],
            "rows": averages.rows,
            "final": driver.last_row,
        })
        info["integrator"] = {
            **setup.stepper.describe(),
            "steps": stats["steps"],
            "rejected_steps": stats["rejected_steps"],
            "retries": stats["retries"],
            "iterations": stats["iterations"],
            "dt_min": stats["dt_min"],
            "dt_max": stats["dt_max"],
        }
        if setup.demag is not None:
            info["demag"] = setup.demag.describe()
        timings["field_s"] = comm.allreduce(time.perf_counter() - t_field, op=MPI.MAX)
        info["timings"] = timings
        info["memory"] = _peak_memory(comm)
        if error is not None:
            info["error"] = error
        return info

    t_field = time.perf_counter()
    try:
        driver.run()
    except SolverError as exc:  # collective: every rank is here
        driver.close()
        write_json_atomic(run_json, finish("failed", str(exc)), comm)
        raise
    except KeyboardInterrupt:
        if comm.size == 1:  # in parallel the other ranks may not be here: no collectives
            driver.close()
            write_json_atomic(run_json, finish("interrupted"), None)
        raise
    driver.close()
    if oc.final:
        write_state_npz(out_dir / "m_final.npz", prob, setup.length_scale)
    summary = finish("completed")
    write_json_atomic(run_json, summary, comm)
    return {**summary, "run_json": str(run_json)}
