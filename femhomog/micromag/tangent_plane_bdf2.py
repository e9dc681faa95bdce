"""Second-order linearly implicit tangent-plane scheme: BDF2 with extrapolation.

The scheme of Akrivis, Feischl, Kovacs and Lubich (Math. Comp. 90 (2021),
"Higher-order linearly implicit full discretization of the Landau-Lifshitz-Gilbert
equation", the case q = 2 of their scheme (1.3)-(1.5)), written for the Gilbert
form of :mod:`.tangent_plane` and variable steps.  With the steps ``k = t_{n+1} - t_n``,
``k' = t_n - t_{n-1}`` and ``w = k/k'``:

* extrapolation ``m^ = (1 + w) m^n - w m^{n-1}`` (normalized nodally; for ``w = 1``
  ``2 m^n - m^{n-1}``): the state of the tangent space, the precession term and
  every explicit field (Zeeman at ``t_{n+1}``, anisotropy); a field linear in ``m``
  and independent of ``t`` (the stray field, ``linear = True``) is extrapolated
  instead, ``(1 + w) H(m^n) - w H(m^{n-1})``, which is its value at the
  unnormalized ``m^`` (Exl et al.'s stray-field extrapolation): one evaluation per
  step, at ``m^n``, the state whose energy the output of ``t_n`` needs anyway
  (:class:`~femhomog.micromag.demag.StrayField` caches it);
* the BDF2 derivative ``v = dm/dt(t_{n+1})`` of
  ``m^{n+1} = mb + b k v``, ``mb = ((1 + w)^2 m^n - w^2 m^{n-1})/(1 + 2w)``,
  ``b = (1 + w)/(1 + 2w)`` (``4/3 m^n - 1/3 m^{n-1} + 2/3 k v`` for ``w = 1``);
* ``v`` in the discrete tangent space of ``m^`` such that for all ``phi`` there::

      alpha (v, phi)_h + (m^ x v, phi)_h + (1 + alpha^2) b k b_impl(v, phi)
          = (1 + alpha^2) [ (H_expl(m^, t_{n+1}), phi) + (H_impl(mb), phi) ]     (BDF2-TPS)

  i.e. the implicit (exchange) field is evaluated at ``m^{n+1}`` itself: one linear
  system per step with the structure of (TPS), solved by the same machinery;
* ``m^{n+1} = mb + b k v``, normalized at the nodes (the normalization moves
  ``m^{n+1}`` by ``O(k^3)``; Akrivis et al. show that it is not needed for stability).

Every ingredient is second order (the extrapolation, the BDF2 formula, the
explicit fields at the extrapolated state), so the scheme is second order in time
while costing one linear solve and one stray-field evaluation per step, like
(TPS).  Stability: Akrivis et al. prove it for BDF2 for every damping
``alpha > 0`` (their Theorem 1.1, orders 1 and 2); variable steps keep the BDF2
zero-stability for ``w < 1 + sqrt 2``.  The energy is not decreasing step by step
as for (TPS) with ``theta >= 1/2`` (only a modified energy is); it decays in the
mean with damping (``tests/test_llg_bdf2.py``).

Start.  Without history (the first step, after a step-size jump ``w > 2``, or
after a failed step) a (TPS) step with ``theta = 1/2`` is taken (explicit fields at
``m^n`` and ``t_n + k/2``): local error ``O(k^2)`` once, which keeps the global
error ``O(k^2)``.

Restart.  The history is ``m^{n-1}`` (the function :attr:`previous`, saved with
``m`` in checkpoints) and the step ``k'`` (:meth:`history` / :meth:`set_history`,
JSON in the loop state): a resumed run takes bitwise the same steps on one rank.
"""

from __future__ import annotations

from typing import Any

from femhomog import _fenicsx  # noqa: F401  (must precede dolfinx / petsc4py)

# isort: split
import dolfinx

from femhomog.io.logging import get_logger
from femhomog.micromag.problem import LLGProblem, normalize_nodes
from femhomog.micromag.tangent_plane import TangentPlaneIntegrator

__all__ = ["TangentPlaneBDF2Integrator"]

log = get_logger(__name__)

#: Largest step ratio k/k' continued with BDF2 (zero-stable below 1 + sqrt 2);
#: larger jumps restart with a (TPS) step.
MAX_RATIO = 2.0


