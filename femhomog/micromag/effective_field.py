"""The discrete (nodal) effective field ``H_h(m) = M^{-1}(-K m + F(m, t))`` and the torque.

With the lumped mass ``M`` (vertex quadrature) the Galerkin effective field of
an :class:`~femhomog.micromag.problem.LLGProblem` is a nodal vector: ``K`` the
(periodic-reduced) matrix of the implicit bilinear forms of
:mod:`femhomog.micromag.terms`, ``F`` the assembled explicit field forms.  The
implicit midpoint rule evaluates it at every Newton residual, and the
relaxation mode stops when the torque ``max_i |m_i x H_i|`` (the right-hand
side of (3.1) without damping, which vanishes exactly at equilibria) is small.

On periodic meshes everything lives on the reduced (master-node) layout of
:attr:`LLGProblem.reduction`: slave masses and forms are added to their masters.
"""

from __future__ import annotations

import numpy as np

from femhomog import _fenicsx  # noqa: F401  (must precede dolfinx / petsc4py)

# isort: split
import dolfinx
import dolfinx.fem.petsc
import ufl
from mpi4py import MPI
from petsc4py import PETSc

from femhomog.micromag.problem import LLGProblem, nodal_norms

__all__ = ["NodalEffectiveField"]


class NodalEffectiveField:
    """Evaluate ``H_h(m, t)`` at the (master) nodes of an LLG problem.

    Parameters
    ----------
    problem
        The problem whose terms define the field.  The implicit matrix is
        assembled once (the implicit terms are linear with constant
        coefficients); explicit terms are assembled at each evaluation, after
        :meth:`LLGProblem.prepare_terms`.

    Attributes
    ----------
    K_r : PETSc.Mat or None
        Reduced matrix of the implicit bilinear forms (None without implicit terms).
    inv_mass : numpy.ndarray
        ``(n_owned_master_nodes, 3)`` inverse lumped masses.
    """

    def __init__(self, problem: LLGProblem) -> None:
        self.problem = problem
        V = problem.V
        R = problem.reduction
        self.R = R
        phi = ufl.TestFunction(V)

        # Reduced lumped mass (periodic: slave masses added to their masters).
        self.mass_r = R.reduce_vector(problem.mass)
        self.inv_mass = 1.0 / self.mass_r.array.reshape(-1, 3)

        impl = problem.implicit_terms
        self.K_r: PETSc.Mat | None = None
        if impl:
            u = ufl.TrialFunction(V)
            k_form = impl[0].bilinear(u, phi)
            for term in impl[1:]:
                k_form = k_form + term.bilinear(u, phi)
            K = dolfinx.fem.petsc.assemble_matrix(dolfinx.fem.form(k_form))
            K.assemble()
            self.K_r = R.reduce_matrix(K)
            K.destroy()

        # Explicit part: assembled at the state held by self.state (a Function).
        self.state = dolfinx.fem.Function(V, name="m_field")
        expl = problem.explicit_terms
        self.F_form: dolfinx.fem.Form | None = None
        if expl:
            f = expl[0].field_form(self.state, phi)
            for term in expl[1:]:
                f = f + term.field_form(self.state, phi)
            self.F_form = dolfinx.fem.form(f)
            self._b = dolfinx.fem.petsc.create_vector(V)
            self._F_r = R.create_reduced_vector()
        self._work = R.create_reduced_vector()
        self._Km = R.create_reduced_vector()

    def create_reduced_vector(self) -> PETSc.Vec:
        return self.R.create_reduced_vector()

    def evaluate(self, m_nodes: np.ndarray, t: float) -> np.ndarray:
        """Nodal ``H_h`` for the reduced nodal values ``m_nodes`` (shape ``(n, 3)``) at ``t``."""
        prob = self.problem
        rhs = np.zeros_like(m_nodes)
        if self.K_r is not None:
            self._work.array[:] = m_nodes.reshape(-1)
            self.K_r.mult(self._work, self._Km)
            rhs -= self._Km.array.reshape(-1, 3)
        if self.F_form is not None:
            self._work.array[:] = m_nodes.reshape(-1)
            self.R.expand(self._work, self.state)
            prob.prepare_terms(t, self.state)
            self.R.assemble_reduced_vector(self.F_form, out=self._F_r, work=self._b)
            rhs += self._F_r.array.reshape(-1, 3)
        return rhs * self.inv_mass

    def current_nodes(self) -> np.ndarray:
        """Reduced nodal values ``(n, 3)`` of the problem's magnetization (a copy)."""
        m_red = self.R.restrict(self.problem.m)
        out = m_red.array.reshape(-1, 3).copy()
        m_red.destroy()
        return out

    def max_torque(self) -> float:
        """``max_i |m_i x H_h(m)_i|`` at the problem's current ``(t, m)`` (collective)."""
        m = self.current_nodes()
        H = self.evaluate(m, self.problem.t)
        local = float(np.max(nodal_norms(np.cross(m, H)), initial=0.0))
        return float(self.problem.comm.allreduce(local, op=MPI.MAX))

    def destroy(self) -> None:
        for obj in (self.mass_r, self._work, self._Km, self.K_r):
            if obj is not None:
                obj.destroy()
        if self.F_form is not None:
            self._b.destroy()
            self._F_r.destroy()
