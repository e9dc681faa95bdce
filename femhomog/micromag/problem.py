"""The semi-discrete Landau-Lifshitz problem (3.1) on a P1 vector space.

:class:`LLGProblem` holds what every time integrator needs: the magnetization
``m`` (continuous P1, three components, nodal values unit vectors), the field
terms, the damping ``alpha``, the optional periodic constraint of the box
(LL paper: periodic boundary conditions; otherwise the natural Neumann
condition ``a grad m . n = 0``), the lumped mass, and nodal operations
(normalization, tangent bases, checks) done on the owned dofs of every rank.

Equation (nondimensional, :mod:`femhomog.micromag.units`)::

    dm/dt = -m x H - alpha m x (m x H),   H = -dE/dm = div(a grad m) + ...    (3.1a)

or, with ``equation`` and ``gamma``, the same with ``H`` scaled by the precession
factor ``c`` (:func:`femhomog.micromag.units.precession_factor`): ``c = gamma`` for
the Landau-Lifshitz form, ``c = gamma/(1 + alpha^2)`` for the Gilbert form
``dm/dt = -gamma m x H + alpha m x dm/dt``.  ``c`` rescales time only: the
energy and the equilibria do not depend on it.

No time loop or I/O here: integrators live in :mod:`.tangent_plane` and
:mod:`.midpoint`, drivers elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
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

from femhomog.micromag.terms import FieldTerm, lumped_measure
from femhomog.micromag.units import check_damping, precession_factor
from femhomog.periodic import LinearConstraint, periodic_constraint

__all__ = ["LLGProblem", "cross_matrices", "nodal_norms", "normalize_nodes", "tangent_basis"]

#: Initial data with | |m| - 1 | above this at some node is rejected (unless
#: normalize=True): well above rounding (1e-16), well below any modelling choice.
UNIT_TOL = 1e-10
#: |m| below this is "zero": no direction to normalize to.
ZERO_TOL = 1e-12


def nodal_norms(values: np.ndarray) -> np.ndarray:
    """``|m_i|`` for nodal values of shape ``(n, 3)``."""
    return np.sqrt(np.einsum("ij,ij->i", values, values))


def normalize_nodes(values: np.ndarray) -> None:
    """Nodal projection ``m_i <- m_i / |m_i|`` in place (``values`` of shape ``(n, 3)``)."""
    values /= nodal_norms(values)[:, None]


def cross_matrices(a: np.ndarray) -> np.ndarray:
    """Cross-product matrices ``[a_i]_x`` (``[a]_x b = a x b``), shape ``(n, 3, 3)``."""
    n = a.shape[0]
    out = np.zeros((n, 3, 3))
    out[:, 0, 1], out[:, 0, 2] = -a[:, 2], a[:, 1]
    out[:, 1, 0], out[:, 1, 2] = a[:, 2], -a[:, 0]
    out[:, 2, 0], out[:, 2, 1] = -a[:, 1], a[:, 0]
    return out


def tangent_basis(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal bases ``(t1, t2)`` of the tangent planes ``m_i^perp`` (``m`` unit, ``(n, 3)``).

    ``t1`` is the Gram-Schmidt projection of the coordinate axis least
    aligned with ``m_i`` (so ``|t1|^2 >= 2/3`` before normalization: no
    cancellation), ``t2 = m x t1``; ``(t1, t2, m)`` is right-handed.
    """
    n = m.shape[0]
    e = np.zeros_like(m)
    e[np.arange(n), np.argmin(np.abs(m), axis=1)] = 1.0
    t1 = e - np.einsum("ij,ij->i", e, m)[:, None] * m
    t1 /= nodal_norms(t1)[:, None]
    t2 = np.cross(m, t1)
    return t1, t2


def _identity_constraint(V: dolfinx.fem.FunctionSpace) -> LinearConstraint:
    """``P = I`` on the owned dofs (non-periodic meshes use the same code path)."""
    imap = V.dofmap.index_map
    bs = V.dofmap.index_map_bs
    n = imap.size_local * bs
    N = imap.size_global * bs
    start = imap.local_range[0] * bs
    indptr = np.arange(n + 1, dtype=PETSc.IntType)
    cols = np.arange(start, start + n, dtype=PETSc.IntType)
    P = PETSc.Mat().createAIJ(
        size=((n, N), (n, N)), csr=(indptr, cols, np.ones(n)), comm=V.mesh.comm
    )
    P.assemble()
    return LinearConstraint(V, P)


