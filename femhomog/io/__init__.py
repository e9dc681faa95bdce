"""Input/output: the TOML schema engine, result files, MPI-aware logging.

``schema``   declaring job configurations (sections of typed options), validation,
             ``--set`` overrides, the ``--print-config`` template
``values``   value types several job schemas share (matrices, coefficients a(y))
``output``   atomic JSON/CSV writers
``job``      :class:`Job`: what the ``femhomog`` command needs to know of a job
``logging``  rank-0 logging

The job schemas live next to their physics (``femhomog.cell.config``,
``femhomog.micromag.config``).  Pure Python (plus numpy); importing it does not
import dolfinx or mpi4py.
"""

from femhomog.io.logging import get_logger, setup_logging
from femhomog.io.output import write_json_atomic
from femhomog.io.schema import Schema, Section, apply_overrides, option, section

__all__ = [
    "Schema",
    "Section",
    "apply_overrides",
    "get_logger",
    "option",
    "section",
    "setup_logging",
    "write_json_atomic",
]
