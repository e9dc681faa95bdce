"""Driver of ``femhomog cell CONFIG --out DIR``: build the cell, solve, write ``tensors.json``.

Physics lives in :mod:`femhomog.cell.correctors`; this module only turns a validated
:class:`femhomog.cell.config.CellJobConfig` into a :class:`PeriodicCell`, runs it and
writes the results (atomically, rank 0).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from femhomog import (
    ConfigError,
    __version__,
    _fenicsx,  # noqa: F401
)

# isort: split
import dolfinx
from mpi4py import MPI

from femhomog.cell.bloch import BlochSolver
from femhomog.cell.config import CellJobConfig
from femhomog.cell.effective import homogenize_cell
from femhomog.cell.problem import PeriodicCell
from femhomog.coefficients import CellCoefficient
from femhomog.environment import package_versions
from femhomog.io.logging import get_logger
from femhomog.io.output import write_csv_atomic, write_json_atomic
from femhomog.meshes import inclusion_cell, laminate_cell, periodic_box_mesh, read_cell_mesh
from femhomog.tensors import EffectiveTensors, dispersion_effective, dispersion_unregularized

log = get_logger(__name__)


def build_cell(cfg: CellJobConfig, comm: MPI.Comm) -> PeriodicCell:
    """Mesh, coefficient and factorized periodic operator from a cell config."""
    c, g = cfg.cell, cfg.geometry
    cell_tags = None
    if c.mesh is not None or g.builder is not None:
        if c.mesh is not None:
            data = read_cell_mesh(comm, c.mesh)
        elif g.builder == "inclusion":
            data = inclusion_cell(
                comm,
                c.dim,
                radius=g.radius,
                mesh_size=g.mesh_size,
                inclusion_mesh_size=g.inclusion_mesh_size,
            )
        else:
            data = laminate_cell(comm, c.dim, fraction=g.fraction, axis=g.axis, mesh_size=g.mesh_size)
        mesh, cell_tags = data.mesh, data.cell_tags
    else:
        mesh = periodic_box_mesh(comm, c.dim, c.cell_type, c.cells_per_side)
    dim = mesh.topology.dim
    if c.materials is not None:
        coefficient = CellCoefficient.from_materials(c.materials, dim)
    else:
        coefficient = CellCoefficient.from_expression(c.coefficient, dim)
    return PeriodicCell.create(
        mesh,
        coefficient,
        degree=c.degree,
        cell_tags=cell_tags,
        quadrature_degree=c.quadrature_degree,
        solver_type=cfg.solver.type,
        rtol=cfg.solver.rtol,
        max_it=cfg.solver.max_it,
    )


def dispersion_table(
    cell: PeriodicCell, tensors: EffectiveTensors, directions: list[list[float]], t_max: float,
    samples: int,
) -> list[list[float]]:
    """Rows (direction, theta..., t, lambda_1, effective, unregularized, homogenized).

    The cell-scale wavenumber is t = eps |k|: lambda_1(t theta) of the cell problem is
    eps^2 omega^2 of the fine-scale wave at k = t theta / eps, to be compared with the
    symbols of the order-s effective equation (14) and of the unregularized model at
    eps = 1 (wave paper Sect. 2, errata in DESIGN.md).
    """
    if any(len(v) != cell.dim for v in directions):
        raise ConfigError(f"dispersion.directions must be vectors of length {cell.dim}")
    solver = BlochSolver(cell)
    rows = []
    try:
        for n, v in enumerate(directions):
            theta = np.asarray(v) / np.linalg.norm(v)
            for t in np.linspace(t_max / samples, t_max, samples):
                k = t * theta
                rows.append([
                    n, *theta.tolist(), float(t), solver.lambda1(k),
                    float(dispersion_effective(tensors, k, 1.0)),
                    float(dispersion_unregularized(tensors.a0, tensors.g, k, 1.0)),
                    float(k @ tensors.a0 @ k),
                ])
    finally:
        solver.destroy()
    return rows


def write_fields(path: Path, functions: list[dolfinx.fem.Function], comm: MPI.Comm) -> None:
    """Correctors to a VTX (ADIOS2 BP) folder readable by ParaView."""
    with dolfinx.io.VTXWriter(comm, str(path), functions, engine="BP4") as vtx:
        vtx.write(0.0)


def run_cell_job(cfg: CellJobConfig, *, out_dir: Path, comm: MPI.Comm) -> dict[str, Any]:
    """Run a cell job (a^0 and, for order s >= 1, the effective wave tensors); write tensors.json.

    Returns
    -------
    dict
        The content of ``tensors.json``: ``a0`` (d x d nested list), ``g2``, ``a2``,
        ``b2``, ... (full symmetric tensors as nested lists), ``delta``, ``method``,
        ``cell_problems_solved`` and per-order timings (see
        :meth:`CellHomogenization.as_dict`), ``dim``, ``dofs``, ``periodic_dofs``,
        ``ranks``, ``wall_time_s``, ``femhomog_version``, solver statistics, config.
    """
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    if comm.rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
    comm.barrier()
    cell = build_cell(cfg, comm)
    log.info(
        "cell: dim %d, %d dofs (%d periodic), degree %d, solver %s",
        cell.dim,
        cell.num_dofs,
        cell.num_periodic_dofs,
        cell.degree,
        cell.solver.solver_type,
    )
    h = cfg.homogenization
    result = homogenize_cell(cell, order=h.order, method=h.method, delta=h.delta)
    chis = [f for k in range(1, result.correctors.order + 1) for f in result.correctors.chi[k].values()]
    if cfg.output.fields:
        write_fields(out_dir / "correctors.bp", chis, comm)
    d = cfg.dispersion
    if d.directions is not None:
        rows = dispersion_table(cell, result.tensors, d.directions, d.t_max, d.samples)
        theta = [f"theta{i}" for i in range(cell.dim)]
        header = ["direction", *theta, "t", "lambda_bloch", "omega2_effective",
                  "omega2_unregularized", "omega2_homogenized"]
        write_csv_atomic(out_dir / "dispersion.csv", header, rows, comm)
    wall = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
    summary: dict[str, Any] = {
        **result.as_dict(),
        "dim": cell.dim,
        "dofs": cell.num_dofs,
        "periodic_dofs": cell.num_periodic_dofs,
        "degree": cell.degree,
        "ranks": comm.size,
        "wall_time_s": wall,
        "femhomog_version": __version__,
        "dolfinx_version": dolfinx.__version__,
        "environment": package_versions(),
        "coefficient": cell.coefficient.describe(),
        "solver": {"type": cell.solver.solver_type, **cell.solver.stats.as_dict()},
        "config": cfg.raw,
    }
    path = write_json_atomic(out_dir / "tensors.json", summary, comm)
    summary["tensors_json"] = str(path)
    return summary
