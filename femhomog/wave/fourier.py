"""Exact Fourier-mode evolution of the effective wave equations (14) on periodic boxes.

On a periodic box ``Omega = prod_i [lo_i, hi_i)`` every member of the family (14) of the
wave paper,

    d_t^2 u - a^0 grad^2 u - sum_{r=1}^{s} (-1)^r eps^{2r} (a^{2r} grad^{2r+2} u
                                              - b^{2r} grad^{2r} d_t^2 u) = Q f,

with ``Q f`` of (29), decouples into one ordinary differential equation per Fourier mode
``e^{i k.x}``.  With ``A(k) = a^0:k^2 + sum_r eps^{2r} a^{2r}:k^{2r+2}`` and
``B(k) = 1 + sum_r eps^{2r} b^{2r}:k^{2r}`` (signs derived in
:mod:`femhomog.tensors.effective`) the mode equation is ``B u_k'' + A u_k = B f_k``: the
symbol of ``Q`` in (29) is ``B`` too, so ``Q`` makes the source act unmodified,

    u_k'' + omega^2(k) u_k = f_k,        omega^2 = A(k) / B(k),

whose solution is known in closed form (Duhamel):

    u_k(t) = cos(omega t) u0_k + sin(omega t)/omega u1_k
             + int_0^t sin(omega (t - tau))/omega f_k(tau) dtau.

For the tensors of Lemma 4 (positive semidefinite) ``omega^2 >= 0`` for every mode and the
evolution is bounded: the family is well posed.  For an ill-posed choice (e.g. the
unregularized ``b = 0, a^2 = -S(g^2)``) ``omega^2 < 0`` at large ``eps |k|`` and the
formulas above turn into ``cosh``/``sinh``: the high modes grow exponentially, which is the
paper's point (Sect. 2.2).  The evolution is exact in time; the only error is the spatial
resolution of the data (spectral accuracy for smooth data), so this is how the effective
solutions ``u~^s`` of the paper's Sect. 4 are computed ("Fourier method, no time
integration").

Pure numpy: no dolfinx, no MPI.  A rank that needs the effective solution on its part of
a finite-element mesh evaluates it with :meth:`EffectiveFourierSolver.interpolate`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from femhomog import ConfigError
from femhomog.tensors.effective import EffectiveTensors, effective_symbols

__all__ = ["EffectiveFourierSolver", "PeriodicGrid", "mode_propagators", "relative_l2_error"]


@dataclass(frozen=True)
class PeriodicGrid:
    """A uniform grid of a periodic box ``prod_i [lo_i, hi_i)`` (endpoint excluded).

    Parameters
    ----------
    lower, upper
        Box corners, one entry per space dimension (1, 2 or 3).
    points
        Grid points per axis (the number of Fourier modes per axis).
    """

    lower: tuple[float, ...]
    upper: tuple[float, ...]
    points: tuple[int, ...]

    def __post_init__(self) -> None:
        d = len(self.points)
        if d not in (1, 2, 3) or len(self.lower) != d or len(self.upper) != d:
            raise ConfigError(
                f"a periodic grid needs 1, 2 or 3 axes with one lower/upper bound and one "
                f"point count each, got lower={self.lower}, upper={self.upper}, "
                f"points={self.points}"
            )
        for lo, hi, n in zip(self.lower, self.upper, self.points, strict=True):
            if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
                raise ConfigError(f"box bounds must be finite with upper > lower, got "
                                  f"[{lo}, {hi})")
            if int(n) != n or n < 2:
                raise ConfigError(f"grid points per axis must be integers >= 2, got {n}")

    @classmethod
    def box(cls, lower: Sequence[float], upper: Sequence[float],
            points: int | Sequence[int]) -> PeriodicGrid:
        """Grid of ``[lower, upper)`` with ``points`` per axis (an int: the same on every axis)."""
        lower = tuple(float(v) for v in np.atleast_1d(lower))
        upper = tuple(float(v) for v in np.atleast_1d(upper))
        if np.ndim(points) == 0:
            points = (int(points),) * len(lower)
        return cls(lower, upper, tuple(int(n) for n in points))

    @property
    def dim(self) -> int:
        return len(self.points)

    @property
    def lengths(self) -> np.ndarray:
        return np.subtract(self.upper, self.lower)

    @property
    def spacing(self) -> np.ndarray:
        return self.lengths / np.asarray(self.points)

    def axes(self) -> list[np.ndarray]:
        """Grid coordinates along each axis."""
        return [lo + h * np.arange(n) for lo, h, n in
                zip(self.lower, self.spacing, self.points, strict=True)]

    def coordinates(self) -> np.ndarray:
        """Points as an array of shape ``(d, n_1, ..., n_d)`` (``x[0]``, ``x[1]``, ...)."""
        return np.stack(np.meshgrid(*self.axes(), indexing="ij"))

    def wave_vectors(self) -> np.ndarray:
        """Wave vectors of the modes, shape ``(n_1, ..., n_d, d)`` (FFT order)."""
        ks = [2.0 * np.pi * np.fft.fftfreq(n, d=h) for n, h in
              zip(self.points, self.spacing, strict=True)]
        return np.stack(np.meshgrid(*ks, indexing="ij"), axis=-1)

    def cell_volume(self) -> float:
        return float(np.prod(self.spacing))

    def sample(self, function: Callable[[np.ndarray], Any] | np.ndarray | float) -> np.ndarray:
        """Values of ``function(x)`` on the grid (``x`` of shape ``(d, ...)``), an array of
        grid shape, or a constant."""
        if callable(function):
            values = np.asarray(function(self.coordinates()), dtype=float)
        else:
            values = np.asarray(function, dtype=float)
        values = np.broadcast_to(values, self.points).astype(float, copy=True)
        if not np.all(np.isfinite(values)):
            raise ConfigError("the data sampled on the grid contain NaN or inf")
        return values


def mode_propagators(omega2: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``cos(omega t)``, ``sin(omega t)/omega`` and ``(1 - cos(omega t))/omega^2``.

    Real for every real ``omega^2``: for ``omega^2 < 0`` (ill-posed modes) they are
    ``cosh``/``sinh`` of ``sqrt(-omega^2) t``; at ``omega^2 = 0`` their limits ``1``, ``t``,
    ``t^2/2``.  Written with ``sinc`` so that no mode divides by a small ``omega``.
    """
    w2 = np.asarray(omega2, dtype=float)
    wt = np.sqrt(np.abs(w2)) * t
    growing = w2 < 0
    # each branch evaluated only where it applies (cosh of an oscillating mode's w t overflows)
    ht = np.where(growing, wt, 0.0)
    ot = np.where(growing, 0.0, wt)
    # np.sinc(x) = sin(pi x)/(pi x); its hyperbolic counterpart is sinh(z)/z
    sinc = np.where(growing, _sinhc(ht), np.sinc(ot / np.pi))
    half = np.where(growing, _sinhc(0.5 * ht), np.sinc(0.5 * ot / np.pi))
    cos = np.where(growing, np.cosh(ht), np.cos(ot))
    # 1 - cos(w t) = 2 sin^2(w t / 2), and 1 - cosh = -2 sinh^2: the same form either way
    return cos, t * sinc, 0.5 * t * t * half * half


