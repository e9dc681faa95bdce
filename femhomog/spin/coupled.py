"""Spin drift-diffusion coupled to LLG: the pair ``(m, s)`` on the time-stepping layer.

The system (nondimensional; Boltzmann-LLG paper, Sect. 4)::

    d_t m = -gamma m x (H_eff + c_s s) + alpha m x d_t m                 on M
    d_t s - div(D (grad s_k + s_k grad phi)) = -(2/tau_ex) chi_M m x s - s/tau_sf   on C
    d_t rho - div(D (grad rho + rho grad phi)) = 0                         on C

``m`` is an :class:`~femhomog.micromag.LLGProblem` on the magnet mesh (the
conductor itself or its magnet submesh, :mod:`.transfer`) whose terms include a
:class:`~femhomog.micromag.terms.SpinTorque`; ``s`` a :class:`.SpinTransport` and
``rho`` an optional :class:`.ChargeTransport` on the conductor.

One step of :class:`SpinLLGIntegrator` (``k = dt``)
---------------------------------------------------
1. the LLG integrator (tangent plane or midpoint) advances ``m^n -> m^{n+1}`` with the
   spin field ``c_s s^n``;
2. ``s`` takes an implicit step (backward Euler, Crank-Nicolson, BDF2) with the
   precession of ``m^{n+1}`` (Crank-Nicolson: ``(m^n + m^{n+1})/2``, its midpoint),
   or, in the quasi-static mode, ``s^{n+1}`` is the steady ``s`` for ``m^{n+1}``;
3. ``rho`` takes a backward-Euler step (it does not depend on ``m`` or ``s``).

This decoupled ``m``-then-``s`` step is first order in time.  With ``iterate=True``
steps 1-2 are repeated (a fixed point on the pair) with the spin field
``c_s ((1 - w) s^n + w s^{n+1})`` of the latest ``s^{n+1}``, ``w`` the LLG scheme's
weight (``theta`` of the tangent plane, 1/2 for the midpoint rule), until the
nodal changes of ``m^{n+1}`` and ``s^{n+1}`` fall below ``tol``: the coupled
scheme, second order for midpoint + Crank-Nicolson.  For uniform data, no
spin flip and no damping, midpoint + Crank-Nicolson iterated conserve ``|m|``,
``|s|`` and ``s - (2/(c c_s tau_ex)) m`` (``c`` the precession factor) exactly, as the
continuous system does (tests/test_spin_llg.py).

Checkpoints: the state is on the conductor's nodes, ``m`` (the magnetization at the
magnet's vertices, 0 elsewhere), ``s``, ``s_prev`` (the step before: BDF2 continues
without a restart step) and ``rho``; with P2 spin elements ``s`` at the vertices and,
as arrays of their own, every P2 dof of ``s`` and ``s_prev`` keyed by its mesh node
pair (any number of ranks); see :meth:`SpinLLGProblem.checkpoint_state`,
:meth:`SpinLLGProblem.checkpoint_arrays` and :meth:`SpinLLGProblem.restored`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from femhomog import (
    ConfigError,
    SolverError,
    _fenicsx,  # noqa: F401  (must precede dolfinx / petsc4py)
)

# isort: split
import dolfinx
from mpi4py import MPI

from femhomog.micromag.problem import LLGProblem
from femhomog.micromag.terms import SpinTorque
from femhomog.spin.charge import ChargeTransport
from femhomog.spin.transfer import MagnetTransfer
from femhomog.spin.transport import SpinTransport
from femhomog.timestepping.dofkeys import assign_keyed, gather_keyed

__all__ = ["MODES", "CoupledStepInfo", "SpinLLGIntegrator", "SpinLLGProblem"]

#: How ``s`` follows ``m``: its own implicit step, or the steady state for the current ``m``.
MODES = ("dynamic", "quasistatic")
#: Prefix of the checkpoint arrays of P2 spin elements.
P2_PREFIX = "spin_p2_"


class SpinLLGProblem:
    """The state ``(m, s, rho)`` and time of the coupled problem.

    Parameters
    ----------
    llg
        The LLG problem on the magnet mesh; one of its terms is a :class:`SpinTorque`.
    spin
        The spin transport on the conductor mesh.
    parent
        Conductor cell of every local magnet cell
        (:func:`femhomog.spin.transfer.magnet_submesh`).
    charge
        Optional charge transport on the conductor.
    mode
        ``"dynamic"`` or ``"quasistatic"``.

    Notes
    -----
    Set ``m(0)`` on ``llg`` and ``s(0)`` on ``spin`` first, then call :meth:`initialize`
    (quasi-static: computes ``s(0)`` from ``m(0)``).
    """

    def __init__(self, llg: LLGProblem, spin: SpinTransport, parent: np.ndarray, *,
                 charge: ChargeTransport | None = None, mode: str = "dynamic") -> None:
        if mode not in MODES:
            raise ConfigError(f"spin mode must be one of {', '.join(MODES)}, got {mode!r}")
        torques = [t for t in llg.terms if isinstance(t, SpinTorque)]
        if len(torques) != 1:
            raise ConfigError("the LLG problem of a spin-coupled run needs exactly one "
                              f"SpinTorque term, it has {len(torques)}")
        if llg.periodic is not None:
            raise ConfigError("spin transport needs a non-periodic magnet (set "
                              "mesh.periodic = false)")
        self.llg, self.spin, self.charge, self.mode = llg, spin, charge, mode
        self.torque = torques[0]
        self.comm: MPI.Comm = spin.comm
        self.transfer = MagnetTransfer(llg.V, spin.V, parent)
        self.m_conductor = dolfinx.fem.Function(self.transfer.Vc1, name="m")
        self.s_magnet = self.torque.spin_function(llg.mesh)
        self._same_space = spin.V.element.basix_element.degree == 1 and np.array_equal(
            spin.V.dofmap.list, self.transfer.Vc1.dofmap.list)
        self._work = dolfinx.fem.Function(spin.V)
        self._vol = spin.volume()
        #: the SI (Zhang-Levy-Fert) parameters it was converted from (run.json), or None
        self.si: dict[str, Any] | None = None
        #: ``s`` at the conductor's vertices (P1): the field output and final state; the
        #: transport's own ``s`` for P1 spin elements, its vertex values for P2
        self.s_vertices = spin.s
        if not self._same_space:
            self.s_vertices = dolfinx.fem.Function(self.transfer.Vc1, name="s")

    def sync_outputs(self) -> None:
        """:attr:`s_vertices` from the transport's ``s`` (P2 spin elements only)."""
        if not self._same_space:
            self.s_vertices.interpolate(self.spin.s)
            self.s_vertices.x.scatter_forward()

    # ------------------------------------------------------------------ time
    @property
    def t(self) -> float:
        return self.llg.t

    @t.setter
    def t(self, value: float) -> None:
        self.llg.t = self.spin.t = float(value)
        if self.charge is not None:
            self.charge.t = float(value)

    # ------------------------------------------------------------------ transfers
    def _set_spin_magnetization(self, values: np.ndarray) -> None:
        """``spin.m`` from conductor-P1 nodal values (all local entries)."""
        if self._same_space:
            self.spin.m.x.array[:] = values
            self.spin.m.x.scatter_forward()
        else:
            aux = dolfinx.fem.Function(self.transfer.Vc1)
            aux.x.array[:] = values
            self.spin.m.interpolate(aux)
            self.spin.m.x.scatter_forward()
        self.spin._m_version += 1  # the precession matrix changed

    def sync_magnetization(self, midpoint_with: np.ndarray | None = None) -> None:
        """``m_conductor`` from ``llg.m``; the transport's ``m`` is it, or its average with
        the conductor values ``midpoint_with`` (``m^n`` for Crank-Nicolson)."""
        self.transfer.to_conductor(self.llg.m, self.m_conductor)
        values = self.m_conductor.x.array
        if midpoint_with is not None:
            values = 0.5 * (values + midpoint_with)
        self._set_spin_magnetization(values)

    def set_spin_field(self, values: np.ndarray) -> None:
        """The torque's ``s`` on the magnet from nodal values of the transport's ``s``."""
        self._work.x.array[:] = values
        self.transfer.to_magnet(self._work, self.s_magnet)

    def initialize(self) -> None:
        """After ``m(0)`` and ``s(0)`` are set: transfers; quasi-static ``s(0)``."""
        self.sync_magnetization()
        if self.mode == "quasistatic":
            self.spin.quasi_static()
        self.set_spin_field(self.spin.s.x.array)
        self.sync_outputs()

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_state(self) -> dict[str, dolfinx.fem.Function]:
        """The functions of a checkpoint or final state (conductor P1 nodes).

        P2 spin elements: ``m``, ``s`` at the vertices (and ``rho``); the P2 dofs of
        ``s`` and ``s_prev`` are :meth:`checkpoint_arrays`."""
        if not self._same_space:
            state = {"m": self.m_conductor, "s": self.s_vertices}
        else:
            state = {"m": self.m_conductor, "s": self.spin.s, "s_prev": self.spin.previous}
        if self.charge is not None:
            state["rho"] = self.charge.rho
        return state

    @property
    def checkpoint_array_names(self) -> tuple[str, ...]:
        """Names of :meth:`checkpoint_arrays` (P2 spin elements; none for P1)."""
        if self._same_space:
            return ()
        return tuple(P2_PREFIX + k for k in ("keys", "s", "s_prev"))

    def checkpoint_arrays(self) -> dict[str, np.ndarray] | None:
        """P2 spin elements: every dof of ``s`` and ``s_prev`` keyed by its mesh node pair
        (:mod:`femhomog.timestepping.dofkeys`), on rank 0 (None elsewhere and for P1:
        the nodal state holds them).  Collective."""
        if self._same_space:
            return None
        return gather_keyed({"s": self.spin.s, "s_prev": self.spin.previous}, P2_PREFIX)

    def restored(self, dt: float | None, arrays: dict[str, np.ndarray] | None = None) -> None:
        """After :meth:`checkpoint_state`'s functions were read back: ``m`` on the magnet,
        the spin history (``dt``: the step before the checkpoint, None at ``t = 0``), the
        torque's ``s``, and ``rho``'s Slotboom variable.  P2 spin elements: ``arrays``
        are :meth:`checkpoint_arrays` as read back
        (:func:`femhomog.timestepping.checkpoint.read_checkpoint_arrays`)."""
        if not self._same_space:
            if arrays is None:
                raise ConfigError("internal error: a P2 spin restart needs the checkpoint's "
                                  "degree-2 arrays")
            assign_keyed({"s": self.spin.s, "s_prev": self.spin.previous}, arrays, P2_PREFIX,
                         what="--restart: checkpoint")
            self.sync_outputs()
        self.transfer.to_magnet(self.m_conductor, self.llg.m, p1=True)
        self._set_spin_magnetization(self.m_conductor.x.array)
        self.spin.resume_history(self.spin.previous.x.array.copy() if dt else None, dt)
        self.set_spin_field(self.spin.s.x.array)
        if self.charge is not None:
            self.charge.sync_from_rho()

    # ------------------------------------------------------------------ outputs
    def spin_average(self) -> np.ndarray:
        """Volume mean of ``s`` over the conductor."""
        return self.spin.average()

    def spin_rms(self) -> float:
        return self.spin.rms()

    def rho_mean(self) -> float:
        """Volume mean of ``rho`` over the conductor (nan without charge transport)."""
        if self.charge is None:
            return float("nan")
        return self.charge.mass() / self._vol

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode, "scheme": self.spin.scheme, "tau_sf": self.spin.tau_sf,
                "tau_ex": self.spin.tau_ex, "coupling": self.torque.coupling,
                "conductor_nodes": self.spin.V.dofmap.index_map.size_global,
                "charge": self.charge is not None,
                **({"si": self.si} if self.si is not None else {})}


