"""Import guard for the FEniCSx stack.

The ``dolfinx-solver-real`` wheel must be imported before ``dolfinx`` and
``petsc4py`` (it loads its MPI first).  conda-forge / Docker installs do not
have it, and need nothing.  Every femhomog module that uses dolfinx imports this
module first; pure-numpy modules (``femhomog.tensors``) never do.
"""

try:  # pragma: no cover - depends on the install route
    import dolfinx_solver  # noqa: F401
except ImportError:  # conda-forge, official images, Spack: plain dolfinx
    pass
