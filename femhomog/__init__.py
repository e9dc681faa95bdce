"""femhomog: finite elements for multiscale magnetization dynamics and waves in periodic composites.

The package layout follows the pipeline (see README.md):

``femhomog.periodic``      periodic and Dirichlet constraints for dolfinx spaces (u = P u_r, P^T A P)
``femhomog.tensors``       pure-numpy symmetric tensor algebra of the wave paper (no dolfinx)
``femhomog.meshes``        structured periodic boxes, gmsh cells and magnets
``femhomog.coefficients``  coefficients a(y) / a(x/eps) behind one protocol (``femhomog.spd`` checks them)
``femhomog.io``            the TOML schema engine, job descriptions, JSON/CSV outputs, logging
``femhomog.cell``          cell problems and correctors chi^k, a^0 = A^H, effective wave tensors
``femhomog.timestepping``  generic time loop, steppers, recorders, checkpoints, run.json
``femhomog.micromag``      Landau-Lifshitz(-Gilbert): field terms, integrators, stray field
``femhomog.wave``          fine-scale and effective wave equations
``femhomog.spin``          spin and charge drift-diffusion on a conductor
``femhomog.cli``           the ``femhomog`` command (one ``Job`` entry per physics)

The public facade :class:`Simulation` (with the recorders :class:`ScalarLog`,
:class:`FieldWriter`, :class:`StateWriter`, :class:`Checkpointer` and
:class:`RunRecord`) is importable from here.  Importing the top-level package
does not import dolfinx: these names are loaded on first access.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("femhomog")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"


class FemhomogError(Exception):
    """An error with a one-line, user-facing message (bad input, solver failure).

    The CLI prints ``femhomog: error: <message>`` and exits non-zero without a
    traceback for every subclass of this class.
    """


class ConfigError(FemhomogError):
    """Invalid configuration key or value."""


class MeshError(FemhomogError):
    """Unreadable mesh or a mesh that does not fit the requested use (e.g. not periodic)."""


class SolverError(FemhomogError):
    """A linear/nonlinear solver diverged or failed."""


# name -> module, imported lazily (the facade imports mpi4py, recorders dolfinx)
_LAZY = {
    "Simulation": "femhomog.simulation",
    "ScalarLog": "femhomog.timestepping",
    "FieldWriter": "femhomog.timestepping",
    "StateWriter": "femhomog.timestepping",
    "Checkpointer": "femhomog.timestepping",
    "RunRecord": "femhomog.timestepping",
}

__all__ = [
    "Checkpointer",
    "ConfigError",
    "FemhomogError",
    "FieldWriter",
    "MeshError",
    "RunRecord",
    "ScalarLog",
    "Simulation",
    "SolverError",
    "StateWriter",
    "__version__",
]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'femhomog' has no attribute {name!r}")
