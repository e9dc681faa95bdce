"""Scaling of the Landau-Lifshitz-Gilbert equation: SI <-> the papers' nondimensional form.

This is the *only* place where SI material parameters are turned into the
nondimensional numbers used by the forms in :mod:`femhomog.micromag.terms`
(pure python/numpy: no dolfinx import).

SI model (Gilbert form)
-----------------------
With the reduced magnetization ``m = M / Ms`` (``|m| = 1``) and ``gamma`` the
gyromagnetic ratio *times mu0* (``gamma = 2.211e5 m/(A s)`` for a free electron,
so that ``gamma * H`` is a frequency for ``H`` in A/m),

    dm/dt = -gamma m x H_eff + alpha m x dm/dt,                              (G)

    H_eff = -1/(mu0 Ms) dE/dm,
    E(m)  = int A |grad m|^2 - K (m . e)^2 - mu0 Ms H_ext . m  dV,

i.e. ``H_eff = (2A/(mu0 Ms)) lap m + (2K/(mu0 Ms)) (m . e) e + H_ext`` (A/m).
Crossing (G) with ``m`` and using ``|m| = 1`` gives the equivalent
Landau-Lifshitz form

    dm/dt = -gamma/(1 + alpha^2) [ m x H_eff + alpha m x (m x H_eff) ].      (LL)

Nondimensional model (LL paper, eq. (1.1), (3.1))
-------------------------------------------------
Lengths are measured in a unit ``L`` (default: the exchange length
``l_ex = sqrt(2A/(mu0 Ms^2))``), fields in ``Ms`` (A/m), time in
``T = (1 + alpha^2)/(gamma Ms)`` and energies in ``mu0 Ms^2 L^d``.  Then (LL)
becomes exactly the form of the LL paper,

    dm/dt' = -m x H - alpha m x (m x H),          H = -dE'/dm,              (3.1a)
    E'(m)  = int 1/2 a |grad' m|^2 - q/2 (m . e)^2 - h . m  dx',

with ``a = 2A/(mu0 Ms^2 L^2) = (l_ex/L)^2`` (the exchange coefficient of
(3.1), ``H = div(a grad m) + ...``), ``q = 2K/(mu0 Ms^2)`` (the anisotropy
quality factor) and ``h = H_ext/Ms``.  Putting the factor ``1 + alpha^2`` into
the time unit keeps the precession coefficient equal to 1 as in (3.1); the
price is that the time unit depends on ``alpha``.

``mu0`` is taken as ``4 pi 1e-7 N/A^2`` (the value of the micromagnetic
literature and muMAG standard problems; the CODATA-2018 value differs by
5.5e-10 relative).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from femhomog import ConfigError

__all__ = [
    "EQUATIONS",
    "GAMMA_FREE_ELECTRON",
    "MU0",
    "Units",
    "check_damping",
    "gilbert_to_landau_lifshitz",
    "landau_lifshitz_to_gilbert",
    "precession_factor",
]

#: Vacuum permeability (N/A^2) as used in micromagnetics (muMAG): 4 pi 1e-7.
MU0: float = 4.0e-7 * math.pi
#: mu0 times the free-electron gyromagnetic ratio, m/(A s) (muMAG standard problem 4).
GAMMA_FREE_ELECTRON: float = 2.211e5


def _positive(name: str, value: Any, unit: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a positive number ({unit}), got {value!r}") from None
    if not math.isfinite(v) or v <= 0.0:
        raise ConfigError(f"{name} must be a positive number ({unit}), got {value!r}")
    return v


#: Forms of the LLG equation (``[material] equation``).
EQUATIONS = ("landau_lifshitz", "gilbert")


def precession_factor(equation: str, gamma: float, alpha: float) -> float:
    """Factor ``c`` of the integrators' form ``dm/dt = -c [m x H + alpha m x (m x H)]``.

    ``landau_lifshitz``: ``dm/dt = -gamma m x H - alpha gamma m x (m x H)``, so ``c = gamma``;
    ``gilbert``: ``dm/dt = -gamma m x H + alpha m x dm/dt``; crossing with ``m`` (``|m| = 1``)
    gives the LL form with ``gamma/(1 + alpha^2)``, so ``c = gamma/(1 + alpha^2)``.
    The integrators (:mod:`.tangent_plane`, :mod:`.midpoint`) scale the field by ``c``;
    ``c = 1`` is (3.1) as written (the default, ``landau_lifshitz`` with ``gamma = 1``).
    """
    if equation not in EQUATIONS:
        raise ConfigError(f"equation must be one of {', '.join(EQUATIONS)}, got {equation!r}")
    g = float(gamma)
    if not (math.isfinite(g) and g > 0):
        raise ConfigError(f"gamma must be a number > 0, got {gamma!r}")
    return g if equation == "landau_lifshitz" else gilbert_to_landau_lifshitz(g, alpha)[0]


def check_damping(alpha: Any) -> float:
    """Validate the Gilbert damping ``alpha >= 0`` (ConfigError otherwise)."""
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise ConfigError(f"damping alpha must be a number >= 0, got {alpha!r}") from None
    if not math.isfinite(a) or a < 0.0:
        raise ConfigError(
            f"damping alpha must be >= 0 (alpha < 0 makes LLG increase the energy), got {alpha!r}"
        )
    return a


def gilbert_to_landau_lifshitz(gamma: float, alpha: float) -> tuple[float, float]:
    """Coefficients of the LL form equivalent to the Gilbert form (G).

    ``dm/dt = -gamma m x H + alpha m x dm/dt`` is equivalent (for ``|m| = 1``)
    to ``dm/dt = -gamma_ll m x H - lambda_ll m x (m x H)``.

    Returns
    -------
    tuple of float
        ``(gamma_ll, lambda_ll) = (gamma/(1 + alpha^2), alpha gamma/(1 + alpha^2))``.
    """
    alpha = check_damping(alpha)
    g = gamma / (1.0 + alpha * alpha)
    return g, alpha * g


def landau_lifshitz_to_gilbert(gamma_ll: float, lambda_ll: float) -> tuple[float, float]:
    """Inverse of :func:`gilbert_to_landau_lifshitz`: ``(gamma, alpha)`` of the Gilbert form."""
    gamma_ll = _positive("gamma_ll", gamma_ll, "m/(A s)")
    alpha = check_damping(lambda_ll / gamma_ll)
    return gamma_ll * (1.0 + alpha * alpha), alpha


@dataclass(frozen=True)
class Units:
    """SI material parameters and the nondimensional scaling of (3.1).

    Create with :meth:`from_si`.  All conversions between SI and the
    nondimensional quantities of :mod:`femhomog.micromag.terms` go through
    this class (see the module docstring for the derivation).

    Attributes
    ----------
    Ms : float
        Saturation magnetization (A/m).
    A : float
        Exchange stiffness (J/m).
    gamma : float
        mu0 times the gyromagnetic ratio (m/(A s)).
    alpha : float
        Gilbert damping (dimensionless, >= 0).
    K : float
        Uniaxial anisotropy constant (J/m^3); ``K > 0`` easy axis, ``K < 0`` hard axis.
    length : float
        Length unit ``L`` (m).
    mu0 : float
        Vacuum permeability (N/A^2).
    """

    Ms: float
    A: float
    gamma: float
    alpha: float
    K: float
    length: float
    mu0: float = MU0

    @classmethod
    def from_si(
        cls,
        *,
        Ms: float,
        A: float,
        alpha: float,
        gamma: float = GAMMA_FREE_ELECTRON,
        K: float = 0.0,
        length: float | None = None,
    ) -> Units:
        """Scaling from SI parameters.

        Parameters
        ----------
        Ms, A, alpha, gamma, K
            See the class attributes.
        length
            Length unit in metres; default the exchange length
            ``sqrt(2A/(mu0 Ms^2))`` (then the exchange coefficient is ``a = 1``).
            For a composite with period ``eps_si`` one may take ``length`` as the
            macroscopic size and pass ``eps = eps_si/length`` to the exchange term.

        Raises
        ------
        ConfigError
            Non-positive ``Ms``, ``A``, ``gamma`` or ``length``, ``alpha < 0`` or
            a non-finite ``K``.
        """
        Ms_ = _positive("Ms", Ms, "A/m")
        A_ = _positive("exchange stiffness A", A, "J/m")
        gamma_ = _positive("gamma", gamma, "m/(A s)")
        alpha_ = check_damping(alpha)
        try:
            K_ = float(K)
        except (TypeError, ValueError):
            raise ConfigError(f"anisotropy K must be a number (J/m^3), got {K!r}") from None
        if not math.isfinite(K_):
            raise ConfigError(f"anisotropy K must be finite (J/m^3), got {K!r}")
        l_ex = math.sqrt(2.0 * A_ / (MU0 * Ms_ * Ms_))
        L = l_ex if length is None else _positive("length unit", length, "m")
        return cls(Ms=Ms_, A=A_, gamma=gamma_, alpha=alpha_, K=K_, length=L)

    # ------------------------------------------------------------------ scales
    @property
    def exchange_length(self) -> float:
        """``l_ex = sqrt(2A/(mu0 Ms^2))`` (m)."""
        return math.sqrt(2.0 * self.A / (self.mu0 * self.Ms * self.Ms))

    @property
    def time_unit(self) -> float:
        """``T = (1 + alpha^2)/(gamma Ms)`` (s): one nondimensional time unit of (3.1)."""
        return (1.0 + self.alpha**2) / (self.gamma * self.Ms)

    @property
    def field_unit(self) -> float:
        """Field unit ``Ms`` (A/m)."""
        return self.Ms

    @property
    def energy_density_unit(self) -> float:
        """Energy density unit ``mu0 Ms^2`` (J/m^3)."""
        return self.mu0 * self.Ms * self.Ms

    def energy_unit(self, dim: int = 3) -> float:
        """Energy unit ``mu0 Ms^2 L^dim``: J for ``dim = 3``, J/m (per unit
        thickness) for ``dim = 2``, J/m^2 (per unit cross-section) for ``dim = 1``."""
        if dim not in (1, 2, 3):
            raise ConfigError(f"dimension must be 1, 2 or 3, got {dim!r}")
        return self.energy_density_unit * self.length**dim

    # ------------------------------------------------------------------ coefficients
    @property
    def exchange_coefficient(self) -> float:
        """``a = 2A/(mu0 Ms^2 L^2) = (l_ex/L)^2``: the coefficient of (3.1)."""
        return self.exchange_coefficient_of(self.A)

    def exchange_coefficient_of(self, A: float | npt.ArrayLike) -> float | np.ndarray:
        """Nondimensional ``a`` for another exchange stiffness ``A`` (J/m), e.g. the
        phases of a composite (same ``Ms``): ``a = 2A/(mu0 Ms^2 L^2)``."""
        scale = 2.0 / (self.mu0 * self.Ms * self.Ms * self.length**2)
        out = np.asarray(A, dtype=np.float64) * scale
        return float(out) if out.ndim == 0 else out

    @property
    def anisotropy_coefficient(self) -> float:
        """``q = 2K/(mu0 Ms^2)`` (``q > 0`` easy axis)."""
        return 2.0 * self.K / (self.mu0 * self.Ms * self.Ms)

    # ------------------------------------------------------------------ conversions
    def time_to_si(self, t: float | npt.ArrayLike) -> float | np.ndarray:
        """Nondimensional time -> seconds."""
        return _scale(t, self.time_unit)

    def time_from_si(self, t_s: float | npt.ArrayLike) -> float | np.ndarray:
        """Seconds -> nondimensional time."""
        return _scale(t_s, 1.0 / self.time_unit)

    def length_to_si(self, x: float | npt.ArrayLike) -> float | np.ndarray:
        """Nondimensional length -> metres."""
        return _scale(x, self.length)

    def length_from_si(self, x_m: float | npt.ArrayLike) -> float | np.ndarray:
        """Metres -> nondimensional length."""
        return _scale(x_m, 1.0 / self.length)

    def field_to_si(self, h: float | npt.ArrayLike) -> float | np.ndarray:
        """Nondimensional field -> A/m."""
        return _scale(h, self.Ms)

    def field_from_si(self, H: float | npt.ArrayLike) -> float | np.ndarray:
        """Field in A/m -> nondimensional ``h = H/Ms``."""
        return _scale(H, 1.0 / self.Ms)

    def field_from_tesla(self, B: float | npt.ArrayLike) -> float | np.ndarray:
        """Applied field given as ``mu0 H`` in tesla -> ``h = B/(mu0 Ms)``."""
        return _scale(B, 1.0 / (self.mu0 * self.Ms))

    def field_to_tesla(self, h: float | npt.ArrayLike) -> float | np.ndarray:
        """Nondimensional field -> ``mu0 H`` in tesla."""
        return _scale(h, self.mu0 * self.Ms)

    def energy_to_si(self, E: float | npt.ArrayLike, dim: int = 3) -> float | np.ndarray:
        """Nondimensional energy -> SI (see :meth:`energy_unit` for the unit)."""
        return _scale(E, self.energy_unit(dim))

    def frequency_to_si(self, omega: float | npt.ArrayLike) -> float | np.ndarray:
        """Nondimensional angular frequency -> rad/s."""
        return _scale(omega, 1.0 / self.time_unit)

    def describe(self) -> dict[str, float]:
        """JSON-serialisable summary (SI inputs and derived nondimensional numbers)."""
        return {
            "Ms_A_per_m": self.Ms,
            "A_J_per_m": self.A,
            "gamma_m_per_A_s": self.gamma,
            "alpha": self.alpha,
            "K_J_per_m3": self.K,
            "length_unit_m": self.length,
            "exchange_length_m": self.exchange_length,
            "time_unit_s": self.time_unit,
            "exchange_coefficient_a": self.exchange_coefficient,
            "anisotropy_coefficient_q": self.anisotropy_coefficient,
        }


def _scale(x: float | npt.ArrayLike, factor: float) -> float | np.ndarray:
    out = np.asarray(x, dtype=np.float64) * factor
    return float(out) if out.ndim == 0 else out
