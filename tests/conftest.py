"""Fixtures of the whole suite: collective teardown, shared output directories, meshes.

The plain helpers (running the command line, mpirun, the one-line error check)
are in :mod:`helpers`; test modules import them directly.

The suite runs twice: serially (``pytest -m "not mpi" tests``) and on two ranks
(``mpirun -n 2 python -m mpi4py -m pytest -m mpi tests``), where every rank
runs the same tests in the same order.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from femhomog import _fenicsx  # noqa: F401  (must precede mpi4py / petsc4py)

# isort: split
from helpers import shared_path
from mpi4py import MPI
from petsc4py import PETSc


@pytest.fixture(autouse=True)
def _collective_teardown() -> Iterator[None]:
    """After every test: collect garbage, then wait for all ranks.

    Destroying a distributed object (a PETSc matrix, a dolfinx mesh) is
    collective.  Left to the garbage collector it would happen at different
    moments on different ranks, inside some later test, and hang or mix up
    messages; collecting on every rank at the same point of the run, and
    releasing the PETSc objects whose destruction petsc4py deferred, keeps the
    ranks in step (the approach of dolfinx's own test suite).
    """
    yield
    gc.collect()
    PETSc.garbage_cleanup()
    MPI.COMM_WORLD.Barrier()


@pytest.fixture
def shared_tmp_path(tmp_path: Path) -> Path:
    """Rank 0's ``tmp_path`` on every rank: one output directory for a parallel run."""
    return shared_path(tmp_path)


@pytest.fixture(scope="session")
def periodic_mesh() -> Callable[..., Any]:
    """``periodic_mesh(dim, cell_type, n)``: a periodic box mesh on ``COMM_WORLD``.

    The small structured meshes that many tests build again and again are built
    once per run and shared; the tests only read them.  Arguments as
    :func:`femhomog.meshes.periodic_box_mesh` without the communicator.
    """
    from femhomog.meshes import periodic_box_mesh

    cache: dict[tuple[Any, ...], Any] = {}

    def get(dim: int, cell_type: str, n: int | Sequence[int],
            lengths: float | Sequence[float] = 1.0) -> Any:
        key = (dim, cell_type, tuple(n) if isinstance(n, Sequence) else n,
               tuple(lengths) if isinstance(lengths, Sequence) else lengths)
        if key not in cache:
            cache[key] = periodic_box_mesh(MPI.COMM_WORLD, dim, cell_type, n, lengths=lengths)
        return cache[key]

    return get
