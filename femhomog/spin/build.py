"""``[spin]`` of an LLG job -> a :class:`~femhomog.spin.coupled.SpinLLGProblem` and its integrator.

Called by :func:`femhomog.micromag.build.build_llg` when ``spin.enabled``: the
conductor is the job's mesh (box, ``mesh.file`` with its physical groups, or a
``mesh.builder`` magnet), the LLG problem lives on the submesh of the
``spin.magnet`` cells (:func:`femhomog.spin.transfer.magnet_submesh`).  Box meshes
have no tags of their own; their faces get the facet tags of :func:`box_facet_tags`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from femhomog import (
    ConfigError,
    _fenicsx,  # noqa: F401  (must precede dolfinx / petsc4py)
)

# isort: split
import dolfinx
import dolfinx.mesh

from femhomog.coefficients import CellCoefficient
from femhomog.io.values import parse_variable_expression
from femhomog.micromag.config.spin import COMPUTED
from femhomog.micromag.problem import LLGProblem
from femhomog.periodic import mesh_bounding_box
from femhomog.spin.charge import ChargeTransport
from femhomog.spin.coupled import SpinLLGIntegrator, SpinLLGProblem
from femhomog.spin.potential import CurrentPotential
from femhomog.spin.transport import SpinTransport
from femhomog.spin.units import SpinParameters, ZhangLevyFert

__all__ = ["Conductor", "box_facet_tags", "build_spin", "si_parameters", "wrap_integrator"]


@dataclass
class Conductor:
    """The conductor mesh with its tags (None: none) and the magnet's cells in it."""

    mesh: dolfinx.mesh.Mesh
    cell_tags: dolfinx.mesh.MeshTags | None
    facet_tags: dolfinx.mesh.MeshTags | None
    parent: np.ndarray | None = None  # conductor cell of every local magnet cell


def box_facet_tags(mesh: dolfinx.mesh.Mesh) -> dolfinx.mesh.MeshTags:
    """Facet tags of a box: faces ``x = min`` 1, ``x = max`` 2, ``y`` 3/4, ``z`` 5/6."""
    lo, hi = mesh_bounding_box(mesh)
    fdim = mesh.topology.dim - 1
    mesh.topology.create_connectivity(fdim, mesh.topology.dim)
    facets, values = [], []
    tol = 1e-10 * float(np.max(hi - lo))
    for axis in range(mesh.topology.dim):
        for side, value in ((0, lo[axis]), (1, hi[axis])):
            found = dolfinx.mesh.locate_entities_boundary(
                mesh, fdim, lambda x, a=axis, v=value: np.abs(x[a] - v) <= tol)
            facets.append(found)
            values.append(np.full(len(found), 2 * axis + side + 1, dtype=np.int32))
    facets_all = np.concatenate(facets)
    order = np.argsort(facets_all, kind="stable")
    # a facet on two faces (none for boxes of cells) keeps its first tag
    facets_all, first = np.unique(facets_all[order], return_index=True)
    return dolfinx.mesh.meshtags(mesh, fdim, facets_all.astype(np.int32),
                                 np.concatenate(values)[order][first])


def _field(expressions: list[Any], what: str, dim: int, length_scale: float) -> Any:
    """``x -> (k, N)`` values of expressions in the input length unit."""
    exprs = [parse_variable_expression(v, "x", dim, what=f"{what}[{i}]")
             for i, v in enumerate(expressions)]

    def f(x: np.ndarray) -> np.ndarray:
        pts = x.T * length_scale
        return np.vstack([np.broadcast_to(e.evaluate(pts), (x.shape[1],)) for e in exprs])

    return f


def _scalar(expression: Any, what: str, dim: int, length_scale: float) -> Any:
    f = _field([expression], what, dim, length_scale)
    return lambda x: f(x)[0]


def _diffusion(value: Any, dim: int) -> CellCoefficient | float:
    if isinstance(value, dict):
        return CellCoefficient.from_materials(value, dim)
    if isinstance(value, list):
        if len(value) != dim:
            raise ConfigError(f"spin.D must be a {dim} x {dim} matrix (mesh dimension {dim}), "
                              f"got {len(value)} x {len(value)}")
        return CellCoefficient.from_expression(value, dim)
    return float(value)


def si_parameters(sc: Any, units: Any) -> tuple[SpinParameters, ZhangLevyFert] | None:
    """``spin.units = "SI"``: the Zhang-Levy-Fert parameters of ``[spin]`` converted once to
    the nondimensional system of the run's :class:`femhomog.micromag.Units` (length ``L``,
    time ``T``, ``s`` in ``Ms``; :mod:`femhomog.spin.units`); None for nondimensional
    ``[spin]`` values."""
    if sc.units != "SI":
        return None
    if units is None:
        raise ConfigError('spin.units = "SI" needs material.units = "SI"')
    zlf = ZhangLevyFert.from_lengths(D0=sc.D0, lambda_sf=sc.lambda_sf, lambda_J=sc.lambda_J,
                                     beta=sc.beta, beta_prime=sc.beta_prime)
    return zlf.nondimensional(length=units.length, time=units.time_unit, Ms=units.Ms,
                              gamma=units.gamma), zlf


