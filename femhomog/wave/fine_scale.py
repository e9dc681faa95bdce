"""The fine-scale wave equation (13) with spectral elements and explicit time stepping.

    d_t^2 u - div(a(x/eps) grad u) = f      in (0, T] x Omega,     u(0) = u0, d_t u(0) = u1,

on a box ``Omega`` that is periodic (as in the wave paper (13)), or bounded with a
homogeneous Dirichlet or a natural (Neumann) boundary.

Discretization
--------------
Space: Lagrange elements of degree ``p`` on the Gauss-Lobatto-Legendre (GLL) points of
interval, quadrilateral or hexahedral cells, the mass integrated with the GLL rule of the
same points.  That mass matrix is diagonal (the spectral-element method): the explicit
scheme needs no linear solve, and the quadrature error of the lumped mass keeps the
order ``p + 1`` of the L2 error.  The stiffness ``K`` is integrated with a Gauss rule
that resolves ``a(x/eps)`` (degree ``2p + 2`` by default).  Periodicity and the Dirichlet
condition are linear constraints ``u = P u_r`` (:mod:`femhomog.periodic`): the reduced
mass ``P^T m`` stays diagonal and ``K_r = P^T K P``.

Time: with ``A = M^{-1} K`` and ``g = M^{-1} F``, the leapfrog scheme (order 2)

    u^{n+1} - 2 u^n + u^{n-1} = tau^2 (g^n - A u^n)

or its modified-equation correction of order 4 (Dablain; Shubin and Bell), which adds the
next term of the Taylor series of ``u(t +- tau)`` with ``d_t^4 u = A^2 u - A g + g''``:

    ... + tau^4/12 (A^2 u^n - A g^n + g''^n).

Leapfrog is stable for ``tau^2 lambda_max <= 4``, the order-4 scheme for
``tau^2 lambda_max <= 12`` (its amplification ``z = x - x^2/12`` with ``x = tau^2 lambda``
stays in [0, 4] up to x = 12), where ``lambda_max`` is the largest eigenvalue of
``M^{-1} K``, computed once with SLEPc (:meth:`FineScaleWave.max_eigenvalue`).  Both
schemes conserve a discrete energy exactly (:meth:`LeapfrogStepper.energy`); that is
how long runs (t = eps^-4) are checked.

Each step is one or two sparse matrix-vector products and a few vector updates on
assembled PETSc objects; the Python loop runs over output intervals and makes only a
handful of PETSc calls per step, so the cost is that of the ``MatMult``.

The source is ``f(x, t) = sum_j f_j(x) theta_j(t)`` (a list of space parts given as UFL
expressions and time factors given as callables); ``g''`` of the order-4 scheme is taken
by a central difference of ``theta_j`` (an ``O(tau^2)`` error on a term of size
``tau^4``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from femhomog import (
    ConfigError,
    SolverError,
    _fenicsx,  # noqa: F401  (must precede dolfinx / petsc4py)
)

# isort: split
import basix
import basix.ufl
import dolfinx
import dolfinx.fem.petsc
import ufl
from mpi4py import MPI
from petsc4py import PETSc

from femhomog.coefficients import CellCoefficient
from femhomog.periodic import LinearConstraint, dirichlet_constraint, periodic_constraint

__all__ = ["BOUNDARIES", "SCHEMES", "FineScaleWave", "LeapfrogStepper", "WaveSource"]

BOUNDARIES = ("periodic", "dirichlet", "neumann")
SCHEMES = {"leapfrog": 2, "leapfrog4": 4}
#: Largest tau^2 lambda_max of each scheme (stability limit of the amplification).
_STABILITY = {"leapfrog": 4.0, "leapfrog4": 12.0}
_GLL_CELLS = ("interval", "quadrilateral", "hexahedron")


@dataclass(frozen=True)
class WaveSource:
    """One term ``f_j(x) theta_j(t)`` of the source: a UFL expression of
    ``ufl.SpatialCoordinate(mesh)`` and a callable of t (default: constant 1)."""

    space: Any
    time: Callable[[float], float] = field(default=lambda t: 1.0)


class FineScaleWave:
    """Operators of the fine-scale wave equation (13) (the physics, no time loop).

    Parameters
    ----------
    mesh
        Interval, quadrilateral or hexahedral mesh of the box.
    coefficient
        ``a(y)``: a :class:`~femhomog.coefficients.CellCoefficient` (number, expression in
        ``y``, matrix) evaluated at ``y = x/eps``, or a number.
    eps
        Period of the coefficient.
    degree
        Polynomial degree ``p >= 1`` (GLL points).
    boundary
        ``"periodic"`` (the mesh's bounding box), ``"dirichlet"`` (u = 0) or ``"neumann"``.
    quadrature_degree
        Gauss rule of the stiffness; default ``2 p + 2``.
    sources
        Terms of ``f`` (:class:`WaveSource`).
    """

    def __init__(
        self,
        mesh: dolfinx.mesh.Mesh,
        coefficient: CellCoefficient | float,
        eps: float,
        *,
        degree: int = 4,
        boundary: str = "periodic",
        quadrature_degree: int | None = None,
        sources: Sequence[WaveSource] = (),
    ) -> None:
        cell = mesh.topology.cell_name()
        if cell not in _GLL_CELLS:
            raise ConfigError(f"the fine-scale wave solver lumps the mass on GLL points and "
                              f"needs {', '.join(_GLL_CELLS)} cells, got {cell}")
        if boundary not in BOUNDARIES:
            raise ConfigError(f"boundary must be one of {', '.join(BOUNDARIES)}, got "
                              f"{boundary!r}")
        if not (isinstance(degree, int) and degree >= 1):
            raise ConfigError(f"degree must be an integer >= 1, got {degree!r}")
        if not (np.isfinite(eps) and eps > 0):
            raise ConfigError(f"eps must be a number > 0, got {eps!r}")
        self.mesh = mesh
        self.comm: MPI.Comm = mesh.comm
        self.eps = float(eps)
        self.degree = degree
        self.boundary = boundary
        self.dim = mesh.topology.dim
        element = basix.ufl.element("Lagrange", mesh.basix_cell(), degree,
                                    lagrange_variant=basix.LagrangeVariant.gll_warped)
        self.V = dolfinx.fem.functionspace(mesh, element)
        if isinstance(coefficient, int | float):
            coefficient = CellCoefficient.from_expression(str(float(coefficient)), self.dim)
        self.coefficient = coefficient
        x = ufl.SpatialCoordinate(mesh)
        self.a = coefficient.ufl(mesh, y=x / self.eps)
        u, v = ufl.TrialFunction(self.V), ufl.TestFunction(self.V)
        # the GLL rule on the GLL nodes: exact diagonal mass (degree 2p - 1, p + 1 points)
        self.dx_gll = ufl.dx(metadata={"quadrature_rule": "GLL",
                                       "quadrature_degree": 2 * degree - 1})
        self.dx_stiff = ufl.dx(metadata={"quadrature_degree": quadrature_degree
                                         or 2 * degree + 2})
        self.constraint: LinearConstraint | None = {
            "periodic": lambda: periodic_constraint(self.V),
            "dirichlet": lambda: dirichlet_constraint(self.V),
            "neumann": lambda: None,
        }[boundary]()
        K = dolfinx.fem.petsc.assemble_matrix(
            dolfinx.fem.form(ufl.inner(self.a * ufl.grad(u), ufl.grad(v)) * self.dx_stiff))
        K.assemble()
        mass = self._assemble_vector(v * self.dx_gll)
        if self.constraint is not None:
            self.K = self.constraint.reduce_matrix(K)
            K.destroy()
            self.mass = self.constraint.reduce_vector(mass)
            mass.destroy()
        else:
            self.K, self.mass = K, mass
        self.inv_mass = self.mass.copy()
        self.inv_mass.reciprocal()
        self.sources = list(sources)
        # M^{-1} F_j for each source term (time factors applied in the stepper)
        self.source_vectors = [self._reduced_load(s.space * v * self.dx_stiff)
                               for s in self.sources]
        self._lambda_max: float | None = None
        # one scratch function for expansions (outputs, checkpoints), its PETSc vector
        # created now on every rank: PETSc objects created and dropped at different
        # moments on different ranks (garbage collection) can desynchronize the
        # collective calls that create the next ones
        self.work = dolfinx.fem.Function(self.V)
        self.work.x.petsc_vec  # noqa: B018  (created collectively, here)

    # ------------------------------------------------------------------ assembly
    def _assemble_vector(self, form: Any) -> PETSc.Vec:
        b = dolfinx.fem.petsc.assemble_vector(dolfinx.fem.form(form))
        b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        return b

    def _reduced_load(self, form: Any) -> PETSc.Vec:
        """``M^{-1} P^T F`` for a linear form ``F``."""
        b = self._assemble_vector(form)
        if self.constraint is not None:
            br = self.constraint.reduce_vector(b)
            b.destroy()
            b = br
        b.pointwiseMult(b, self.inv_mass)
        return b

    def create_vector(self) -> PETSc.Vec:
        """A zero vector of the (reduced) unknowns."""
        x = self.mass.duplicate()
        x.set(0.0)
        return x

    @property
    def num_dofs(self) -> int:
        """Global number of unknowns (after periodicity / Dirichlet)."""
        return self.mass.getSize()

    # ------------------------------------------------------------------ data
    def project_nodal(self, function: Callable[[np.ndarray], np.ndarray] | float,
                      out: PETSc.Vec | None = None) -> PETSc.Vec:
        """Nodal interpolant of ``function(x)`` (``x`` of shape ``(3, n)``) as unknowns."""
        u = dolfinx.fem.Function(self.V)
        if callable(function):
            u.interpolate(function)
        else:
            u.x.array[:] = float(function)
        if not np.all(np.isfinite(u.x.array)):
            raise ConfigError("initial data or source contain NaN or inf at the mesh nodes")
        out = out if out is not None else self.create_vector()
        if self.constraint is not None:
            self.constraint.restrict(u, out)
        else:
            n = self.V.dofmap.index_map.size_local
            out.array[:] = u.x.array[:n]
        return out

    def to_function(self, x: PETSc.Vec, u: dolfinx.fem.Function | None = None
                    ) -> dolfinx.fem.Function:
        """The finite-element function of unknowns ``x`` (ghosts updated)."""
        u = u if u is not None else dolfinx.fem.Function(self.V)
        if self.constraint is not None:
            self.constraint.expand(x, u)
        else:
            n = self.V.dofmap.index_map.size_local
            u.x.array[:n] = x.array_r
            u.x.scatter_forward()
        return u

    # ------------------------------------------------------------------ stability
    def max_eigenvalue(self) -> float:
        """``lambda_max(M^{-1} K)`` (SLEPc, on the symmetric ``M^{-1/2} K M^{-1/2}``)."""
        if self._lambda_max is None:
            from slepc4py import SLEPc

            S = self.K.copy()
            d = self.inv_mass.copy()
            d.sqrtabs()
            S.diagonalScale(d, d)
            eps = SLEPc.EPS().create(self.comm)
            eps.setOperators(S)
            eps.setProblemType(SLEPc.EPS.ProblemType.HEP)
            eps.setWhichEigenpairs(SLEPc.EPS.Which.LARGEST_REAL)
            eps.setDimensions(1, 24)
            # an estimate is enough (the step has a safety factor); the top of the spectrum
            # of a periodic medium is clustered, which slows a tight tolerance down a lot
            eps.setTolerances(1e-5, 5000)
            eps.solve()
            if eps.getConverged() < 1:
                raise SolverError("SLEPc found no largest eigenvalue of M^-1 K (CFL estimate)")
            self._lambda_max = float(eps.getEigenvalue(0).real)
            eps.destroy()
            S.destroy()
            d.destroy()
        return self._lambda_max

    def stable_step(self, scheme: str = "leapfrog4", safety: float = 0.9) -> float:
        """The largest stable ``tau`` of ``scheme`` times ``safety``."""
        if scheme not in SCHEMES:
            raise ConfigError(f"scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
        return safety * float(np.sqrt(_STABILITY[scheme] / self.max_eigenvalue()))

    def energy(self, u: PETSc.Vec, v: PETSc.Vec) -> float:
        """``1/2 (v, M v) + 1/2 (u, K u)`` (collective)."""
        w = self.K.createVecLeft()
        self.K.mult(u, w)
        mv = v.copy()
        mv.pointwiseMult(mv, self.mass)
        out = 0.5 * (v.dot(mv) + u.dot(w))
        w.destroy()
        mv.destroy()
        return float(out)

    def destroy(self) -> None:
        for obj in (self.K, self.mass, self.inv_mass, *self.source_vectors):
            obj.destroy()
        if self.constraint is not None:
            self.constraint.destroy()


class LeapfrogStepper:
    """Explicit two-step scheme for :class:`FineScaleWave`: leapfrog (order 2) or its
    modified-equation correction (order 4); see the module notes.

    Parameters
    ----------
    wave
        The operators.
    u0, u1
        Initial displacement and velocity (callables of ``x``, numbers, or vectors of
        unknowns).
    tau
        Time step; default :meth:`FineScaleWave.stable_step` of the scheme.
    scheme
        ``"leapfrog"`` or ``"leapfrog4"``.

    Notes
    -----
    The state is ``(u^n, u^{n-1})`` and ``t = n tau`` (before the first step: ``u0`` and
    ``u1``).  :meth:`advance` takes an interval
    that must be a whole number of steps ``tau`` (up to rounding): choose ``tau`` with
    :meth:`fit_step` so that output times are multiples of it.  The first step is the
    Taylor expansion of ``u(tau)`` to the scheme's order.
    """

    def __init__(self, wave: FineScaleWave, u0: Any, u1: Any = 0.0, *,
                 tau: float | None = None, scheme: str = "leapfrog4") -> None:
        if scheme not in SCHEMES:
            raise ConfigError(f"scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
        self.wave = wave
        self.scheme = scheme
        self.order = SCHEMES[scheme]
        self.tau = float(tau) if tau is not None else wave.stable_step(scheme)
        if not (np.isfinite(self.tau) and self.tau > 0):
            raise ConfigError(f"time step must be > 0, got {tau!r}")
        self.t = 0.0
        self.steps = 0
        self.u = self._vector(u0)
        self.u_prev = self._vector(u0)
        self._work = [wave.create_vector() for _ in range(3)]
        # B = -tau^2 M^{-1} K, formed once: the source-free step is MatMults and axpys only
        self._B = wave.K.copy()
        self._B.diagonalScale(L=wave.inv_mass)
        self._B.scale(-self.tau * self.tau)
        self._v0: PETSc.Vec | None = self._vector(u1)  # used by the first step only

    def _vector(self, data: Any) -> PETSc.Vec:
        if isinstance(data, PETSc.Vec):
            return data.copy()
        return self.wave.project_nodal(data)

    @staticmethod
    def fit_step(interval: float, tau_max: float) -> float:
        """The largest ``tau <= tau_max`` that divides ``interval`` a whole number of times."""
        n = int(np.ceil(interval / tau_max * (1 - 1e-12)))
        return interval / max(n, 1)

    # ------------------------------------------------------------------ operators
    def _apply_A(self, x: PETSc.Vec, out: PETSc.Vec) -> PETSc.Vec:
        """``out = M^{-1} K x``."""
        self.wave.K.mult(x, out)
        out.pointwiseMult(out, self.wave.inv_mass)
        return out

    def _source(self, t: float, out: PETSc.Vec, second_derivative: bool = False) -> bool:
        """``out = g(t)`` (or ``g''(t)``); False if there is no source."""
        if not self.wave.sources:
            return False
        out.set(0.0)
        h = self.tau
        for src, gvec in zip(self.wave.sources, self.wave.source_vectors, strict=True):
            if second_derivative:
                c = (src.time(t + h) - 2.0 * src.time(t) + src.time(t - h)) / (h * h)
            else:
                c = src.time(t)
            out.axpy(float(c), gvec)
        return True

    def _acceleration(self, u: PETSc.Vec, t: float, out: PETSc.Vec) -> PETSc.Vec:
        """``out = g(t) - A u``."""
        self._apply_A(u, out)
        out.scale(-1.0)
        g = self._work[2]
        if self._source(t, g):
            out.axpy(1.0, g)
        return out

    def _first_step(self, v0: PETSc.Vec) -> None:
        """``u^1`` from the Taylor series ``u + tau v + tau^2/2 u'' (+ tau^3/6 u''' +
        tau^4/24 u'''')``; ``u^{-1}`` is never needed."""
        tau = self.tau
        a0 = self._acceleration(self.u, 0.0, self.wave.create_vector())
        u1 = self.u.copy()
        u1.axpy(tau, v0)
        u1.axpy(0.5 * tau**2, a0)
        if self.order == 4:
            j0 = self._apply_A(v0, self.wave.create_vector())  # u''' = -A v + g'
            j0.scale(-1.0)
            if self.wave.sources:
                gp = self.wave.create_vector()
                for src, gvec in zip(self.wave.sources, self.wave.source_vectors, strict=True):
                    gp.axpy((src.time(tau) - src.time(-tau)) / (2 * tau), gvec)
                j0.axpy(1.0, gp)
                gp.destroy()
            s0 = self._apply_A(a0, self.wave.create_vector())  # u'''' = -A u'' + g''
            s0.scale(-1.0)
            g2 = self.wave.create_vector()
            if self._source(0.0, g2, second_derivative=True):
                s0.axpy(1.0, g2)
            g2.destroy()
            u1.axpy(tau**3 / 6.0, j0)
            u1.axpy(tau**4 / 24.0, s0)
            j0.destroy()
            s0.destroy()
        a0.destroy()
        self.u_prev.destroy()
        self.u_prev, self.u = self.u, u1

    def _check_finite(self) -> None:
        norm = self.u.norm(PETSc.NormType.NORM_INFINITY)
        if not np.isfinite(norm):
            raise SolverError(f"the wave solution became non-finite at t = {self.t:.6g} "
                              f"(step {self.steps}): is tau = {self.tau:.4g} above the "
                              "stability limit?")

    # ------------------------------------------------------------------ stepping
    def step(self) -> None:
        """One step: ``u^{n+1}`` from ``u^n, u^{n-1}`` (the first from ``u0, u1``)."""
        if self._v0 is not None:
            self._first_step(self._v0)
            self._v0.destroy()
            self._v0 = None
            self.steps, self.t = 1, self.tau
            return
        if self.wave.sources:
            self._step_with_source()
        else:
            # no source: u^{n+1} = 2 u^n - u^{n-1} + (B + B^2/12) u^n with B = -tau^2 A
            # (the B^2 term for order 4): 1 or 2 MatMults and 2-3 vector updates
            w1, w2 = self._work[0], self._work[1]
            self._B.mult(self.u, w1)
            if self.order == 4:
                self._B.mult(w1, w2)
                w1.axpy(1.0 / 12.0, w2)
            w1.axpy(2.0, self.u)
            self.u_prev.aypx(-1.0, w1)  # u_prev <- w1 - u_prev = u^{n+1}
            self.u, self.u_prev = self.u_prev, self.u
        self.steps += 1
        self.t = self.steps * self.tau

    def _step_with_source(self) -> None:
        tau2 = self.tau * self.tau
        acc, w = self._work[0], self._work[1]
        self._acceleration(self.u, self.t, acc)  # g - A u
        if self.order == 4:
            # tau^4/12 (A^2 u - A g + g'') = tau^4/12 (-A (g - A u) + g'')
            self._apply_A(acc, w)
            w.scale(-1.0)
            g2 = self._work[2]
            if self._source(self.t, g2, second_derivative=True):
                w.axpy(1.0, g2)
            acc.axpy(tau2 / 12.0, w)
        # u^{n+1} = 2 u^n - u^{n-1} + tau^2 acc, written into u_prev
        self.u_prev.scale(-1.0)
        self.u_prev.maxpy([2.0, tau2], [self.u, acc])
        self.u, self.u_prev = self.u_prev, self.u

    def advance(self, interval: float) -> int:
        """Steps covering ``interval`` (a whole number of ``tau``); returns their number."""
        n = interval / self.tau
        steps = round(n)
        if steps < 1 or abs(n - steps) > 1e-8 * max(1.0, n):
            raise ConfigError(f"interval {interval:.6g} is not a whole number of steps "
                              f"tau = {self.tau:.6g} (use LeapfrogStepper.fit_step)")
        for _ in range(steps):
            self.step()
        self._check_finite()
        return steps

    def set_state(self, u: PETSc.Vec, u_prev: PETSc.Vec, steps: int) -> None:
        """Continue from ``u^n = u``, ``u^{n-1} = u_prev`` after ``steps = n >= 1`` steps
        (a restart: the next step is bitwise the one the interrupted run took)."""
        if steps < 1:
            raise ValueError("set_state needs the state after at least one step")
        u.copy(self.u)
        u_prev.copy(self.u_prev)
        if self._v0 is not None:
            self._v0.destroy()
            self._v0 = None
        self.steps = int(steps)
        self.t = self.steps * self.tau

    def velocity(self, out: PETSc.Vec | None = None) -> PETSc.Vec:
        """``(u^n - u^{n-1})/tau + tau/2 (g - A u^n)``: second order at ``t_n`` (``u1``
        before the first step)."""
        out = out if out is not None else self.wave.create_vector()
        if self._v0 is not None:
            self._v0.copy(out)
            return out
        self.u.copy(out)
        out.axpy(-1.0, self.u_prev)
        out.scale(1.0 / self.tau)
        acc = self._acceleration(self.u, self.t, self._work[0])
        out.axpy(0.5 * self.tau, acc)
        return out

    def energy(self) -> float:
        """The discrete energy the scheme conserves exactly when ``f = 0``:

        ``1/2 |(u^n - u^{n-1})/tau|_M^2 + 1/2 (u^n, K_tau u^{n-1})`` with ``K_tau = K``
        (leapfrog) or ``K - tau^2/12 K M^{-1} K`` (order 4): the scheme is
        ``M (u^{n+1} - 2u^n + u^{n-1}) = -tau^2 K_tau u^n``, and ``K_tau`` is symmetric.
        Before the first step: the energy of ``u0, u1`` (:meth:`FineScaleWave.energy`).
        """
        w = self.wave
        if self._v0 is not None:
            return w.energy(self.u, self._v0)
        d = self.u.copy()
        d.axpy(-1.0, self.u_prev)
        md = d.copy()
        md.pointwiseMult(md, w.mass)
        kin = 0.5 * d.dot(md) / self.tau**2
        ku = w.K.createVecLeft()
        w.K.mult(self.u_prev, ku)
        pot = self.u.dot(ku)
        if self.order == 4:
            mk = ku.copy()
            mk.pointwiseMult(mk, w.inv_mass)
            kmk = w.K.createVecLeft()
            w.K.mult(mk, kmk)
            pot -= self.tau**2 / 12.0 * self.u.dot(kmk)
            mk.destroy()
            kmk.destroy()
        for vec in (d, md, ku):
            vec.destroy()
        return float(kin + 0.5 * pot)

    def destroy(self) -> None:
        for obj in (self.u, self.u_prev, *self._work, self._B):
            obj.destroy()
