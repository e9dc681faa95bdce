"""Time-exact propagation of the space-discrete wave equation by Chebyshev expansion.

For the semi-discrete system ``u'' = -A u`` with ``A = M^{-1} K`` (:class:`FineScaleWave`,
``f = 0``), the exact solution over an interval ``Delta`` is

    u(t + Delta) =  C(A) u + S(A) v,     v(t + Delta) = -D(A) u + C(A) v,

with ``C(l) = cos(Delta sqrt(l))``, ``S(l) = sin(Delta sqrt(l))/sqrt(l)`` and
``D(l) = sqrt(l) sin(Delta sqrt(l))``: entire functions of ``l`` on the spectrum
``[0, lambda_max]`` of ``A``.  Expanded in Chebyshev polynomials of
``X = 2 A/lambda_max - I`` (Tal-Ezer and Kosloff's method) the series converge
geometrically once the degree exceeds about ``Delta sqrt(lambda_max)``; the terms follow
from the three-term recurrence ``T_{k+1} = 2 X T_k - T_{k-1}``, one sparse ``MatMult`` per
term and vector.  There is no time-step error and no stability limit: the only errors are
the truncation of the series (below round-off by construction) and the space
discretization.  Per unit of simulated time this costs about ``2 sqrt(lambda_max)``
``MatMult``s, about three times the order-4 leapfrog at its stability limit; for long
times (``t = eps^-4``), where the leapfrog's phase error forces steps far below that
limit, it is the cheaper of the two, and its answer does not depend on a step size.

The expansion needs an upper bound of the spectrum: ``lambda_max`` of SLEPc times
``1 + margin``; an eigenvalue above the bound would make ``T_k`` grow, which the
propagator detects (the result is checked to be finite).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.fft

from femhomog import (
    ConfigError,
    SolverError,
    _fenicsx,  # noqa: F401  (must precede dolfinx / petsc4py)
)

# isort: split
from petsc4py import PETSc

from femhomog.wave.fine_scale import FineScaleWave

__all__ = ["ChebyshevPropagator", "chebyshev_coefficients"]


def chebyshev_coefficients(func: Any, degree: int) -> np.ndarray:
    """Coefficients ``c_0..c_degree`` of ``func(x) ~ sum c_k T_k(x)`` on [-1, 1]
    (interpolation at the Chebyshev points of the first kind, by a DCT: O(n log n))."""
    n = degree + 1
    x = np.cos(np.pi * (np.arange(n) + 0.5) / n)
    c = scipy.fft.dct(func(x), type=2) / n
    c[0] *= 0.5
    return c


def _series_degree(delta: float, lam_max: float, tol: float = 1e-12) -> int:
    """Degree after which the coefficients of cos(delta sqrt(l)) on [0, lam_max] stay below
    ``tol``.  The function is bounded by 1, so ``tol`` is absolute; the DCT's round-off
    floor is ~1e-14 for degrees in the thousands, far below it.  The series converges
    once the degree passes ``delta sqrt(lam_max)``."""
    w = delta * np.sqrt(lam_max)
    degree = int(1.05 * w) + 32
    while True:
        c = chebyshev_coefficients(lambda x: np.cos(w * np.sqrt((x + 1) / 2)), degree)
        if np.max(np.abs(c[-16:])) < tol:
            return degree
        degree = int(degree * 1.1) + 16


class ChebyshevPropagator:
    """Exact-in-time evolution of :class:`FineScaleWave` (source-free) over intervals.

    Parameters
    ----------
    wave
        The operators (its sources must be empty).
    u0, u1
        Initial displacement and velocity (callables of ``x``, numbers, or vectors of
        unknowns).
    interval
        ``Delta``: :meth:`advance` moves by whole multiples of it; :meth:`propagate`
        takes any interval (the series of each interval length is computed once).
    margin
        Relative margin on SLEPc's ``lambda_max`` for the expansion interval.
    """

    def __init__(self, wave: FineScaleWave, u0: Any, u1: Any = 0.0, *, interval: float,
                 margin: float = 0.02) -> None:
        if wave.sources:
            raise ConfigError("the Chebyshev propagator integrates f = 0 only; use the "
                              "leapfrog schemes with a source")
        if not (np.isfinite(interval) and interval > 0):
            raise ConfigError(f"propagation interval must be > 0, got {interval!r}")
        self.wave = wave
        self.interval = float(interval)
        self.lam_max = wave.max_eigenvalue() * (1.0 + margin)
        self._series: dict[float, tuple[int, np.ndarray, np.ndarray, np.ndarray]] = {}
        self.degree, self.c_cos, self.c_sin, self.c_dsin = self.series(self.interval)
        # X = (2/lambda_max) M^{-1} K - I, applied as a scaled matrix plus a shift
        self._X = wave.K.copy()
        self._X.diagonalScale(L=wave.inv_mass)
        self._X.scale(2.0 / self.lam_max)
        self._X.shift(-1.0)
        self.u = self._vector(u0)
        self.v = self._vector(u1)
        self._work = [wave.create_vector() for _ in range(8)]
        self.t = 0.0
        self.matmults = 0

    def series(self, interval: float) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        """Degree and Chebyshev coefficients of ``C``, ``S``, ``D`` for one interval
        (cached: a run uses a few interval lengths)."""
        key = float(interval)
        if key not in self._series:
            lam = self.lam_max
            degree = _series_degree(key, lam)
            w = key * np.sqrt(lam)

            def sqrt_l(x: np.ndarray) -> np.ndarray:
                return np.sqrt(lam * (x + 1) / 2)

            def s_of(x: np.ndarray) -> np.ndarray:  # sin(D r)/r with its limit D at r = 0
                return key * np.sinc(sqrt_l(x) * key / np.pi)

            self._series[key] = (
                degree,
                chebyshev_coefficients(lambda x: np.cos(w * np.sqrt((x + 1) / 2)), degree),
                chebyshev_coefficients(s_of, degree),
                chebyshev_coefficients(lambda x: sqrt_l(x) * np.sin(key * sqrt_l(x)), degree),
            )
        return self._series[key]

    def max_interval(self, max_degree: int = 2000) -> float:
        """Longest interval whose series degree stays about ``max_degree`` (the degree
        grows like ``interval sqrt(lambda_max)``; shorter pieces bound the work between
        two progress reports or checkpoints)."""
        return max(max_degree - 32, 16) / (1.05 * float(np.sqrt(self.lam_max)))

    def _vector(self, data: Any) -> PETSc.Vec:
        if isinstance(data, PETSc.Vec):
            return data.copy()
        return self.wave.project_nodal(data)

    def _propagate_once(self, interval: float) -> None:
        tu_prev, tu, tv_prev, tv, u_new, v_new, xu, xv = self._work
        X = self._X
        degree, c_cos, c_sin, c_dsin = self.series(interval)
        # k = 0 (T_0 = I) and k = 1 (T_1 = X)
        self.u.copy(tu_prev)
        self.v.copy(tv_prev)
        u_new.set(0.0)
        v_new.set(0.0)
        u_new.maxpy([c_cos[0], c_sin[0]], [tu_prev, tv_prev])
        v_new.maxpy([-c_dsin[0], c_cos[0]], [tu_prev, tv_prev])
        X.mult(tu_prev, tu)
        X.mult(tv_prev, tv)
        for k in range(1, degree + 1):
            u_new.maxpy([c_cos[k], c_sin[k]], [tu, tv])
            v_new.maxpy([-c_dsin[k], c_cos[k]], [tu, tv])
            if k == degree:
                break
            # T_{k+1} = 2 X T_k - T_{k-1}, written over T_{k-1}, then the roles swap
            X.mult(tu, xu)
            X.mult(tv, xv)
            tu_prev.axpby(2.0, -1.0, xu)
            tv_prev.axpby(2.0, -1.0, xv)
            tu_prev, tu = tu, tu_prev
            tv_prev, tv = tv, tv_prev
        u_new.copy(self.u)
        v_new.copy(self.v)
        self.matmults += 2 * degree

    def advance(self, interval: float) -> int:
        """Propagate over ``interval`` (a whole multiple of :attr:`interval`)."""
        n = interval / self.interval
        count = round(n)
        if count < 1 or abs(n - count) > 1e-8 * max(1.0, n):
            raise ConfigError(f"interval {interval:.6g} is not a whole multiple of the "
                              f"propagation interval {self.interval:.6g}")
        for _ in range(count):
            self._propagate_once(self.interval)
            self.t += self.interval
        self._check_finite()
        return count

    def propagate(self, interval: float) -> None:
        """Propagate over one ``interval`` of any length (exact in time; the series
        degree grows with the length: split long times with :meth:`max_interval`)."""
        if not (np.isfinite(interval) and interval > 0):
            raise ConfigError(f"propagation interval must be > 0, got {interval!r}")
        self._propagate_once(float(interval))
        self.t += float(interval)
        self._check_finite()

    def _check_finite(self) -> None:
        if not np.isfinite(self.u.norm(PETSc.NormType.NORM_INFINITY)):
            raise SolverError("Chebyshev propagation became non-finite: lambda_max is "
                              "underestimated (raise the margin)")

    def set_state(self, u: PETSc.Vec, v: PETSc.Vec, t: float) -> None:
        """Continue from displacement ``u`` and velocity ``v`` at time ``t`` (a restart)."""
        u.copy(self.u)
        v.copy(self.v)
        self.t = float(t)

    def energy(self) -> float:
        """``1/2 (v, M v) + 1/2 (u, K u)``: conserved exactly by the exact evolution."""
        return self.wave.energy(self.u, self.v)

    def destroy(self) -> None:
        for obj in (self.u, self.v, *self._work, self._X):
            obj.destroy()
