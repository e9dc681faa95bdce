"""SI spin-diffusion parameters (Zhang-Levy-Fert / magnum.fe) -> the nondimensional system.

The SI model (Zhang, Levy, Fert 2002; Abert et al. 2015, magnum.fe), with ``m`` the
unit magnetization, ``s`` the spin accumulation in A/m, ``j_e`` the charge current
density (A/m^2), ``J`` the s-d exchange energy (J), ``mu_B`` the Bohr magneton, ``e``
the elementary charge::

    d_t s = -div J_s - s/tau_sf - J s x m / hbar,
    J_s   = (beta mu_B/e) m (x) j_e - 2 D0 [grad s - beta beta' m (x) ((grad s)^T m)],
    d_t m = -gamma m x (H_eff + J/(hbar gamma Ms) s) + alpha m x d_t m,

with the decay lengths ``lambda_sf = sqrt(2 D0 tau_sf)`` (spin flip) and
``lambda_J = sqrt(2 hbar D0/J)`` (precession about ``m``).

The nondimensional system of :mod:`femhomog.spin.transport` (the seed's (4.6))::

    d_t s - div(D (grad s_k + s_k grad phi)) = -(2/tau_ex) m x s - s/tau_sf,
    d_t m = -gamma m x (H_eff + c_s s) + alpha m x d_t m.

Mapping, with lengths in ``L``, times in ``T``, fields and ``s`` in units of ``Ms``
(``s' = s/Ms``), as the LLG scaling of :class:`femhomog.micromag.Units` (``T =
(1 + alpha^2)/(gamma Ms)``, fields in ``Ms``; its nondimensional gamma is ``1 + alpha^2``):

=================  =====================================================
seed               Zhang-Levy-Fert
=================  =====================================================
``D``              ``2 D0 T/L^2``
``tau_sf``         ``tau_sf/T``
``tau_ex``         ``-2 hbar/(J T)`` (< 0: ``-J s x m/hbar = +(J/hbar) m x s``)
``c_s``            ``J/(hbar gamma Ms)`` (with ``s`` in units of ``Ms``)
``phi``            0 (the seed's drift has no counterpart: ZLF moves spins by
                   the polarized current ``beta``)
=================  =====================================================

Check: the uniform undamped coupled system conserves ``s' - (2/(c c_s tau_ex)) m``
(``c`` the precession factor, 1 for the Gilbert form in this time unit); with the
mapping ``2/(c_s tau_ex) = -gamma Ms T``, which is ``-1`` for ``alpha = 0``: ``s' + m`` is
conserved, i.e. ``s + Ms m``, the total angular momentum in these units.

``beta = beta' = 0`` reduces ZLF to the seed's system (``phi = 0``).  The polarized
current source ``(beta mu_B/e) m (x) j_e`` is the transport's ``current`` argument,
``j = source * j_e`` (:attr:`SpinParameters.source`; the Zhang-Li limit, tests).  The
spin-anisotropic diffusion ``-2 D0 beta beta' m (x) ((grad s)^T m)`` is the transport's
``anisotropy = beta beta'`` (:attr:`SpinParameters.anisotropy`): the flux is
``D (grad s - beta beta' m (x) ((grad s)^T m))``, so the component of ``s`` along ``m``
diffuses with ``D (1 - beta beta')`` (decay length ``sqrt((1 - beta beta') D tau_sf)``,
tests/test_spin_llg.py), the transverse ones with ``D``.
Pure numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from femhomog import ConfigError

__all__ = ["E_CHARGE", "HBAR", "MU_B", "SpinParameters", "ZhangLevyFert"]

#: Reduced Planck constant (J s), elementary charge (C), Bohr magneton (J/T); CODATA 2018.
HBAR = 1.054571817e-34
E_CHARGE = 1.602176634e-19
MU_B = 9.2740100783e-24


def _positive(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number > 0, got {value!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise ConfigError(f"{name} must be a number > 0, got {value!r}")
    return v


@dataclass(frozen=True)
class SpinParameters:
    """The nondimensional parameters of :class:`femhomog.spin.SpinTransport` and the coupling.

    Attributes
    ----------
    D, tau_sf, tau_ex, coupling
        As the seed's system (``tau_ex < 0`` for ZLF's sign, see the module docstring).
    source
        ``beta mu_B T/(e Ms L)``: the nondimensional spin current of the polarized source
        is this times ``m (x) j_e`` with ``j_e`` in A/m^2 (0 for ``beta = 0``).
    anisotropy
        ``beta beta'`` (0: isotropic diffusion, the seed's system): the transport's
        ``anisotropy``.
    """

    D: float
    tau_sf: float
    tau_ex: float
    coupling: float
    source: float = 0.0
    anisotropy: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {"D": self.D, "tau_sf": self.tau_sf, "tau_ex": self.tau_ex,
                "coupling": self.coupling, "source": self.source,
                "anisotropy": self.anisotropy}


@dataclass(frozen=True)
class ZhangLevyFert:
    """SI parameters of the Zhang-Levy-Fert spin diffusion (magnum.fe's form).

    Create with the constructor (``D0``, ``tau_sf``, ``J``) or with :meth:`from_lengths`
    (``D0``, ``lambda_sf``, ``lambda_J``).

    Attributes
    ----------
    D0 : float
        Diffusion constant (m^2/s; the flux is ``-2 D0 grad s``).
    tau_sf : float
        Spin-flip time (s).
    J : float
        s-d exchange energy (J), > 0.
    beta, beta_prime : float
        Polarizations of the conductivity and of the diffusion constant (0: the seed).
    """

    D0: float
    tau_sf: float
    J: float
    beta: float = 0.0
    beta_prime: float = 0.0

    def __post_init__(self) -> None:
        _positive("D0", self.D0)
        _positive("tau_sf", self.tau_sf)
        _positive("J", self.J)
        for name in ("beta", "beta_prime"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and -1.0 <= v <= 1.0):
                raise ConfigError(f"{name} must be a number in [-1, 1], got {v!r}")

    @classmethod
    def from_lengths(cls, D0: float, lambda_sf: float, lambda_J: float, beta: float = 0.0,
                     beta_prime: float = 0.0) -> ZhangLevyFert:
        """From the decay lengths: ``tau_sf = lambda_sf^2/(2 D0)``, ``J = 2 hbar D0/lambda_J^2``."""
        D0 = _positive("D0", D0)
        lsf, lJ = _positive("lambda_sf", lambda_sf), _positive("lambda_J", lambda_J)
        return cls(D0=D0, tau_sf=lsf**2 / (2 * D0), J=2 * HBAR * D0 / lJ**2, beta=beta,
                   beta_prime=beta_prime)

    @property
    def lambda_sf(self) -> float:
        """``sqrt(2 D0 tau_sf)`` (m)."""
        return math.sqrt(2 * self.D0 * self.tau_sf)

    @property
    def lambda_J(self) -> float:
        """``sqrt(2 hbar D0/J)`` (m)."""
        return math.sqrt(2 * HBAR * self.D0 / self.J)

    @property
    def reduces_to_seed(self) -> bool:
        """``beta = beta' = 0``: the seed's system (no polarized source, isotropic D)."""
        return self.beta == 0.0 and self.beta_prime == 0.0

    def nondimensional(self, *, length: float, time: float, Ms: float, gamma: float,
                       allow_polarization: bool = False) -> SpinParameters:
        """The seed's parameters in units ``L = length`` (m), ``T = time`` (s), ``s`` in
        ``Ms`` (A/m), for the LLG gyromagnetic ratio ``gamma`` (m/(A s), times mu0).

        With :class:`femhomog.micromag.Units` ``u``: ``length=u.length, time=u.time_unit,
        Ms=u.Ms, gamma=u.gamma``.

        ``allow_polarization`` is accepted for compatibility and has no effect (the
        spin-anisotropic diffusion is solved: ``SpinTransport(anisotropy=...)``).
        """
        L, T = _positive("length", length), _positive("time", time)
        Ms, gamma = _positive("Ms", Ms), _positive("gamma", gamma)
        return SpinParameters(
            D=2 * self.D0 * T / L**2,
            tau_sf=self.tau_sf / T,
            tau_ex=-2 * HBAR / (self.J * T),
            coupling=self.J / (HBAR * gamma * Ms),
            source=self.beta * MU_B * T / (E_CHARGE * Ms * L),
            anisotropy=self.beta * self.beta_prime,
        )

    def describe(self) -> dict[str, float]:
        return {"D0": self.D0, "tau_sf": self.tau_sf, "J": self.J, "beta": self.beta,
                "beta_prime": self.beta_prime, "lambda_sf": self.lambda_sf,
                "lambda_J": self.lambda_J}
