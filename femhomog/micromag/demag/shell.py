"""Stray field by the shell transformation: a sparse open-boundary method.

The stray field of the Boltzmann-LLG paper (1.8)-(1.9), ``H_s = -grad u`` with
``Delta u = div(m 1_Omega)`` in R^3 and ``u -> 0`` at infinity, is computed on a
mesh of magnet + air + shell (:mod:`femhomog.meshes.magnets` with
``shell=ShellSpec(...)``).  In the shell a coordinate transformation ``x' = F(x)``
maps the finite shell onto the whole exterior of the air region (Brunotte,
Meunier & Imhoff 1992, IEEE Trans. Magn. 28, 1663; Abert et al. 2013, "A
numerical study of open-boundary conditions for micromagnetics", JMMM 326,
176).  Changing variables in the exterior Dirichlet integral,
``int grad' u . grad' v dx' = int grad u . K grad v dx`` with the metric

    K = det(J) J^{-1} J^{-T},      J = dF/dx,

so the open problem becomes the bounded weak problem

    find u in H^1_0(mesh):  int_{magnet+air} grad u . grad v
                            + int_shell grad u . K grad v = int_Omega m . grad v

for all v with v = 0 on the outermost boundary (facet tag 30), which is the
image of infinity.  (The right-hand side is the weak form of
``Delta u = div(m 1_Omega)``: ``-int grad u . grad v = -int_Omega m . grad v``.)

Shell maps (exact bijections, so the only error is the discretization):

* spherical shell ``R1 < r < R2``: ``r' = g(r) = R1 (R2 - R1) / (R2 - r)``,
  ``K = R1 (R2 - R1) / r^2 * n n^T + g'(r) (I - n n^T)``, ``n = x / r``,
  ``g' = R1 (R2 - R1) / (R2 - r)^2`` (the radial and tangential stretches);
* box shell ``a_i < |x_i| < b_i``: per axis ``x_i' = a_i (b_i - a_i) / (b_i - |x_i|)``
  where ``|x_i| > a_i`` (identity otherwise), ``J = diag(f_i)`` with
  ``f_i = a_i (b_i - a_i) / (b_i - |x_i|)^2`` or 1, ``K = diag(prod_j f_j / f_i^2)``
  (the box mesh conforms to the planes ``|x_i| = a_i``).

Discretization: ``u`` in P1 (or P2) on the whole mesh, solved with PETSc CG +
algebraic multigrid (GAMG), assembled and set up once, reused (with the previous
``u`` as initial guess) at every evaluation; options prefix
``femhomog_demag_shell_``.  The magnetization lives on the magnet submesh
(:func:`femhomog.meshes.magnets.magnet_submesh`, exposed as
:attr:`ShellTransformation.magnet_mesh`): it is copied into a P1 function of the
whole mesh through a per-cell dof map between the submesh and its parent cells
(no point evaluation), and ``u`` is copied back the same way.  The nodal field
is the lumped (nodal-volume) projection of ``-grad u`` onto P1 vectors of the
magnet mesh, ``H_i = int_Omega -grad u phi_i / int_Omega phi_i``.

Cost: the whole mesh (air and shell add typically 3-10x the magnet's nodes) in
one sparse SPD solve per evaluation; memory grows linearly with the number of
nodes, unlike the dense (boundary nodes)^2 operator of FEM-BEM.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from femhomog import (
    ConfigError,
    SolverError,
    _fenicsx,  # noqa: F401  (must precede dolfinx / petsc4py)
)

# isort: split
import dolfinx
import dolfinx.fem.petsc
import ufl
from petsc4py import PETSc

from femhomog.io.logging import get_logger
from femhomog.meshes.magnets import FACET_OUTER, MagnetMesh, magnet_submesh
from femhomog.micromag._solvers import ksp_reason
from femhomog.micromag.demag.base import DemagSolver

__all__ = ["OPTIONS_PREFIX", "ShellTransformation", "shell_metric"]

_log = get_logger(__name__)

#: PETSc options prefix of the Laplace solve (e.g. ``-femhomog_demag_shell_ksp_rtol``).
OPTIONS_PREFIX = "femhomog_demag_shell_"


def shell_metric(x: Any, shell: dict[str, Any]) -> Any:
    """The UFL metric ``K = det(J) J^{-1} J^{-T}`` of the shell map at ``x``.

    Parameters
    ----------
    x
        ``ufl.SpatialCoordinate`` of the mesh.
    shell
        ``MagnetMesh.info["shell"]``: ``kind`` ``"sphere"`` (``R1``, ``R2``) or
        ``"box"`` (``a``, ``b``: inner / outer half widths).
    """
    if shell["kind"] == "sphere":
        r1, r2 = float(shell["R1"]), float(shell["R2"])
        r = ufl.sqrt(ufl.dot(x, x))
        n = x / r
        c = r1 * (r2 - r1)
        gp = c / (r2 - r) ** 2  # tangential stretch g'(r)
        radial = c / r**2  # (g / r)^2 / g'
        nn = ufl.outer(n, n)
        return radial * nn + gp * (ufl.Identity(3) - nn)
    a = [float(v) for v in shell["a"]]
    b = [float(v) for v in shell["b"]]
    f = [
        ufl.conditional(
            ufl.gt(abs(x[i]), a[i]), a[i] * (b[i] - a[i]) / (b[i] - abs(x[i])) ** 2, 1.0
        )
        for i in range(3)
    ]
    det = f[0] * f[1] * f[2]
    return ufl.as_matrix(
        [[det / f[i] ** 2 if i == j else 0.0 for j in range(3)] for i in range(3)]
    )


def _cell_dof_map(
    sub_space: dolfinx.fem.FunctionSpace,
    par_space: dolfinx.fem.FunctionSpace,
    parent_cells: np.ndarray,
) -> np.ndarray:
    """Parent (block) dof of every local (block) dof of ``sub_space``.

    Matches the dofs of each submesh cell with those of its parent cell by
    their coordinates (exactly equal: the submesh copies the geometry).
    """
    sub_dm = sub_space.dofmap.list
    par_dm = par_space.dofmap.list[parent_cells]
    xs = sub_space.tabulate_dof_coordinates()[sub_dm]  # (cells, ndofs, 3)
    xp = par_space.tabulate_dof_coordinates()[par_dm]
    d = np.linalg.norm(xs[:, :, None, :] - xp[:, None, :, :], axis=-1)
    k = np.argmin(d, axis=2)
    scale = max(1.0, float(np.max(np.abs(xs)))) if xs.size else 1.0
    if xs.size and np.max(np.take_along_axis(d, k[:, :, None], axis=2)) > 1e-10 * scale:
        raise ConfigError("shell demag: magnet submesh and parent mesh dofs do not match")
    imap = sub_space.dofmap.index_map
    n_local = imap.size_local + imap.num_ghosts
    out = np.full(n_local, -1, dtype=np.int64)
    out[sub_dm.ravel()] = np.take_along_axis(par_dm, k, axis=1).ravel()
    if np.any(out < 0):
        raise ConfigError("shell demag: a magnet dof belongs to no magnet cell")
    return out.astype(np.int32)


class ShellTransformation(DemagSolver):
    """Sparse stray-field solver on magnet + air + shell (see the module docstring).

    Parameters
    ----------
    mm
        A :class:`~femhomog.meshes.magnets.MagnetMesh` built with a shell.
    degree
        Lagrange degree of the potential ``u`` (1 or 2).
    rtol, max_it
        CG tolerance (relative, preconditioned residual) and iteration cap.
    shell_quadrature_degree
        Quadrature degree of the shell term (the metric is not polynomial).

    Attributes
    ----------
    magnet_mesh
        The magnet submesh: build the LLG problem on it.
    magnet_space
        P1 vector space on :attr:`magnet_mesh` (any P1 vector space on that
        mesh is accepted by :meth:`compute`).
    """

    method = "shell"

    def __init__(
        self,
        mm: MagnetMesh,
        *,
        degree: int = 1,
        rtol: float = 1e-10,
        max_it: int = 1000,
        shell_quadrature_degree: int = 4,
    ) -> None:
        if not isinstance(mm, MagnetMesh) or not mm.has_shell:
            raise ConfigError(
                "ShellTransformation needs a MagnetMesh built with shell=ShellSpec(...)"
            )
        if degree not in (1, 2):
            raise ConfigError(f"shell demag: degree must be 1 or 2, got {degree!r}")
        if not (0.0 < float(rtol) < 1.0):
            raise ConfigError(f"shell demag: rtol must be in (0, 1), got {rtol!r}")
        t0 = time.perf_counter()
        self.mm = mm
        self.degree = degree
        mesh = mm.mesh
        comm = mesh.comm
        self.comm = comm
        # -- magnet submesh and the dof maps ------------------------------------
        self.magnet_mesh, self.cell_map, self.vertex_map = magnet_submesh(mm)
        sub = self.magnet_mesh
        ncell_sub = sub.topology.index_map(3).size_local + sub.topology.index_map(3).num_ghosts
        self._parent_cells = self.cell_map.sub_topology_to_topology(
            np.arange(ncell_sub, dtype=np.int32), inverse=False
        )
        self.magnet_space = dolfinx.fem.functionspace(sub, ("Lagrange", 1, (3,)))
        self._V = dolfinx.fem.functionspace(mesh, ("Lagrange", degree))
        self._Vm = dolfinx.fem.functionspace(mesh, ("Lagrange", 1, (3,)))
        self._Vu_sub = dolfinx.fem.functionspace(sub, ("Lagrange", degree))
        self._u_map = _cell_dof_map(self._Vu_sub, self._V, self._parent_cells)
        self._m_maps: dict[int, np.ndarray] = {}
        # -- forms -------------------------------------------------------------
        dx = ufl.Measure("dx", domain=mesh, subdomain_data=mm.cell_tags)
        u, v = ufl.TrialFunction(self._V), ufl.TestFunction(self._V)
        plain = tuple(mm.magnet_tags) + tuple(mm.spacer_tags) + (mm.air_tag,)
        K = shell_metric(ufl.SpatialCoordinate(mesh), mm.info["shell"])
        # Gauss-Jacobi points lie strictly inside the cells: the metric is
        # infinite on the outer boundary, where basix's default low-degree
        # tetrahedron rules have points (its vertices).  The tangential stretch
        # is not integrable over cells with an edge on the outer boundary; the
        # finite quadrature makes it a large penalty on tangential gradients
        # there, consistent with u = 0 at infinity.
        qmeta = {"quadrature_degree": int(shell_quadrature_degree), "quadrature_rule": "Gauss-Jacobi"}
        a = ufl.inner(ufl.grad(u), ufl.grad(v)) * dx(plain) + ufl.inner(
            K * ufl.grad(u), ufl.grad(v)
        ) * dx(mm.shell_tag, metadata=qmeta)
        self._m_par = dolfinx.fem.Function(self._Vm, name="m_parent")
        self._L = dolfinx.fem.form(
            ufl.inner(self._m_par, ufl.grad(v)) * dx(tuple(mm.magnet_tags))
        )
        facets = mm.facet_tags.find(FACET_OUTER)
        bdofs = dolfinx.fem.locate_dofs_topological(self._V, 2, facets)
        self._bc = dolfinx.fem.dirichletbc(PETSc.ScalarType(0.0), bdofs, self._V)
        t1 = time.perf_counter()
        self._A = dolfinx.fem.petsc.assemble_matrix(dolfinx.fem.form(a), bcs=[self._bc])
        self._A.assemble()
        self._b = dolfinx.fem.petsc.create_vector(self._V)
        self._u = dolfinx.fem.Function(self._V, name="u")
        self._u_sub = dolfinx.fem.Function(self._Vu_sub, name="u_magnet")
        t2 = time.perf_counter()
        # -- field projection on the magnet mesh (lumped) ------------------------
        phi = ufl.TestFunction(self.magnet_space)
        self._field_form = dolfinx.fem.form(-ufl.inner(ufl.grad(self._u_sub), phi) * ufl.dx)
        q1 = dolfinx.fem.functionspace(sub, ("Lagrange", 1))
        ml = dolfinx.fem.assemble_vector(dolfinx.fem.form(ufl.TestFunction(q1) * ufl.dx))
        ml.scatter_reverse(dolfinx.la.InsertMode.add)
        n_own = self.magnet_space.dofmap.index_map.size_local
        self._ml = ml.array[:n_own].copy()
        self._field_vec = dolfinx.fem.Function(self.magnet_space)
        # -- solver --------------------------------------------------------------
        ksp = PETSc.KSP().create(comm)
        ksp.setOperators(self._A)
        ksp.setOptionsPrefix(OPTIONS_PREFIX)
        ksp.setType("cg")
        ksp.getPC().setType("gamg")
        ksp.setTolerances(rtol=float(rtol), atol=0.0, max_it=int(max_it))
        ksp.setInitialGuessNonzero(True)
        ksp.setFromOptions()
        ksp.setUp()
        self._ksp = ksp
        t3 = time.perf_counter()
        self._stats: dict[str, Any] = {
            "setup_maps_forms_s": t1 - t0,
            "assembly_s": t2 - t1,
            "amg_setup_s": t3 - t2,
            "setup_s": t3 - t0,
            "evaluations": 0,
            "iterations_last": None,
            "iterations_total": 0,
            "solve_s_total": 0.0,
            "evaluate_s_total": 0.0,
        }
        _log.info(
            "shell demag: %d dofs (P%d), %d magnet nodes, setup %.2f s",
            self._V.dofmap.index_map.size_global,
            degree,
            self.magnet_space.dofmap.index_map.size_global,
            t3 - t0,
        )

    # ------------------------------------------------------------------------

    def _m_map(self, space: dolfinx.fem.FunctionSpace) -> np.ndarray:
        key = id(space)
        if key not in self._m_maps:
            self._m_maps[key] = _cell_dof_map(space, self._Vm, self._parent_cells)
        return self._m_maps[key]

    def _check_space(self, f: dolfinx.fem.Function, what: str) -> None:
        space = f.function_space
        if (
            space.mesh is not self.magnet_mesh
            or space.dofmap.index_map_bs != 3
            or space.ufl_element().embedded_superdegree != 1
        ):
            raise ConfigError(
                f"shell demag: {what} must be a P1 vector function on solver.magnet_mesh"
            )

    def compute(self, m: dolfinx.fem.Function, out: dolfinx.fem.Function) -> None:
        """Write the nodal stray field ``H_s(m)`` into ``out`` (owned and ghost values)."""
        t0 = time.perf_counter()
        self._check_space(m, "m")
        self._check_space(out, "out")
        # m (magnet mesh) -> parent P1 vector function, zero outside the magnet
        m.x.scatter_forward()
        pmap = self._m_map(m.function_space)
        mp = self._m_par.x.array.reshape(-1, 3)
        mp[:] = 0.0
        mp[pmap] = m.x.array.reshape(-1, 3)
        # right-hand side and solve
        with self._b.localForm() as loc:
            loc.set(0.0)
        dolfinx.fem.petsc.assemble_vector(self._b, self._L)
        self._b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        dolfinx.fem.petsc.set_bc(self._b, [self._bc])
        t1 = time.perf_counter()
        self._ksp.solve(self._b, self._u.x.petsc_vec)
        t2 = time.perf_counter()
        reason = self._ksp.getConvergedReason()
        its = self._ksp.getIterationNumber()
        if reason < 0:
            self._u.x.array[:] = 0.0  # do not start the next solve from garbage
            raise SolverError(
                f"shell demag: CG+GAMG did not converge ({ksp_reason(reason)}, {its} iterations)"
            )
        self._u.x.scatter_forward()
        # u -> magnet mesh, lumped projection of -grad u
        self._u_sub.x.array[:] = self._u.x.array[self._u_map]
        vec = self._field_vec.x
        vec.array[:] = 0.0
        dolfinx.fem.assemble_vector(vec.array, self._field_form)
        vec.scatter_reverse(dolfinx.la.InsertMode.add)
        n_own = len(self._ml)
        out.x.array[: 3 * n_own] = (vec.array[: 3 * n_own].reshape(-1, 3) / self._ml[:, None]).ravel()
        out.x.scatter_forward()
        st = self._stats
        st["evaluations"] += 1
        st["iterations_last"] = int(its)
        st["iterations_total"] += int(its)
        st["solve_s_total"] += t2 - t1
        st["evaluate_s_total"] += time.perf_counter() - t0

    @property
    def potential(self) -> dolfinx.fem.Function:
        """The last potential ``u`` on the whole mesh (magnet + air + shell)."""
        return self._u

    def describe(self) -> dict[str, Any]:
        st = dict(self._stats)
        n = max(1, st["evaluations"])
        st["iterations_mean"] = st["iterations_total"] / n
        st["evaluate_s_mean"] = st["evaluate_s_total"] / n
        return {
            "method": self.method,
            "degree": self.degree,
            "dofs": int(self._V.dofmap.index_map.size_global),
            "magnet_nodes": int(self.magnet_space.dofmap.index_map.size_global),
            "shell": dict(self.mm.info.get("shell") or {}),
            "ranks": int(self.comm.size),
            **st,
        }

    def destroy(self) -> None:
        for obj in (getattr(self, "_ksp", None), getattr(self, "_A", None),
                    getattr(self, "_b", None)):  # fmt: skip
            if obj is not None:
                obj.destroy()