class LLGProblem:
    """Landau-Lifshitz problem (3.1) with P1 magnetization on a (periodic) mesh.

    Parameters
    ----------
    mesh
        The mesh (1D, 2D or 3D).  With ``periodic=True`` it must be a box whose
        opposite faces match (e.g. :func:`femhomog.meshes.periodic_box_mesh`).
    terms
        Field terms (:mod:`femhomog.micromag.terms`).
    alpha
        Damping ``alpha >= 0`` of (3.1).
    periodic
        Periodic boundary conditions on the bounding box (all axes), or a
        ready :class:`femhomog.periodic.LinearConstraint` on the P1 vector
        space ``("Lagrange", 1, (3,))`` of ``mesh``.  False: natural boundary
        conditions.
    m0
        Initial magnetization (see :meth:`set_magnetization`), optional.
    normalize
        Normalize ``m0`` nodally instead of requiring unit length.
    equation, gamma
        ``"landau_lifshitz"`` (default) or ``"gilbert"`` and the gyromagnetic ratio
        (default 1): the integrators solve ``dm/dt = -c [m x H + alpha m x (m x H)]``
        with ``c =`` :attr:`precession_factor`.

    Raises
    ------
    ConfigError
        ``alpha < 0``, terms that are not :class:`FieldTerm`, invalid terms for
        the mesh, invalid ``m0``.  Collective: raised on every rank.
    """

    def __init__(
        self,
        mesh: dolfinx.mesh.Mesh,
        terms: Sequence[FieldTerm],
        alpha: float,
        *,
        periodic: bool | LinearConstraint = False,
        m0: Any = None,
        normalize: bool = False,
        equation: str = "landau_lifshitz",
        gamma: float = 1.0,
    ) -> None:
        self.alpha = check_damping(alpha)
        self.equation = equation
        self.gamma = float(gamma)
        #: the field scale ``c`` of the integrators (1 for (3.1) as written)
        self.precession_factor = precession_factor(equation, gamma, self.alpha)
        terms = list(terms)
        for term in terms:
            if not isinstance(term, FieldTerm):
                raise ConfigError(f"field terms must be FieldTerm instances, got {term!r}")
        names = [t.name for t in terms]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(f"field term names must be unique, repeated: {', '.join(dup)}")
        self.mesh = mesh
        self.comm: MPI.Comm = mesh.comm
        self.terms = terms
        self.V = dolfinx.fem.functionspace(mesh, ("Lagrange", 1, (3,)))
        if isinstance(periodic, LinearConstraint):
            self.periodic: LinearConstraint | None = periodic
        elif periodic:
            self.periodic = periodic_constraint(self.V)
        else:
            self.periodic = None
        self._reduction: LinearConstraint | None = self.periodic
        self.dx_lumped = lumped_measure(mesh)
        self.m = dolfinx.fem.Function(self.V, name="m")
        self.t = 0.0
        for term in terms:
            term.check(mesh)

        # Lumped mass per dof (the same for the three components of a node).
        phi = ufl.TestFunction(self.V)
        ones = ufl.as_vector([1.0, 1.0, 1.0])
        self.mass = dolfinx.fem.petsc.assemble_vector(
            dolfinx.fem.form(ufl.inner(ones, phi) * self.dx_lumped)
        )
        self.mass.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        self.volume = self.mass.sum() / 3.0
        if m0 is not None:
            self.set_magnetization(m0, normalize=normalize)

    # ------------------------------------------------------------------ layout
    @property
    def num_owned_nodes(self) -> int:
        return self.V.dofmap.index_map.size_local

    @property
    def reduction(self) -> LinearConstraint:
        """The periodic constraint, or the identity on non-periodic meshes."""
        if self._reduction is None:
            self._reduction = _identity_constraint(self.V)
        return self._reduction

    def owned_values(self, u: dolfinx.fem.Function | None = None) -> np.ndarray:
        """View ``(n_owned_nodes, 3)`` of the owned nodal values of ``u`` (default ``m``)."""
        u = self.m if u is None else u
        return u.x.array[: 3 * self.num_owned_nodes].reshape(-1, 3)

    @property
    def explicit_terms(self) -> list[FieldTerm]:
        return [t for t in self.terms if not t.implicit]

    @property
    def implicit_terms(self) -> list[FieldTerm]:
        return [t for t in self.terms if t.implicit]

    # ------------------------------------------------------------------ initial data
    def set_magnetization(self, m0: Any, normalize: bool = False) -> None:
        """Set ``m`` from a callable ``x -> (3, N)``, 3 numbers or a Function on ``V``.

        Parameters
        ----------
        m0
            Initial magnetization (interpolated at the nodes).
        normalize
            Project onto the unit sphere nodally; otherwise ``|m| = 1`` must
            hold at every node to :data:`UNIT_TOL`.

        Raises
        ------
        ConfigError
            On every rank: non-finite values, ``m = 0`` at a node, ``|m| != 1``
            (without ``normalize``), or ``m0`` not periodic on a periodic box.
        """
        u = self.m
        if isinstance(m0, dolfinx.fem.Function):
            if m0.function_space is not self.V:
                u.interpolate(m0)
            else:
                u.x.array[:] = m0.x.array
        elif callable(m0):
            try:
                u.interpolate(m0)
            except Exception as err:  # noqa: BLE001  (a user callable: say what failed)
                raise ConfigError(
                    f"initial magnetization: evaluating m0(x) failed: {err}"
                ) from None
        else:
            try:
                v = np.asarray(m0, dtype=np.float64).reshape(-1)
            except (TypeError, ValueError):
                v = None
            if v is None or v.shape != (3,):
                raise ConfigError(
                    "initial magnetization must be a callable x -> (3, N) array, "
                    f"3 numbers or a Function, got {m0!r}"
                )
            u.x.array.reshape(-1, 3)[:] = v
        u.x.scatter_forward()
        self._check_initial(normalize)
        normalize_nodes(u.x.array.reshape(-1, 3))
        u.x.scatter_forward()

    def _check_initial(self, normalize: bool) -> None:
        vals = self.owned_values()
        x = self.V.tabulate_dof_coordinates()[: self.num_owned_nodes]
        norms = nodal_norms(vals)
        report: tuple[int, str, float, list[float]] | None = None
        bad = ~np.isfinite(norms)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            report = (0, "is not finite", float("nan"), x[i].tolist())
        elif (norms < ZERO_TOL).any():
            i = int(np.flatnonzero(norms < ZERO_TOL)[0])
            report = (1, "vanishes", float(norms[i]), x[i].tolist())
        elif not normalize and vals.size and np.max(np.abs(norms - 1.0)) > UNIT_TOL:
            i = int(np.argmax(np.abs(norms - 1.0)))
            report = (2, "is not a unit vector", float(norms[i]), x[i].tolist())
        reports = [r for r in self.comm.allgather(report) if r is not None]
        if reports:
            kind, _, val, p = min(reports, key=lambda r: r[0])
            where = "(" + ", ".join(f"{c:.6g}" for c in p) + ")"
            if kind == 0:
                raise ConfigError(f"initial magnetization is not finite at x = {where}")
            if kind == 1:
                raise ConfigError(
                    f"initial magnetization vanishes (|m| = {val:.3g}) at x = {where}; "
                    "m must have a direction at every node"
                )
            raise ConfigError(
                f"initial magnetization must have |m| = 1 at every node, but |m| = {val:.6g} "
                f"at x = {where}; normalize it (normalize=True)"
            )
        if self.periodic is not None:
            # m must take the same value at identified nodes of opposite faces
            red = self.periodic.restrict(self.m)
            w = dolfinx.fem.Function(self.V)
            self.periodic.expand(red, w)
            local = float(np.max(np.abs(w.x.array - self.m.x.array), initial=0.0))
            diff = self.comm.allreduce(local, op=MPI.MAX)
            red.destroy()
            if diff > UNIT_TOL:
                raise ConfigError(
                    "initial magnetization is not periodic on the box: it differs by up to "
                    f"{diff:.3g} between identified nodes of opposite faces"
                )

    # ------------------------------------------------------------------ diagnostics
    def norm_deviation(self) -> float:
        """``max_i | |m_i| - 1 |`` over all nodes (collective)."""
        vals = self.owned_values()
        local = float(np.max(np.abs(nodal_norms(vals) - 1.0), initial=0.0))
        return self.comm.allreduce(local, op=MPI.MAX)

    def average(self) -> np.ndarray:
        """Spatial average ``<m> = int m / |Omega|`` (lumped quadrature; collective)."""
        n = 3 * self.num_owned_nodes
        w = self.mass.array[:n].reshape(-1, 3)
        local = np.einsum("ij,ij->j", w, self.owned_values())
        return self.comm.allreduce(local, op=MPI.SUM) / self.volume

    def prepare_terms(self, t: float, m: dolfinx.fem.Function) -> None:
        """Call :meth:`FieldTerm.prepare` of every term."""
        for term in self.terms:
            term.prepare(t, m)

    def energies(self) -> dict[str, float]:
        """Energy of every term at the current ``(t, m)`` (collective), plus ``"total"``."""
        self.prepare_terms(self.t, self.m)
        out = {term.name: term.energy(self.m) for term in self.terms}
        out["total"] = float(sum(out.values()))
        return out

    def energy(self) -> float:
        """Total energy ``E(m)`` at the current time (collective)."""
        return self.energies()["total"]

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable description (for result metadata)."""
        return {
            "alpha": self.alpha,
            **({"equation": self.equation, "gamma": self.gamma}
               if self.precession_factor != 1.0 else {}),
            "periodic": self.periodic is not None,
            "dim": self.mesh.topology.dim,
            "nodes": self.V.dofmap.index_map.size_global,
            "terms": [t.describe() for t in self.terms],
        }
