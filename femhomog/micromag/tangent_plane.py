"""Alouges' tangent-plane theta-scheme for (3.1): linear, unconditionally stable.

With ``|m| = 1`` the LL form (3.1a) is equivalent to the Gilbert form
``alpha dm/dt + m x dm/dt = (1 + alpha^2) (H - (m.H) m)``.  Given ``m^n`` (unit at
the nodes) the scheme seeks the velocity ``v`` in the discrete tangent space
``K_h(m^n) = {v in P1^3 : v_i . m^n_i = 0 at every node i}`` such that for all
``phi`` in ``K_h(m^n)``::

    alpha (v, phi)_h + (m^n x v, phi)_h + (1 + alpha^2) theta k b(v, phi)
        = (1 + alpha^2) (H(m^n, t_n + theta k), phi)                          (TPS)

and sets ``m^{n+1}_i = (m^n_i + k v_i) / |m^n_i + k v_i|`` at every node.
``(., .)_h`` is the lumped (vertex-quadrature) inner product, ``b`` the
implicit bilinear form of the field terms (exchange, anisotropy; see
:mod:`.terms`), and the right-hand side collects every term's field.  Testing
(TPS) with ``phi = v`` gives, for ``theta >= 1/2`` and time-independent input,

    E(m^n + k v) - E(m^n) = -k alpha/(1 + alpha^2) ||v||_h^2 - k^2 (theta - 1/2) b(v, v) <= 0,

and on weakly acute meshes the nodal projection does not increase the
exchange energy either (Bartels 2005): the energy never increases, for any
``k`` (Alouges 2008; Alouges, Kritsikis, Toussaint 2012).  The scheme is
first order in time.

Constraint ``v . m = 0`` at the nodes.  The tangent space is parametrized by
two coordinates per node, ``v = P B w``: ``B(m)`` maps ``(w_1, w_2)`` of each
(master) node to ``w_1 t_1 + w_2 t_2`` with an orthonormal tangent basis, ``P``
is the periodic prolongation (:mod:`femhomog.periodic`) or the identity.  The
reduced system ``(PB)^T A (PB) w = (PB)^T b`` is formed with ``MatPtAP`` exactly
like the periodic cell problems: the same constrain-by-a-linear-map machinery.
"""

from __future__ import annotations

import math
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
from petsc4py import PETSc

from femhomog.io.logging import get_logger
from femhomog.micromag._solvers import (
    StepFailure,
    StepInfo,
    all_finite,
    check_linear_solver,
    configure_ksp,
    ksp_reason,
)
from femhomog.micromag.problem import (
    LLGProblem,
    cross_matrices,
    normalize_nodes,
    tangent_basis,
)
from femhomog.periodic import LinearConstraint

__all__ = ["NodalTangentConstraint", "TangentPlaneIntegrator"]

log = get_logger(__name__)


