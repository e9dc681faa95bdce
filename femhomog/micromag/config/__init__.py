"""The ``femhomog llg`` job configuration: its schema and loader.

``model``   the sections of the physical model: ``[mesh]``, ``[material]``,
            ``[anisotropy]``, ``[zeeman]``, ``[initial]``, ``[demag]``, ``[homogenized]``
``run``     how the run proceeds: ``[time]``, ``[relax]``, ``[solver]``, ``[output]``
``spin``    ``[spin]``: spin drift-diffusion coupled to m (:mod:`femhomog.spin`)
``values``  the LLG value converters and the ``tensors.json`` reader (expressions in
            ``t`` and ``x``: :func:`femhomog.io.values.parse_variable_expression`)

Each section is declared once with :func:`femhomog.io.schema.section`; this
module joins them into :class:`LlgJobConfig` and :data:`LLG_SCHEMA` with the
rules across sections.  Pure Python plus numpy: importing it does not import
dolfinx.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from femhomog import ConfigError
from femhomog.io.schema import Schema
from femhomog.io.values import parse_variable_expression
from femhomog.micromag.config.model import (
    DEMAG_METHODS,
    INITIAL_TYPES,
    LLG_UNITS,
    MESH_BUILDERS,
    ZEEMAN_UNITS,
    AnisotropySection,
    DemagSection,
    HomogenizedSection,
    InitialSection,
    LlgMaterialSection,
    LlgMeshSection,
    ZeemanSection,
)
from femhomog.micromag.config.run import (
    INTEGRATORS,
    LlgOutputSection,
    LlgSolverSection,
    RelaxSection,
    TimeSection,
)
from femhomog.micromag.config.spin import COMPUTED as SPIN_COMPUTED
from femhomog.micromag.config.spin import (
    SI_DERIVED,
    SI_KEYS,
    SPIN_MODES,
    SPIN_SCHEMES,
    SpinSection,
)
from femhomog.micromag.config.values import read_homogenized_matrix

__all__ = [
    "DEMAG_METHODS",
    "INITIAL_TYPES",
    "INTEGRATORS",
    "LLG_SCHEMA",
    "LLG_UNITS",
    "MESH_BUILDERS",
    "SPIN_MODES",
    "SPIN_SCHEMES",
    "ZEEMAN_UNITS",
    "AnisotropySection",
    "DemagSection",
    "HomogenizedSection",
    "InitialSection",
    "LlgJobConfig",
    "LlgMaterialSection",
    "LlgMeshSection",
    "LlgOutputSection",
    "LlgSolverSection",
    "RelaxSection",
    "SpinSection",
    "TimeSection",
    "ZeemanSection",
    "load_llg_config",
    "parse_variable_expression",
    "read_homogenized_matrix",
]


@dataclass(frozen=True, kw_only=True)
class LlgJobConfig:
    """A validated LLG job; ``raw`` is the JSON-serializable merged configuration."""

    mesh: LlgMeshSection
    material: LlgMaterialSection
    anisotropy: AnisotropySection
    zeeman: ZeemanSection
    initial: InitialSection
    time: TimeSection
    demag: DemagSection
    relax: RelaxSection
    homogenized: HomogenizedSection
    solver: LlgSolverSection
    output: LlgOutputSection
    spin: SpinSection
    raw: dict

    @property
    def si(self) -> bool:
        return self.material.units == "SI"


# --------------------------------------------------------------------------
# Rules across sections (run in this order, after the sections' own checks)
# --------------------------------------------------------------------------


def _expression_dim(values: dict[str, dict[str, Any]]) -> int:
    """Dimension for parsing expressions: the box's, or 3 (checked again on the mesh)."""
    dim = values["mesh"]["dim"]
    return dim if dim is not None else 3


