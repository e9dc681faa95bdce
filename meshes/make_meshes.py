"""Write the example cell meshes of femhomog into this folder.

Run from anywhere (serial is enough; under mpirun only rank 0 writes):

    .venv/bin/python meshes/make_meshes.py

The files are gmsh MSH 4.1 (ASCII) with periodic boundary meshes and can be
loaded with ``femhomog.meshes.read_cell_mesh(comm, path)``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from femhomog import _fenicsx  # noqa: F401  (must precede dolfinx, petsc4py and mpi4py)

# isort: split
from mpi4py import MPI

from femhomog.meshes import check_periodic_boundary, inclusion_cell, laminate_cell

HERE = Path(__file__).resolve().parent

#: name -> (builder, keyword arguments).  Sizes keep every file well below a
#: few hundred KB while resolving the interface reasonably.
EXAMPLES = {
    "inclusion2d.msh": (inclusion_cell, {"dim": 2, "radius": 0.25, "mesh_size": 0.05}),
    "inclusion3d.msh": (
        inclusion_cell,
        {"dim": 3, "radius": 0.25, "mesh_size": 0.12, "inclusion_mesh_size": 0.08},
    ),
    "laminate2d.msh": (
        laminate_cell,
        {"dim": 2, "fraction": 0.5, "axis": 1, "mesh_size": 0.05},
    ),
}


def main(comm: MPI.Comm = MPI.COMM_WORLD, outdir: Path = HERE) -> None:
    """Build, check and write every example mesh to ``outdir``."""
    for name, (builder, kwargs) in EXAMPLES.items():
        path = outdir / name
        data = builder(comm, msh_file=path, **kwargs)
        # Do not ship a file that would fail the periodic constraint later.
        check_periodic_boundary(comm, data.mesh)
        ncells = data.mesh.topology.index_map(data.mesh.topology.dim).size_global
        if comm.rank == 0:
            size_kb = path.stat().st_size / 1024
            print(f"{path.name}: {ncells} cells, {size_kb:.0f} KB, periodic")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", type=Path, default=HERE, help="output folder")
    main(outdir=parser.parse_args().outdir)