def _sinhc(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=float)
    small = np.abs(z) < 1e-4
    safe = np.where(small, 1.0, z)
    return np.where(small, 1.0 + z * z / 6.0, np.sinh(safe) / safe)


class EffectiveFourierSolver:
    """Solutions of one effective equation (14) on a periodic grid, exact in time.

    Parameters
    ----------
    tensors
        The tensors ``a^0, a^{2r}, b^{2r}`` (r = 1..s) of the equation
        (:func:`femhomog.tensors.effective_wave_tensors`); ``s = 0`` is the homogenized
        equation.  Any tensors are accepted, also ill-posed ones (then some modes grow).
    eps
        The period ``eps`` of the fine-scale coefficient ``a(x/eps)``.
    grid
        The periodic grid (:class:`PeriodicGrid`).

    Notes
    -----
    ``omega2`` holds ``omega^2(k)`` of every mode (grid shape, FFT order), computed once
    by :func:`femhomog.tensors.effective.effective_symbols`.
    """

    def __init__(self, tensors: EffectiveTensors, eps: float, grid: PeriodicGrid) -> None:
        if tensors.dim != grid.dim:
            raise ConfigError(f"the tensors are {tensors.dim}D but the grid is {grid.dim}D")
        if not (np.isfinite(eps) and eps > 0):
            raise ConfigError(f"eps must be a number > 0, got {eps!r}")
        self.tensors = tensors
        self.eps = float(eps)
        self.grid = grid
        num, den = effective_symbols(tensors, grid.wave_vectors(), self.eps)
        num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
        if np.any(den <= 0):
            # B(k) is the symbol of d_t^2: the mode equation is not of second order there
            raise ConfigError("the tensors b^{2r} make 1 + sum eps^2r b^2r:k^2r vanish or "
                              "change sign on the grid: no evolution equation for those modes")
        self.omega2 = num / den

    @property
    def order(self) -> int:
        return self.tensors.order

    def growth_rate(self) -> float:
        """``max sqrt(-omega^2)`` over the modes (0 for a well-posed equation on this grid)."""
        return float(np.sqrt(max(0.0, -float(self.omega2.min()))))

    def evolve(
        self,
        u0: Callable[[np.ndarray], Any] | np.ndarray | float,
        t: float,
        *,
        u1: Callable[[np.ndarray], Any] | np.ndarray | float = 0.0,
        f: Callable[[np.ndarray], Any] | np.ndarray | float = 0.0,
    ) -> np.ndarray:
        """``u~(t)`` on the grid for initial data ``u0``, ``u1`` and a source ``f(x)``
        constant in time (``Q f`` of (29) is applied implicitly: see the module notes).

        Each argument is a callable of the coordinates (shape ``(d, ...)``), an array of
        grid shape or a constant.
        """
        if not (np.isfinite(t) and t >= 0):
            raise ConfigError(f"t must be a number >= 0, got {t!r}")
        g = self.grid
        cos, sinc, one_minus_cos = mode_propagators(self.omega2, float(t))
        u_hat = cos * np.fft.fftn(g.sample(u0))
        u1_values = g.sample(u1)
        if np.any(u1_values):
            u_hat += sinc * np.fft.fftn(u1_values)
        f_values = g.sample(f)
        if np.any(f_values):
            u_hat += one_minus_cos * np.fft.fftn(f_values)
        return np.fft.ifftn(u_hat).real

    def interpolate(self, values: np.ndarray, points: np.ndarray) -> np.ndarray:
        """Trigonometric interpolation of grid ``values`` at arbitrary ``points``
        (shape ``(n, d)``): exact for the band-limited field the solver represents.

        Cost ``O(n N)`` for ``N`` grid points (direct sum): meant for the modest point
        sets of error evaluation and cuts, not for whole fine meshes.
        """
        g = self.grid
        pts = np.atleast_2d(np.asarray(points, dtype=float))
        if pts.shape[-1] != g.dim:
            raise ConfigError(f"points must have shape (n, {g.dim}), got {pts.shape}")
        coeff = np.fft.fftn(values) / values.size
        k = g.wave_vectors().reshape(-1, g.dim)
        # shift the phase so that x = lower is the grid's first point
        phase = (pts - np.asarray(g.lower)) @ k.T
        # Nyquist modes: take the real part, consistent with ifftn(...).real on the grid
        return (np.exp(1j * phase) @ coeff.reshape(-1)).real


def relative_l2_error(reference: np.ndarray, approximation: np.ndarray) -> float:
    """``||reference - approximation|| / ||reference||`` in the discrete l2 norm of a grid.

    Raises :class:`ConfigError` for a zero reference (the relative error is then undefined).
    """
    ref = np.asarray(reference, dtype=float)
    norm = float(np.linalg.norm(ref))
    if norm == 0.0:
        raise ConfigError("relative error of a zero reference solution is undefined")
    return float(np.linalg.norm(ref - np.asarray(approximation, dtype=float))) / norm
