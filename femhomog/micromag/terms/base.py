"""The field-term protocol: an energy ``E(m)``, its field ``H = -dE/dm`` and an implicit part.

Every term has an energy ``E_term(m)`` and the field ``H_term = -dE_term/dm``
(the L2 gradient), both in the units of :mod:`femhomog.micromag.units`
(energies in ``mu0 Ms^2 L^d``, fields in ``Ms``).  For the LL paper's equation
(3.1) the effective field is the exchange field ``H = div(a(x/eps) grad m)``,
for the homogenized equation (3.2) ``H = div(grad m A^H)``.

A term gives the integrators UFL forms (``m`` a magnetization, ``phi`` a test
function in the P1 vector space):

``energy_form(m)``      ``E_term(m)``: the one form every term must declare.
``field_form(m, phi)``  ``(H_term(m), phi) = -dE_term/dm[phi]``: by default derived
                        from :meth:`~FieldTerm.energy_form` with :func:`ufl.derivative`
                        (as the energy's own quadrature rule is kept, a lumped
                        energy gives the lumped field).
``bilinear(u, phi)``    ``b(u, phi)`` for terms treated implicitly: the Hessian of a
                        *convex* quadratic energy ``E~ = b(m, m)/2`` whose field
                        ``-b(m, .)`` equals ``H_term(m)`` up to a component
                        parallel to ``m`` (nodally; which neither the LL
                        right-hand side nor tangent test functions see), else None.
                        By default the second :func:`ufl.derivative` of the energy.
``implicit``            whether the time integrators treat the term implicitly.

Overrides are needed only where the discrete scheme wants something that is
not the derivative of the energy form: the convex representative of a concave
anisotropy energy (:mod:`.anisotropy`) and fields computed outside UFL
(:mod:`.extra`, the stray field of :mod:`femhomog.micromag.demag`).

Lower-order terms (anisotropy, Zeeman, extra fields) are integrated with the
vertex quadrature ("mass lumping", :func:`.quadrature.lumped_measure`): their
forms are then *nodal*, which is what makes the statements "parallel to m" and
"tangent at the nodes" exact for the discrete schemes (and is the usual choice
of Alouges' tangent-plane scheme).

Convex splitting.  Exchange (convex) is implicit.  The easy-axis energy
``-q/2 (m.e)^2`` (q > 0) is concave, but on unit vectors it equals the convex
``q/2 |m x e|^2 - q/2``; :class:`~.anisotropy.UniaxialAnisotropy` therefore uses
``b(u, phi) = q (u - (u.e)e, phi)_h`` for ``q > 0`` and
``b(u, phi) = -q ((u.e), (phi.e))_h`` for ``q < 0``, both positive
semi-definite.  With all implicit terms convex the tangent-plane scheme for
theta >= 1/2 decreases the energy unconditionally (Alouges 2008, Bartels 2005).
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np

from femhomog import (
    ConfigError,
    _fenicsx,  # noqa: F401  (must precede dolfinx / petsc4py)
)

# isort: split
import dolfinx
import dolfinx.fem
import ufl
from mpi4py import MPI
from ufl.algorithms import expand_derivatives

__all__ = ["FieldTerm"]


def mesh_of(u: Any) -> dolfinx.mesh.Mesh:
    """The dolfinx mesh of a test/trial function, a Function or a UFL coefficient."""
    return u.ufl_function_space().mesh


def finite_vector(v: Any, what: str, n: int = 3) -> np.ndarray:
    """``v`` as ``n`` finite numbers (ConfigError naming ``what`` otherwise)."""
    try:
        arr = np.asarray(v, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be {n} numbers, got {v!r}") from None
    if arr.shape != (n,) or not np.all(np.isfinite(arr)):
        raise ConfigError(f"{what} must be {n} finite numbers, got {v!r}")
    return arr


def finite_number(v: Any, what: str) -> float:
    """``v`` as a finite float (ConfigError naming ``what`` otherwise)."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(float(v)):
        raise ConfigError(f"{what} must be a finite number, got {v!r}")
    return float(v)


def energy_derivative(
    energy: Callable[[Any], ufl.Form], m: Any, phi: Any
) -> ufl.Form:
    """``dE/dm[phi]`` of the energy form ``energy(m)`` by :func:`ufl.derivative`.

    ``m`` is normally a :class:`dolfinx.fem.Function`; for any other UFL vector
    (e.g. a midpoint ``(m0 + m1)/2``) the energy is differentiated at a
    placeholder coefficient of ``phi``'s space, which is then replaced by ``m``.
    """
    if isinstance(m, ufl.Coefficient):
        return ufl.derivative(energy(m), m, phi)
    w = ufl.Coefficient(phi.ufl_function_space())
    return ufl.replace(expand_derivatives(ufl.derivative(energy(w), w, phi)), {w: m})


