"""Versions of the packages a result was computed with (for run.json / tensors.json).

Pure Python: nothing here imports dolfinx, PETSc or MPI (importing those starts MPI
and takes seconds), so a record of the environment costs nothing and also works
where the FEniCSx stack is missing or broken.

The versions come from the installed distributions' metadata (``importlib.metadata``).
The PyPI wheel ``dolfinx-solver-real`` vendors ``dolfinx``, ``petsc4py`` and
``slepc4py`` without metadata of their own; for those the ``__version__`` literal
is read from the module's source file, located with :func:`importlib.util.find_spec`
(which does not execute the package).  conda/Spack installs of the same modules
have their own distributions, which are preferred.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
import re
from pathlib import Path

__all__ = ["KEY_PACKAGES", "package_versions"]

#: Key packages -> distribution names that may provide them, in order of preference.
KEY_PACKAGES: dict[str, tuple[str, ...]] = {
    "femhomog": ("femhomog",),
    "dolfinx": ("fenics-dolfinx",),
    "dolfinx-solver-real": ("dolfinx-solver-real",),
    "petsc4py": ("petsc4py",),
    "slepc4py": ("slepc4py",),
    "mpi4py": ("mpi4py",),
    "mpich": ("mpich",),
    "numpy": ("numpy",),
    "scipy": ("scipy",),
    "ufl": ("fenics-ufl",),
    "basix": ("fenics-basix",),
    "ffcx": ("fenics-ffcx",),
    "cffi": ("cffi",),
    "gmsh": ("gmsh",),
    "tqdm": ("tqdm",),
}

#: Packages whose version may only be found in their source (vendored by a wheel).
_MODULE_FALLBACK = {"dolfinx": "dolfinx", "petsc4py": "petsc4py", "slepc4py": "slepc4py"}

_VERSION_LITERAL = re.compile(r"""^__version__\s*=\s*["']([^"']+)["']""", re.MULTILINE)


def _distribution_version(names: tuple[str, ...]) -> str | None:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _module_version_literal(module: str) -> str | None:
    """``__version__ = "..."`` of a top-level package's ``__init__.py``, not executed."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    try:
        match = _VERSION_LITERAL.search(Path(spec.origin).read_text(encoding="utf-8"))
    except OSError:
        return None
    return match.group(1) if match else None


def package_versions() -> dict[str, str | None]:
    """Installed versions of the key packages, ``None`` for those not installed.

    Returns
    -------
    dict
        ``{"python": "3.12.1", "femhomog": "0.1.0", "dolfinx": "0.11.0.post0",
        ...}`` in the order of :data:`KEY_PACKAGES` (JSON-ready).
    """
    out: dict[str, str | None] = {"python": platform.python_version()}
    for key, dists in KEY_PACKAGES.items():
        found = _distribution_version(dists)
        if found is None and key in _MODULE_FALLBACK:
            found = _module_version_literal(_MODULE_FALLBACK[key])
        out[key] = found
    return out
