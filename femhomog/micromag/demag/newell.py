"""Demagnetizing tensor of a regular grid of cuboid cells and its FFT convolution.

Pure numpy/scipy (no dolfinx): the finite-difference half of
:class:`~femhomog.micromag.demag.grid.GridConvolution`.

A grid of identical cells ``dx x dy x dz`` carrying uniform magnetizations ``M_c``
(units of Ms) has the cell-averaged stray field

    H_c = - sum_c' N(r_c - r_c') M_c',

the stray field of (1.8)-(1.9) of the Boltzmann-LLG paper for a piecewise-constant
``m``.  ``N(X)`` is the mutual demagnetizing tensor of two cells at offset ``X``:
Newell, Williams & Dunlop, J. Geophys. Res. 98, 9551 (1993), eqs. (27)-(33): the
sixfold second difference of the functions ``f`` (diagonal) and ``g``
(off-diagonal) over the offsets ``X + {-1, 0, 1} d``.  The closed form loses
digits to cancellation as ``|X|`` grows (relative error ~1e-9 at 8 cells, 1e-6 at
25), so beyond ``near`` cells it is replaced by the dipole kernel averaged over
the two cells, i.e. integrated against the tent ``prod_k (d_k - |s_k|)`` (the
self-convolution of a cell) by Gauss-Legendre quadrature, which is accurate
there (the approach of OOMMF and MuMax3: analytic near field, asymptotic or
integrated far field).

The convolution with zero padding to ``2 n`` cells per axis is an exact
aperiodic (open-boundary) sum; the FFT is scipy's.  No maintained numpy library
computes the Newell tensor (magnum.np's needs torch), hence this module.

Conventions: ``N`` is symmetric, ``tr N(0) = 1`` for a cube cell (1/3 each,
Aharoni's prism factors for any cell), ``sum_X N(X)`` over a box of cells is
the box's magnetometric demagnetizing tensor.
"""

from __future__ import annotations

import itertools

import numpy as np
import scipy.fft

__all__ = ["NewellConvolution", "demag_tensor", "newell_f", "newell_g"]

#: the six independent components of the symmetric tensor, in this order
COMPONENTS = ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))


def _asinh_ratio(a: np.ndarray, b2: np.ndarray) -> np.ndarray:
    """``asinh(a / sqrt(b2))``, 0 where ``b2 = 0`` (the term's prefactor vanishes there)."""
    out = np.zeros(np.broadcast(a, b2).shape)
    ok = b2 > 0
    np.arcsinh(np.divide(a, np.sqrt(b2, where=ok, out=np.ones_like(out)), where=ok,
                         out=np.zeros_like(out)), where=ok, out=out)
    return out


