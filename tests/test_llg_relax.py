"""Relaxation to equilibrium (femhomog.micromag.relax): torque criterion, energy decay.

Truths: a macrospin in a field h relaxes to m = h/|h| (the only stable
equilibrium), with the torque |m x h| = h sin(theta) decaying like
exp(-alpha h t); a periodic 2D state with exchange and easy-axis anisotropy
relaxes to a uniform state along +-e (the energy minimizers), E -> -q/2 |Omega|.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from femhomog import (
    ConfigError,
    _fenicsx,  # noqa: F401
)

# isort: split
import itertools

from mpi4py import MPI

from femhomog.meshes import periodic_box_mesh
from femhomog.micromag.midpoint import MidpointIntegrator
from femhomog.micromag.problem import LLGProblem
from femhomog.micromag.relax import relax
from femhomog.micromag.tangent_plane import TangentPlaneIntegrator
from femhomog.micromag.terms import Exchange, UniaxialAnisotropy, Zeeman
from femhomog.timestepping import AdaptiveStepper, FixedStepper


def macrospin(alpha=1.0, h=2.0, theta0=2.5):
    mesh = periodic_box_mesh(MPI.COMM_WORLD, 1, "interval", 2)
    m0 = (math.sin(theta0), 0.0, math.cos(theta0))
    return LLGProblem(mesh, [Exchange(1.0), Zeeman((0.0, 0.0, h))], alpha, periodic=True, m0=m0)


@pytest.mark.parametrize("integrator", ["tangent_plane", "midpoint", "adaptive"])
def test_macrospin_relaxes_to_field_direction(integrator):
    prob = macrospin()
    if integrator == "tangent_plane":
        stepper = FixedStepper(TangentPlaneIntegrator(prob))
    elif integrator == "midpoint":
        stepper = FixedStepper(MidpointIntegrator(prob))
    else:
        stepper = AdaptiveStepper(MidpointIntegrator(prob), tol=1e-4)
    res = relax(stepper, dt=0.05, torque_tol=1e-8, max_steps=2000, dt_max=0.5)
    assert res.converged and res.torque < 1e-8
    np.testing.assert_allclose(prob.average(), [0, 0, 1], atol=1e-8)
    assert res.energy == pytest.approx(-2.0, abs=1e-8)  # E = -h.m |Omega|
    assert res.energy_increases == 0
    # torque h sin(theta): grows while theta > pi/2, then decays monotonically
    torques = [h[3] for h in res.history]
    late = torques[int(np.argmax(torques)) :]
    assert max(torques) == pytest.approx(2.0, rel=1e-2)
    assert all(b <= a * (1 + 1e-12) for a, b in itertools.pairwise(late))


def test_torque_decay_rate_matches_linearized_dynamics():
    """Near equilibrium sin(theta) ~ exp(-alpha h t): fit the rate from the history."""
    alpha, h = 0.5, 2.0
    prob = macrospin(alpha=alpha, h=h, theta0=0.3)
    # fixed small steps: the midpoint amplification factor (1 - z/2)/(1 + z/2)
    # matches exp(-z) to O(z^3), i.e. the decay rate to O(z^2) = 1e-4 relative
    stepper = FixedStepper(MidpointIntegrator(prob))
    res = relax(stepper, dt=0.01, torque_tol=1e-7, max_steps=20000, check_every=10)
    assert res.converged
    hist = np.array(res.history)
    late = hist[hist[:, 3] < 1e-3]
    rate = -np.polyfit(late[:, 1], np.log(late[:, 3]), 1)[0]
    assert rate == pytest.approx(alpha * h, rel=1e-3)


def test_periodic_state_relaxes_to_easy_axis(periodic_mesh):
    mesh = periodic_mesh(2, "triangle", 8)
    q = 0.5

    def m0(x):
        v = np.vstack([0.3 * np.cos(2 * np.pi * x[0]), 0.3 * np.sin(2 * np.pi * x[1]),
                       1.0 + 0.0 * x[0]])
        return v / np.linalg.norm(v, axis=0)

    prob = LLGProblem(mesh, [Exchange(0.05), UniaxialAnisotropy(q, (0, 0, 1))], 1.0,
                      periodic=True, m0=m0)
    res = relax(FixedStepper(TangentPlaneIntegrator(prob)), dt=0.5, torque_tol=1e-7,
                max_steps=2000)
    assert res.converged
    assert res.energy_increases == 0
    np.testing.assert_allclose(prob.average(), [0, 0, 1], atol=1e-6)
    assert res.energy == pytest.approx(-q / 2, abs=1e-9)


def test_not_converged_is_reported_and_bad_input_rejected():
    prob = macrospin()
    res = relax(FixedStepper(TangentPlaneIntegrator(prob)), dt=1e-3, torque_tol=1e-12,
                max_steps=3)
    assert not res.converged and res.steps == 3 and res.torque > 1e-12
    for kwargs in ({"dt": 0.0, "torque_tol": 1e-6}, {"dt": 0.1, "torque_tol": -1.0},
                   {"dt": 0.1, "torque_tol": 1e-6, "max_steps": 0}):
        with pytest.raises(ConfigError, match="relaxation"):
            relax(FixedStepper(TangentPlaneIntegrator(prob)), **kwargs)