@dataclass(frozen=True)
class CoupledStepInfo:
    """One coupled step: as the LLG integrators' ``StepInfo`` plus the pair iterations."""

    t: float
    dt: float
    retries: int = 0
    iterations: int = 0
    coupling_iterations: int = 1


def _max_change(comm: MPI.Comm, a: np.ndarray, b: np.ndarray) -> float:
    local = float(np.max(np.abs(a - b), initial=0.0))
    return comm.allreduce(local, op=MPI.MAX)


class SpinLLGIntegrator:
    """Decoupled (``m`` then ``s``) or iterated coupled steps of a :class:`SpinLLGProblem`.

    Parameters
    ----------
    problem
        The coupled problem (initialized).
    llg_integrator
        A tangent-plane or midpoint integrator of ``problem.llg``.
    iterate
        Repeat the pair until it is the coupled solution (else one pass).
    tol
        Nodal change of ``m`` and ``s`` between passes below which it stops.
    max_iterations
        More passes are a :class:`femhomog.SolverError`.
    """

    def __init__(self, problem: SpinLLGProblem, llg_integrator: Any, *, iterate: bool = False,
                 tol: float = 1e-10, max_iterations: int = 50) -> None:
        if llg_integrator.problem is not problem.llg:
            raise ValueError("the LLG integrator advances another problem")
        if not (tol > 0):
            raise ConfigError(f"coupling tolerance must be > 0, got {tol!r}")
        if isinstance(max_iterations, bool) or int(max_iterations) < 1:
            raise ConfigError(f"coupling max_iterations must be >= 1, got {max_iterations!r}")
        self.problem = problem
        self.llg = llg_integrator
        self.iterate = bool(iterate)
        self.tol = float(tol)
        self.max_iterations = int(max_iterations)
        #: weight of s^{n+1} in the spin field of the LLG step (its time t_n + w k)
        self.weight = float(getattr(llg_integrator, "theta", 0.5))
        self.steps = 0

    def step(self, dt: float) -> CoupledStepInfo:
        """One coupled step (collective)."""
        P = self.problem
        spin, comm = P.spin, P.comm
        t0 = P.t
        m0 = P.llg.m.x.array.copy()
        mc0 = P.m_conductor.x.array.copy()
        s0 = spin.s.x.array.copy()
        snap = spin.snapshot()
        midpoint = spin.scheme == "crank_nicolson" and P.mode == "dynamic"
        P.set_spin_field(s0)
        iterations, retries, passes = 0, 0, 0
        m_last: np.ndarray | None = None
        s_last: np.ndarray | None = None
        while True:
            P.llg.m.x.array[:] = m0
            P.llg.t = t0
            info = self.llg.step(dt)
            dt = info.dt  # shorter after solver failures: s follows
            iterations += getattr(info, "iterations", 0)
            retries += getattr(info, "retries", 0)
            spin.restore(snap)
            P.sync_magnetization(midpoint_with=mc0 if midpoint else None)
            if P.mode == "quasistatic":
                spin.quasi_static(t0 + dt)
            else:
                spin.step(dt)
            passes += 1
            if not self.iterate:
                break
            m_new, s_new = P.llg.m.x.array, spin.s.x.array
            if m_last is not None and max(_max_change(comm, m_new, m_last),
                                          _max_change(comm, s_new, s_last)) <= self.tol:
                break
            if passes >= self.max_iterations:
                raise SolverError(
                    f"coupled spin-LLG step at t = {t0:.6g}: the (m, s) iteration did not "
                    f"converge to {self.tol:.1e} in {self.max_iterations} passes; reduce the "
                    "time step")
            m_last, s_last = m_new.copy(), s_new.copy()
            P.set_spin_field((1.0 - self.weight) * s0 + self.weight * s_new)
        if P.mode == "dynamic" and midpoint:
            P.sync_magnetization()  # the transport's m back to m^{n+1}
        P.set_spin_field(spin.s.x.array)
        P.sync_outputs()
        if P.charge is not None:
            P.charge.step(dt)
        P.t = t0 + dt
        self.steps += 1
        return CoupledStepInfo(t=P.t, dt=dt, retries=retries, iterations=iterations,
                               coupling_iterations=passes)

    def describe(self) -> dict[str, Any]:
        inner = dict(self.llg.describe()) if hasattr(self.llg, "describe") else {}
        name = inner.pop("name", type(self.llg).__name__)
        return {"name": f"spin_{name}", "llg": {"name": name, **inner},
                "spin": self.problem.describe(), "iterate": self.iterate,
                "coupling_tol": self.tol}

    def destroy(self) -> None:
        self.llg.destroy()
        self.problem.spin.destroy()
        if self.problem.charge is not None:
            self.problem.charge.destroy()
