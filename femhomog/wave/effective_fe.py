"""Finite elements for the effective wave equations (14) of order s = 0 and s = 1.

The Fourier solver (:mod:`femhomog.wave.fourier`) is exact, but only on periodic boxes.
On a bounded box the effective equation (14) with ``s <= 1``,

    d_t^2 u - a^0:grad^2 u + eps^2 (a^2:grad^4 u - b^2:grad^2 d_t^2 u) = Q f,
    Q f = f - eps^2 b^2:grad^2 f                                          (29),

is solved here in the weak form of the wave paper's (15): find ``u(t) in V_h`` with

    m(d_t^2 u, v) + k(u, v) = m(f, v)     for all v in V_h,
    m(u, v) = (u, v) + eps^2 (b^2 grad u, grad v),
    k(u, v) = (a^0 grad u, grad v) + eps^2 c_h(u, v).

The fourth-order part ``(a^2 grad^2 u, grad^2 v)`` needs ``H^2``: with continuous
Lagrange elements of degree ``p >= 2`` it is replaced by the C0 interior penalty form
(Engel et al. 2002, Brenner & Sung 2005) for a general fully symmetric tensor ``A = a^2``,

    c_h(u, v) = sum_K (A grad^2 u, grad^2 v)_K
                - sum_F ({(A grad^2 u) n.n}, [d_n v])_F + ({(A grad^2 v) n.n}, [d_n u])_F
                + sum_F sigma_F ([d_n u], [d_n v])_F,

over the interior facets ``F`` (the jump of a C0 function's gradient is normal), with
``sigma_F = penalty * p^2 * |A| / h_F``.  It is consistent, symmetric, and coercive for
a large enough ``penalty``; it converges like ``h^{p-1}`` in the broken ``H^2`` norm, so
the frequencies err by ``h^{2(p-1)}`` and the L2 error at a fixed time is of order
``min(p + 1, 2(p - 1))``: 2 for P2, 4 for P3 (measured in ``tests/test_wave_effective_fe.py``).
The ``Q f`` of (29) enters as ``m(f, v)``: its symbol is that of ``m``, as in the
Fourier solver.

Boundary conditions: ``"neumann"`` (all natural: the conormal flux and the higher-order
moments vanish) or ``"dirichlet"`` (``u = 0`` imposed through
:func:`femhomog.periodic.dirichlet_constraint`; the remaining natural condition
``(A grad^2 u) n.n = 0`` makes ``sin`` modes on a box exact eigenfunctions when ``A`` has no
odd mixed components).  Periodic boxes are the Fourier solver's job: interior-penalty
facets across a periodic boundary are not representable with dolfinx's facet integrals.

Time stepping: the trapezoidal rule (Newmark's average acceleration) in the unknowns
``(u, v = d_t u)``,

    (M + dt^2/4 K) u^{n+1} = M (u^n + dt v^n) - dt^2/4 K u^n + dt^2/4 M (f^n + f^{n+1}),
    v^{n+1} = 2 (u^{n+1} - u^n)/dt - v^n,

second order, unconditionally stable and conserving ``1/2 v.M v + 1/2 u.K u`` exactly
when ``f = 0``.  The matrix ``M + dt^2/4 K`` is factorized once (MUMPS): ``M`` is not
diagonal (``b^2`` couples neighbours), so an explicit scheme would need a solve per step
anyway.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from femhomog import (
    ConfigError,
    SolverError,
    _fenicsx,  # noqa: F401  (must precede dolfinx / petsc4py)
)

# isort: split
import dolfinx
import dolfinx.fem.petsc
import ufl
from mpi4py import MPI
from petsc4py import PETSc

from femhomog.periodic import LinearConstraint
from femhomog.periodic.dirichlet import dirichlet_constraint
from femhomog.tensors.effective import EffectiveTensors

__all__ = ["EffectiveWaveFE"]

BOUNDARIES = ("neumann", "dirichlet")


def _tensor_norm(A: np.ndarray) -> float:
    """Spectral norm of the matricization ``A_(ij),(kl)`` (scales the penalty)."""
    d = A.shape[0]
    return float(np.linalg.norm(A.reshape(d * d, d * d), 2))


class EffectiveWaveFE:
    """The effective wave equation (14), s = 0 or 1, with finite elements on a bounded box.

    Parameters
    ----------
    mesh
        Mesh of the domain (interval, triangle, quadrilateral, tetrahedron, hexahedron).
    tensors
        ``a^0`` and, for s = 1, ``a^2``, ``b^2`` (:class:`~femhomog.tensors.EffectiveTensors`;
        higher pairs are rejected, use ``tensors.truncated(1)``).
    eps
        The period ``eps`` of (14).
    degree
        Lagrange degree; ``>= 2`` when s = 1 (interior penalty).
    boundary
        ``"neumann"`` or ``"dirichlet"`` (module docstring).
    penalty
        The interior-penalty constant (``sigma_F = penalty p^2 |a^2| / h_F``).
    source
        ``(f, theta)``: ``f(x)`` (callable on points ``(3, n)``) and ``theta(t)``;
        the source is ``f(x) theta(t)``.
    """

    def __init__(self, mesh: dolfinx.mesh.Mesh, tensors: EffectiveTensors, eps: float, *,
                 degree: int = 2, boundary: str = "neumann", penalty: float = 4.0,
                 source: tuple[Callable[[np.ndarray], np.ndarray],
                               Callable[[float], float]] | None = None) -> None:
        if tensors.order > 1:
            raise ConfigError(f"the finite-element effective solver handles s = 0 and s = 1, "
                              f"got s = {tensors.order} (the Fourier solver handles any s)")
        if boundary not in BOUNDARIES:
            raise ConfigError(f"boundary must be one of {', '.join(BOUNDARIES)}, got {boundary!r}")
        if not (isinstance(degree, int) and degree >= 1):
            raise ConfigError(f"degree must be an integer >= 1, got {degree!r}")
        if tensors.order == 1 and degree < 2:
            raise ConfigError("the s = 1 equation is of fourth order: degree must be >= 2")
        if not (np.isfinite(eps) and eps > 0):
            raise ConfigError(f"eps must be a number > 0, got {eps!r}")
        if not (np.isfinite(penalty) and penalty > 0):
            raise ConfigError(f"penalty must be a number > 0, got {penalty!r}")
        d = mesh.geometry.dim
        if tensors.dim != d:
            raise ConfigError(f"the tensors are of dimension {tensors.dim}, the mesh of {d}")
        self.mesh, self.comm = mesh, mesh.comm
        self.tensors, self.eps, self.degree = tensors, float(eps), degree
        self.boundary, self.t = boundary, 0.0
        self.V = dolfinx.fem.functionspace(mesh, ("Lagrange", degree))
        u, v = ufl.TrialFunction(self.V), ufl.TestFunction(self.V)
        e2 = self.eps**2
        a0 = ufl.as_matrix(np.asarray(tensors.a0, dtype=float).tolist())
        mass = ufl.inner(u, v) * ufl.dx
        stiffness = ufl.inner(a0 * ufl.grad(u), ufl.grad(v)) * ufl.dx
        if tensors.order == 1:
            b2 = ufl.as_matrix(np.asarray(tensors.b[0], dtype=float).tolist())
            mass += e2 * ufl.inner(b2 * ufl.grad(u), ufl.grad(v)) * ufl.dx
            stiffness += e2 * self._interior_penalty(u, v, np.asarray(tensors.a[0], float),
                                                     penalty)
        self.constraint: LinearConstraint | None = (
            dirichlet_constraint(self.V) if boundary == "dirichlet" else None)
        self.M = self._matrix(mass)
        self.K = self._matrix(stiffness)
        self.source = source
        self._f: PETSc.Vec | None = None
        if source is not None:
            f_space, _ = source
            self._f = self.interpolate(f_space)
        self.u, self.v = self.create_vector(), self.create_vector()
        self._dt: float | None = None
        self._ksp: PETSc.KSP | None = None
        self.steps = 0

    # ------------------------------------------------------------------ forms
    def _interior_penalty(self, u: Any, v: Any, A: np.ndarray, penalty: float) -> Any:
        """``c_h(u, v)`` of the module docstring for the tensor ``A = a^2``."""
        At = ufl.as_tensor(A.tolist())
        i, j, k, l = ufl.indices(4)

        def flux(w: Any) -> Any:  # (A grad^2 w)_ij = A_ijkl d_kl w
            return ufl.as_tensor(At[i, j, k, l] * ufl.grad(ufl.grad(w))[k, l], (i, j))

        n = ufl.FacetNormal(self.mesh)
        h = ufl.CellDiameter(self.mesh)
        h_f = ufl.avg(h)

        def jump_dn(w: Any) -> Any:  # [d_n w] = grad w+ . n+ + grad w- . n-
            return ufl.dot(ufl.grad(w)("+"), n("+")) + ufl.dot(ufl.grad(w)("-"), n("-"))

        def avg_nn(w: Any) -> Any:  # {(A grad^2 w) n.n}, the same for n+ and n- = -n+
            return ufl.avg(ufl.dot(ufl.dot(flux(w), n), n))

        sigma = penalty * self.degree**2 * _tensor_norm(A) / h_f
        form = ufl.inner(flux(u), ufl.grad(ufl.grad(v))) * ufl.dx
        if _tensor_norm(A) > 0:
            form += (-avg_nn(u) * jump_dn(v) - avg_nn(v) * jump_dn(u)
                     + sigma * jump_dn(u) * jump_dn(v)) * ufl.dS
        return form

    def _matrix(self, form: Any) -> PETSc.Mat:
        A = dolfinx.fem.petsc.assemble_matrix(dolfinx.fem.form(form))
        A.assemble()
        if self.constraint is None:
            return A
        reduced = self.constraint.reduce_matrix(A)
        A.destroy()
        return reduced

    # ------------------------------------------------------------------ data
    def create_vector(self) -> PETSc.Vec:
        """A zero vector of the unknowns (after the Dirichlet reduction)."""
        x = self.M.createVecRight()
        x.set(0.0)
        return x

    @property
    def num_dofs(self) -> int:
        return self.M.getSize()[0]

    def interpolate(self, function: Callable[[np.ndarray], np.ndarray] | float,
                    out: PETSc.Vec | None = None) -> PETSc.Vec:
        """Nodal interpolant of ``function(x)`` (``x`` of shape ``(3, n)``) as unknowns."""
        w = dolfinx.fem.Function(self.V)
        if callable(function):
            w.interpolate(function)
        else:
            w.x.array[:] = float(function)
        if not np.all(np.isfinite(w.x.array)):
            raise ConfigError("initial data or source contain NaN or inf at the mesh nodes")
        out = out if out is not None else self.create_vector()
        if self.constraint is not None:
            self.constraint.restrict(w, out)
        else:
            out.array[:] = w.x.array[: self.V.dofmap.index_map.size_local]
        return out

    def to_function(self, x: PETSc.Vec, w: dolfinx.fem.Function | None = None
                    ) -> dolfinx.fem.Function:
        """The finite-element function of the unknowns ``x`` (ghosts updated)."""
        w = w if w is not None else dolfinx.fem.Function(self.V)
        if self.constraint is not None:
            self.constraint.expand(x, w)
        else:
            w.x.array[: self.V.dofmap.index_map.size_local] = x.array_r
            w.x.scatter_forward()
        return w

    def set_initial(self, u0: Callable[[np.ndarray], np.ndarray] | float,
                    u1: Callable[[np.ndarray], np.ndarray] | float = 0.0) -> None:
        """``u(0) = I_h u0``, ``d_t u(0) = I_h u1``; time back to 0."""
        self.interpolate(u0, self.u)
        self.interpolate(u1, self.v)
        self.t, self.steps = 0.0, 0

    # ------------------------------------------------------------------ stepping
    def _factorize(self, dt: float) -> None:
        if self._ksp is not None and self._dt == dt:
            return
        if self._ksp is not None:
            self._ksp.destroy()
        # the pattern of K holds that of M (K also couples across interior facets)
        S = self.K.copy()
        S.scale(0.25 * dt * dt)
        S.axpy(1.0, self.M, structure=PETSc.Mat.Structure.SUBSET_NONZERO_PATTERN)
        ksp = PETSc.KSP().create(self.comm)
        ksp.setOperators(S)
        ksp.setType("preonly")
        pc = ksp.getPC()
        pc.setType("cholesky")
        pc.setFactorSolverType("mumps")
        ksp.setUp()
        S.destroy()  # the KSP keeps its reference
        self._ksp, self._dt = ksp, dt

    def _load(self, t: float, out: PETSc.Vec) -> None:
        """``M f(t)`` into ``out`` (zero without a source)."""
        if self._f is None:
            out.set(0.0)
            return
        self.M.mult(self._f, out)
        out.scale(float(self.source[1](t)))

    def step(self, dt: float) -> None:
        """One trapezoidal step of size ``dt`` (module docstring)."""
        if not (math.isfinite(dt) and dt > 0):
            raise ConfigError(f"the time step must be a number > 0, got {dt!r}")
        self._factorize(dt)
        u_old = self.u.copy()
        rhs, work = self.create_vector(), self.create_vector()
        # M (u + dt v) - dt^2/4 K u + dt^2/4 (M f^n + M f^{n+1})
        work.waxpy(dt, self.v, self.u)
        self.M.mult(work, rhs)
        self.K.mult(self.u, work)
        rhs.axpy(-0.25 * dt * dt, work)
        if self._f is not None:
            self._load(self.t, work)
            rhs.axpy(0.25 * dt * dt, work)
            self._load(self.t + dt, work)
            rhs.axpy(0.25 * dt * dt, work)
        self._ksp.solve(rhs, self.u)
        reason = self._ksp.getConvergedReason()
        if reason < 0:
            raise SolverError(f"effective wave step: the factorized solve failed (reason {reason})")
        # v^{n+1} = 2 (u^{n+1} - u^n)/dt - v^n
        self.v.scale(-1.0)
        self.v.axpy(2.0 / dt, self.u)
        self.v.axpy(-2.0 / dt, u_old)
        for vec in (u_old, rhs, work):
            vec.destroy()
        self.t += dt
        self.steps += 1

    def advance(self, interval: float, dt_max: float) -> int:
        """Advance by ``interval`` in equal steps ``<= dt_max``; returns the step count."""
        if interval <= 0:
            return 0
        n = max(1, math.ceil(interval / dt_max - 1e-12))
        t_end = self.t + interval
        for _ in range(n):
            self.step(interval / n)
        self.t = t_end
        return n

    # ------------------------------------------------------------------ diagnostics
    def energy(self) -> float:
        """``1/2 v.M v + 1/2 u.K u`` (conserved by the scheme when f = 0; collective)."""
        w = self.create_vector()
        self.M.mult(self.v, w)
        e = 0.5 * self.v.dot(w)
        self.K.mult(self.u, w)
        e += 0.5 * self.u.dot(w)
        w.destroy()
        return float(e)

    def l2_error(self, exact: Callable[[np.ndarray], np.ndarray], *,
                 degree_raise: int = 3) -> tuple[float, float]:
        """``(||u_h - exact||, ||exact||)`` in L2, ``exact`` interpolated in degree ``p + raise``."""
        W = dolfinx.fem.functionspace(self.mesh, ("Lagrange", self.degree + degree_raise))
        ue = dolfinx.fem.Function(W)
        ue.interpolate(exact)
        uh = self.to_function(self.u)
        err = dolfinx.fem.form((uh - ue) ** 2 * ufl.dx)
        ref = dolfinx.fem.form(ue**2 * ufl.dx)
        return (math.sqrt(self.comm.allreduce(dolfinx.fem.assemble_scalar(err), op=MPI.SUM)),
                math.sqrt(self.comm.allreduce(dolfinx.fem.assemble_scalar(ref), op=MPI.SUM)))

    def destroy(self) -> None:
        for obj in (self.M, self.K, self.u, self.v, self._f, self._ksp):
            if obj is not None:
                obj.destroy()
        if self.constraint is not None:
            self.constraint.destroy()
