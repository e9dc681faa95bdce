"""Lindholm's analytic double-layer weights and vertex solid angles (pure numpy).

The kernels of the Fredkin-Koehler FEM-BEM stray field
(:mod:`femhomog.micromag.demag.fembem`): for flat boundary triangles with P1
shape functions ``phi_i``, ``I_i(T, x) = int_T phi_i(y) (y - x).n / |y - x|^3 dS_y``
in closed form (Lindholm 1984, IEEE Trans. Magn. 20, 2025), and the interior
solid angle of each tetrahedron at its vertices (Van Oosterom & Strackee 1983).
"""

from __future__ import annotations

import numpy as np

__all__ = ["lindholm_weights", "tetra_solid_angles", "triangle_geometry"]


def triangle_geometry(tri: np.ndarray) -> dict[str, np.ndarray]:
    """Observer-independent data of flat triangles for :func:`lindholm_weights`.

    Parameters
    ----------
    tri
        Vertex coordinates, shape ``(Nt, 3, 3)`` (triangle, vertex, component);
        the normal ``n = (X2 - X1) x (X3 - X1) / |...|`` defines the orientation.

    Returns
    -------
    dict
        ``X`` (the vertices), ``n`` (unit normals), ``area``, ``s`` (edge lengths
        of the edges ``e = 0: X1X2, 1: X2X3, 2: X3X1``), ``grad`` (``grad phi_i``,
        shape ``(Nt, 3, 3)``), ``c`` (``1 - grad phi_i . X_i``), ``G``
        (``G[t, i, e] = grad phi_i . nu_e`` with ``nu_e`` the outward in-plane
        normal of edge ``e``).
    """
    X = np.asarray(tri, dtype=np.float64)
    if X.ndim != 3 or X.shape[1:] != (3, 3):
        raise ValueError(f"triangles must have shape (Nt, 3, 3), got {X.shape}")
    cross = np.cross(X[:, 1] - X[:, 0], X[:, 2] - X[:, 0])
    two_area = np.linalg.norm(cross, axis=1)
    if np.any(two_area <= 0.0):
        raise ValueError("degenerate (zero-area) boundary triangle")
    n = cross / two_area[:, None]
    # edge e runs from vertex e to vertex e+1 (cyclic)
    edges = np.stack([X[:, (e + 1) % 3] - X[:, e] for e in range(3)], axis=1)  # (Nt, 3, 3)
    s = np.linalg.norm(edges, axis=2)
    nu = np.cross(edges, n[:, None, :]) / s[:, :, None]  # outward in-plane edge normals
    # grad phi_i = n x (X_{i+2} - X_{i+1}) / (2A) = n x edge_{i+1} / (2A)
    grad = np.stack(
        [np.cross(n, edges[:, (i + 1) % 3]) / two_area[:, None] for i in range(3)], axis=1
    )
    c = 1.0 - np.einsum("tik,tik->ti", grad, X)
    G = np.einsum("tik,tek->tie", grad, nu)
    return {"X": X, "n": n, "area": 0.5 * two_area, "s": s, "grad": grad, "c": c, "G": G}


