"""The electric potential of a conductor with electrodes: the quasi-static current equation.

The drift of (4.5)-(4.6) (Boltzmann-LLG paper, Sect. 4, ``J = -D (grad N + N grad phi)``
of (4.4)) needs the potential ``phi``.  Instead of a given expression it can be the
quasi-static potential of the conductor ``C`` driven through electrodes:

    -div(sigma grad phi) = 0                on C
    phi = V_e                              on the facets tagged ``e`` (electrodes)
    sigma grad phi . n = 0                 on the rest of the boundary

with ``sigma`` the conductivity, a number per region (> 0).  The charge current is
``j = -sigma grad phi``; it drives the polarized spin-current source of
:class:`~femhomog.spin.transport.SpinTransport` (Zhang-Levy-Fert's
``(beta mu_B/e) m (x) j_e``) when the source is on.  ``sigma`` is continuous only
region-wise: the normal current is continuous across regions through the weak form,
``phi`` is continuous and piecewise linear along a layered stack (the closed form of
tests/test_spin_potential.py).

Discretization: Lagrange P1 (or P2), one symmetric positive definite system, CG +
GAMG (``solver = "iterative"``) or MUMPS (``"direct"``), on any number of ranks.
:meth:`CurrentPotential.electrode_current` is the consistent (residual) flux through
an electrode: the currents of all electrodes sum to zero up to the solver tolerance.
"""

from __future__ import annotations

from collections.abc import Mapping
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

from femhomog.coefficients import CellCoefficient

__all__ = ["CurrentPotential", "conductivity"]


def conductivity(sigma: float | Mapping[int | str, float] | CellCoefficient,
                 mesh: dolfinx.mesh.Mesh, cell_tags: dolfinx.mesh.MeshTags | None) -> Any:
    """``sigma`` as a UFL coefficient after checking it is > 0 on the mesh (collective).

    ``sigma``: a number, a table ``{cell tag: number}`` (needs ``cell_tags``; every tag of
    the mesh must have a value) or a scalar :class:`~femhomog.coefficients.CellCoefficient`.
    """
    dim = mesh.topology.dim
    if isinstance(sigma, Mapping):
        bad = {k: v for k, v in sigma.items() if not (np.isfinite(v) and v > 0)}
        if bad:
            raise ConfigError(f"spin sigma must be > 0, got {bad}")
        coeff = CellCoefficient.from_materials(dict(sigma), dim)
    elif isinstance(sigma, CellCoefficient):
        coeff = sigma
    else:
        if not (np.isfinite(sigma) and sigma > 0):
            raise ConfigError(f"spin sigma must be > 0, got {sigma!r}")
        coeff = CellCoefficient.from_expression(repr(float(sigma)), dim)
    if coeff.is_matrix:
        raise ConfigError("spin sigma must be a scalar per region")
    try:
        coeff.check(mesh, cell_tags)
    except ConfigError as exc:
        raise ConfigError(f"spin sigma: {exc}") from None
    return coeff.ufl(mesh, cell_tags)