class TangentPlaneBDF2Integrator(TangentPlaneIntegrator):
    """BDF2 tangent-plane scheme (BDF2-TPS) for an :class:`LLGProblem`: second order.

    Parameters
    ----------
    problem
        The LL problem; its ``m`` and ``t`` are advanced in place.
    solver, rtol, max_it, max_retries, options_prefix, refactor_its
        As for :class:`~femhomog.micromag.tangent_plane.TangentPlaneIntegrator`
        (the linear systems have the same structure).

    Notes
    -----
    The start step (no history) is (TPS) with ``theta = 1/2``.
    """

    def __init__(self, problem: LLGProblem, solver: str = "direct", rtol: float = 1e-10,
                 max_it: int = 500, max_retries: int = 0,
                 options_prefix: str = "femhomog_llg_tps_", refactor_its: int = 8) -> None:
        V = problem.V
        self.m_hat = dolfinx.fem.Function(V, name="m_extrapolated")
        self.m_base = dolfinx.fem.Function(V, name="m_bdf2_base")
        #: ``m^{n-1}`` (valid when :attr:`dt_prev` is not None)
        self.previous = dolfinx.fem.Function(V, name="m_prev")
        #: initial guess of the Krylov solve: the difference quotient of the history
        self._guess = dolfinx.fem.Function(V, name="v_guess")
        self.dt_prev: float | None = None
        self.start_steps = 0
        # fields linear in m and independent of t (the stray field): extrapolated from
        # their values at m^n and m^{n-1} (one evaluation per step, at m^n, which the
        # energy output at t_n shares), instead of evaluated at the extrapolated m^
        self._linear = [t for t in problem.explicit_terms if getattr(t, "linear", False)]
        self._field_prev: dict[int, Any] = {}  # term index -> field at m^{n-1}
        self._field_now: dict[int, Any] = {}  # field at m^n of the current attempt
        self._ratio: float | None = None  # w of the current attempt (None: start step)
        super().__init__(problem, theta=0.5, solver=solver, rtol=rtol, max_it=max_it,
                         max_retries=max_retries, options_prefix=options_prefix,
                         refactor_its=refactor_its)

    def _form_states(self) -> tuple[Any, Any, Any]:
        return self.m_hat, self.m_hat, self.m_base

    # ------------------------------------------------------------------ history
    def history(self) -> dict[str, Any]:
        """JSON-ready scalar history: the previous step (None without history)."""
        return {"dt_prev": self.dt_prev}

    def set_history(self, state: dict[str, Any]) -> None:
        """Resume from :meth:`history` (``previous`` restored separately)."""
        dt_prev = state.get("dt_prev")
        self.dt_prev = None if dt_prev is None else float(dt_prev)
        self._field_prev.clear()  # recomputed from ``previous``

    def reset_history(self) -> None:
        """Forget ``m^{n-1}``: the next step is a start step (e.g. after ``m`` was set)."""
        self.dt_prev = None
        self._field_prev.clear()

    def _prepare_fields(self, t: float, m: dolfinx.fem.Function) -> None:
        """Explicit fields at ``(t, m^)``; the linear ones extrapolated from their values
        at ``m^n`` and ``m^{n-1}`` (``(1 + w) H(m^n) - w H(m^{n-1})`` = ``H`` at the
        unnormalized extrapolation: the same second-order consistency)."""
        prob = self.problem
        linear = {id(term) for term in self._linear}
        for term in prob.terms:
            if id(term) not in linear:
                term.prepare(t, m)
        w = self._ratio
        V = prob.V
        for i, term in enumerate(self._linear):
            if w is not None and i not in self._field_prev:  # after a restart
                self._field_prev[i] = term.field_values(self.previous)
            now = term.field_values(prob.m)
            self._field_now[i] = now
            if w is not None:
                term.set_field(V, (1.0 + w) * now - w * self._field_prev[i])

    def _velocity_guess(self) -> dolfinx.fem.Function | None:
        """``(m^n - m^{n-1}) / k'`` for the Krylov solve of a BDF2 step: ``v`` differs
        from it by ``O(k)``, so GMRES starts ``O(k)`` close instead of at zero
        (restart-safe: built from the checkpointed history only).  None for start steps."""
        if self._ratio is None:
            return None
        self._guess.x.array[:] = (self.problem.m.x.array - self.previous.x.array) / self.dt_prev
        return self._guess

    # ------------------------------------------------------------------ stepping
    def _attempt(self, dt: float) -> int:
        m = self.problem.m
        ratio = None if self.dt_prev is None else dt / self.dt_prev
        if ratio is not None and ratio > MAX_RATIO:
            ratio = None
        self._ratio = ratio
        if ratio is None:
            # (TPS), theta = 1/2: explicit fields at m^n, t_n + k/2
            self.m_hat.x.array[:] = m.x.array
            self.m_base.x.array[:] = m.x.array
            its = self._solve_velocity(self.problem.t + 0.5 * dt, self.m_hat, 0.5 * dt)
            new = m.x.array + dt * self.v.x.array
            self.start_steps += 1
        else:
            w = ratio
            mn, mp = m.x.array, self.previous.x.array
            hat = (1.0 + w) * mn - w * mp
            normalize_nodes(hat.reshape(-1, 3))
            self.m_hat.x.array[:] = hat
            b = (1.0 + w) / (1.0 + 2.0 * w)
            self.m_base.x.array[:] = ((1.0 + w) ** 2 * mn - w * w * mp) / (1.0 + 2.0 * w)
            its = self._solve_velocity(self.problem.t + dt, self.m_hat, b * dt)
            new = self.m_base.x.array + (b * dt) * self.v.x.array
        # all arrays include the ghosts, which carry the owners' values
        normalize_nodes(new.reshape(-1, 3))
        self.previous.x.array[:] = m.x.array
        m.x.array[:] = new
        m.x.scatter_forward()
        self.dt_prev = dt
        self._field_prev = dict(self._field_now)
        return its

    def step(self, dt: float) -> Any:
        try:
            return super().step(dt)
        except Exception:
            self.reset_history()
            raise

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info.pop("theta")
        info["name"] = "tangent_plane_bdf2"
        info["start_steps"] = self.start_steps
        return info

    def destroy(self) -> None:
        super().destroy()