def lindholm_weights(x: np.ndarray, geom: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Lindholm's integrals ``I_i(T, x) = int_T phi_i(y) (y - x).n / |y - x|^3 dS_y``.

    Exact for flat triangles and P1 shape functions ``phi_i``.  With ``y - x =
    zeta n + w`` (``zeta = n.(X1 - x)`` the signed distance of the plane, ``w``
    in-plane) and ``phi_i(y) = phi_i(f) + grad phi_i . w`` (``f`` the foot of
    ``x`` on the plane):

        I_i = phi_i(f) Omega - zeta sum_e (grad phi_i . nu_e) P_e,

    because ``zeta int_T |y - x|^-3 = Omega`` (the signed solid angle of ``T``
    seen from ``x``, Van Oosterom & Strackee 1983:
    ``tan(Omega/2) = 2A zeta / (r1 r2 r3 + r1 r2.r3 + r2 r3.r1 + r3 r1.r2)``)
    and ``int_T w |y - x|^-3 = -oint 1/|y - x| nu ds = -sum_e nu_e P_e`` with
    ``P_e = ln((r_a + r_b + s_e)/(r_a + r_b - s_e))`` the line integral of
    ``1/|y - x|`` over edge ``e = (a, b)``.  This is the structure of Lindholm
    (1984) (``sum_i I_i = Omega``).  Pairs where ``x`` is a vertex of ``T``
    (``zeta = 0``, the integrand vanishes) give NaN here; the caller zeroes them.

    Parameters
    ----------
    x
        Observation points, shape ``(Nx, 3)``.
    geom
        :func:`triangle_geometry` of ``Nt`` triangles.

    Returns
    -------
    I, omega
        ``I`` of shape ``(3, Nx, Nt)`` (shape function, point, triangle) and the
        solid angles ``omega`` of shape ``(Nx, Nt)``.
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1, 3)
    nx, nt = x.shape[0], geom["X"].shape[0]
    out = np.empty((3, nx, nt))
    omega = np.empty((nx, nt))
    # blocks of about BLOCK pairs keep the temporaries in the cache
    bt = max(1, min(nt, _BLOCK // max(nx, 1)))
    bx = max(1, min(nx, _BLOCK // bt))
    for i0 in range(0, nx, bx):
        for t0 in range(0, nt, bt):
            _lindholm_block(x[i0 : i0 + bx], geom, t0, min(nt, t0 + bt), out, omega, i0)
    return out, omega


#: Number of (target, triangle) pairs per vectorized block of :func:`lindholm_weights`.
_BLOCK = 32768


def _lindholm_block(
    x: np.ndarray,
    geom: dict[str, np.ndarray],
    t0: int,
    t1: int,
    out: np.ndarray,
    omega_out: np.ndarray,
    i0: int,
) -> None:
    X = geom["X"][t0:t1]
    n = geom["n"][t0:t1]
    s = geom["s"][t0:t1]
    # r_k = X_k - x per component, shape (nx, nt); direct differences keep the
    # accuracy for nearby pairs
    r = [[X[None, :, k, d] - x[:, d, None] for d in range(3)] for k in range(3)]
    rho = [np.sqrt(rk[0] * rk[0] + rk[1] * rk[1] + rk[2] * rk[2]) for rk in r]
    zeta = r[0][0] * n[None, :, 0]
    zeta += r[0][1] * n[None, :, 1]
    zeta += r[0][2] * n[None, :, 2]
    s2 = s * s
    sq = [rk * rk for rk in rho]
    den = rho[0] * rho[1]
    den *= rho[2]
    # r_a . r_b = (rho_a^2 + rho_b^2 - s_ab^2) / 2 for edge e = (a, b) = (e, e + 1)
    for e, other in ((0, 2), (1, 0), (2, 1)):
        dot = sq[e] + sq[(e + 1) % 3]
        dot -= s2[None, :, e]
        dot *= 0.5
        dot *= rho[other]
        den += dot
    # Omega = 2 atan2(2 A zeta, den); atan(num/den) + pi sign(num) for den < 0 is cheaper
    num = (2.0 * geom["area"][t0:t1])[None, :] * zeta
    half = np.arctan(num / den)
    neg = den < 0.0
    if np.any(neg):
        half[neg] += np.copysign(np.pi, num[neg])
    omega = omega_out[i0 : i0 + x.shape[0], t0:t1]
    np.multiply(half, 2.0, out=omega)
    P = []
    for e in range(3):
        ssum = rho[e] + rho[(e + 1) % 3]
        se = s[None, :, e]
        q = ssum + se
        q /= ssum - se
        P.append(np.log(q, out=q))
    c = geom["c"][t0:t1]
    grad = geom["grad"][t0:t1]
    G = geom["G"][t0:t1]
    rows = slice(i0, i0 + x.shape[0])
    for i in range(2):
        # phi_i at the foot point: c_i + grad phi_i . x
        foot = x[:, 0, None] * grad[None, :, i, 0]
        foot += x[:, 1, None] * grad[None, :, i, 1]
        foot += x[:, 2, None] * grad[None, :, i, 2]
        foot += c[None, :, i]
        foot *= omega
        acc = G[None, :, i, 0] * P[0]
        acc += G[None, :, i, 1] * P[1]
        acc += G[None, :, i, 2] * P[2]
        acc *= zeta
        np.subtract(foot, acc, out=out[i, rows, t0:t1])
    # sum_i phi_i = 1: I_3 = Omega - I_1 - I_2
    np.subtract(omega, out[0, rows, t0:t1], out=out[2, rows, t0:t1])
    out[2, rows, t0:t1] -= out[1, rows, t0:t1]


def tetra_solid_angles(cells: np.ndarray) -> np.ndarray:
    """Solid angle of each tetrahedron at each of its vertices, shape ``(Nc, 4)``.

    Van Oosterom & Strackee: with ``a, b, c`` the edges from the vertex,
    ``tan(Omega/2) = |a.(b x c)| / (abc + (a.b)c + (a.c)b + (b.c)a)``.
    """
    cells = np.asarray(cells, dtype=np.float64)
    out = np.empty(cells.shape[:2])
    for k in range(4):
        others = [j for j in range(4) if j != k]
        a, b, c = (cells[:, j] - cells[:, k] for j in others)
        la, lb, lc = (np.linalg.norm(v, axis=1) for v in (a, b, c))
        num = np.abs(np.einsum("ij,ij->i", a, np.cross(b, c)))
        den = (
            la * lb * lc
            + np.einsum("ij,ij->i", a, b) * lc
            + np.einsum("ij,ij->i", a, c) * lb
            + np.einsum("ij,ij->i", b, c) * la
        )
        out[:, k] = 2.0 * np.arctan2(num, den)
    return out