def build_spin(sc: Any, llg: LLGProblem, conductor: Conductor, length_scale: float = 1.0,
               si: tuple[SpinParameters, ZhangLevyFert] | None = None) -> SpinLLGProblem:
    """The spin transport of the ``[spin]`` section ``sc`` coupled to ``llg`` (collective).

    ``llg.m`` must hold ``m(0)``.  ``potential = "computed"`` solves the current equation
    once (:class:`~femhomog.spin.potential.CurrentPotential`; ``current = "computed"``
    is its ``j = -sigma grad phi``).  ``si`` (:func:`si_parameters`): the converted
    Zhang-Levy-Fert parameters replace ``D, tau_sf, tau_ex, anisotropy``, the current
    (A/m^2; computed: ``-sigma grad phi`` with phi in V, sigma in S/m, lengths in
    ``length_scale`` m) is polarized by ``beta mu_B/e`` (:attr:`SpinParameters.source`)
    and there is no drift.  Raises ConfigError (on every rank) for unknown cell or facet
    tags (magnet, injection, electrodes) and a ``D`` that is not positive definite on
    the mesh.
    """
    mesh = conductor.mesh
    dim = mesh.topology.dim
    potential, current = None, sc.current
    if sc.potential == COMPUTED:
        # the quasi-static potential of the electrodes (femhomog.spin.potential)
        solver = CurrentPotential(mesh, facet_tags=conductor.facet_tags,
                                  cell_tags=conductor.cell_tags,
                                  electrodes={int(k): v for k, v in sc.electrodes.items()},
                                  sigma=1.0 if sc.sigma is None else sc.sigma,
                                  solver=sc.solver, rtol=min(sc.rtol, 1e-12))
        potential = solver.solve()
        if current == COMPUTED:
            current = solver.current
        solver.destroy()
    elif sc.potential is not None:
        Q = dolfinx.fem.functionspace(mesh, ("Lagrange", 2))
        potential = dolfinx.fem.Function(Q, name="phi")
        potential.interpolate(_scalar(sc.potential, "spin.potential", dim, length_scale))
    dirichlet = {int(tag): _field(value, f"spin.dirichlet.{tag}", dim, length_scale)
                 for tag, value in sc.dirichlet.items()}
    D, tau_sf, tau_ex, anisotropy = _diffusion(sc.D, dim), sc.tau_sf, sc.tau_ex, sc.anisotropy
    if si is not None:  # Zhang-Levy-Fert: no drift, the current polarized by beta mu_B/e
        p = si[0]
        D, tau_sf, tau_ex, anisotropy = p.D, p.tau_sf, p.tau_ex, p.anisotropy
        potential = None
        if isinstance(current, list):
            current = [p.source * j for j in current]
        elif current is not None:  # computed: j_e = -sigma grad phi, grad in 1/L
            current = (p.source / length_scale) * current
    spin = SpinTransport(mesh, cell_tags=conductor.cell_tags, magnet_tags=sc.magnet,
                         facet_tags=conductor.facet_tags, D=D, tau_sf=tau_sf,
                         tau_ex=tau_ex, potential=potential, current=current,
                         dirichlet=dirichlet, degree=sc.degree, anisotropy=anisotropy,
                         pinned=({int(k): v for k, v in sc.pinned.items()}
                                 if sc.pinned is not None else None),
                         scheme=sc.scheme, solver=sc.solver, rtol=sc.rtol)
    spin.set_state(_field(sc.initial, "spin.initial", dim, length_scale))
    charge = None
    if sc.rho_initial is not None:
        charge = ChargeTransport(mesh, cell_tags=conductor.cell_tags, D=D, potential=potential,
                                 solver=sc.solver, rtol=min(sc.rtol, 1e-12))
        charge.set_state(_scalar(sc.rho_initial, "spin.rho_initial", dim, length_scale))
    assert conductor.parent is not None
    problem = SpinLLGProblem(llg, spin, conductor.parent, charge=charge, mode=sc.mode)
    if si is not None:
        problem.si = {**si[1].describe(), "nondimensional": si[0].as_dict()}
    problem.initialize()
    return problem


def wrap_integrator(sc: Any, problem: SpinLLGProblem, llg_integrator: Any) -> SpinLLGIntegrator:
    """The coupled integrator of ``[spin]`` around the LLG integrator of ``[time]``."""
    return SpinLLGIntegrator(problem, llg_integrator, iterate=sc.iterate, tol=sc.tol,
                             max_iterations=sc.max_iterations)