class CurrentPotential:
    """``phi`` of ``-div(sigma grad phi) = 0`` with electrode values (quasi-static current).

    Parameters
    ----------
    mesh
        The conductor mesh.
    facet_tags
        Its facet tags; the electrodes are facets with these tags.
    electrodes
        ``{facet tag: potential}``, at least one (else ``phi`` is not unique).
    cell_tags, sigma
        Conductivity: a number, or ``{cell tag: number}`` with ``cell_tags`` (see
        :func:`conductivity`).
    degree
        Lagrange degree of ``phi`` (1 or 2).
    solver, rtol
        ``"iterative"`` (CG + GAMG, relative tolerance ``rtol``) or ``"direct"`` (MUMPS).

    Raises
    ------
    femhomog.ConfigError
        (on every rank) no electrode, an electrode tag that is not in the mesh, a
        non-finite potential, ``sigma <= 0``.
    """

    def __init__(self, mesh: dolfinx.mesh.Mesh, *,
                 facet_tags: dolfinx.mesh.MeshTags | None,
                 electrodes: Mapping[int, float],
                 cell_tags: dolfinx.mesh.MeshTags | None = None,
                 sigma: float | Mapping[int | str, float] | CellCoefficient = 1.0,
                 degree: int = 1, solver: str = "iterative", rtol: float = 1e-12) -> None:
        if not electrodes:
            raise ConfigError("a computed potential needs at least one electrode "
                              "(spin.electrodes = {facet tag = potential, ...})")
        if facet_tags is None:
            raise ConfigError("a computed potential needs the mesh's facet tags (electrodes)")
        if degree not in (1, 2):
            raise ConfigError(f"potential degree must be 1 or 2, got {degree!r}")
        if solver not in ("iterative", "direct"):
            raise ConfigError(f"potential solver must be 'direct' or 'iterative', got {solver!r}")
        self.mesh = mesh
        self.comm: MPI.Comm = mesh.comm
        self.sigma = conductivity(sigma, mesh, cell_tags)
        self.V = dolfinx.fem.functionspace(mesh, ("Lagrange", degree))
        self.phi = dolfinx.fem.Function(self.V, name="phi")
        fdim = mesh.topology.dim - 1
        mesh.topology.create_connectivity(fdim, fdim + 1)
        known = set(np.unique(np.concatenate(self.comm.allgather(
            np.asarray(facet_tags.values)))).tolist())
        self.electrodes: dict[int, float] = {}
        self._dofs: dict[int, np.ndarray] = {}
        bcs = []
        for tag, value in electrodes.items():
            tag, value = int(tag), float(value)
            if tag not in known:
                raise ConfigError(f"unknown facet tag {tag} for an electrode (the mesh has "
                                  f"{sorted(known)})")
            if not np.isfinite(value):
                raise ConfigError(f"electrode {tag}: potential must be finite, got {value!r}")
            dofs = dolfinx.fem.locate_dofs_topological(self.V, fdim, facet_tags.find(tag))
            self.electrodes[tag], self._dofs[tag] = value, dofs
            bcs.append(dolfinx.fem.dirichletbc(PETSc.ScalarType(value), dofs, self.V))
        self._bcs = bcs
        u, v = ufl.TrialFunction(self.V), ufl.TestFunction(self.V)
        self._a = dolfinx.fem.form(ufl.inner(self.sigma * ufl.grad(u), ufl.grad(v)) * ufl.dx)
        self._L = dolfinx.fem.form(dolfinx.fem.Constant(mesh, PETSc.ScalarType(0.0)) * v
                                   * ufl.dx)
        self._flux_weight = dolfinx.fem.Function(self.V)
        self._flux_form = dolfinx.fem.form(
            -ufl.inner(self.sigma * ufl.grad(self.phi), ufl.grad(self._flux_weight)) * ufl.dx)
        self.ksp = PETSc.KSP().create(self.comm)
        self.ksp.setOptionsPrefix(f"femhomog_phi_{id(self)}_")
        if solver == "direct":
            self.ksp.setType("preonly")
            self.ksp.getPC().setType("lu")
            self.ksp.getPC().setFactorSolverType("mumps")
        else:
            self.ksp.setType("cg")
            self.ksp.getPC().setType("gamg")
            self.ksp.setTolerances(rtol=rtol, atol=0.0, max_it=5000)
        self.ksp.setFromOptions()
        self.iterations = 0
        self.dofs = self.V.dofmap.index_map.size_global

    def solve(self) -> dolfinx.fem.Function:
        """Solve for :attr:`phi` (collective) and return it."""
        A = dolfinx.fem.petsc.assemble_matrix(self._a, bcs=self._bcs)
        A.assemble()
        b = dolfinx.fem.petsc.assemble_vector(self._L)
        dolfinx.fem.petsc.apply_lifting(b, [self._a], bcs=[self._bcs])
        b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        dolfinx.fem.petsc.set_bc(b, self._bcs)
        try:
            self.ksp.setOperators(A)
            self.ksp.solve(b, self.phi.x.petsc_vec)
            reason = self.ksp.getConvergedReason()
            if reason < 0:
                raise SolverError(f"electric potential: linear solver failed (KSP reason "
                                  f"{reason})")
            self.iterations = self.ksp.getIterationNumber()
        finally:
            A.destroy()
            b.destroy()
        self.phi.x.scatter_forward()
        return self.phi

    @property
    def current(self) -> Any:
        """The charge current density ``j = -sigma grad phi`` (UFL)."""
        return -self.sigma * ufl.grad(self.phi)

    def electrode_current(self, tag: int) -> float:
        """Current leaving the conductor through electrode ``tag``, ``int j.n ds``
        (collective).

        The residual form ``-int sigma grad phi . grad w dx`` with ``w = 1`` on the
        electrode's nodes and 0 on every other node: exact for the discrete solution
        (the currents of all electrodes sum to zero), where ``j.n`` of the element
        gradients is only first order.
        """
        w = self._flux_weight
        w.x.array[:] = 0.0
        w.x.array[self._dofs[int(tag)]] = 1.0
        # ghosts must agree with owners: the dofs above include ghosts located locally
        w.x.scatter_forward()
        value = dolfinx.fem.assemble_scalar(self._flux_form)
        return float(self.comm.allreduce(value, op=MPI.SUM))

    def destroy(self) -> None:
        self.ksp.destroy()