class NodalTangentConstraint(LinearConstraint):
    """``v = P B(m) w``: two tangent coordinates per (master) node, ``m . v = 0`` nodally.

    Parameters
    ----------
    V
        The P1 vector space (block size 3).
    base
        Periodic prolongation ``P`` whose reduced dofs are node blocks of 3
        (as built by :class:`femhomog.periodic.PeriodicConstraint` for blocked
        spaces), or None for non-periodic meshes (then ``P = I``).

    Notes
    -----
    Call :meth:`update` with the nodal values of ``m`` in the layout of the
    columns of ``base`` (or of the owned dofs of ``V``) before use.  The
    sparsity of ``B``, ``P B`` and of the reduced operator never changes, so
    all products are recomputed in place (PETSc ``MAT_REUSE_MATRIX``).
    """

    def __init__(self, V: dolfinx.fem.FunctionSpace, base: LinearConstraint | None) -> None:
        if V.dofmap.index_map_bs != 3:
            raise ValueError("NodalTangentConstraint needs a 3-component (blocked) space")
        comm = V.mesh.comm
        if base is None:
            imap = V.dofmap.index_map
            n_loc, n_glob = imap.size_local, imap.size_global
            start = imap.local_range[0]
        else:
            n_loc3, n_glob3 = base.P.getLocalSize()[1], base.P.getSize()[1]
            n_loc, n_glob = n_loc3 // 3, n_glob3 // 3
            start = base.P.getOwnershipRangeColumn()[0] // 3
        self.base = base
        self.num_nodes_local = n_loc
        rows = 3 * start + np.arange(3 * n_loc, dtype=PETSc.IntType)
        node = np.repeat(np.arange(n_loc), 3)
        self._rows = rows[:, None]
        self._cols = np.stack([2 * (start + node), 2 * (start + node) + 1], axis=1).astype(
            PETSc.IntType
        )
        B = PETSc.Mat().createAIJ(
            size=((3 * n_loc, 3 * n_glob), (2 * n_loc, 2 * n_glob)), nnz=(2, 0), comm=comm
        )
        B.setUp()
        self.B = B
        self._set_basis(np.tile([0.0, 0.0, 1.0], (n_loc, 1)))
        T = B if base is None else base.P.matMult(B)
        super().__init__(V, T)
        self._reduced: PETSc.Mat | None = None

    def _set_basis(self, m_nodes: np.ndarray) -> None:
        t1, t2 = tangent_basis(m_nodes)
        self.basis = (t1, t2)  # (n_local_nodes, 3) each: the columns of B per node
        vals = np.stack([t1.reshape(-1), t2.reshape(-1)], axis=1)
        self.B.setValuesRCV(self._rows, self._cols, vals, addv=PETSc.InsertMode.INSERT)
        self.B.assemble()

    def update(self, m_nodes: np.ndarray) -> None:
        """Rebuild ``B`` for unit nodal values ``m_nodes`` of shape ``(n_local_nodes, 3)``."""
        if m_nodes.shape != (self.num_nodes_local, 3):
            raise ValueError(f"expected nodal values of shape ({self.num_nodes_local}, 3)")
        self._set_basis(m_nodes)
        if self.base is not None:
            self.base.P.matMult(self.B, result=self.P)

    def tangent_coordinates(self, g_nodes: np.ndarray, out: PETSc.Vec) -> None:
        """Write the coordinates of the nodal tangent projection of ``g_nodes``
        (``(n_local_nodes, 3)``, layout of :meth:`update`) in the current bases into ``out``."""
        t1, t2 = self.basis
        w = out.getArray()
        w[0::2] = np.einsum("ij,ij->i", t1, g_nodes)
        w[1::2] = np.einsum("ij,ij->i", t2, g_nodes)

    def reduce_matrix(self, A: PETSc.Mat) -> PETSc.Mat:
        """``(PB)^T A (PB)``, computed into the same matrix on every call (same pattern)."""
        self._reduced = A.ptap(self.P, result=self._reduced)
        return self._reduced

    def destroy(self) -> None:
        if self._reduced is not None:
            self._reduced.destroy()
        if self.base is not None:
            self.P.destroy()
        self.B.destroy()


