"""FEM-BEM with a potential resolved by more layers than the magnetization (thin films).

In a film extruded along ``z`` the P1 stray-field potential needs many element layers
through the thickness: the potential of the charges on the side faces varies across the
thickness at the edges, and with ``z_layers`` layers the in-plane demagnetizing fields
are under-estimated (SP4's 500 x 125 x 3 nm film: ``N_y`` -3.3 % with 2 layers, -0.5 %
with 8; ``tests/test_demag_fembem.py``).  The magnetization itself is nearly uniform
through a film thinner than the exchange length and does not need them: on SP4 at 8 nm,
``m`` on 2 layers with the potential on 8 gives the relaxed state and <m>(1 ns) of the
8-layer mesh to 7e-4 (``demos/sp4/README.md``), at the cost of the 2-layer LLG system.

:class:`LayeredPotential` therefore solves the Fredkin-Koehler problem
(:class:`~femhomog.micromag.demag.fembem.FredkinKoehler`) on a *potential mesh*: the
same base triangulation extruded with ``layers`` layers, each prism split into three
tetrahedra by the vertex-order rule (conforming).  With the prolongation ``P`` (linear
in ``z`` along each column of nodes; the coarse layers need not divide the fine ones)
the energy of ``m`` is the fine energy of ``P m``::

    E(m) = -1/2 (H_f(P m), P m)_{h,f}      so      H = L_c^{-1} P^T L_f H_f(P m),

with ``L`` the lumped nodal volumes and ``L_c = P^T L_f`` (then the volume average of
``H`` is that of ``H_f``: the demagnetizing factors are the potential mesh's).  The field
is the exact gradient of a discrete energy, so the integrators' energy arguments hold.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from femhomog import (
    ConfigError,
    _fenicsx,  # noqa: F401  (must precede dolfinx / petsc4py)
)

# isort: split
import basix.ufl
import dolfinx
import dolfinx.fem.petsc
from mpi4py import MPI
from petsc4py import PETSc

from femhomog.micromag.demag.base import DemagSolver
from femhomog.micromag.demag.fembem import FredkinKoehler

__all__ = ["LayeredPotential", "extrude_base"]


def _key(x: np.ndarray) -> np.ndarray:
    """Column key of points: ``(x, y)`` rounded far below any element size."""
    return np.round(x[:, :2], 10)


def _columns(comm: MPI.Comm, V: dolfinx.fem.FunctionSpace) -> dict[tuple[float, float], Any]:
    """All nodes of ``V`` (every rank): ``(x, y) -> (z values, global node indices)`` sorted
    by ``z``; a ConfigError unless every column has the same number of nodes."""
    imap = V.dofmap.index_map
    n = imap.size_local
    x = V.tabulate_dof_coordinates()[:n]
    glob = imap.local_range[0] + np.arange(n)
    xs = np.concatenate(comm.allgather(x))
    gs = np.concatenate(comm.allgather(glob))
    keys, inverse = np.unique(_key(xs), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    counts = np.bincount(inverse)
    if counts.min() != counts.max() or counts.min() < 2:
        raise ConfigError("demag.potential_layers needs a magnet extruded along z (the same "
                          "number of nodes above every base node: mesh.builder = 'cuboid' "
                          "with mesh.z_layers)")
    order = np.lexsort((xs[:, 2], inverse))
    per = counts[0]
    z = xs[order, 2].reshape(-1, per)
    g = gs[order].reshape(-1, per)
    return {tuple(k): (z[i], g[i]) for i, k in enumerate(keys)}


def extrude_base(comm: MPI.Comm, mesh: dolfinx.mesh.Mesh, layers: int) -> dolfinx.mesh.Mesh:
    """The base triangulation (facets on the bottom face ``z = min z``) of ``mesh``
    extruded through its thickness with ``layers`` equal layers of tetrahedra
    (prism ``(a, b, c)``, ``a < b < c``, split into ``(a b c c')``, ``(a b b' c')``,
    ``(a a' b' c')``: conforming across neighbours).  Built on rank 0, distributed."""
    x = mesh.geometry.x
    tdim = mesh.topology.dim
    zmin = comm.allreduce(float(x[:, 2].min()), op=MPI.MIN)
    zmax = comm.allreduce(float(x[:, 2].max()), op=MPI.MAX)
    mesh.topology.create_connectivity(tdim - 1, tdim)
    bottom = dolfinx.mesh.locate_entities_boundary(
        mesh, tdim - 1, lambda p: np.isclose(p[2], zmin, atol=1e-12 * max(1.0, abs(zmax))))
    bottom = bottom[bottom < mesh.topology.index_map(tdim - 1).size_local]  # owned once
    tri_x = x[dolfinx.mesh.entities_to_geometry(mesh, tdim - 1, bottom)].reshape(-1, 9)
    gathered = comm.gather(tri_x, root=0)
    e = basix.ufl.element("Lagrange", "tetrahedron", 1, shape=(3,))
    if comm.rank != 0:
        return dolfinx.mesh.create_mesh(comm, np.zeros((0, 4), dtype=np.int64), e,
                                        np.zeros((0, 3)))
    corners = np.concatenate(gathered).reshape(-1, 3)[:, :2]
    base, tri = np.unique(corners, axis=0, return_inverse=True)
    tri = np.sort(tri.reshape(-1, 3), axis=1)
    nb = len(base)
    heights = zmin + (zmax - zmin) * np.arange(layers + 1) / layers
    points = np.column_stack([np.tile(base, (layers + 1, 1)), np.repeat(heights, nb)])
    cells = []
    for k in range(layers):
        (a, b, c), (a1, b1, c1) = (tri + k * nb).T, (tri + (k + 1) * nb).T
        cells += [np.column_stack(v) for v in ((a, b, c, c1), (a, b, b1, c1), (a, a1, b1, c1))]
    return dolfinx.mesh.create_mesh(comm, np.concatenate(cells).astype(np.int64), e, points)


class LayeredPotential(DemagSolver):
    """FEM-BEM stray field of a P1 ``m`` on an extruded ``mesh``, the potential on
    ``layers`` layers (see the module docstring).

    Parameters
    ----------
    mesh
        The magnet mesh of ``m``: an extrusion along ``z`` (equal node columns).
    layers
        Element layers of the potential mesh through the thickness (>= 1).
    **fembem
        Keyword arguments of :class:`FredkinKoehler` on the potential mesh.
    """

    method = "fembem"

    def __init__(self, mesh: dolfinx.mesh.Mesh, layers: int, **fembem: Any) -> None:
        if isinstance(layers, bool) or not isinstance(layers, int) or layers < 1:
            raise ConfigError(f"demag.potential_layers must be an integer >= 1, got {layers!r}")
        comm = mesh.comm
        self.comm, self.mesh, self.layers = comm, mesh, layers
        Vc = dolfinx.fem.functionspace(mesh, ("Lagrange", 1, (3,)))
        columns = _columns(comm, Vc)
        self.potential_mesh = extrude_base(comm, mesh, layers)
        self.fk = FredkinKoehler(self.potential_mesh, **fembem)
        Vf = dolfinx.fem.functionspace(self.potential_mesh, ("Lagrange", 1, (3,)))
        self._mf = dolfinx.fem.Function(Vf)
        self._hf = dolfinx.fem.Function(Vf)
        self.P = self._prolongation(Vc, Vf, columns)
        # L_c = P^T L_f: the lumped volumes the energy identity needs
        nf = Vf.dofmap.index_map.size_local
        self._hf.x.array[: 3 * nf] = np.repeat(self.fk._lumped_owned, 3)
        lc = self.P.createVecRight()
        self.P.multTranspose(self._hf.x.petsc_vec, lc)
        self._lumped_owned = lc.getArray()[0::3].copy()
        self._n_owned = len(self._lumped_owned)
        lc.destroy()

    @staticmethod
    def _prolongation(Vc: dolfinx.fem.FunctionSpace, Vf: dolfinx.fem.FunctionSpace,
                      columns: dict[tuple[float, float], Any]) -> PETSc.Mat:
        """``P`` (fine dofs x coarse dofs, blocked by component): linear in ``z`` along
        the column of each fine node."""
        nf, nc = Vf.dofmap.index_map.size_local, Vc.dofmap.index_map.size_local
        xf = Vf.tabulate_dof_coordinates()[:nf]
        lower = np.empty(nf, dtype=np.int64)
        upper = np.empty(nf, dtype=np.int64)
        weight = np.empty(nf)
        for i, (p, key) in enumerate(zip(xf, _key(xf), strict=True)):
            try:
                z, g = columns[tuple(key)]
            except KeyError:
                raise ConfigError("demag.potential_layers: the potential mesh does not "
                                  "match the magnet's node columns") from None
            k = int(np.clip(np.searchsorted(z, p[2], side="right") - 1, 0, len(z) - 2))
            weight[i] = np.clip((p[2] - z[k]) / (z[k + 1] - z[k]), 0.0, 1.0)
            lower[i], upper[i] = g[k], g[k + 1]
        # rows 3 i + c: 1 - w at column 3 lower + c, w at 3 upper + c (sorted in each row)
        w_lo, w_up = 1.0 - weight, weight
        swap = lower > upper
        lower[swap], upper[swap] = upper[swap], lower[swap]
        w_lo[swap], w_up[swap] = w_up[swap], w_lo[swap]
        comp = np.arange(3)
        cols = np.stack([3 * lower[:, None] + comp, 3 * upper[:, None] + comp], axis=2)
        vals = np.stack([np.repeat(w_lo[:, None], 3, 1), np.repeat(w_up[:, None], 3, 1)],
                        axis=2)
        indptr = np.arange(0, 2 * 3 * nf + 1, 2, dtype=PETSc.IntType)
        P = PETSc.Mat().createAIJ(
            size=((3 * nf, PETSc.DETERMINE), (3 * nc, PETSc.DETERMINE)),
            csr=(indptr, cols.reshape(-1).astype(PETSc.IntType), vals.reshape(-1)),
            comm=Vc.mesh.comm)
        P.assemble()
        return P

    @property
    def stats(self) -> dict[str, Any]:
        """The potential solver's counters and phase times (plus ``transfer``)."""
        return self.fk.stats

    def compute(self, m: dolfinx.fem.Function, out: dolfinx.fem.Function) -> None:
        """``H = L_c^{-1} P^T L_f H_f(P m)`` (owned values of ``out``)."""
        phase = self.fk.stats["phase_s"]
        t0 = time.perf_counter()
        self.P.mult(m.x.petsc_vec, self._mf.x.petsc_vec)
        self._mf.x.scatter_forward()
        t1 = time.perf_counter()
        self.fk.compute(self._mf, self._hf)
        t2 = time.perf_counter()
        nf = len(self.fk._lumped_owned)
        h = self._hf.x.array[: 3 * nf].reshape(-1, 3)
        h *= self.fk._lumped_owned[:, None]
        self.P.multTranspose(self._hf.x.petsc_vec, out.x.petsc_vec)
        nc = len(self._lumped_owned)
        out.x.array[: 3 * nc] = (out.x.array[: 3 * nc].reshape(-1, 3)
                                 / self._lumped_owned[:, None]).ravel()
        phase["transfer"] = phase.get("transfer", 0.0) + (t1 - t0) + (time.perf_counter() - t2)

    def describe(self) -> dict[str, Any]:
        info = self.fk.describe()
        imap = self.potential_mesh.topology.index_map(0)
        info.update({"potential_layers": self.layers, "potential_nodes": imap.size_global})
        return info

    def destroy(self) -> None:
        self.fk.destroy()
        self.P.destroy()