def _check_exchange(values: dict[str, dict[str, Any]], raw: dict[str, Any]) -> None:
    """The exchange is given once (material or [homogenized]) and fits the mesh.

    Reads ``a0`` of ``homogenized.matrix_from`` into ``homogenized.matrix``.
    """
    mesh, mat, hom = values["mesh"], values["material"], values["homogenized"]
    si = mat["units"] == "SI"
    hom["matrix"] = None
    if hom["matrix_from"] is not None:
        hom["matrix"] = read_homogenized_matrix(hom["matrix_from"])
        n = len(hom["matrix"])
        if mesh["dim"] is not None and n != mesh["dim"]:
            raise ConfigError(f"homogenized.matrix_from: a0 is {n} x {n} but mesh.dim = "
                              f"{mesh['dim']}")
        own = "A" if si else "exchange"
        if mat[own] is not None:
            raise ConfigError(f"give either material.{own} or homogenized.matrix_from, not both")
        raw["homogenized"]["matrix"] = hom["matrix"]
    elif si and mat["A"] is None:
        raise ConfigError("material.A is required for material.units = 'SI' (exchange "
                          "stiffness in J/m) unless homogenized.matrix_from is given")
    elif not si and mat["exchange"] is None:
        raise ConfigError("material.exchange is required (a number > 0, an expression in y or "
                          "a d x d matrix) unless homogenized.matrix_from is given")

    exchange = mat["exchange"]
    if isinstance(exchange, list):
        n = len(exchange)
        if mesh["dim"] is not None and n != mesh["dim"]:
            raise ConfigError(f"material.exchange must be a {mesh['dim']} x {mesh['dim']} matrix "
                              f"(mesh.dim = {mesh['dim']}), got {n} x {n}")
        from femhomog.expression import parse_expression

        for i, row in enumerate(exchange):
            for j, entry in enumerate(row):
                parse_expression(entry, n, what=f"material.exchange[{i}][{j}]")
    elif isinstance(exchange, str):
        from femhomog.expression import parse_expression

        parse_expression(exchange, _expression_dim(values), what="material.exchange")


def _check_field_units(values: dict[str, dict[str, Any]], raw: dict[str, Any]) -> None:
    """SI-only anisotropy K and field units; fills the default ``zeeman.unit``."""
    si = values["material"]["units"] == "SI"
    if values["anisotropy"]["K"] is not None and not si:
        raise ConfigError("anisotropy.K (J/m^3) needs material.units = 'SI'; give the "
                          "dimensionless anisotropy.q")
    zee = values["zeeman"]
    if zee["unit"] is None:
        zee["unit"] = "A/m" if si else "Ms"
    elif zee["unit"] != "Ms" and not si:
        raise ConfigError(f"zeeman.unit = '{zee['unit']}' needs material.units = 'SI' "
                          "(nondimensional fields are in units of Ms)")
    if zee["h"] is not None:
        for i, entry in enumerate(zee["h"]):
            parse_variable_expression(entry, "t", 1, what=f"zeeman.h[{i}]")
    raw["zeeman"]["unit"] = zee["unit"]


def _check_reuse_lu(values: dict[str, dict[str, Any]], raw: dict[str, Any]) -> None:
    """``solver.type = 'reuse_lu'`` only with tangent-plane integrators."""
    if values["solver"]["type"] != "reuse_lu":
        return
    tps = ("tangent_plane", "tangent_plane_bdf2")
    if values["time"]["integrator"] not in tps:
        raise ConfigError("solver.type = 'reuse_lu' needs time.integrator = 'tangent_plane' "
                          "or 'tangent_plane_bdf2'")
    relax = values["relax"]
    if relax["enabled"] and relax["integrator"] not in tps:
        raise ConfigError("solver.type = 'reuse_lu' needs relax.integrator = 'tangent_plane' "
                          "or 'tangent_plane_bdf2'")


def _check_demag_mesh(values: dict[str, dict[str, Any]], raw: dict[str, Any]) -> None:
    """A stray field needs a free 3D tetrahedral magnet (the shell method a builder)."""
    mesh, dem = values["mesh"], values["demag"]
    if dem["method"] == "none":
        return
    where = f"demag.method = '{dem['method']}'"
    if mesh["periodic"]:
        raise ConfigError(f"{where} needs a free magnet: set mesh.periodic = false (the stray "
                          "field of a periodic array is not an open-boundary problem)")
    if mesh["dim"] not in (None, 3):
        raise ConfigError(f"{where} needs a 3D magnet, got mesh.dim = {mesh['dim']}")
    if mesh["dim"] == 3 and mesh["file"] is None and mesh["builder"] is None \
            and mesh["cell_type"] != "tetrahedron":
        raise ConfigError(f"{where} needs tetrahedra: set mesh.cell_type = 'tetrahedron' or "
                          "use mesh.builder")
    if dem["method"] == "shell" and mesh["builder"] is None:
        raise ConfigError("demag.method = 'shell' meshes air and shell around the magnet: it "
                          "needs mesh.builder")
    if dem["method"] == "fft":
        size = dem["grid_size"]
        if size is None:
            if mesh["mesh_size"] is None:
                raise ConfigError("demag.method = 'fft' needs demag.grid_size (the grid cell "
                                  "size; it defaults to mesh.mesh_size, which is not set)")
            size = mesh["mesh_size"]
        if isinstance(size, list) and len(size) == 1:
            size = size[0]
        if isinstance(size, list) and len(size) != 3:
            raise ConfigError(f"demag.grid_size must be one number or 3 numbers, got {size}")
        dem["grid_size"] = size


