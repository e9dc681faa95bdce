"""The ``[spin]`` section of the LLG job: spin drift-diffusion coupled to m (:mod:`femhomog.spin`).

Values are in the run's nondimensional units (the seed's system:
``D = tau_sf = tau_ex = c_s = 1``), or, with ``units = "SI"``, the Zhang-Levy-Fert
parameters ``D0, lambda_sf, lambda_J, beta, beta_prime`` that
:func:`femhomog.spin.build.si_parameters` converts once with
:mod:`femhomog.spin.units`.  Pure Python plus numpy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from femhomog import ConfigError
from femhomog.io.schema import (
    Validator,
    boolean,
    choice,
    integer,
    is_number,
    option,
    real,
    section,
    show,
)
from femhomog.micromag.config.values import convert_expressions3

__all__ = ["COMPUTED", "SI_DERIVED", "SI_KEYS", "SPIN_MODES", "SPIN_SCHEMES", "SPIN_UNITS",
           "SpinSection"]

#: ``potential`` and ``current``: from the current equation with ``electrodes``.
COMPUTED = "computed"

SPIN_MODES = ("dynamic", "quasistatic")
SPIN_UNITS = ("nondimensional", "SI")
#: ``[spin]`` keys of the nondimensional system that ``units = "SI"`` derives (defaults).
SI_DERIVED = {"D": 1.0, "tau_sf": 1.0, "tau_ex": 1.0, "coupling": 1.0, "anisotropy": 0.0}
#: ``[spin]`` keys of the Zhang-Levy-Fert model, ``units = "SI"`` only (defaults).
SI_KEYS = {"D0": None, "lambda_sf": None, "lambda_J": None, "beta": 0.0, "beta_prime": 0.0}
SPIN_SCHEMES = ("backward_euler", "crank_nicolson", "bdf2")


def _tag(key: Any, what: str) -> int:
    try:
        tag = int(key)
    except (TypeError, ValueError):
        raise ConfigError(f"{what}: keys must be integer tags, got {show(key)}") from None
    if str(tag) != str(key).strip() and not isinstance(key, int):
        raise ConfigError(f"{what}: keys must be integer tags, got {show(key)}")
    return tag


def _tag_table(value: Any, key: str, entry: Callable[[Any, str], Any], *,
               empty: str = "must not be an empty table") -> dict[str, Any]:
    """``{tag: entry(value, "key.tag")}`` of a non-empty table with integer-tag keys
    (TypeError for a non-table: the validator's generic message)."""
    if not isinstance(value, dict):
        raise TypeError
    if not value:
        raise ConfigError(f"{key} {empty}")
    return {str(_tag(k, key)): entry(v, f"{key}.{k}") for k, v in value.items()}


def _spd_value(value: Any, key: str) -> float | list[list[float]]:
    """A number > 0 or a symmetric positive definite matrix of numbers."""
    from femhomog.spd import check_spd  # local: keeps the schema import light

    if is_number(value):
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{key} must be > 0, got {show(value)}")
        return float(value)
    if (isinstance(value, list) and value and len(value) <= 3
            and all(isinstance(r, list) and len(r) == len(value) for r in value)
            and all(is_number(v) for r in value for v in r)):
        check_spd([[float(v) for v in r] for r in value], key, symbol="D")
        return [[float(v) for v in r] for r in value]
    raise ConfigError(f"{key} must be a number > 0 or a symmetric positive definite d x d "
                      f"matrix (list of d lists of d numbers), got {show(value)}")


def convert_diffusion(value: Any, key: str) -> Any:
    """``D``: a number, an SPD matrix, or a table ``{cell tag: number or matrix}``."""
    if isinstance(value, dict):
        return _tag_table(value, key, _spd_value)
    return _spd_value(value, key)


def convert_time(signed: bool) -> Validator:
    """A time scale: > 0 (``signed``: non-zero); ``inf`` switches the process off."""
    describe = ("a non-zero number (inf: no precession)" if signed
                else "a number > 0 (inf: no spin flip)")

    def convert(value: Any, key: str) -> float:
        if not is_number(value) or math.isnan(value):
            raise ValueError
        x = float(value)
        if (x == 0.0) if signed else (x <= 0.0):
            raise ValueError
        return x

    return Validator(describe, convert)


def convert_tags(value: Any, key: str) -> list[int]:
    if not isinstance(value, list) or not value or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ValueError
    return [int(v) for v in value]


def convert_dirichlet(value: Any, key: str) -> dict[str, list[float | str]]:
    """``{facet tag: [sx, sy, sz]}`` (numbers or expressions in x)."""
    if value == {}:  # no injection
        return {}
    return _tag_table(value, key, convert_expressions3)


def convert_degree(value: Any, key: str) -> int:
    if isinstance(value, bool) or value not in (1, 2):
        raise ValueError
    return int(value)


def convert_anisotropy(value: Any, key: str) -> float:
    if not (is_number(value) and math.isfinite(value) and value < 1):
        raise ValueError
    return float(value)


def _pinned_vector(v: Any, where: str) -> list[float]:
    if not (isinstance(v, list) and len(v) == 3
            and all(is_number(c) and math.isfinite(c) for c in v) and any(c != 0 for c in v)):
        raise ConfigError(f"{where} must be a non-zero vector of 3 numbers (the pinned "
                          f"layer's magnetization), got {show(v)}")
    return [float(c) for c in v]


def convert_pinned(value: Any, key: str) -> dict[str, list[float]]:
    """``{cell tag: [mx, my, mz]}`` (non-zero, normalized by the transport)."""
    return _tag_table(value, key, _pinned_vector)


def convert_numbers(value: Any, key: str) -> list[float]:
    if not isinstance(value, list) or not 1 <= len(value) <= 3 or not all(
            is_number(v) and math.isfinite(v) for v in value):
        raise ValueError
    return [float(v) for v in value]


def _potential_value(v: Any, where: str) -> float:
    if not (is_number(v) and math.isfinite(v)):
        raise ConfigError(f"{where} must be a finite number (the electrode's potential), "
                          f"got {show(v)}")
    return float(v)


def convert_electrodes(value: Any, key: str) -> dict[str, float]:
    """``{facet tag: potential}`` (numbers), at least one."""
    return _tag_table(value, key, _potential_value,
                      empty="must name at least one electrode, e.g. {31 = 0.0, 32 = 1.0}")


def convert_conductivity(value: Any, key: str) -> float | dict[str, float]:
    """``sigma``: a number > 0 or a table ``{cell tag: number > 0}``."""
    def positive(v: Any, where: str) -> float:
        if not (is_number(v) and math.isfinite(v) and v > 0):
            raise ConfigError(f"{where} must be > 0, got {show(v)}")
        return float(v)

    if isinstance(value, dict):
        return _tag_table(value, key, positive)
    if is_number(value):
        return positive(value, key)
    raise TypeError


def convert_current(value: Any, key: str) -> list[float] | str:
    """``current``: ``d`` numbers, or ``"computed"`` (``j = -sigma grad phi``)."""
    if value == COMPUTED:
        return COMPUTED
    return convert_numbers(value, key)


def convert_expression(value: Any, key: str) -> float | str:
    if is_number(value) and math.isfinite(value):
        return float(value)
    if isinstance(value, str) and value.strip():
        return value
    raise ValueError


@section(
    "spin",
    help="Optional spin drift-diffusion on the conductor (the mesh) coupled to m on the "
    "magnet (the cells tagged `magnet`, default the whole mesh), Boltzmann-LLG paper Sect. 4: "
    "d_t s - div(D (grad s_k + s_k grad phi)) = -(2/tau_ex) m x s - s/tau_sf (precession on "
    "magnet cells only), d_t rho - div(D (grad rho + rho grad phi)) = 0, and the field c_s s "
    "in the LLG equation (column E_spin). Zero total flux on the boundary except Dirichlet "
    "facets. Nondimensional values, or the Zhang-Levy-Fert SI parameters with units = "
    "\"SI\". Box meshes tag their faces "
    "x = min/max 1/2, y 3/4, z 5/6; mesh.file uses its physical groups.",
)
class SpinSection:
    """``[spin]``: parameters, initial data, boundary conditions and the coupled scheme."""

    enabled: bool = option(boolean(), False, "Solve for the spin accumulation s (and rho).")
    D: Any = option(
        Validator("a number > 0, an SPD matrix or a table {cell tag: value}", convert_diffusion),
        1.0, "Diffusion: a number, a symmetric positive definite d x d matrix, or per region "
        "a table {cell tag: number or matrix} (flux continuity across regions is natural).",
    )
    tau_sf: float = option(convert_time(False), 1.0, "Spin-flip time (> 0; inf: none).")
    tau_ex: float = option(
        convert_time(True), 1.0,
        "Exchange precession time, signed: the term is -(2/tau_ex) m x s (the seed's sign); "
        "magnum.fe's +(J/hbar) m x s is tau_ex = -2 hbar/J < 0.",
    )
    coupling: float = option(real(), 1.0, "c_s: the field c_s s acting on m.")
    potential: float | str | None = option(
        Validator("a number or an expression in x", convert_expression), None,
        "Electric potential phi(x) (expression in x[0], x[1], x[2]) driving the drift, or "
        "\"computed\": the solution of div(sigma grad phi) = 0 with the electrodes' values "
        "and zero normal current elsewhere; none: no drift.", example="-0.5*x[0]",
        commented=True,
    )
    electrodes: dict[str, float] | None = option(
        Validator("a table {facet tag: potential}", convert_electrodes), None,
        "potential = \"computed\": phi on the facets with these tags, e.g. "
        "{31 = 0.0, 32 = 1.0}.", example={"1": 0.0, "2": 1.0}, commented=True,
    )
    sigma: float | dict[str, float] | None = option(
        Validator("a number > 0 or a table {cell tag: number > 0}", convert_conductivity),
        None, "potential = \"computed\": conductivity, a number or per region a table "
        "{cell tag: number}; none: 1.", example=1.0, commented=True,
    )
    current: list[float] | str | None = option(
        Validator("a list of d numbers or \"computed\"", convert_current), None,
        "Polarized current j: the spin current m (x) j on magnet cells (Zhang-Levy-Fert's "
        "(beta mu_B/e) m (x) j_e; nondimensional: femhomog.spin.units SpinParameters.source "
        "times j_e in A/m^2); \"computed\": j = -sigma grad phi of the computed potential; "
        "none: no source.", example=[1.0, 0.0, 0.0], commented=True,
    )
    initial: list[float | str] = option(
        Validator("a list of 3 numbers or expressions in x", convert_expressions3),
        [0.0, 0.0, 0.0], "s(0): 3 numbers or expressions in x (ignored by the quasistatic mode).",
    )
    rho_initial: float | str | None = option(
        Validator("a number or an expression in x", convert_expression), None,
        "rho(0) (expression in x); none: rho is not computed. Adds the column rho_mean.",
        example="1.0", commented=True,
    )
    mode: str = option(
        choice(*SPIN_MODES), "dynamic",
        "dynamic (s takes implicit steps) | quasistatic (the steady s for the current m at "
        "every step).",
    )
    scheme: str = option(choice(*SPIN_SCHEMES), "bdf2",
                         "Implicit step of s: backward_euler | crank_nicolson | bdf2.")
    iterate: bool = option(
        boolean(), False,
        "Iterate the m-then-s step to the coupled solution (else one pass: first order).",
    )
    tol: float = option(real(0), 1e-10, "iterate: nodal change of m and s that ends it.")
    max_iterations: int = option(integer(1), 50, "iterate: passes before giving up.")
    magnet: list[int] | None = option(
        Validator("a non-empty list of integer cell tags", convert_tags), None,
        "Cell tags of the magnet (m lives on their submesh); none: the whole mesh.",
        example=[1], commented=True,
    )
    anisotropy: float = option(
        Validator("a number < 1", convert_anisotropy), 0.0,
        "beta beta' of Zhang-Levy-Fert: spin-anisotropic diffusion, the flux D (grad s - "
        "a m (x) ((grad s)^T m)) on magnetic cells (the part of s along m diffuses with "
        "D (1 - a)); 0: the seed's system (femhomog.spin.units SpinParameters.anisotropy).",
    )
    pinned: dict[str, list[float]] | None = option(
        Validator("a table {cell tag: [mx, my, mz]}", convert_pinned), None,
        "Pinned magnetic layers (a spin valve's reference layer): conducting cells whose "
        "magnetization is fixed, not evolved by LLG; their precession and polarized source "
        "use this unit vector, cellwise. Needs spin.magnet (the pinned tags must lie "
        "outside it); none: none.", example={"1": [1.0, 0.0, 0.0]}, commented=True,
    )
    degree: int = option(
        Validator("1 or 2", convert_degree), 1,
        "Lagrange degree of s (m stays P1 on the magnet). 2: third-order L2 accuracy of s "
        "for smooth data; fields and m_final.npz hold s at the vertices, checkpoints also "
        "every P2 dof of s (keyed by its mesh nodes: restarts on any number of ranks).",
    )
    dirichlet: dict[str, list[float | str]] = option(
        Validator("a table {facet tag: [sx, sy, sz]}", convert_dirichlet), {},
        "Spin injection: s = value (3 numbers or expressions in x) on the facets with these "
        "tags, e.g. {1 = [0, 0, 1]}.",
    )
    solver: str = option(choice("iterative", "direct"), "iterative",
                         "Linear solver of s and rho: iterative (GMRES + ILU/block Jacobi; the "
                         "computed phi: CG + GAMG) | direct (MUMPS).")
    rtol: float = option(real(0, 1), 1e-8, "Relative tolerance of the iterative solver.")
    units: str = option(
        choice(*SPIN_UNITS), "nondimensional",
        "nondimensional: D, tau_sf, tau_ex, coupling, anisotropy and current as given (the "
        "seed's system) | SI (needs material.units = \"SI\"): the Zhang-Levy-Fert model of "
        "magnum.fe, D0, lambda_sf, lambda_J, beta, beta_prime below, converted once to the "
        "nondimensional system (femhomog.spin.units: D = 2 D0 T/L^2, tau_sf = lambda_sf^2/"
        "(2 D0 T), tau_ex = -lambda_J^2/(D0 T) < 0 (magnum.fe's sign), coupling = "
        "J/(hbar gamma Ms) with J = 2 hbar D0/lambda_J^2, anisotropy = beta beta', s in units "
        "of Ms); current in A/m^2 (polarized by beta mu_B/e), or computed from the "
        "electrodes' potentials (V) and sigma (S/m); no drift term (beta = beta' = 0 is the "
        "seed's system with phi = 0).",
    )
    D0: float | None = option(real(0), None, "units = SI: diffusion constant D0 (m^2/s).",
                              example=1e-3, commented=True)
    lambda_sf: float | None = option(real(0), None,
                                     "units = SI: spin-flip length sqrt(2 D0 tau_sf) (m).",
                                     example=1e-8, commented=True)
    lambda_J: float | None = option(real(0), None,
                                    "units = SI: s-d precession length sqrt(2 hbar D0/J) (m).",
                                    example=4e-9, commented=True)
    beta: float = option(real(-1, 1, open_min=False, open_max=False), 0.0,
                         "units = SI: polarization of the conductivity (polarized current).")
    beta_prime: float = option(real(-1, 1, open_min=False, open_max=False), 0.0,
                               "units = SI: polarization of the diffusion constant "
                               "(anisotropy = beta beta').")
