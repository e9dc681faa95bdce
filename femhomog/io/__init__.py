"""Input/output: TOML job configurations, result files, MPI-aware logging.

Pure Python (plus numpy); importing it does not import dolfinx or mpi4py.
"""

from femhomog.io.config import (
    CELL_SCHEMA,
    CellJobConfig,
    CellSection,
    Field,
    OutputSection,
    Schema,
    Section,
    SolverSection,
    apply_overrides,
    load_cell_config,
)
from femhomog.io.logging import get_logger, setup_logging
from femhomog.io.output import write_json_atomic

__all__ = [
    "CELL_SCHEMA",
    "CellJobConfig",
    "CellSection",
    "Field",
    "OutputSection",
    "Schema",
    "Section",
    "SolverSection",
    "apply_overrides",
    "get_logger",
    "load_cell_config",
    "setup_logging",
    "write_json_atomic",
]