class TangentPlaneIntegrator:
    """Tangent-plane theta-scheme (TPS) for an :class:`LLGProblem`.

    Parameters
    ----------
    problem
        The LL problem; its ``m`` and ``t`` are advanced in place.
    theta
        Implicitness of the implicit field terms, ``0 <= theta <= 1``; energy
        decay for every step size needs ``theta >= 1/2``.  Default 1.
    solver
        ``"direct"`` (MUMPS LU every step, default), ``"iterative"`` (GMRES +
        ILU) or ``"reuse_lu"`` (GMRES preconditioned by the LU of an earlier
        step, refactorized after a step that needed more than
        ``refactor_its`` iterations or failed); see
        :func:`femhomog.micromag._solvers.configure_ksp` for the choice.
    rtol, max_it
        Tolerances of the iterative solvers (``iterative``, ``reuse_lu``).
    refactor_its
        ``reuse_lu``: refactorize when a solve needed more iterations.
    max_retries
        After a solver failure retry the step with half the step size up to
        this many times before raising :class:`femhomog.SolverError`.
    options_prefix
        PETSc options prefix of the KSP (e.g. ``-femhomog_llg_tps_ksp_monitor``).

    Raises
    ------
    ConfigError
        Invalid ``theta``, ``solver`` or ``max_retries``.
    """

    def __init__(
        self,
        problem: LLGProblem,
        theta: float = 1.0,
        solver: str = "direct",
        rtol: float = 1e-10,
        max_it: int = 500,
        max_retries: int = 0,
        options_prefix: str = "femhomog_llg_tps_",
        refactor_its: int = 8,
    ) -> None:
        if not (isinstance(theta, (int, float)) and 0.0 <= float(theta) <= 1.0):
            raise ConfigError(f"tangent-plane scheme: theta must lie in [0, 1], got {theta!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigError(f"max_retries must be an integer >= 0, got {max_retries!r}")
        self.problem = problem
        self.theta = float(theta)
        self.solver = check_linear_solver(solver)
        self.max_retries = max_retries
        self.prefix = options_prefix
        if isinstance(refactor_its, bool) or not isinstance(refactor_its, int) or refactor_its < 1:
            raise ConfigError(f"refactor_its must be an integer >= 1, got {refactor_its!r}")
        self.refactor_its = refactor_its
        self._refactor = True  # reuse_lu: factorize at the next solve
        self.factorizations = 0
        mesh, V = problem.mesh, problem.V
        alpha = problem.alpha

        # (TPS): all step-dependent numbers are Constants, so the forms compile once.
        self._alpha = dolfinx.fem.Constant(mesh, np.float64(alpha))
        self._c_impl = dolfinx.fem.Constant(mesh, np.float64(0.0))  # (1 + alpha^2) theta k
        # the precession factor c of the problem (gamma, LL or Gilbert form) scales the field
        self._c_rhs = dolfinx.fem.Constant(
            mesh, np.float64((1.0 + alpha * alpha) * problem.precession_factor))
        u, phi = ufl.TrialFunction(V), ufl.TestFunction(V)
        dxl = problem.dx_lumped
        # the states in the forms: tangent space / cross product, explicit and
        # implicit fields (all m^n here; the BDF2 variant extrapolates)
        m_tan, m_expl, m_impl = self._form_states()
        a = self._alpha * ufl.inner(u, phi) * dxl + ufl.inner(ufl.cross(m_tan, u), phi) * dxl
        for term in problem.implicit_terms:
            a = a + self._c_impl * term.bilinear(u, phi)
        L = None
        for term in problem.terms:
            f = term.field_form(m_impl if term.implicit else m_expl, phi)
            L = f if L is None else L + f
        if L is None:  # no field at all: v = 0, but keep a valid form
            L = ufl.inner(ufl.as_vector([0.0, 0.0, 0.0]), phi) * dxl
        self.a_form = dolfinx.fem.form(a)
        self.L_form = dolfinx.fem.form(self._c_rhs * L)
        self.A = dolfinx.fem.petsc.create_matrix(self.a_form)
        # one full assembly fixes the nonzero pattern (and the matrix state) for the
        # per-step updates of _assemble_step_matrix
        dolfinx.fem.petsc.assemble_matrix(self.A, self.a_form)
        self.A.assemble()
        self.b = dolfinx.fem.petsc.create_vector(V)

        # The step matrix is c K + blockdiag(M_i (alpha I + [m_i]_x)): the implicit
        # bilinear forms K are constant (assembled once) and the lumped terms are
        # nodal 3x3 blocks, set directly instead of re-assembling the whole form
        # every step (which cost ~60 % of a 3D step).
        self._K: PETSc.Mat | None = None
        impl = problem.implicit_terms
        if impl:
            k_form = impl[0].bilinear(u, phi)
            for term in impl[1:]:
                k_form = k_form + term.bilinear(u, phi)
            # K gets exactly the sparsity of A (both from the dofmaps of V), so that the
            # per-step A += c K is a plain axpy of the value arrays (SAME_NONZERO_PATTERN;
            # SUBSET costs a row-by-row merge: 18 vs 1.4 ms per SP4 step at 4 nm)
            self._K = dolfinx.fem.petsc.create_matrix(self.a_form)
            dolfinx.fem.petsc.assemble_matrix(self._K, dolfinx.fem.form(k_form))
            self._K.assemble()
        imap = V.dofmap.index_map
        n_own = imap.size_local
        start = 3 * imap.local_range[0]
        rows = start + np.arange(3 * n_own, dtype=PETSc.IntType)
        self._blk_rows = rows[:, None]
        self._blk_cols = (start + 3 * (np.arange(3 * n_own) // 3)[:, None]
                          + np.arange(3)).astype(PETSc.IntType)
        self._node_mass = problem.mass.array_r[: 3 * n_own : 3].copy()

        self.constraint = NodalTangentConstraint(V, problem.periodic)
        self.v = dolfinx.fem.Function(V, name="v")
        self._w = self.constraint.create_reduced_vector()
        self._b_r = self.constraint.create_reduced_vector()
        self.ksp = PETSc.KSP().create(problem.comm)
        configure_ksp(self.ksp, self.solver, options_prefix, rtol=rtol, max_it=max_it)
        self.steps = 0

    # ------------------------------------------------------------------ stepping
    def step(self, dt: float) -> StepInfo:
        """Advance ``problem.m`` by one step of size ``dt`` (halved on solver failure).

        Returns
        -------
        StepInfo
            The step actually taken.

        Raises
        ------
        ConfigError
            Non-positive or non-finite ``dt``.
        SolverError
            The linear solver failed ``max_retries + 1`` times.
        """
        if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
            raise ConfigError(f"time step must be a positive number, got {dt!r}")
        dt = dt0 = float(dt)
        for attempt in range(self.max_retries + 1):
            try:
                its = self._attempt(dt)
            except StepFailure as failure:
                if attempt == self.max_retries:
                    msg = (
                        f"tangent-plane step at t = {self.problem.t:.6g} with dt = {dt0:.3g} "
                        f"failed: {failure}"
                    )
                    if self.max_retries:
                        msg += f" (after halving the step {self.max_retries} times, to {dt:.3g})"
                    raise SolverError(
                        f"{msg}; reduce the time step or tune the solver (PETSc options "
                        f"prefix -{self.prefix})"
                    ) from None
                log.warning(
                    "tangent-plane step at t = %.6g failed (%s); retrying with dt = %.3g",
                    self.problem.t,
                    failure,
                    dt / 2,
                )
                dt /= 2
                continue
            self.problem.t += dt
            self.steps += 1
            return StepInfo(t=self.problem.t, dt=dt, retries=attempt, iterations=its)
        raise AssertionError("unreachable")  # pragma: no cover

    def _form_states(self) -> tuple[Any, Any, Any]:
        """``(m_tan, m_expl, m_impl)`` of the forms: here all ``m^n`` (``problem.m``)."""
        m = self.problem.m
        return m, m, m

    def _attempt(self, dt: float) -> int:
        m = self.problem.m
        its = self._solve_velocity(self.problem.t + self.theta * dt, m, self.theta * dt)
        # m^{n+1} = (m^n + k v)/|m^n + k v| at every node (ghosts included: they carry
        # the owners' values, and the same arithmetic gives the same result).
        new = m.x.array + dt * self.v.x.array
        normalize_nodes(new.reshape(-1, 3))
        m.x.array[:] = new
        m.x.scatter_forward()
        return its

    def _prepare_fields(self, t: float, m: dolfinx.fem.Function) -> None:
        """Bring the explicit fields up to date for ``(t, m)`` before the assembly."""
        self.problem.prepare_terms(t, m)

    def _solve_velocity(self, t_field: float, m_tan: dolfinx.fem.Function,
                        k_impl: float) -> int:
        """Solve (TPS) for ``v`` (into ``self.v``); the number of linear iterations.

        The explicit fields are evaluated at time ``t_field`` (``prepare_terms`` with
        the state of the explicit forms, which is ``m_tan`` in both schemes), the
        tangent space and the cross product at ``m_tan`` (unit nodal values), the
        implicit terms at ``m_impl + k_impl v``.
        """
        prob = self.problem
        m = m_tan
        self._prepare_fields(t_field, m)
        alpha = prob.alpha
        self._c_impl.value = (1.0 + alpha * alpha) * prob.precession_factor * k_impl

        self._assemble_step_matrix(m, alpha)
        with self.b.localForm() as loc:
            loc.set(0.0)
        dolfinx.fem.petsc.assemble_vector(self.b, self.L_form)
        self.b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)

        # Tangent bases at the (master) nodes of m_tan.
        self.constraint.update(self._node_values(m))
        A_r = self.constraint.reduce_matrix(self.A)
        self.constraint.reduce_vector(self.b, self._b_r)
        # a direct solve ignores the guess (PETSc rejects one for preonly)
        guess = None if self.solver == "direct" else self._velocity_guess()
        if guess is None:
            self._w.set(0.0)
        else:
            self.constraint.tangent_coordinates(self._node_values(guess), self._w)
        self.ksp.setInitialGuessNonzero(guess is not None)

        self.ksp.setOperators(A_r)
        reason, its = self._solve()
        if self.solver == "reuse_lu":
            if reason < 0 and not self._refactor:
                # the old factorization is too far off: refresh it and solve again
                self._refactor = True
                reason, its2 = self._solve()
                its += its2
            # a refresh after a step that needed many iterations (all ranks agree:
            # iteration counts are global)
            self._refactor = reason < 0 or its > self.refactor_its
        if reason < 0:
            raise StepFailure(
                f"linear solver {ksp_reason(reason)} after {its} iterations "
                f"(residual {self.ksp.getResidualNorm():.3e})"
            )
        if not all_finite(prob.comm, self._w.array):
            raise StepFailure("linear solver returned non-finite values")

        self.constraint.expand(self._w, self.v)
        return its

    def _node_values(self, u: dolfinx.fem.Function) -> np.ndarray:
        """Nodal values ``(n, 3)`` of ``u`` at the (master) nodes of the reduced space."""
        prob = self.problem
        if prob.periodic is None:
            return prob.owned_values(u)
        u_red = prob.periodic.restrict(u)
        nodes = u_red.array.reshape(-1, 3).copy()
        u_red.destroy()
        return nodes

    def _velocity_guess(self) -> dolfinx.fem.Function | None:
        """Initial guess of the Krylov solve for ``v`` (None: zero).  (TPS) has no
        history to predict from; :mod:`.tangent_plane_bdf2` overrides this."""
        return None

    def _solve(self) -> tuple[int, int]:
        """One KSP solve into ``_w`` from its initial guess; (converged reason, iterations)."""
        if self.solver == "reuse_lu":
            self.ksp.getPC().setReusePreconditioner(not self._refactor)
            self.factorizations += int(self._refactor)
        elif self.solver == "direct":
            self.factorizations += 1
        try:
            self.ksp.solve(self._b_r, self._w)
        except PETSc.Error as err:
            self._refactor = True
            raise StepFailure(f"PETSc error {err.ierr} in the linear solver") from None
        return self.ksp.getConvergedReason(), int(self.ksp.getIterationNumber())

    def _assemble_step_matrix(self, m: dolfinx.fem.Function, alpha: float) -> None:
        """``A = (1 + alpha^2) theta k K + blockdiag(M_i (alpha I + [m_i]_x))`` (= ``a_form``)."""
        A = self.A
        A.zeroEntries()
        if self._K is not None:
            A.axpy(float(self._c_impl.value), self._K,
                   structure=PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
        m_nodes = m.x.array[: 3 * len(self._node_mass)].reshape(-1, 3)
        blocks = cross_matrices(m_nodes)
        blocks[:, [0, 1, 2], [0, 1, 2]] += alpha
        blocks *= self._node_mass[:, None, None]
        A.setValuesRCV(self._blk_rows, self._blk_cols, blocks.reshape(-1, 3),
                       addv=PETSc.InsertMode.ADD_VALUES)
        A.assemble()

    def describe(self) -> dict[str, Any]:
        """Name and parameters (run.json)."""
        info = {"name": "tangent_plane", "linear_solver": self.solver,
                "max_retries": self.max_retries, "theta": self.theta,
                "factorizations": self.factorizations}
        if self.solver == "reuse_lu":
            info["refactor_its"] = self.refactor_its
        return info

    def destroy(self) -> None:
        for obj in (self.ksp, self.A, self.b, self._w, self._b_r):
            obj.destroy()
        if self._K is not None:
            self._K.destroy()
        self.constraint.destroy()
