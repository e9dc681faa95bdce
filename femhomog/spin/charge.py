"""The charge density rho of (4.5) (Boltzmann-LLG paper, Sect. 4), positive and mass-conserving.

    d_t rho - div(D (grad rho + rho grad phi)) = 0                                    (4.5)

with zero total flux on the boundary.  The flux is written with the Slotboom variable
``u = e^phi rho``, ``J = -D e^{-phi} grad u``, with a lumped (vertex-quadrature) mass.
With P1 elements on a non-obtuse mesh the backward-Euler matrix is then an M-matrix, so
``rho`` stays positive; ``rho = C e^{-phi}`` (``u`` constant) is an exact discrete steady
state, and the lumped mass ``sum_i m_i rho_i`` is conserved exactly by every step (the
test function 1), up to the linear solver's residual.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from femhomog import (
    ConfigError,
    _fenicsx,  # noqa: F401  (must precede dolfinx / petsc4py)
)

# isort: split
import dolfinx
import dolfinx.fem.petsc
import ufl
from mpi4py import MPI
from petsc4py import PETSc

from femhomog.coefficients import CellCoefficient
from femhomog.spin.data import diffusion, flux
from femhomog.spin.linear import ImplicitLinear
from femhomog.spin.precession import VERTEX_RULE

__all__ = ["ChargeTransport"]


class ChargeTransport:
    """The charge density ``rho`` of (4.5), positivity- and mass-preserving (Slotboom form).

    Parameters
    ----------
    mesh, cell_tags, D
        As :class:`SpinTransport`.
    potential
        ``phi`` as a UFL expression or Function (None: pure diffusion).
    solver, rtol
        As :class:`SpinTransport`.

    Notes
    -----
    The unknown is ``u = e^phi rho`` (P1), the step backward Euler with a lumped mass:
    ``(e^-phi (u - u_old)/dt, w)_lumped + (D e^-phi grad u, grad w) = 0``.  ``rho`` is
    ``e^-phi u`` at the nodes (:attr:`rho`).
    """

    def __init__(self, mesh: dolfinx.mesh.Mesh, *, cell_tags: dolfinx.mesh.MeshTags | None = None,
                 D: CellCoefficient | float = 1.0, potential: Any = None,
                 solver: str = "iterative", rtol: float = 1e-12) -> None:
        self.mesh = mesh
        self.comm: MPI.Comm = mesh.comm
        self.D, D_ufl = diffusion(D, mesh, cell_tags)
        self.V = dolfinx.fem.functionspace(mesh, ("Lagrange", 1))
        phi = potential if potential is not None else dolfinx.fem.Constant(mesh, 0.0)
        # e^{-phi} at the nodes (the lumped mass) and in the flux
        self.weight = dolfinx.fem.Function(self.V)
        self.weight.interpolate(dolfinx.fem.Expression(ufl.exp(-phi),
                                                       self.V.element.interpolation_points))
        self.u = dolfinx.fem.Function(self.V)
        self.rho = dolfinx.fem.Function(self.V, name="rho")
        self._u_old = dolfinx.fem.Function(self.V)
        u, w = ufl.TrialFunction(self.V), ufl.TestFunction(self.V)
        dx_v = ufl.dx(metadata=VERTEX_RULE)
        self._inv_dt = dolfinx.fem.Constant(mesh, np.float64(1.0))
        # the flux weight at quadrature points: e^{-phi} of the potential itself
        self._a = dolfinx.fem.form(
            self._inv_dt * self.weight * u * w * dx_v
            + ufl.inner(flux(D_ufl, ufl.exp(-phi) * ufl.grad(u)), ufl.grad(w)) * ufl.dx)
        self._L = dolfinx.fem.form(self._inv_dt * self.weight * self._u_old * w * dx_v)
        self._mass = dolfinx.fem.form(self.rho * dx_v)
        self._ksp = ImplicitLinear(self.comm, solver, f"femhomog_rho_{id(self)}_", rtol)
        self.t = 0.0

    def set_state(self, rho0: Callable[[np.ndarray], np.ndarray] | float) -> None:
        self.rho.interpolate(rho0 if callable(rho0) else
                             (lambda x: np.full(x.shape[1], float(rho0))))
        if not np.all(np.isfinite(self.rho.x.array)):
            raise ConfigError("initial charge density contains NaN or inf")
        self.u.x.array[:] = self.rho.x.array / self.weight.x.array
        self.t = 0.0

    def sync_from_rho(self) -> None:
        """``u = e^phi rho`` after :attr:`rho` was set directly (e.g. from a checkpoint)."""
        self.u.x.array[:] = self.rho.x.array / self.weight.x.array

    def step(self, dt: float) -> None:
        """One backward-Euler step (collective)."""
        self._u_old.x.array[:] = self.u.x.array
        self._inv_dt.value = 1.0 / dt
        A = dolfinx.fem.petsc.assemble_matrix(self._a)
        A.assemble()
        b = dolfinx.fem.petsc.assemble_vector(self._L)
        b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        try:
            self._ksp.solve(A, b, self.u.x.petsc_vec, f"charge step at t = {self.t:.6g}")
        finally:
            A.destroy()
            b.destroy()
        self.u.x.scatter_forward()
        self.rho.x.array[:] = self.weight.x.array * self.u.x.array
        self.t += dt

    def mass(self) -> float:
        """``sum_i m_i rho_i`` (lumped): conserved exactly by every step."""
        return self.comm.allreduce(dolfinx.fem.assemble_scalar(self._mass), op=MPI.SUM)

    def destroy(self) -> None:
        self._ksp.destroy()