def energy_hessian(energy: Callable[[Any], ufl.Form], u: Any, phi: Any) -> ufl.Form:
    """``d^2E/dm^2[u, phi]`` of a *quadratic* energy form (independent of ``m``).

    Raises
    ------
    TypeError
        If the Hessian still depends on ``m`` (the energy is not quadratic).
    """
    w = ufl.Coefficient(phi.ufl_function_space())
    form = expand_derivatives(ufl.derivative(ufl.derivative(energy(w), w, phi), w, u))
    if w in form.coefficients():
        raise TypeError("the energy is not quadratic: its Hessian depends on m")
    return form


class FieldTerm(ABC):
    """A contribution ``E_term`` to the energy and ``H_term = -dE_term/dm`` to the field.

    Subclasses are dataclasses holding the (nondimensional) parameters; the
    UFL objects that depend on a mesh (constants, coefficient functions) are
    created on first use per mesh, so one term may serve several meshes
    (e.g. the same problem on ``COMM_WORLD`` and ``COMM_SELF``).  A subclass
    declares :meth:`energy_form`; the field and (for implicit terms) the
    implicit bilinear form follow from it by differentiation unless overridden.

    Attributes
    ----------
    name : str
        Key of the term in :meth:`femhomog.micromag.LLGProblem.energies`.
    implicit : bool
        Treated implicitly by the time integrators (then :meth:`bilinear` is not None).
    time_dependent : bool
        The field depends on time explicitly (:meth:`prepare` must be called
        with the time before forms are assembled).
    """

    name: str
    implicit: bool
    time_dependent: bool = False

    # ------------------------------------------------------------------ forms
    @abstractmethod
    def energy_form(self, m: Any) -> ufl.Form:
        """UFL form of the energy ``E_term(m)`` (nondimensional)."""

    def field_form(self, m: Any, phi: Any) -> ufl.Form:
        """UFL form ``(H_term(m), phi) = -dE_term/dm[phi]`` (explicit field).

        ``m`` may be any UFL vector on ``phi``'s mesh (normally the
        magnetization Function).
        """
        return -energy_derivative(self.energy_form, m, phi)

    def bilinear(self, u: Any, phi: Any) -> ufl.Form | None:
        """UFL form ``b(u, phi)`` of the implicit part, ``-(H_impl(u), phi)``, or None.

        ``b`` is symmetric positive semi-definite (the Hessian of a convex
        representative of the energy on unit vectors, see the module docstring).
        The default is the Hessian of :meth:`energy_form` for implicit terms
        (right for a convex quadratic energy) and None for explicit ones.
        """
        if not self.implicit:
            return None
        return energy_hessian(self.energy_form, u, phi)

    # ------------------------------------------------------------------ hooks
    def check(self, mesh: dolfinx.mesh.Mesh) -> None:
        """Validate the term on a mesh (collective; ConfigError on every rank)."""

    def prepare(self, t: float, m: dolfinx.fem.Function) -> None:
        """Bring time- or state-dependent data up to date for ``(t, m)``.

        The integrators call this before assembling :meth:`field_form` at
        time ``t`` and state ``m`` (and :meth:`LLGProblem.energies` before
        evaluating energies).
        """

    # ------------------------------------------------------------------ energy
    def energy(self, m: dolfinx.fem.Function) -> float:
        """``E_term(m)``: collective over ``m``'s mesh communicator."""
        cache: dict[int, tuple[Any, dolfinx.fem.Form]] = self.__dict__.setdefault(
            "_energy_forms", {}
        )
        key = id(m)
        if key not in cache or cache[key][0] is not m:
            cache[key] = (m, dolfinx.fem.form(self.energy_form(m)))
        local = dolfinx.fem.assemble_scalar(cache[key][1])
        return float(m.function_space.mesh.comm.allreduce(local, op=MPI.SUM))

    def _per_mesh(self, mesh: dolfinx.mesh.Mesh, build: Callable[[], Any]) -> Any:
        """Mesh-dependent UFL data, built once per mesh."""
        cache: dict[int, tuple[Any, Any]] = self.__dict__.setdefault("_mesh_data", {})
        key = id(mesh)
        if key not in cache or cache[key][0] is not mesh:
            cache[key] = (mesh, build())
        return cache[key][1]

    def _all_mesh_data(self) -> list[Any]:
        return [v for _, v in self.__dict__.get("_mesh_data", {}).values()]

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable description (for result metadata)."""
        return {"type": type(self).__name__, "name": self.name, "implicit": self.implicit}
