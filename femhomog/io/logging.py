"""MPI-aware logging: one copy of INFO messages, rank-tagged warnings.

Every rank of an MPI job runs the same code, so an unfiltered ``log.info``
would print N identical lines.  :class:`RankFilter` lets only rank 0 of
``COMM_WORLD`` emit DEBUG/INFO records, and prefixes WARNING and above (which
may differ between ranks) with ``[rank k]`` in parallel runs.

This module never imports :mod:`mpi4py` itself (importing it would initialize
MPI, and the FEniCSx wheel must load its MPI first, see
:mod:`femhomog._fenicsx`): the rank comes from ``mpi4py.MPI`` if something else
already imported it, else from the launcher's environment (``PMI_RANK`` for
MPICH/Hydra, ``PMIX_RANK``, ``OMPI_COMM_WORLD_RANK``), else 0.
"""

from __future__ import annotations

import logging
import os
import sys
import time

__all__ = ["RankFilter", "get_logger", "setup_logging", "world_rank", "world_size"]

#: Reference time of the elapsed-time column (import of this module, i.e. CLI start).
_T0 = time.monotonic()

_RANK_VARS = ("PMI_RANK", "PMIX_RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK")
_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")


def _from_env(names: tuple[str, ...]) -> int | None:
    for name in names:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return None


def _mpi_world() -> object | None:
    """``MPI.COMM_WORLD`` if mpi4py is imported and MPI is usable, else None."""
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is None:
        return None
    try:
        if mpi.Is_initialized() and not mpi.Is_finalized():  # type: ignore[attr-defined]
            return mpi.COMM_WORLD  # type: ignore[attr-defined]
    except RuntimeError:  # pragma: no cover - MPI.Exception: fall back to the env
        return None
    return None


def world_rank() -> int:
    """Rank in ``COMM_WORLD`` without initializing MPI (0 in serial runs)."""
    comm = _mpi_world()
    if comm is not None:
        return comm.Get_rank()  # type: ignore[attr-defined]
    rank = _from_env(_RANK_VARS)
    return 0 if rank is None else rank


def world_size() -> int:
    """Size of ``COMM_WORLD`` without initializing MPI (1 in serial runs)."""
    comm = _mpi_world()
    if comm is not None:
        return comm.Get_size()  # type: ignore[attr-defined]
    size = _from_env(_SIZE_VARS)
    return 1 if size is None else size


class RankFilter(logging.Filter):
    """Drop records below WARNING on ranks > 0; tag warnings with the rank.

    Attached both to femhomog loggers (:func:`get_logger`) and to the handler
    installed by :func:`setup_logging`; the tag is added only once per record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        rank = world_rank()
        if record.levelno < logging.WARNING:
            return rank == 0
        if world_size() > 1 and not getattr(record, "_femhomog_rank_tagged", False):
            record.msg = f"[rank {rank}] {record.getMessage()}"
            record.args = ()
            record._femhomog_rank_tagged = True
        return True


_FILTER = RankFilter()


def get_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` with the rank filter (idempotent).

    Use ``get_logger(__name__)`` in femhomog modules so that their records end
    up under the ``femhomog`` logger configured by :func:`setup_logging`.
    """
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger


class _ElapsedFormatter(logging.Formatter):
    """``[  12.3s] LEVEL name: message`` with the time since program start."""

    def format(self, record: logging.LogRecord) -> str:
        record.elapsed = f"{time.monotonic() - _T0:7.1f}s"
        return super().format(record)


_HANDLER_FLAG = "_femhomog_handler"


class _StderrHandler(logging.StreamHandler):
    """A stream handler that writes to the *current* ``sys.stderr``.

    Binding the stream at setup time would keep writing to a replaced (and
    possibly closed) stderr, e.g. after pytest's capture or a redirect.
    """

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it
        pass


def setup_logging(verbosity: int = 0) -> logging.Logger:
    """Configure the ``femhomog`` logger for the command line.

    Parameters
    ----------
    verbosity
        ``< 0``: warnings and errors only (``-q``); ``0``: INFO; ``> 0``: DEBUG
        (``-v``).

    Returns
    -------
    logging.Logger
        The ``femhomog`` logger, writing to stderr (stdout is for results).
        Calling again replaces the handler instead of adding a second one.
    """
    level = logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG
    logger = get_logger("femhomog")
    for handler in [h for h in logger.handlers if getattr(h, _HANDLER_FLAG, False)]:
        logger.removeHandler(handler)
    handler = _StderrHandler()
    setattr(handler, _HANDLER_FLAG, True)
    handler.addFilter(_FILTER)  # also covers child loggers made without get_logger
    handler.setFormatter(_ElapsedFormatter("[%(elapsed)s] %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
    return logger