def _check_initial_expressions(values: dict[str, dict[str, Any]], raw: dict[str, Any]) -> None:
    """``initial.expressions`` parse as expressions in x of the mesh dimension."""
    expressions = values["initial"]["expressions"]
    if expressions is not None:
        for i, entry in enumerate(expressions):
            parse_variable_expression(entry, "x", _expression_dim(values),
                                      what=f"initial.expressions[{i}]")


def _check_spin_potential(spin: dict[str, Any], mesh: dict[str, Any]) -> None:
    """``potential = "computed"`` has electrodes; ``electrodes``, ``sigma`` and
    ``current = "computed"`` need it."""
    computed = spin["potential"] == SPIN_COMPUTED
    if computed and not spin["electrodes"]:
        raise ConfigError('spin.potential = "computed" needs spin.electrodes = {facet tag = '
                          'potential, ...} (at least one electrode)')
    for key, given in (("electrodes", spin["electrodes"] is not None),
                       ("sigma", spin["sigma"] is not None),
                       ('current = "computed"', spin["current"] == SPIN_COMPUTED)):
        if given and not computed:
            raise ConfigError(f'spin.{key} is for spin.potential = "computed" (got '
                              f'potential = {spin["potential"]!r})')
    if isinstance(spin["sigma"], dict) and mesh["file"] is None and mesh["builder"] is None:
        raise ConfigError("spin.sigma per cell tag needs mesh.file or mesh.builder (a box has "
                          "no cell tags)")


def _check_spin_units(values: dict[str, dict[str, Any]], raw: dict[str, Any]) -> None:
    """``spin.units = "SI"``: an SI run, the Zhang-Levy-Fert lengths given, none of the
    nondimensional keys it derives, no drift; else none of its keys."""
    spin = values["spin"]
    # a key differing from its default was given (raw holds the defaults too)
    given = {k for k, default in {**SI_DERIVED, **SI_KEYS}.items() if spin[k] != default}
    if spin["units"] != "SI":
        extra = [k for k in SI_KEYS if k in given]
        if extra:
            raise ConfigError(f"spin.{extra[0]} is for spin.units = \"SI\" (the Zhang-Levy-"
                              "Fert parameters); nondimensional runs give spin.D, tau_sf, "
                              "tau_ex, coupling, anisotropy")
        return
    if values["material"]["units"] != "SI":
        raise ConfigError('spin.units = "SI" needs material.units = "SI" (Ms, gamma and the '
                          "length and time units convert the Zhang-Levy-Fert parameters)")
    clash = [k for k in SI_DERIVED if k in given]
    if clash:
        raise ConfigError(f'spin.{clash[0]} is derived for spin.units = "SI" (from D0, '
                          "lambda_sf, lambda_J, beta, beta_prime): remove it")
    missing = [k for k in ("D0", "lambda_sf", "lambda_J") if spin[k] is None]
    if missing:
        raise ConfigError(f'spin.units = "SI" needs spin.{missing[0]} (D0 in m^2/s, '
                          "lambda_sf and lambda_J in m)")
    if spin["beta"] * spin["beta_prime"] >= 1.0:
        raise ConfigError("spin.beta * spin.beta_prime must be < 1 (the diffusion along m is "
                          "D0 (1 - beta beta'))")
    if spin["potential"] not in (None, SPIN_COMPUTED):
        raise ConfigError('spin.potential with spin.units = "SI" must be "computed" (it '
                          "only gives the current j_e = -sigma grad phi): the Zhang-Levy-Fert "
                          "model has no drift term")
    if spin["rho_initial"] is not None:
        raise ConfigError('spin.rho_initial is for the nondimensional system (spin.units = '
                          '"nondimensional")')