def _atan_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``atan(num / den)``, 0 where ``den = 0`` (the term's prefactor vanishes there)."""
    ok = den != 0
    return np.where(ok, np.arctan(num / np.where(ok, den, 1.0)), 0.0)


def newell_f(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Newell's ``f(x, y, z)`` (eq. 27), even in each argument: the diagonal kernel."""
    x, y, z = np.abs(x), np.abs(y), np.abs(z)
    x2, y2, z2 = x * x, y * y, z * z
    R = np.sqrt(x2 + y2 + z2)
    out = (2.0 * x2 - y2 - z2) * R / 6.0
    out += 0.5 * y * (z2 - x2) * _asinh_ratio(y, x2 + z2)
    out += 0.5 * z * (y2 - x2) * _asinh_ratio(z, x2 + y2)
    out -= x * y * z * _atan_ratio(y * z, x * R)
    return out


def newell_g(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Newell's ``g(x, y, z)`` (eq. 32), odd in ``x`` and ``y``: the off-diagonal kernel."""
    z = np.abs(z)
    x2, y2, z2 = x * x, y * y, z * z
    R = np.sqrt(x2 + y2 + z2)
    out = -x * y * R / 3.0
    out += x * y * z * _asinh_ratio(z, x2 + y2)
    out += y * (3.0 * z2 - y2) * _asinh_ratio(x, y2 + z2) / 6.0
    out += x * (3.0 * z2 - x2) * _asinh_ratio(y, x2 + z2) / 6.0
    out -= z * z2 * _atan_ratio(x * y, z * R) / 6.0
    out -= 0.5 * z * y2 * _atan_ratio(x * z, y * R)
    out -= 0.5 * z * x2 * _atan_ratio(y * z, x * R)
    return out


def _second_difference(func, X: np.ndarray, Y: np.ndarray, Z: np.ndarray,
                       cell: np.ndarray) -> np.ndarray:
    """``D_x D_y D_z func`` at the offsets ``(X, Y, Z)``, ``D F(s) = F(s+d) - 2 F(s) + F(s-d)``
    along each axis: Newell's 27-point combination (eqs. 28-29, 33)."""
    weights = {-1: 1.0, 0: -2.0, 1: 1.0}
    out = np.zeros(np.broadcast(X, Y, Z).shape)
    for i, j, k in itertools.product((-1, 0, 1), repeat=3):
        w = weights[i] * weights[j] * weights[k]
        out += w * func(X + i * cell[0], Y + j * cell[1], Z + k * cell[2])
    return out


def _gauss_tent(d: float, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of ``int_{-d}^{d} (d - |s|) h(s) ds``: Gauss-Legendre on each half
    times the tent (exact for polynomial ``h`` of degree ``2 order - 2``)."""
    t, w = np.polynomial.legendre.leggauss(order)
    s = 0.5 * d * (t + 1.0)  # on [0, d]
    ws = 0.5 * d * w * (d - s)
    return np.concatenate([-s, s]), np.concatenate([ws, ws])


def _dipole_average(X: np.ndarray, Y: np.ndarray, Z: np.ndarray, cell: np.ndarray,
                    order: int) -> np.ndarray:
    """The six components of ``N`` at offsets far from 0: the dipole kernel
    ``-(3 x_i x_j / r^2 - delta_ij) / (4 pi r^3)`` integrated against the tent (the
    overlap of target and source cell) and divided by the cell volume."""
    nodes = [_gauss_tent(float(d), order) for d in cell]
    out = np.zeros((6, *X.shape))
    volume = float(np.prod(cell))
    for (sx, wx), (sy, wy), (sz, wz) in itertools.product(*[list(zip(*n)) for n in nodes]):
        x, y, z = X + sx, Y + sy, Z + sz
        r2 = x * x + y * y + z * z
        inv_r5 = r2 ** -2.5
        w = wx * wy * wz / (4.0 * np.pi * volume)
        xyz = (x, y, z)
        for c, (i, j) in enumerate(COMPONENTS):
            term = 3.0 * xyz[i] * xyz[j]
            if i == j:
                term = term - r2
            out[c] -= w * term * inv_r5
    return out


def demag_tensor(shape: tuple[int, int, int], cell: np.ndarray, *, near: float = 8.0,
                 order: int = 5) -> np.ndarray:
    """The six components of ``N(X)`` for the offsets ``X = (i, j, k) * cell`` with
    ``0 <= i < shape[0]`` etc. (one octant; the others follow by parity).

    Parameters
    ----------
    shape
        Offsets per axis (the grid's cell counts).
    cell
        Cell edge lengths ``(dx, dy, dz)``.
    near
        Offsets with ``|X| >= near * max(cell)`` use the cell-averaged dipole kernel.
    order
        Gauss-Legendre points per half-tent of that quadrature.

    Returns
    -------
    Array ``(6, *shape)`` in the order :data:`COMPONENTS`.
    """
    cell = np.asarray(cell, dtype=float)
    idx = np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij")
    X, Y, Z = (idx[k] * cell[k] for k in range(3))
    far = np.sqrt(X * X + Y * Y + Z * Z) >= near * cell.max()
    out = np.zeros((6, *shape))
    Xn, Yn, Zn = X[~far], Y[~far], Z[~far]
    scale = -1.0 / (4.0 * np.pi * np.prod(cell))
    cells = {
        0: (newell_f, (0, 1, 2)), 1: (newell_f, (1, 0, 2)), 2: (newell_f, (2, 1, 0)),
        3: (newell_g, (0, 1, 2)), 4: (newell_g, (0, 2, 1)), 5: (newell_g, (1, 2, 0)),
    }
    coords = (Xn, Yn, Zn)
    for c, (func, perm) in cells.items():
        # the kernel's arguments permuted; the differences stay along the physical axes
        def permuted(a, b, e, func=func, perm=perm):
            args = (a, b, e)
            return func(args[perm[0]], args[perm[1]], args[perm[2]])

        out[c][~far] = scale * _second_difference(permuted, *coords, cell)
    if far.any():
        # chunks keep the quadrature's temporaries small
        Xf, Yf, Zf = X[far], Y[far], Z[far]
        values = np.empty((6, Xf.size))
        for start in range(0, Xf.size, 20000):
            sl = slice(start, start + 20000)
            values[:, sl] = _dipole_average(Xf[sl], Yf[sl], Zf[sl], cell, order)
        for c in range(6):
            out[c][far] = values[c]
    return out


class NewellConvolution:
    """``H = -N * M`` on a grid of ``shape`` cells of size ``cell``, by zero-padded FFTs.

    Parameters
    ----------
    shape
        Cells per axis.
    cell
        Cell edge lengths.
    workers
        Threads of scipy's FFT.
    """

    def __init__(self, shape: tuple[int, int, int], cell: np.ndarray, *,
                 workers: int = 1) -> None:
        self.shape = tuple(int(n) for n in shape)
        self.cell = np.asarray(cell, dtype=float)
        self.workers = int(workers)
        # a single cell along an axis needs no padding (no offsets to wrap)
        self.padded = tuple(2 * n if n > 1 else 1 for n in self.shape)
        # the real-to-complex half along the longest axis (a film's z has length 1)
        self._axes = tuple(sorted(range(3), key=lambda a: self.padded[a]))
        self._s = tuple(self.padded[a] for a in self._axes)
        octant = demag_tensor(self.shape, self.cell)
        self.kernel_hat = np.stack([
            self._forward(self._reflect(octant[c], i, j)) for c, (i, j) in enumerate(COMPONENTS)
        ])

    def _forward(self, a: np.ndarray) -> np.ndarray:
        return scipy.fft.rfftn(a, s=self._s, axes=self._axes, workers=self.workers)

    def _inverse(self, a: np.ndarray) -> np.ndarray:
        return scipy.fft.irfftn(a, s=self._s, axes=self._axes, workers=self.workers)

    def _reflect(self, octant: np.ndarray, i: int, j: int) -> np.ndarray:
        """The full padded kernel of one component from its octant: offset ``-k`` at index
        ``2 n - k``, index ``n`` (an offset no pair of cells has) zero; off-diagonal
        components are odd in their two axes."""
        full = np.zeros(self.padded)
        n = self.shape
        idx = []
        signs = []
        for axis in range(3):
            pos = np.arange(n[axis])
            if self.padded[axis] == 1:
                idx.append(pos)
                signs.append(np.ones(1))
                continue
            neg = np.arange(1, n[axis])
            idx.append(np.concatenate([pos, self.padded[axis] - neg]))
            odd = i != j and axis in (i, j)
            signs.append(np.concatenate([np.ones(n[axis]), -np.ones(n[axis] - 1) if odd
                                         else np.ones(n[axis] - 1)]))
        src = [np.concatenate([np.arange(n[a]), np.arange(1, n[a])]) if self.padded[a] > 1
               else np.arange(1) for a in range(3)]
        values = octant[np.ix_(*src)] * (signs[0][:, None, None] * signs[1][None, :, None]
                                         * signs[2][None, None, :])
        full[np.ix_(*idx)] = values
        return full

    def field(self, M: np.ndarray) -> np.ndarray:
        """``H`` of the cell magnetizations ``M`` (shape ``(3, *shape)``), same shape."""
        M_hat = [self._forward(M[k]) for k in range(3)]
        K = self.kernel_hat
        H_hat = (
            K[0] * M_hat[0] + K[3] * M_hat[1] + K[4] * M_hat[2],
            K[3] * M_hat[0] + K[1] * M_hat[1] + K[5] * M_hat[2],
            K[4] * M_hat[0] + K[5] * M_hat[1] + K[2] * M_hat[2],
        )
        nx, ny, nz = self.shape
        return -np.stack([self._inverse(h)[:nx, :ny, :nz] for h in H_hat])

    @property
    def nbytes(self) -> int:
        return int(self.kernel_hat.nbytes)
