"""Config -> objects of an LLG job: units, mesh, field terms, m(0), integrator.

Translates a validated :class:`femhomog.micromag.config.LlgJobConfig` into the objects of
:mod:`femhomog.micromag` (:func:`build_llg`); :mod:`femhomog.micromag.job` runs them.

Units.  Nondimensional jobs are built as given.  SI jobs are converted *once*, here,
through :class:`femhomog.micromag.Units`: lengths (box, .msh coordinates,
``x`` in initial expressions) are divided by the length unit ``L``, times
(``dt``, ``t_end``, ``dt_out``, ``t`` in field expressions) by the time unit
``T = (1 + alpha^2)/(gamma Ms)``, fields by ``Ms`` (A/m) or ``mu0 Ms`` (T);
the written ``t`` is in seconds and energies in ``mu0 Ms^2 L^d`` times the
nondimensional ones (J in 3D) (:class:`femhomog.micromag.outputs.OutputScales`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from femhomog import (
    ConfigError,
    _fenicsx,  # noqa: F401  (must precede dolfinx / petsc4py)
)

# isort: split
import dolfinx
from mpi4py import MPI

from femhomog.meshes import magnets, periodic_box_mesh, read_cell_mesh
from femhomog.micromag.config import LlgJobConfig, parse_variable_expression
from femhomog.micromag.demag.base import DemagSolver, StrayField
from femhomog.micromag.midpoint import MidpointIntegrator
from femhomog.micromag.outputs import OutputScales
from femhomog.micromag.problem import LLGProblem
from femhomog.micromag.tangent_plane import TangentPlaneIntegrator
from femhomog.micromag.tangent_plane_bdf2 import TangentPlaneBDF2Integrator
from femhomog.micromag.terms import Exchange, FieldTerm, SpinTorque, UniaxialAnisotropy, Zeeman
from femhomog.micromag.units import Units
from femhomog.periodic import mesh_bounding_box
from femhomog.timestepping import AdaptiveStepper, FixedStepper, values_at_nodes

__all__ = [
    "LLGSetup",
    "build_demag",
    "build_llg",
    "build_magnet_mesh",
    "build_mesh",
    "build_stepper",
    "build_terms",
    "build_units",
    "homogenized_matrix",
    "output_scales",
    "set_initial",
]


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
    spin : femhomog.spin.SpinLLGProblem or None
        With ``[spin]``: the coupled problem (``problem`` is its LLG part, on the magnet;
        ``stepper`` advances the pair).
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
    spin: Any = None

    @property
    def run_problem(self) -> Any:
        """What the time loop advances: the coupled problem with ``[spin]``, else ``problem``."""
        return self.problem if self.spin is None else self.spin


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
    if mc.builder == "conductor_stack":  # the config check excludes the shell method
        from femhomog.meshes.stacks import conductor_stack

        return conductor_stack(comm, [v * s for v in mc.lengths],
                               [v * s for v in mc.thicknesses], mc.magnetic, mesh_size=h,
                               z_layers=mc.z_layers)
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


def build_demag(cfg: LlgJobConfig, mesh: dolfinx.mesh.Mesh, mm: magnets.MagnetMesh | None,
                length_scale: float = 1.0) -> tuple[DemagSolver | None, dolfinx.mesh.Mesh]:
    """The stray-field solver of ``[demag]`` and the mesh the LLG problem lives on.

    ``fembem``: :class:`~femhomog.micromag.demag.fembem.FredkinKoehler` on ``mesh``
    (with ``potential_layers``: :class:`~femhomog.micromag.demag.layered.LayeredPotential`,
    the potential on a mesh with more layers);
    ``shell``: :class:`~femhomog.micromag.demag.shell.ShellTransformation` on the
    magnet + air + shell mesh ``mm``, whose magnet submesh is returned;
    ``fft``: :class:`~femhomog.micromag.demag.grid.GridConvolution` on ``mesh`` with
    ``grid_size`` (input length unit) divided by ``length_scale``.
    """
    dc = cfg.demag
    if dc.method == "none":
        return None, mesh
    if dc.method == "fft":
        from femhomog.micromag.demag.grid import GridConvolution

        grid_size = np.asarray(dc.grid_size, dtype=float) / length_scale
        points = {} if dc.grid_points is None else {"points_per_axis": dc.grid_points}
        return GridConvolution(mesh, grid_size.tolist(), **points), mesh
    if dc.method == "fembem":
        from femhomog.micromag.config.model import (
            FEMBEM_DEFAULT_PRECISION,
            FEMBEM_DEFAULT_SOLVER,
        )
        from femhomog.micromag.demag.fembem import FredkinKoehler

        fembem = {"rtol": dc.rtol, "max_it": dc.max_it,
                  "solver": dc.solver or FEMBEM_DEFAULT_SOLVER,
                  "precision": dc.bem_precision or FEMBEM_DEFAULT_PRECISION}
        # the mesh's own layers need no second mesh
        if dc.potential_layers is not None and dc.potential_layers != cfg.mesh.z_layers:
            from femhomog.micromag.demag.layered import LayeredPotential

            return LayeredPotential(mesh, dc.potential_layers, **fembem), mesh
        return FredkinKoehler(mesh, **fembem), mesh
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


def _file_field(path: Path, V: dolfinx.fem.FunctionSpace,
                length_scale: float) -> dolfinx.fem.Function:
    """Values of an ``.npz`` (arrays ``x``, ``m``) at the nodes of ``V``, matched by position
    (:func:`femhomog.timestepping.values_at_nodes`; ConfigError on every rank)."""
    u = dolfinx.fem.Function(V)
    u.x.array.reshape(-1, 3)[:] = values_at_nodes(path, V, "m", length_scale=length_scale,
                                                  what="initial.file", example="m_final.npz")
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
    lin = {"solver": sc.type, "rtol": sc.rtol, "max_it": sc.max_it,
           "max_retries": sc.max_retries,
           **({} if sc.refactor_its is None else {"refactor_its": sc.refactor_its})}
    if tc.integrator == "tangent_plane":
        return FixedStepper(TangentPlaneIntegrator(problem, theta=theta, **lin))
    if tc.integrator == "tangent_plane_bdf2":
        return FixedStepper(TangentPlaneBDF2Integrator(problem, **lin))
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
    spin_on = cfg.spin.enabled
    mm = None
    cell_tags = facet_tags = None
    if cfg.mesh.builder is not None:
        mm = build_magnet_mesh(cfg, comm, length_scale)
        mesh, cell_tags, facet_tags = mm.mesh, mm.cell_tags, mm.facet_tags
    elif spin_on and cfg.mesh.file is not None:  # the conductor's regions and electrodes
        data = read_cell_mesh(comm, cfg.mesh.file)
        mesh, cell_tags, facet_tags = data.mesh, data.cell_tags, data.facet_tags
        if length_scale != 1.0:
            mesh.geometry.x[:] /= length_scale
    else:
        mesh = build_mesh(cfg, comm, length_scale)
    conductor = None
    if spin_on and cfg.demag.method != "shell":
        from femhomog.spin.build import Conductor, box_facet_tags
        from femhomog.spin.transfer import magnet_submesh

        if facet_tags is None:
            facet_tags = box_facet_tags(mesh)
        conductor = Conductor(mesh, cell_tags, facet_tags)
        mesh, conductor.parent = magnet_submesh(mesh, cell_tags, cfg.spin.magnet)
    demag, mesh = build_demag(cfg, mesh, mm, length_scale)
    if spin_on and conductor is None:  # shell: the conductor is the magnet submesh
        from femhomog.spin.build import Conductor
        from femhomog.spin.transfer import magnet_submesh

        conductor = Conductor(mesh, None, None)
        _, conductor.parent = magnet_submesh(mesh, None, None)
    terms = build_terms(cfg, units, time_scale, demag=demag)
    si = None
    if spin_on:
        from femhomog.spin.build import si_parameters

        si = si_parameters(cfg.spin, units)  # spin.units = "SI": converted once
        terms.append(SpinTorque(si[0].coupling if si is not None else cfg.spin.coupling))
    mat = cfg.material
    # SI: the time unit (1 + alpha^2)/(gamma Ms) makes the nondimensional gamma 1 + alpha^2
    gamma = (1.0 + mat.alpha**2) if units is not None else (mat.gamma or 1.0)
    problem = LLGProblem(mesh, terms, mat.alpha, periodic=cfg.mesh.periodic,
                         equation=mat.equation or "landau_lifshitz", gamma=gamma)
    set_initial(cfg, problem, length_scale)
    stepper = build_stepper(cfg, problem)
    spin = None
    if spin_on:
        from femhomog.spin.build import build_spin, wrap_integrator

        assert conductor is not None
        spin = build_spin(cfg.spin, problem, conductor, length_scale, si)
        stepper = FixedStepper(wrap_integrator(cfg.spin, spin, stepper.integrator))
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
        spin=spin,
    )
