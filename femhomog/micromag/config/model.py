"""Sections of the LLG model: ``[mesh]``, ``[material]``, the field terms, ``[initial]``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from femhomog import ConfigError
from femhomog.io.schema import (
    REQUIRED,
    Validator,
    boolean,
    choice,
    existing_file,
    integer,
    is_number,
    option,
    real,
    section,
    show,
)
from femhomog.io.values import COEFFICIENT, DIM_OF_CELL_TYPE, fit_cell_type
from femhomog.micromag.config.values import (
    convert_expressions3,
    convert_lengths,
    vector3,
)
from femhomog.micromag.units import EQUATIONS

__all__ = [
    "DEMAG_METHODS",
    "INITIAL_TYPES",
    "LLG_UNITS",
    "MESH_BUILDERS",
    "ZEEMAN_UNITS",
    "AnisotropySection",
    "DemagSection",
    "HomogenizedSection",
    "InitialSection",
    "LlgMaterialSection",
    "LlgMeshSection",
    "ZeemanSection",
]

#: Units of an LLG job: the papers' scaling of (3.1), or SI (converted by
#: :class:`femhomog.micromag.Units`).
LLG_UNITS = ("nondimensional", "SI")
#: Units of the applied field: multiples of Ms, A/m (H) or tesla (mu0 H).
ZEEMAN_UNITS = ("Ms", "A/m", "T")
INITIAL_TYPES = ("uniform", "expression", "random", "file")
DEMAG_METHODS = ("none", "fembem", "shell", "fft")
#: fembem defaults of demag.solver / demag.bem_precision (chosen by the per-step
#: profile of benchmarks/sp4_profile.py, see benchmarks/README.md)
FEMBEM_DEFAULT_SOLVER = "direct"
FEMBEM_DEFAULT_PRECISION = "float64"
#: |m| of a uniform initial value must be 1 to this tolerance (same as the nodal
#: check of femhomog.micromag.problem.UNIT_TOL) unless initial.normalize is set.
_UNIT_TOL = 1e-10


#: Geometry builders of ``mesh.builder`` (:mod:`femhomog.meshes.magnets`) and their keys.
MESH_BUILDERS: dict[str, tuple[str, ...]] = {
    "cuboid": ("lengths",),
    "sphere": ("radius",),
    "ellipsoid": ("semi_axes",),
    "cylinder": ("radius", "height"),
    "conductor_stack": ("lengths", "thicknesses", "magnetic"),
}
_BUILDER_KEYS = ("radius", "semi_axes", "height", "mesh_size", "z_layers", "thicknesses",
                 "magnetic")


def convert_positive_list(value: Any, key: str) -> list[float]:
    if not (isinstance(value, list) and value and all(
            is_number(v) and math.isfinite(v) and v > 0 for v in value)):
        raise ValueError
    return [float(v) for v in value]


def convert_flags(value: Any, key: str) -> list[bool]:
    if not (isinstance(value, list) and value and all(isinstance(v, bool) for v in value)):
        raise ValueError
    return list(value)


def _check_llg_mesh(values: dict[str, Any]) -> dict[str, Any]:
    """``[mesh]``: a file, a gmsh builder or a box; fills the box defaults."""
    box_keys = ("dim", "cell_type", "cells_per_side", "lengths")
    builder = values["builder"]
    if builder is not None:
        if values["file"] is not None:
            raise ConfigError("give either mesh.file or mesh.builder, not both")
        needed = MESH_BUILDERS[builder]
        allowed = set(needed) | {"mesh_size"}
        if builder in ("cuboid", "cylinder", "conductor_stack"):
            allowed.add("z_layers")
        for key in (*box_keys, *_BUILDER_KEYS):
            if key not in allowed and key != "dim" and values[key] is not None:
                raise ConfigError(f"mesh.{key} is not a parameter of mesh.builder = "
                                  f"'{builder}' (it takes {', '.join(sorted(allowed))})")
        if values["dim"] not in (None, 3):
            raise ConfigError(f"mesh.builder = '{builder}' builds a 3D magnet, but mesh.dim = "
                              f"{values['dim']}")
        for key in (*needed, "mesh_size"):
            if values[key] is None:
                raise ConfigError(f"mesh.{key} is required for mesh.builder = '{builder}'")
        lengths = values["lengths"]
        if builder == "cuboid" and not (isinstance(lengths, list) and len(lengths) == 3):
            raise ConfigError(f"mesh.lengths must be 3 edge lengths [L_x, L_y, L_z] for "
                              f"mesh.builder = 'cuboid', got {show(lengths)}")
        if builder == "conductor_stack":
            if not (isinstance(lengths, list) and len(lengths) == 2):
                raise ConfigError(f"mesh.lengths must be the 2 in-plane edge lengths [L_x, L_y] "
                                  f"for mesh.builder = 'conductor_stack', got {show(lengths)}")
            if len(values["magnetic"]) != len(values["thicknesses"]):
                raise ConfigError(f"mesh.magnetic must have one flag per layer of "
                                  f"mesh.thicknesses ({len(values['thicknesses'])}), got "
                                  f"{len(values['magnetic'])}")
            if not any(values["magnetic"]):
                raise ConfigError("mesh.magnetic must flag at least one layer as magnetic")
        if values["periodic"]:
            raise ConfigError(f"mesh.builder = '{builder}' builds a free magnet (Neumann "
                              "boundary): remove mesh.periodic = true")
        values["periodic"] = False
        values["dim"] = 3
        return values
    given = [k for k in _BUILDER_KEYS if values[k] is not None]
    if given:
        raise ConfigError(f"mesh.{given[0]} is a parameter of mesh.builder (cuboid, sphere, "
                          "ellipsoid, cylinder, conductor_stack), which is not given")
    if values["periodic"] is None:
        values["periodic"] = True
    if values["file"] is not None:
        given = [k for k in box_keys if values[k] is not None]
        if given:
            raise ConfigError(f"mesh.file replaces the structured box: remove mesh.{given[0]}")
        return values
    dim = values["dim"]
    if dim is None:
        raise ConfigError("mesh.dim is required unless mesh.file or mesh.builder is given")
    fit_cell_type(values, "mesh")
    if values["cells_per_side"] is None:
        values["cells_per_side"] = 16
    lengths = values["lengths"]
    if lengths is None:
        values["lengths"] = 1.0
    elif isinstance(lengths, list) and len(lengths) != dim:
        raise ConfigError(f"mesh.lengths must have {dim} entries (mesh.dim = {dim}), "
                          f"got {len(lengths)}")
    return values


_NONDIM_ONLY = ("exchange", "eps")
_SI_ONLY = ("Ms", "A", "length")


def _check_llg_material(values: dict[str, Any]) -> dict[str, Any]:
    """``[material]``: keys of the other unit system are errors; SI needs Ms."""
    units = values["units"]
    if units == "nondimensional":
        for key in _SI_ONLY:
            if values[key] is not None:
                raise ConfigError(f"material.{key} is an SI parameter: it needs "
                                  "material.units = 'SI'")
        if values["eps"] is None:
            values["eps"] = 1.0
    else:
        for key in _NONDIM_ONLY:
            if values[key] is not None:
                hint = "; give the exchange stiffness material.A (J/m)" if key == "exchange" else ""
                raise ConfigError(f"material.{key} is for material.units = 'nondimensional'{hint}")
        if values["Ms"] is None:
            raise ConfigError("material.Ms is required for material.units = 'SI' "
                              "(saturation magnetization in A/m)")
        if values["gamma"] is None:
            values["gamma"] = 2.211e5  # femhomog.micromag.units.GAMMA_FREE_ELECTRON
    if values["equation"] is None:
        # as before the key existed: (3.1) as written, i.e. the LL form with gamma = 1, in
        # nondimensional runs; SI runs have always solved the Gilbert form
        values["equation"] = "landau_lifshitz" if units == "nondimensional" else "gilbert"
    exchange = values["exchange"]
    if isinstance(exchange, list) and all(isinstance(e, float) for row in exchange for e in row):
        from femhomog.spd import check_symmetric  # local: keeps the schema import light

        # relative to the matrix's largest entry (an off-diagonal entry may vanish)
        check_symmetric(exchange, "material.exchange: the matrix")
    return values


def _check_anisotropy(values: dict[str, Any]) -> dict[str, Any]:
    if values["q"] is not None and values["K"] is not None:
        raise ConfigError("give either anisotropy.q or anisotropy.K, not both")
    return values


_INITIAL_KEYS = {"uniform": "value", "expression": "expressions", "random": "seed", "file": "file"}


def _check_initial(values: dict[str, Any]) -> dict[str, Any]:
    kind = values["type"]
    for other, key in _INITIAL_KEYS.items():
        if other != kind and values[key] is not None:
            raise ConfigError(f"initial.{key} is only used with initial.type = '{other}' "
                              f"(initial.type is '{kind}')")
    needed = _INITIAL_KEYS[kind]
    if kind == "random":
        if values["seed"] is None:
            values["seed"] = 0
    elif values[needed] is None:
        raise ConfigError(f"initial.{needed} is required for initial.type = '{kind}'")
    if kind == "uniform":
        norm = math.sqrt(sum(v * v for v in values["value"]))
        if norm == 0.0:
            raise ConfigError("initial.value is the zero vector: m must have a direction")
        if not values["normalize"] and abs(norm - 1.0) > _UNIT_TOL:
            raise ConfigError(f"initial.value must be a unit vector, but |m| = {norm:.10g}; "
                              "normalize it or set initial.normalize = true")
    return values


def _check_demag(values: dict[str, Any]) -> dict[str, Any]:
    method = values["method"]
    # None = the default (applied when the solver is built, so that the checkpoints
    # of runs made before these keys existed still restart)
    for key in ("solver", "bem_precision", "potential_layers"):
        if method != "fembem" and values[key] is not None:
            raise ConfigError(f"demag.{key} is a parameter of demag.method = 'fembem' "
                              f"(demag.method is '{method}')")
    for key in ("grid_size", "grid_points"):
        if method != "fft" and values[key] is not None:
            raise ConfigError(f"demag.{key} is a parameter of demag.method = 'fft' "
                              f"(demag.method is '{method}')")
    shell_keys = ("degree", "shell_kind", "air_size", "shell_thickness", "air_mesh_size",
                  "shell_mesh_size")
    if method != "shell":
        given = [k for k in shell_keys if values[k] is not None]
        if given:
            raise ConfigError(f"demag.{given[0]} is a parameter of demag.method = 'shell' "
                              f"(demag.method is '{method}')")
    else:
        defaults = {"degree": 1, "shell_kind": "box", "air_size": 1.5, "shell_thickness": 1.0}
        for key, value in defaults.items():
            if values[key] is None:
                values[key] = value
        if values["air_size"] <= 1.0:
            raise ConfigError(f"demag.air_size must be > 1 (air around the magnet), got "
                              f"{values['air_size']:g}")
    return values


@section(
    "mesh",
    help="The domain: a structured box (dim, cell_type, cells_per_side, lengths) or a gmsh "
    ".msh file. Lengths are in the length unit of [material] (metres for SI).",
    check=_check_llg_mesh,
)
class LlgMeshSection:
    """``[mesh]``: a structured box, a gmsh file or a gmsh builder."""

    dim: int | None = option(
        choice(1, 2, 3), None, "Space dimension of the box (1, 2 or 3).", example=2,
    )
    cell_type: str | None = option(
        choice(*DIM_OF_CELL_TYPE), None,
        "interval | triangle | quadrilateral | tetrahedron | hexahedron; must fit dim. "
        "Default: interval, quadrilateral, hexahedron for dim = 1, 2, 3.",
        example="triangle",
    )
    cells_per_side: int | None = option(
        integer(1), None, "Cells along each side of the box (default 16).",
        example=16,
    )
    lengths: float | list[float] | None = option(
        Validator("a number > 0 or a list of dim numbers > 0", convert_lengths),
        None, "Side lengths of the box [0, L_1] x ... (one number for a cube; default 1). "
        "SI runs: metres.", example=1.0,
    )
    periodic: bool = option(
        boolean(), None,
        "Periodic boundary conditions on the bounding box (the LL paper's setting); "
        "false: natural (Neumann) conditions. Default: true for the box and mesh.file, "
        "false (the only choice) with mesh.builder.", example=True,
    )
    file: Path | None = option(
        existing_file(".msh"), None,
        "A gmsh .msh file instead of the box (coordinates in the length unit; metres for "
        "SI); relative to this file's directory.",
        example="meshes/film.msh", commented=True, is_path=True,
    )
    builder: str | None = option(
        choice(*MESH_BUILDERS), None,
        "A 3D magnet meshed by gmsh at run time instead of the box (centred at 0, "
        "Neumann boundary; femhomog.meshes.magnets): cuboid (lengths = [L_x, L_y, L_z]), "
        "sphere (radius), ellipsoid (semi_axes), cylinder (radius, height); with "
        "mesh_size and, for cuboid/cylinder/conductor_stack, z_layers. Lengths in the run's "
        "length unit (metres for SI). conductor_stack (needs [spin], "
        "femhomog.meshes.conductor_stack): a conductor of layers along z, lengths = [L_x, "
        "L_y], thicknesses bottom up, magnetic flags; cell tags 1, 2, ... the magnetic "
        "layers bottom up (spin.magnet / spin.pinned), 51, 52, ... the others; facet "
        "tags 31 bottom, 32 top (the electrodes), 10 the rest of the magnetic layers' "
        "boundary, 30 the other outer faces.", example="cuboid", commented=True,
    )
    radius: float | None = option(
        real(0), None, "builder sphere/cylinder: radius.", example=1.0,
        commented=True,
    )
    semi_axes: list[float] | None = option(
        vector3(nonzero=True), None, "builder ellipsoid: semi-axes.",
        example=[2.0, 1.0, 1.0], commented=True,
    )
    height: float | None = option(
        real(0), None, "builder cylinder: height (along z).", example=0.5,
        commented=True,
    )
    mesh_size: float | None = option(
        real(0), None, "builder: gmsh element size (in-plane size with "
        "z_layers).", example=0.25, commented=True,
    )
    thicknesses: list[float] | None = option(
        Validator("a list of numbers > 0", convert_positive_list), None,
        "builder conductor_stack: layer thicknesses along z, bottom up.",
        example=[0.5, 0.5, 0.25, 0.25, 0.5], commented=True,
    )
    magnetic: list[bool] | None = option(
        Validator("a list of true/false", convert_flags), None,
        "builder conductor_stack: one flag per layer, magnetic or not.",
        example=[False, True, False, True, False], commented=True,
    )
    z_layers: int | None = option(
        integer(1), None,
        "builder cuboid/cylinder/conductor_stack: extrude an in-plane triangulation with "
        "exactly this "
        "many element layers through the thickness (thin films).", example=1,
        commented=True,
    )


@section(
    "material",
    help="Material parameters. units = \"nondimensional\": the LL paper's scaling (3.1), "
    "dm/dt = -m x H - alpha m x (m x H), H = div(a grad m) + ...; units = \"SI\": Ms, A, "
    "gamma in SI, converted by femhomog.micromag.Units (time unit (1 + alpha^2)/(gamma Ms), "
    "length unit `length`).",
    check=_check_llg_material,
)
class LlgMaterialSection:
    """``[material]``: unit system, damping and exchange (SI: Ms, A, gamma, length)."""

    units: str = option(
        choice(*LLG_UNITS), "nondimensional",
        "nondimensional | SI. SI runs take every input in SI (m, s, J/m, J/m^3, A/m) and "
        "write t in seconds and energies in J (J/m in 2D, J/m^2 in 1D).",
    )
    alpha: float = option(
        real(0, open_min=False), REQUIRED, "Gilbert damping alpha >= 0.",
        example=0.1,
    )
    exchange: float | str | list[list[float | str]] | None = option(
        COEFFICIENT, None,
        "Nondimensional: exchange coefficient a of (3.1), a number > 0, an expression "
        "a(y) evaluated at y = x/eps (e.g. \"1 + 0.5*sin(2*pi*y[0])\"), or a symmetric "
        "d x d matrix (A^H of (3.2)). Required unless [homogenized] matrix_from is given.",
        example=1.0,
    )
    eps: float | None = option(
        real(0), None, "Nondimensional: period eps of a(x/eps) (default 1).",
        example=0.1, commented=True,
    )
    quadrature_degree: int | None = option(
        integer(0), None,
        "Quadrature degree of the exchange form (resolve a(x/eps); default: estimated).",
        example=6, commented=True,
    )
    Ms: float | None = option(
        real(0), None, "SI: saturation magnetization (A/m).", example=8.0e5,
        commented=True,
    )
    A: float | None = option(
        real(0), None,
        "SI: exchange stiffness (J/m). Required unless [homogenized] matrix_from is given.",
        example=1.3e-11, commented=True,
    )
    gamma: float | None = option(
        real(0), None,
        "SI: mu0 times the gyromagnetic ratio, m/(A s) (default 2.211e5). Nondimensional: "
        "gamma of the equation (default 1).",
        example=2.211e5, commented=True,
    )
    equation: str | None = option(
        choice(*EQUATIONS), None,
        "landau_lifshitz: dm/dt = -gamma m x H - alpha gamma m x (m x H); gilbert: dm/dt = "
        "-gamma m x H + alpha m x dm/dt (= the LL form with gamma/(1 + alpha^2)). Default: "
        "landau_lifshitz for nondimensional runs ((3.1) with gamma = 1), gilbert for SI.",
        example="gilbert", commented=True,
    )
    length: float | None = option(
        real(0), None,
        "SI: length unit L in metres (default: the exchange length sqrt(2A/(mu0 Ms^2))).",
        example=1e-9, commented=True,
    )


@section(
    "anisotropy",
    help="Optional uniaxial anisotropy E = -q/2 int (m.e)^2 (q > 0 easy axis, q < 0 hard axis).",
    check=_check_anisotropy,
)
class AnisotropySection:
    """``[anisotropy]``: q (or SI K) and the axis; no term if both are None."""

    q: float | None = option(
        real(), None,
        "Quality factor q = 2K/(mu0 Ms^2) (dimensionless; either unit system).",
        example=0.5, commented=True,
    )
    K: float | None = option(
        real(), None, "SI: anisotropy constant K (J/m^3), instead of q.",
        example=5.0e4, commented=True,
    )
    axis: list[float] = option(
        vector3(nonzero=True), [0.0, 0.0, 1.0], "Anisotropy axis e (normalized).",
    )


@section(
    "zeeman",
    help="Optional spatially uniform applied field h(t), E = -int h . m.",
)
class ZeemanSection:
    """``[zeeman]``: field entries (numbers or expressions in t) and their unit; no term if
    ``h`` is None."""

    h: list[float | str] | None = option(
        Validator("a list of 3 numbers or expressions in t", convert_expressions3),
        None, "Field vector; entries are numbers or expressions in the time t (in the "
        "run's time unit: seconds for SI), e.g. [\"0\", \"0\", \"cos(2*pi*t)\"].",
        example=[0.0, 0.0, 1.0], commented=True,
    )
    unit: str = option(
        choice(*ZEEMAN_UNITS), None,
        "Unit of h: Ms (h = H/Ms; default for nondimensional), A/m (default for SI) or T "
        "(mu0 H). A/m and T need material.units = 'SI'.", example="A/m", commented=True,
    )


@section(
    "initial",
    help="Initial magnetization m(0). Must be a unit vector at every node unless normalize = "
    "true; m = 0 anywhere is an error either way.",
    check=_check_initial,
)
class InitialSection:
    """``[initial]``: how m(0) is given."""

    type: str = option(
        choice(*INITIAL_TYPES), "uniform",
        "uniform (value) | expression (expressions in x) | random (seed; uniform on the "
        "sphere per node, independent of the number of ranks) | file (a m_final.npz of "
        "a previous run).",
    )
    value: list[float] | None = option(
        vector3(nonzero=False), None, "uniform: the vector m(0).",
        example=[1.0, 0.0, 0.0],
    )
    expressions: list[float | str] | None = option(
        Validator("a list of 3 numbers or expressions in x", convert_expressions3), None,
        "expression: m(0) as 3 expressions in x[0], x[1], x[2] (length unit of the mesh).",
        example=["cos(2*pi*x[0])", "sin(2*pi*x[0])", "0"], commented=True,
    )
    seed: int | None = option(
        integer(0), None, "random: seed (default 0).", example=1, commented=True,
    )
    file: Path | None = option(
        existing_file(".npz"), None,
        "file: an .npz with arrays x (nodes) and m (values), e.g. DIR/m_final.npz of a "
        "previous run on the same mesh; relative to this file's directory.",
        example="previous/m_final.npz", commented=True, is_path=True,
    )
    normalize: bool = option(
        boolean(), False,
        "Project m(0) onto the unit sphere at the nodes instead of rejecting |m| != 1.",
    )


@section(
    "demag",
    help="Stray (demagnetizing) field of (1.8)-(1.9) of the Boltzmann-LLG paper, an explicit "
    "field term with energy E_demag = -1/2 int H_s.m (column E_demag of averages.csv). Needs a "
    "3D tetrahedral, non-periodic magnet (mesh.builder or mesh.file). fembem: Fredkin-Koehler "
    "FEM-BEM on the magnet mesh (dense boundary matrix, 8 Nb^2 bytes for Nb boundary nodes, "
    "split over the ranks); shell: shell transformation on magnet + air + shell "
    "(mesh.builder only; sparse, memory linear in the nodes); fft: FFT convolution with "
    "Newell's tensor on a regular grid over the magnet (memory and work ~ grid cells; exact "
    "for box magnets, staircase error on curved ones; demos/sp4/README.md, \"Stray-field "
    "methods\").",
    check=_check_demag,
)
class DemagSection:
    """``[demag]``: stray-field method and its options (shell keys None unless shell)."""

    method: str = option(choice(*DEMAG_METHODS), "none", "none | fembem | shell | fft.")
    rtol: float = option(real(0, 1), 1e-10, "Relative tolerance of the CG + GAMG Laplace solves.")
    max_it: int = option(integer(1), 1000, "Iteration limit of the Laplace solves.")
    solver: str | None = option(
        choice("iterative", "direct"), None,
        "fembem: the two Laplace solves, iterative (CG + GAMG, rtol/max_it) | direct (MUMPS "
        f"Cholesky, factorized once; default {FEMBEM_DEFAULT_SOLVER}).",
        example=FEMBEM_DEFAULT_SOLVER, commented=True,
    )
    bem_precision: str | None = option(
        choice("float64", "float32"), None,
        "fembem: storage of the dense boundary matrix (float32: half the memory and time of "
        f"the dense product, field error ~1e-6 Ms; default {FEMBEM_DEFAULT_PRECISION}).",
        example=FEMBEM_DEFAULT_PRECISION, commented=True,
    )
    potential_layers: int | None = option(
        integer(1), None,
        "fembem, magnets extruded along z (mesh.builder = 'cuboid' with z_layers): solve the "
        "potential on this many element layers through the thickness while m keeps "
        "mesh.z_layers (thin films: the in-plane demagnetizing fields need the layers, m "
        "does not; demos/sp4/README.md). Default (or = mesh.z_layers): the mesh's own layers.",
        example=8, commented=True,
    )
    grid_size: float | list[float] | None = option(
        Validator("a number > 0 or a list of 3 numbers > 0", convert_lengths), None,
        "fft: grid cell size, one number or [h_x, h_y, h_z] (run's length unit; metres for "
        "SI); the grid has round(L_k / h_k) cells over the magnet's bounding box. Default: "
        "mesh.mesh_size.", example=[4e-9, 4e-9, 3e-9], commented=True,
    )
    grid_points: int | None = option(
        integer(1, 8), None,
        "fft: Gauss points per grid cell and axis that carry m to the grid and the field "
        "back (default 4: the points' share of a node within ~10 % of its volume at grid = "
        "element size; 2 is 8x cheaper in setup and memory of the transfer but weights "
        "nodes by 0.7-1.3 on unstructured meshes).", example=4, commented=True,
    )
    degree: int | None = option(
        choice(1, 2), None, "shell: Lagrange degree of the potential (default "
        "1).", example=1, commented=True,
    )
    shell_kind: str | None = option(
        choice("sphere", "box"), None,
        "shell: shape of air region and shell (default box).", example="box",
        commented=True,
    )
    air_size: float | None = option(
        real(1), None, "shell: air region size relative to the magnet (> 1; "
        "default 1.5; see femhomog.meshes.magnets.ShellSpec).", example=1.5,
        commented=True,
    )
    shell_thickness: float | None = option(
        real(0), None, "shell: shell thickness relative to the air "
        "region (default 1).", example=1.0, commented=True,
    )
    air_mesh_size: float | None = option(
        real(0), None, "shell: element size at the air boundary (run's "
        "length unit; default from ShellSpec).", commented=True,
    )
    shell_mesh_size: float | None = option(
        real(0), None, "shell: element size in the shell (default "
        "air_mesh_size).", commented=True,
    )


@section(
    "homogenized",
    help="Optional: take the exchange matrix A^H of the homogenized equation (3.2) from "
    "tensors.json written by `femhomog cell` (its a0), instead of material.exchange / "
    "material.A.",
)
class HomogenizedSection:
    """``[homogenized]``: A^H = factor * a0 read from a cell job's tensors.json."""

    matrix_from: Path | None = option(
        existing_file(".json"), None,
        "Path of a tensors.json (relative to this file's directory).",
        example="results/cell/tensors.json", commented=True, is_path=True,
    )
    factor: float = option(
        real(0), 1.0,
        "A^H = factor * a0 (nondimensional; SI: J/m, e.g. the stiffness that the cell "
        "coefficient was normalized by). With SI the length unit defaults to the "
        "exchange length of tr(A^H)/d.",
    )
    #: a0 as read from ``matrix_from`` (None without it); filled by the job's check.
    matrix: list[list[float]] | None = None