def _check_spin(values: dict[str, dict[str, Any]], raw: dict[str, Any]) -> None:
    """``[spin]`` needs a free (non-periodic) conductor, fixed steps, cell tags for a
    magnet region; its expressions parse.  A conductor stack needs ``[spin]`` with a
    magnet among its magnetic layers."""
    spin, mesh = values["spin"], values["mesh"]
    if mesh["builder"] == "conductor_stack":
        if not spin["enabled"] or spin["magnet"] is None:
            raise ConfigError("mesh.builder = 'conductor_stack' is a conductor: it needs "
                              "spin.enabled = true and spin.magnet (the tags of the magnetic "
                              "layers m lives on: 1, 2, ... bottom up)")
        if values["demag"]["method"] == "shell":
            raise ConfigError("mesh.builder = 'conductor_stack' with demag.method = 'shell' is "
                              "not supported; use demag.method = 'fembem'")
        layers = sum(mesh["magnetic"])
        bad = [t for t in [*spin["magnet"], *map(int, spin["pinned"] or {})]
               if not 1 <= t <= layers]
        if bad:
            raise ConfigError(f"spin.magnet/spin.pinned tag {bad[0]} is not a magnetic layer "
                              f"of the conductor stack (tags 1..{layers}, bottom up)")
    if not spin["enabled"]:
        return
    if mesh["periodic"]:
        raise ConfigError("spin.enabled = true needs a bounded conductor: set mesh.periodic = "
                          "false (zero flux or injection on its boundary)")
    if values["time"]["adaptive"]:
        raise ConfigError("spin.enabled = true takes fixed steps: remove time.adaptive = true")
    if spin["magnet"] is not None:
        if mesh["file"] is None and mesh["builder"] is None:
            raise ConfigError("spin.magnet selects cell tags: it needs mesh.file or "
                              "mesh.builder (a box has no cell tags)")
        if values["demag"]["method"] == "shell":
            raise ConfigError("spin.magnet with demag.method = 'shell' is not supported (the "
                              "shell mesh's magnet is the conductor); use demag.method = "
                              "'fembem'")
    if spin["pinned"] is not None and spin["magnet"] is None:
        raise ConfigError("spin.pinned needs spin.magnet (the free layer's cell tags; the "
                          "pinned tags lie outside it)")
    if isinstance(spin["D"], dict) and mesh["file"] is None and mesh["builder"] is None:
        raise ConfigError("spin.D per cell tag needs mesh.file or mesh.builder (a box has no "
                          "cell tags)")
    _check_spin_potential(spin, mesh)
    _check_spin_units(values, raw)
    dim = _expression_dim(values)
    if (isinstance(spin["current"], list) and mesh["dim"] is not None
            and len(spin["current"]) != dim):
        raise ConfigError(f"spin.current must have {dim} entries (mesh.dim = {dim}), got "
                          f"{len(spin['current'])}")
    for key in ("potential", "rho_initial"):
        if spin[key] is not None and not (key == "potential" and spin[key] == SPIN_COMPUTED):
            parse_variable_expression(spin[key], "x", dim, what=f"spin.{key}")
    for i, entry in enumerate(spin["initial"]):
        parse_variable_expression(entry, "x", dim, what=f"spin.initial[{i}]")
    for tag, value in spin["dirichlet"].items():
        for i, entry in enumerate(value):
            parse_variable_expression(entry, "x", dim, what=f"spin.dirichlet.{tag}[{i}]")


LLG_SCHEMA = Schema.of(
    LlgJobConfig,
    job="llg",
    header=(
        "femhomog llg job: Landau-Lifshitz-Gilbert dynamics (LL paper (3.1), or (3.2) with A^H).\n"
        "Run: femhomog llg THIS.toml --out DIR [--set section.key=value ...]\n"
        "Continue from DIR/checkpoint: femhomog llg THIS.toml --restart DIR\n"
        "Writes DIR/averages.csv (t, <m>, energies, max | |m|-1 |), DIR/run.json, DIR/m.bp."
    ),
    checks=(_check_exchange, _check_field_units, _check_demag_mesh, _check_initial_expressions,
            _check_spin, _check_reuse_lu),
)


def load_llg_config(
    path: str | Path | None,
    overrides: Sequence[str] = (),
    *,
    text: str | None = None,
) -> LlgJobConfig:
    """Load and validate an LLG-job configuration (see :data:`LLG_SCHEMA`).

    Besides the per-section rules this checks, before any mesh is built: the
    exchange is given exactly once (``material.exchange``/``material.A`` or
    ``[homogenized]``), ``a0`` of ``homogenized.matrix_from`` exists and fits
    ``mesh.dim``, expressions parse (``y`` in the exchange, ``t`` in the field,
    ``x`` in the initial magnetization), SI-only keys in SI runs, and the
    uniform initial value.  Arguments as for
    :func:`femhomog.cell.config.load_cell_config`.

    Raises
    ------
    ConfigError
        The first problem found, as one line naming the key.
    """
    return LLG_SCHEMA.load(path, overrides, text=text)
