"""Periodic unit-cell meshes: structured dolfinx boxes and gmsh cells.

``periodic_box_mesh``       structured box, boundary meshes translation-compatible
``check_periodic_boundary`` verify that opposite boundary faces match (MeshError)
``inclusion_cell``          gmsh cell with a disc / ball (tags 1 = matrix, 2 = inclusion)
``laminate_cell``           gmsh two-layer laminate (tags 1, 2)
``read_cell_mesh``          read a ``.msh`` cell (MeshError on bad files)

Bounded magnets (:mod:`femhomog.meshes.magnets`, optional air + shell regions):
``sphere``, ``ellipsoid``, ``cuboid``, ``cylinder`` -> ``MagnetMesh``;
``ShellSpec``; ``magnet_submesh``.  Stacks along z (:mod:`femhomog.meshes.stacks`):
``multilayer`` (magnetic layers and spacers), ``conductor_stack`` (a conductor of
magnetic and non-magnetic layers with electrode faces, for spin transport).

Importing this package imports dolfinx; gmsh is imported only when a gmsh
builder runs.
"""

from femhomog.meshes.gmsh_cells import (
    FACET_TAG_INTERFACE,
    INCLUSION_TAG,
    MATERIAL1_TAG,
    MATERIAL2_TAG,
    MATRIX_TAG,
    boundary_facet_tag,
    inclusion_cell,
    laminate_cell,
    read_cell_mesh,
)
from femhomog.meshes.magnets import (
    MagnetMesh,
    ShellSpec,
    cuboid,
    cylinder,
    ellipsoid,
    magnet_submesh,
    sphere,
)
from femhomog.meshes.stacks import conductor_stack, multilayer
from femhomog.meshes.structured import (
    CELL_TYPES_BY_DIM,
    check_periodic_boundary,
    periodic_box_mesh,
)

__all__ = [
    "CELL_TYPES_BY_DIM",
    "FACET_TAG_INTERFACE",
    "INCLUSION_TAG",
    "MATERIAL1_TAG",
    "MATERIAL2_TAG",
    "MATRIX_TAG",
    "MagnetMesh",
    "ShellSpec",
    "boundary_facet_tag",
    "check_periodic_boundary",
    "conductor_stack",
    "cuboid",
    "cylinder",
    "ellipsoid",
    "inclusion_cell",
    "laminate_cell",
    "magnet_submesh",
    "multilayer",
    "periodic_box_mesh",
    "read_cell_mesh",
    "sphere",
]
