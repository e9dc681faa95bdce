"""Tests of femhomog.tensors (pure numpy: no dolfinx, no MPI).

Equation numbers refer to the wave paper (papers/wave-effective-equations-arbitrary-
timescales.txt); sign conventions follow the errata at the end of DESIGN.md.

Besides random (seeded) tensors, a small pseudo-spectral solver of the cell problems
(23a)-(23b) on (0,1)^d (test fixture below, numpy only) provides genuine correctors in
1D and 2D: it checks Lemma 2, Theorem 3 against the naive formula (40), the sign
S(g^2):theta^4 > 0, the indefiniteness of M(qcheck^1) for a laminate, and in 1D the
Taylor series of the first Bloch eigenvalue.
"""

from __future__ import annotations

import itertools
import math
import subprocess
import sys

import numpy as np
import pytest

from femhomog import ConfigError
from femhomog import tensors as T

RNG_SEED = 20240611


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(RNG_SEED)


def brute_symmetrize(t: np.ndarray) -> np.ndarray:
    """(6) literally: average of the transposes over all permutations of the axes."""
    n = t.ndim
    return sum(np.transpose(t, p) for p in itertools.permutations(range(n))) / math.factorial(n)


def random_sym(rng: np.random.Generator, d: int, n: int) -> np.ndarray:
    return T.symmetrize(rng.standard_normal((d,) * n))


def random_spd(rng: np.random.Generator, d: int) -> np.ndarray:
    b = rng.standard_normal((d, d))
    return b @ b.T + d * np.eye(d)


def rank_one_quartic_sum(rng: np.random.Generator, d: int, m: int = 4) -> np.ndarray:
    """S(g^2) = sum_k v_k^{(x)4}: S(g^2):theta^4 = sum_k (v_k.theta)^4 > 0 (spanning v_k)."""
    vs = rng.standard_normal((m, d))
    return sum(T.tensor_power(v, 4) for v in vs)


def unit_directions(rng: np.random.Generator, d: int, m: int = 200) -> np.ndarray:
    th = rng.standard_normal((m, d))
    return th / np.linalg.norm(th, axis=1, keepdims=True)


def min_eig_rel(q: np.ndarray) -> float:
    lam = np.linalg.eigvalsh(T.M(q))
    return lam[0] / max(1.0, np.max(np.abs(lam)))


# ======================================================================================
# pseudo-spectral cell problems (test fixture)
# ======================================================================================
class SpectralCell:
    """Periodic cell problems -div(a grad u) = f on (0,1)^d, Fourier pseudo-spectral.

    ``a`` has shape ``(d, d) + (n,)*d`` (values on the uniform grid), ``n`` odd (no
    Nyquist mode, so ``L + mean`` is invertible).  Averages over the grid are exact for
    trigonometric polynomials, hence the cell averages are spectrally accurate.
    """

    def __init__(self, a: np.ndarray, n: int):
        assert n % 2 == 1
        self.a, self.d, self.n = a, a.shape[0], n
        self.gshape = (n,) * self.d
        self.size = n**self.d
        k1 = 2 * np.pi * np.fft.fftfreq(n, 1.0 / n)
        self.kk = np.meshgrid(*([k1] * self.d), indexing="ij")
        unit = np.eye(self.size).reshape((self.size,) + self.gshape)
        op = np.array([self.op(e).ravel() for e in unit]).T
        self.inv = np.linalg.inv(op + 1.0 / self.size)  # + mean(u): fixes the constant

    def _axes(self) -> tuple[int, ...]:
        return tuple(range(-self.d, 0))

    def grad(self, u: np.ndarray) -> np.ndarray:
        """shape (...) + grid -> (..., d) + grid"""
        uh = np.fft.fftn(u, axes=self._axes())
        parts = [np.real(np.fft.ifftn(1j * kp * uh, axes=self._axes())) for kp in self.kk]
        return np.stack(parts, axis=-self.d - 1)

    def div(self, v: np.ndarray) -> np.ndarray:
        """shape (..., d) + grid -> (...) + grid"""
        out = 0.0
        for p in range(self.d):
            vh = np.fft.fftn(v[(..., p) + (slice(None),) * self.d], axes=self._axes())
            out = out + np.real(np.fft.ifftn(1j * self.kk[p] * vh, axes=self._axes()))
        return out

    def op(self, u: np.ndarray) -> np.ndarray:
        return -self.div(np.einsum("pq...,q...->p...", self.a, self.grad(u)))

    def solve(self, f: np.ndarray) -> np.ndarray:
        flat = f.reshape(-1, self.size)
        return (flat @ self.inv.T).reshape(f.shape)

    def mean(self, f: np.ndarray) -> np.ndarray:
        return f.reshape(f.shape[: f.ndim - self.d] + (self.size,)).mean(-1)

    def flux_avg(self, chi_hi: np.ndarray, chi_lo: np.ndarray, m: int) -> np.ndarray:
        """g^m of (40)/(27) (index of chi^m starting at i_3, errata):
        < e_{i1} . a (grad chi^{m+1}_{i2..} + e_{i2} chi^m_{i3..}) >."""
        d, gs = self.d, self.gshape
        grads = self.grad(chi_hi).reshape((d ** (m + 1), d) + gs)
        t1 = np.einsum("iq...,Jq...->iJ...", self.a, grads)
        t2 = np.einsum("ij...,J...->ijJ...", self.a, chi_lo.reshape((-1,) + gs))
        return self.mean(t1.reshape((d,) * (m + 2) + gs) + t2.reshape((d,) * (m + 2) + gs))


def spectral_correctors(cell: SpectralCell, kmax: int):
    """chi^0..chi^kmax from (23a)-(23b) with p^{2r} = S(g^{2r}), p^{odd} = 0.

    Strong form of (23b): -div(a grad chi^{k+1}_I) = S_I{ div(a e_{i1} chi^k_{i2..})
    + e_{i1}.a(grad chi^k_{i2..} + e_{i2} chi^{k-1}_{i3..}) - sum_j p^{k-1-j} (x) chi^j }.
    Returns (chi, g, solvability residuals), g[m] the naive (40) tensor of order m+2.
    """
    d, gs, a = cell.d, cell.gshape, cell.a
    chi = [np.ones(gs), cell.solve(cell.div(np.moveaxis(a, 0, 1)))]  # (23a)
    g = {0: cell.flux_avg(chi[1], chi[0], 0)}  # = a^0 (26)
    p = {0: g[0]}
    residuals = []
    for k in range(1, kmax):
        ck = chi[k].reshape((-1,) + gs)
        v = np.einsum("pi...,J...->iJp...", a, ck).reshape((d,) * (k + 2) + gs)
        grads = cell.grad(chi[k]).reshape((d**k, d) + gs)
        rhs = (
            cell.div(v)
            + np.einsum("iq...,Jq...->iJ...", a, grads).reshape((d,) * (k + 1) + gs)
            + np.einsum("ij...,J...->ijJ...", a, chi[k - 1].reshape((-1,) + gs)).reshape(
                (d,) * (k + 1) + gs
            )
        )
        for j in range(k):
            if (k - 1 - j) in p:
                rhs = rhs - np.multiply.outer(p[k - 1 - j], chi[j])
        rhs = T.symmetrize(rhs, k + 1)
        mean = cell.mean(rhs)
        residuals.append(float(np.max(np.abs(mean))))  # solvability (25)
        chi.append(cell.solve(rhs - mean[(...,) + (None,) * d]))
        g[k] = cell.flux_avg(chi[k + 1], chi[k], k)
        if k % 2 == 0:
            p[k] = T.symmetrize(g[k])  # (27): p^{2r} =_S g^{2r}
    return chi, g, residuals


def theorem3_integrals(cell: SpectralCell, chi: list[np.ndarray], s: int):
    """The cell averages K^r, E^r, <chi^m (x) chi^n> of femhomog.tensors.theorem3."""
    d, gs, a = cell.d, cell.gshape, cell.a
    stiff, cross, mass = [], [], {}
    for r in range(1, s + 1):
        gr = cell.grad(chi[r + 1]).reshape((d ** (r + 1), d) + gs)
        stiff.append(
            cell.mean(np.einsum("Ip...,pq...,Jq...->IJ...", gr, a, gr)).reshape((d,) * (2 * r + 2))
        )
        c = chi[r].reshape((-1,) + gs)
        cross.append(
            cell.mean(np.einsum("ij...,I...,J...->ijIJ...", a, c, c)).reshape((d,) * (2 * r + 2))
        )
    for m, n in T.required_mass_pairs(s):
        prod = np.einsum("I...,J...->IJ...", chi[m].reshape((-1,) + gs), chi[n].reshape((-1,) + gs))
        mass[(m, n)] = cell.mean(prod).reshape((d,) * (m + n))
    return stiff, cross, mass


def bloch_1d(ahat: dict[int, float], theta: float, modes: int = 20) -> float:
    """First Bloch eigenvalue of -(d/dy + i theta) a (d/dy + i theta) on (0,1) (Hill matrix)."""
    m = np.arange(-modes, modes + 1)
    h = np.zeros((m.size, m.size))
    for shift, val in ahat.items():
        h += val * np.eye(m.size, k=-shift)
    w = 2 * np.pi * m + theta
    return float(np.linalg.eigvalsh(w[:, None] * h * w[None, :])[0])


A1D_HAT = {0: math.sqrt(2.0), 1: -0.5, -1: -0.5}  # a(y) = sqrt(2) - cos(2 pi y), a^0 = 1


@pytest.fixture(scope="module")
def cell_1d():
    n = 33
    y = np.arange(n) / n
    a = (math.sqrt(2.0) - np.cos(2 * np.pi * y))[None, None]
    cell = SpectralCell(a, n)
    chi, g, res = spectral_correctors(cell, 8)  # chi^0..chi^8: g^0..g^7
    return cell, chi, g, res


@pytest.fixture(scope="module")
def cell_2d():
    """Smooth anisotropic a(y) on (0,1)^2 (full 2x2 matrix, not a laminate)."""
    n = 17
    y1, y2 = np.meshgrid(np.arange(n) / n, np.arange(n) / n, indexing="ij")
    c = 2 * np.pi
    a11 = 2 + 0.6 * np.sin(c * y1) + 0.3 * np.cos(c * y2)
    a22 = 1.5 + 0.5 * np.cos(c * (y1 + y2))
    a12 = 0.3 * np.sin(c * y2)
    cell = SpectralCell(np.array([[a11, a12], [a12, a22]]), n)
    chi, g, res = spectral_correctors(cell, 7)  # up to chi^7: naive g^6 for s = 3
    return cell, chi, g, res


@pytest.fixture(scope="module")
def laminate_2d():
    """a(y) = a_1(y_1) Id: a laminate, for which M(qcheck^1) is indefinite (DESIGN.md)."""
    n = 17
    y1 = np.meshgrid(np.arange(n) / n, np.arange(n) / n, indexing="ij")[0]
    a1 = 2 + np.sin(2 * np.pi * y1) + 0.4 * np.cos(4 * np.pi * y1)
    zero = np.zeros_like(a1)
    cell = SpectralCell(np.array([[a1, zero], [zero, a1]]), n)
    chi, g, res = spectral_correctors(cell, 3)
    return cell, chi, g, res


# ======================================================================================
# symmetric.py
# ======================================================================================
def test_no_heavy_imports():
    code = (
        "import sys, femhomog.tensors; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('dolfinx', 'petsc4py', 'mpi4py', 'ufl', 'basix') or m == 'femhomog._fenicsx']; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("d,n", [(1, 3), (2, 1), (2, 2), (2, 4), (3, 3), (3, 5), (2, 6)])
def test_symmetrize_matches_permutation_average_and_is_idempotent(rng, d, n):
    t = rng.standard_normal((d,) * n)
    s = T.symmetrize(t)
    assert np.allclose(s, brute_symmetrize(t), atol=1e-14, rtol=0)
    assert np.allclose(T.symmetrize(s), s, atol=1e-14, rtol=0)
    assert T.is_symmetric(s) and (n <= 1 or d == 1 or not T.is_symmetric(t))


def test_symmetrize_leading_axes_with_batch(rng):
    t = rng.standard_normal((2, 2, 2, 5, 4))
    s = T.symmetrize(t, 3)
    for i, j in itertools.product(range(5), range(4)):
        assert np.allclose(s[..., i, j], brute_symmetrize(t[..., i, j]), atol=1e-14)


def test_symmetrize_rejects_non_tensor_shapes():
    with pytest.raises(ConfigError):
        T.symmetrize(np.zeros((2, 3)))
    with pytest.raises(ConfigError):
        T.symmetrize(np.array([[1.0, np.nan], [0.0, 1.0]]))


def test_equal_sym_and_tensor_product(rng):
    a, b = rng.standard_normal((3, 3)), rng.standard_normal(3)
    ab, ba = T.tensor_product(a, b), T.tensor_product(b, a)
    assert ab.shape == (3, 3, 3) and np.allclose(ab[1, 2, 0], a[1, 2] * b[0])
    assert T.equal_sym(ab, ba) and not np.allclose(ab, ba)  # (7): commutative up to symmetries
    assert not T.equal_sym(ab, ab + 1e-3 * T.symmetrize(rng.standard_normal((3,) * 3)))
    assert not T.equal_sym(a, ab)  # different orders
    p = T.tensor_power(a, 3)
    assert p.shape == (3,) * 6 and np.isclose(p[0, 1, 2, 0, 1, 1], a[0, 1] * a[2, 0] * a[1, 1])
    assert T.tensor_power(a, 0).shape == () and float(T.tensor_power(a, 0)) == 1.0


@pytest.mark.parametrize("d,n", [(1, 4), (2, 3), (3, 4), (3, 1)])
def test_apply_is_full_contraction(rng, d, n):
    t = rng.standard_normal((d,) * n)  # not symmetric: only S(t) matters
    theta = rng.standard_normal((7, d))
    for th, val in zip(theta, T.apply(t, theta), strict=True):
        ref = t
        for _ in range(n):
            ref = ref @ th
        assert np.isclose(val, ref, rtol=1e-13, atol=1e-13)
    assert np.isclose(T.contract(t, theta[0]), T.apply(t, theta[0]))
    assert np.isclose(T.inner(T.symmetrize(t), T.tensor_power(theta[0], n)), T.apply(t, theta[0]))


@pytest.mark.parametrize("d,k", [(1, 5), (2, 3), (3, 2), (3, 4), (4, 3)])
def test_multi_indices_counts_and_multiplicities(d, k):
    idx = T.multi_indices(d, k)
    assert idx.shape == (math.comb(k + d - 1, k), k) == (T.multi_index_count(d, k), k)
    assert all(np.all(np.diff(row) >= 0) for row in idx)  # non-decreasing: I(d,k) of (44)
    assert len({tuple(r) for r in idx}) == len(idx)
    z = T.multiplicity(idx)
    assert int(np.sum(z)) == d**k  # the orbits partition {1..d}^k
    assert T.multiplicity((0, 0, 1)) == 3 and T.multiplicity((0, 1, 2)) == 6
    assert T.multiplicity((2, 2, 2, 2)) == 1


def test_components_roundtrip_and_dict_input(rng):
    for d, k in [(2, 3), (3, 4), (1, 2)]:
        s = random_sym(rng, d, k)
        c = T.components(s)
        assert c.shape == (T.multi_index_count(d, k),)
        assert np.allclose(T.from_components(c, d, k), s, atol=1e-14)
    t = T.from_components({(1, 0): 2.0, (1, 1): -1.0}, 2, 2)  # unsorted key
    assert np.array_equal(t, [[0.0, 2.0], [2.0, -1.0]])
    with pytest.raises(ConfigError):
        T.from_components({(0, 1): 1.0, (1, 0): 2.0}, 2, 2)
    with pytest.raises(ConfigError):
        T.from_components([1.0, 2.0], 2, 2)
    with pytest.raises(ConfigError):
        T.from_components({(0, 2): 1.0}, 2, 2)


def test_cell_problem_counts_of_the_paper():
    # N(d,k) distinct components of chi^k, summed over chi^1..chi^order (Sect. 3.2)
    for d in (1, 2, 3, 4):
        for order in range(9):
            assert T.cell_problem_count(d, order) == math.comb(order + d, d) - 1
    s = 3
    assert (T.cell_problem_count(2, s + 1), T.cell_problem_count(2, 2 * s + 1)) == (14, 35)
    assert (T.cell_problem_count(3, s + 1), T.cell_problem_count(3, 2 * s + 1)) == (34, 119)
    assert T.cell_problem_count(2, 7) - T.cell_problem_count(2, 4) == 21
    assert T.cell_problem_count(3, 7) - T.cell_problem_count(3, 4) == 85


# ======================================================================================
# matricization.py
# ======================================================================================
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("n", [1, 2, 3])
def test_nu_M_identity(rng, d, n):
    q = random_sym(rng, d, 2 * n)
    xi, eta = random_sym(rng, d, n), random_sym(rng, d, n)
    m = T.M(q)
    assert m.shape == (T.multi_index_count(d, n),) * 2 and np.allclose(m, m.T)
    # (43) = (45)
    assert np.isclose(T.bilinear(q, xi, eta), m @ T.nu(xi) @ T.nu(eta), rtol=1e-12, atol=1e-12)
    # entries as written in (45): z(l(r)) z(l(s)) q_{l(r) l(s)}
    idx = T.index_set(d, n)
    z = T.multiplicity(idx)
    ref = np.array(
        [
            [z[r] * z[c] * q[tuple(idx[r]) + tuple(idx[c])] for c in range(len(idx))]
            for r in range(len(idx))
        ]
    )
    assert np.allclose(m, ref, atol=1e-13)
    # a general (non-symmetric) q: M still represents the bilinear form on Sym^n
    qg = rng.standard_normal((d,) * (2 * n))
    assert np.isclose(
        T.bilinear(qg, xi, eta), T.M(qg) @ T.nu(xi) @ T.nu(eta), rtol=1e-12, atol=1e-12
    )
    assert np.allclose(T.nu_inverse(T.nu(xi), d, n), xi)


def test_nu_rejects_non_symmetric(rng):
    with pytest.raises(ConfigError):
        T.nu(rng.standard_normal((2, 2, 2)))
    with pytest.raises(ConfigError):
        T.M(rng.standard_normal((2, 2, 2)))  # odd order


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_lemma3_symmetrized_power_of_spd_is_positive_definite(rng, d, n):
    a = random_spd(rng, d)
    q = T.symmetrize(T.tensor_power(a, n))
    assert T.is_positive_definite(q) and T.is_positive_semidefinite(q)
    assert np.linalg.eigvalsh(T.M(q))[0] > 0


def test_psd_checks(rng):
    q = T.symmetrize(T.tensor_power(random_spd(rng, 2), 2))
    assert not T.is_positive_semidefinite(-q)
    assert T.is_positive_semidefinite(np.zeros((2,) * 4))
    assert not T.is_positive_definite(np.zeros((2,) * 4))
    # a tensor that is zero up to round-off: only a scale from the data decides correctly
    noise = 1e-20 * q
    assert T.is_positive_definite(noise) and not T.is_positive_definite(noise, scale=1.0)
    assert not T.is_positive_semidefinite(-noise) and T.is_positive_semidefinite(-noise, scale=1.0)
    assert T.is_major_symmetric(q) and not T.is_major_symmetric(rng.standard_normal((2,) * 4))
    # 2D example with g:theta^4 > 0 but M(g) indefinite: theta1^4 + theta2^4 + 6 gamma
    # theta1^2 theta2^2, gamma in (-1/3, 0): g xi:xi = xi11^2 + xi22^2 + gamma(2 xi11 xi22 + 4 xi12^2)
    g = T.from_components([1.0, 0.0, -0.2, 0.0, 1.0], 2, 4)
    assert np.all(T.apply(g, unit_directions(rng, 2)) > 0)
    assert not T.is_positive_semidefinite(g) and not T.is_positive_semidefinite(-g)


# ======================================================================================
# effective.py: Lemma 4 and (21), (34), (35), (37), (38)
# ======================================================================================
def random_problem(rng: np.random.Generator, d: int, s: int):
    """SPD a0, S(g^2) with S(g^2):theta^4 > 0, random symmetric S(g^{2r}) for r >= 2."""
    a0 = random_spd(rng, d)
    gs = [T.symmetrize(rank_one_quartic_sum(rng, d))]
    gs += [random_sym(rng, d, 2 * r + 2) for r in range(2, s + 1)]
    return a0, gs


@pytest.mark.parametrize("d,s", [(1, 3), (2, 3), (3, 2), (3, 3)])
def test_lemma4_pair_is_valid(rng, d, s):
    a0, gs = random_problem(rng, d, s)
    et = T.effective_wave_tensors(a0, gs)
    assert et.order == s and et.dim == d
    for r in range(1, s + 1):
        ar, br = et.a[r - 1], et.b[r - 1]
        assert ar.shape == (d,) * (2 * r + 2) and br.shape == (d,) * (2 * r)  # (i)
        assert T.is_symmetric(ar) and T.is_symmetric(br)  # hence (iii), major symmetry (8)
        assert T.is_major_symmetric(ar) and T.is_major_symmetric(br)
        assert min_eig_rel(ar) >= -1e-12 and min_eig_rel(br) >= -1e-12  # (ii)
    # (34): a^{2r} - b^{2r} (x) a^0 =_S qcheck^r, to round-off
    for r, res in enumerate(T.constraint_residuals(et), start=1):
        assert res <= 1e-12 * max(1.0, np.abs(et.qcheck[r - 1]).max())
        ar, br, q = et.a[r - 1], et.b[r - 1], et.qcheck[r - 1]
        assert T.equal_sym(ar - T.tensor_product(br, a0), q, tol=1e-12)
    # (35) written out, with c^l of (21) computed independently
    c = [a0]
    for r in range(1, s + 1):
        q_ref = (-1) ** r * gs[r - 1]
        for ell in range(1, r):
            q_ref = q_ref + T.tensor_product(c[ell], et.b[r - ell - 1])
        assert np.allclose(
            et.qcheck[r - 1],
            brute_symmetrize(q_ref) if 2 * r + 2 <= 6 else T.symmetrize(q_ref),
            atol=1e-12,
        )
        cr = et.a[r - 1] - sum(T.tensor_product(c[ell], et.b[r - ell - 1]) for ell in range(r))
        c.append(cr)
    for cr, cref in zip(et.c(), c, strict=True):
        assert np.allclose(cr, cref, atol=1e-12)


@pytest.mark.parametrize("d,s", [(2, 3), (3, 2)])
def test_constraint_28_and_p_tensors(rng, d, s):
    a0, gs = random_problem(rng, d, s)
    star = T.effective_wave_tensors(a0, gs).delta
    et = T.effective_wave_tensors(a0, gs, delta=[None, 3.0 * star[1] + 1.0] + [None] * (s - 2))
    cs = et.c()
    for r in range(1, s + 1):
        # (28)/(33): c^r =_S (-1)^r g^{2r}, i.e. p^{2r} =_S g^{2r} (27)
        assert T.equal_sym(cs[r], (-1) ** r * gs[r - 1], tol=1e-11)
    ps = et.p()
    assert len(ps) == 2 * s + 1
    for k, pk in enumerate(ps):
        assert pk.shape == (d,) * (k + 2)
        if k % 2:
            assert not np.any(pk)
        else:
            assert np.allclose(pk, (-1) ** (k // 2) * cs[k // 2])
    assert np.array_equal(ps[0], a0)


def test_delta_star_formula_37(rng):
    d, s = 2, 3
    a0, gs = random_problem(rng, d, s)
    et = T.effective_wave_tensors(a0, gs)
    for r in range(1, s + 1):
        q = et.qcheck[r - 1]
        a_r = T.M(T.symmetrize(T.tensor_power(a0, r + 1)))
        ref = max(0.0, -np.linalg.eigvalsh(T.M(q))[0] / np.linalg.eigvalsh(a_r)[0])
        assert np.isclose(et.delta[r - 1], ref, rtol=1e-12)
        assert np.isclose(et.delta_star[r - 1], ref, rtol=1e-12)
        big_r = ref * T.symmetrize(T.tensor_power(a0, r))  # R of (37)
        assert np.allclose(et.b[r - 1], big_r, atol=1e-12)
        assert np.allclose(
            et.a[r - 1], q + T.symmetrize(T.tensor_product(big_r, a0)), atol=1e-12
        )  # (38)
    # r = 1: qcheck^1 = -S(g^2) (35), which has M indefinite or negative: delta*_1 > 0
    assert np.allclose(et.qcheck[0], -gs[0]) and et.delta[0] > 0


def test_delta_options(rng):
    d, s = 2, 2
    a0, gs = random_problem(rng, d, s)
    ref = T.effective_wave_tensors(a0, gs)
    # an admissible larger delta (remark after Lemma 4), per r and for all r
    big = 2.0 * ref.delta[0] + 1.0
    assert T.effective_wave_tensors(a0, gs[:1], delta=big).delta == [big]
    # delta_1 changes b^2, hence qcheck^2 and delta*_2 (35): a common number may be too small
    et = T.effective_wave_tensors(a0, gs, delta=[big, None])
    assert et.delta_star[1] != ref.delta_star[1] and et.delta[1] == et.delta_star[1]
    big2 = 1.5 * et.delta_star[1]
    et = T.effective_wave_tensors(a0, gs, delta=[big, big2])
    assert et.delta == [big, big2]
    for ar, br in zip(et.a, et.b, strict=True):
        assert min_eig_rel(ar) >= -1e-12 and min_eig_rel(br) >= -1e-12
    assert max(T.constraint_residuals(et)) < 1e-10
    # delta = delta* given explicitly reproduces the default
    et2 = T.effective_wave_tensors(a0, gs, delta=list(ref.delta))
    assert all(np.allclose(x, y) for x, y in zip(et2.a, ref.a, strict=True))
    # below delta* -> ConfigError (for r = 1 and for r = 2)
    with pytest.raises(ConfigError, match="below delta"):
        T.effective_wave_tensors(a0, gs, delta=[0.9 * ref.delta[0], None])
    with pytest.raises(ConfigError, match="below delta"):
        T.effective_wave_tensors(a0, gs, delta=[None, 0.5 * ref.delta[1]])
    for bad in (-1.0, float("nan"), [1.0], "huge"):
        with pytest.raises(ConfigError):
            T.effective_wave_tensors(a0, gs, delta=bad)
    # the smallest admissible delta (DESIGN.md: delta* is admissible, not minimal)
    sm = T.effective_wave_tensors(a0, gs, delta="smallest")
    for r in range(1, s + 1):
        assert sm.delta[r - 1] <= sm.delta_star[r - 1] * (1 + 1e-12)
        lam = np.linalg.eigvalsh(T.M(sm.a[r - 1]))
        # scale of a^r = qcheck^r + S(b^r (x) a^0) (38): its two terms, not a^r (may vanish)
        scale = np.abs(T.M(sm.qcheck[r - 1])).max() + np.abs(sm.b[r - 1]).max() * np.abs(a0).max()
        assert lam[0] >= -1e-10 * scale and abs(lam[0]) <= 1e-8 * scale
    assert sm.delta[0] < ref.delta[0]  # strictly smaller for this data
    # truncation is consistent: each pair only depends on the lower ones
    et1 = T.effective_wave_tensors(a0, gs[:1])
    assert np.allclose(ref.truncated(1).a[0], et1.a[0]) and ref.truncated(0).order == 0


def test_input_errors(rng):
    a0, gs = random_problem(rng, 2, 2)
    with pytest.raises(ConfigError, match="positive definite"):
        T.effective_wave_tensors(np.diag([1.0, -1.0]), gs)
    with pytest.raises(ConfigError, match="symmetric"):
        T.effective_wave_tensors(np.array([[1.0, 0.5], [0.0, 1.0]]), gs)
    with pytest.raises(ConfigError, match="order"):
        T.effective_wave_tensors(a0, [gs[1]])
    with pytest.raises(ConfigError, match="dimension"):
        T.effective_wave_tensors(a0, [np.zeros((3,) * 4)])
    with pytest.raises(ConfigError):
        T.effective_wave_tensors(a0, gs[0])  # an array, not a list
    assert T.effective_wave_tensors(a0, []).order == 0


def test_qcheck1_negative_along_rank_one_directions(rng):
    for d in (2, 3):
        a0 = random_spd(rng, d)
        g2 = rank_one_quartic_sum(rng, d, m=d + 2)  # S(g^2):theta^4 > 0
        et = T.effective_wave_tensors(a0, [g2])
        q1 = et.qcheck[0]
        for th in unit_directions(rng, d):
            tt = T.tensor_product(th, th)
            assert T.bilinear(q1, tt, tt) < 0  # qcheck^1 (theta x theta):(theta x theta) < 0
    # ... while M(qcheck^1) may be indefinite (DESIGN.md): Lemma 4 still gives PSD tensors
    g = T.from_components([1.0, 0.0, -0.2, 0.0, 1.0], 2, 4)
    et = T.effective_wave_tensors(np.array([[1.5, 0.2], [0.2, 1.0]]), [g])
    lam = np.linalg.eigvalsh(T.M(et.qcheck[0]))
    assert lam[0] < 0 < lam[-1]
    assert min_eig_rel(et.a[0]) >= -1e-12 and min_eig_rel(et.b[0]) >= -1e-12


def test_1d_closed_forms(rng):
    """d = 1, everything scalar.  With a0 = alpha, S(g^2) = G, S(g^4) = G4, S(g^6) = G6:

    r = 1: qcheck^1 = -G, M(qcheck^1) = -G, A^1 = alpha^2, delta*_1 = G/alpha^2,
           b^2 = delta_1 alpha, a^2 = -G + delta_1 alpha^2 (= 0 for delta*), and
           c^1 = a^2 - alpha b^2 = -G for every delta_1.
    r = 2: qcheck^2 = G4 + c^1 b^2 = G4 - G delta_1 alpha, A^2 = alpha^3,
           delta*_2 = max(0, -qcheck^2/alpha^3), b^4 = delta_2 alpha^2,
           a^4 = qcheck^2 + delta_2 alpha^3.
    r = 3: c^2 = a^4 - alpha b^4 - c^1 b^2 = G4; qcheck^3 = -G6 + c^1 b^4 + c^2 b^2.
    """
    for _ in range(5):
        alpha = float(rng.uniform(0.3, 3.0))
        big_g = float(rng.uniform(0.01, 1.0))
        g4, g6 = (float(x) for x in rng.uniform(-1.0, 1.0, 2))
        et = T.effective_wave_tensors(
            [[alpha]],
            [[[[[big_g]]]]],
        )
        assert np.isclose(et.delta[0], big_g / alpha**2)
        assert np.isclose(float(et.a[0].squeeze()), 0.0, atol=1e-14)
        assert np.isclose(float(et.b[0].squeeze()), big_g / alpha)
        gsl = [np.full((1,) * 4, big_g), np.full((1,) * 6, g4), np.full((1,) * 8, g6)]
        extra = float(rng.uniform(1.0, 2.0))
        et = T.effective_wave_tensors([[alpha]], gsl, delta=[extra * big_g / alpha**2, None, None])
        d1 = extra * big_g / alpha**2
        b2, a2 = d1 * alpha, -big_g + d1 * alpha**2
        q2 = g4 - big_g * d1 * alpha
        d2 = max(0.0, -q2 / alpha**3)
        b4, a4 = d2 * alpha**2, q2 + d2 * alpha**3
        c1, c2 = -big_g, g4
        q3 = -g6 + c1 * b4 + c2 * b2
        d3 = max(0.0, -q3 / alpha**4)
        b6, a6 = d3 * alpha**3, q3 + d3 * alpha**4
        got = [
            float(t.squeeze())
            for t in (
                et.b[0],
                et.a[0],
                et.qcheck[1],
                et.b[1],
                et.a[1],
                et.qcheck[2],
                et.b[2],
                et.a[2],
            )
        ]
        assert np.allclose(got, [b2, a2, q2, b4, a4, q3, b6, a6], rtol=1e-12, atol=1e-14)
        assert np.allclose(et.delta, [d1, d2, d3], rtol=1e-12, atol=1e-14)
        cs = [float(c.squeeze()) for c in et.c()]
        assert np.allclose(cs, [alpha, c1, c2, -g6], rtol=1e-12)  # (28): c^r = (-1)^r g^{2r}
        # omega^2 in closed form
        k, eps = 1.7, 0.3
        num = alpha * k**2 + eps**2 * a2 * k**4 + eps**4 * a4 * k**6 + eps**6 * a6 * k**8
        den = 1 + eps**2 * b2 * k**2 + eps**4 * b4 * k**4 + eps**6 * b6 * k**6
        assert np.isclose(T.dispersion_effective(et, k, eps), num / den, rtol=1e-13)


# ======================================================================================
# dispersion relations
# ======================================================================================
def test_dispersion_signs_1d():
    """(14) on e^{i(kx - omega t)}: omega^2 (1 + eps^2 b^2 k^2) = a^0 k^2 + eps^2 a^2 k^4."""
    a0, big_g = 1.3, 0.2
    et = T.effective_wave_tensors([[a0]], [np.full((1,) * 4, big_g)], delta=0.5)
    a2, b2 = float(et.a[0].squeeze()), float(et.b[0].squeeze())
    assert a2 > 0 and b2 > 0
    k, eps = 2.0, 0.1
    assert np.isclose(
        T.dispersion_effective(et, k, eps),
        (a0 * k**2 + eps**2 * a2 * k**4) / (1 + eps**2 * b2 * k**2),
    )
    assert np.isclose(
        T.dispersion_unregularized([[a0]], [np.full((1,) * 4, big_g)], k, eps),
        a0 * k**2 - eps**2 * big_g * k**4,
    )
    num, den = T.effective_symbols(et, k, eps)
    assert np.isclose(num / den, T.dispersion_effective(et, k, eps))


@pytest.mark.parametrize("d,s", [(1, 1), (1, 3), (2, 1), (2, 2), (2, 3), (3, 2)])
def test_dispersion_regularized_vs_unregularized_order(rng, d, s):
    """The point of (34): both relations agree to O(eps^{2s+2} |k|^{2s+4})."""
    a0, gs = random_problem(rng, d, s)
    et = T.effective_wave_tensors(a0, gs)
    khat = unit_directions(rng, d, 1)[0]

    def diff(k, eps):
        return abs(
            T.dispersion_effective(et, k * khat, eps)
            - T.dispersion_unregularized(a0, gs, k * khat, eps)
        )

    # eps relative to the radius sigma of the series (tensors of order 2r+2 ~ sigma^r), so
    # that the expansion is in its asymptotic range but the difference is far above round-off
    sigma = max(
        max(np.abs(t).max() for t in (et.a[r - 1], et.b[r - 1], gs[r - 1])) ** (1 / r)
        for r in range(1, s + 1)
    )
    eps = np.array([0.3, 0.15, 0.075]) / np.sqrt(sigma)
    rates = np.log2([diff(1.0, eps[i]) / diff(1.0, eps[i + 1]) for i in range(2)])
    assert np.allclose(rates, 2 * s + 2, atol=0.2), rates
    ks = np.array([1.0, 0.5, 0.25])
    rates_k = np.log2([diff(ks[i], eps[0]) / diff(ks[i + 1], eps[0]) for i in range(2)])
    assert np.allclose(rates_k, 2 * s + 4, atol=0.2), rates_k


def test_dispersion_batch_and_well_posedness(rng):
    a0, gs = random_problem(rng, 2, 2)
    et = T.effective_wave_tensors(a0, gs)
    ks = 50.0 * rng.standard_normal((4, 3, 2))
    w2 = T.dispersion_effective(et, ks, 0.1)
    assert w2.shape == (4, 3) and np.all(w2 > 0)  # PSD tensors: omega^2 >= a0 k^2 / den > 0
    assert np.isclose(w2[1, 2], T.dispersion_effective(et, ks[1, 2], 0.1))
    # the unregularized s = 1 model is ill-posed: omega^2 < 0 for large eps |k|
    assert T.dispersion_unregularized(a0, gs[:1], ks[0, 0], 0.1) < 0
    eps = np.array([0.1, 0.2])
    assert T.dispersion_effective(et, ks[0, 0], eps).shape == (2,)
    with pytest.raises(ConfigError):
        T.dispersion_effective(et, np.ones(3), 0.1)


# ======================================================================================
# Theorem 3 and the conventions, with real correctors (spectral fixture)
# ======================================================================================
def test_spectral_1d_correctors_and_signs(cell_1d):
    _, _, g, res = cell_1d
    assert max(res) < 1e-12  # every cell problem solvable: (25) with p^{2r} =_S g^{2r}
    assert np.isclose(g[0].item(), 1.0, atol=1e-13)  # a(y) = sqrt2 - cos(2 pi y): a^0 = 1
    for m in (1, 3, 5, 7):
        assert abs(g[m].item()) < 1e-13  # Lemma 2: g^{2r-1} =_S 0
    assert g[2].item() > 0  # DESIGN.md: S(g^2):theta^4 > 0 with (40)


def test_1d_bloch_taylor_series(cell_1d):
    """lambda_1(theta) = a^0 theta^2 - S(g^2) theta^4 + S(g^4) theta^6 - S(g^6) theta^8 + ..."""
    _, _, g, _ = cell_1d
    coeffs = [g[0].item(), g[2].item(), g[4].item(), g[6].item()]
    errs = []
    for th in (0.8, 0.4):
        series = sum((-1) ** r * c * th ** (2 * r + 2) for r, c in enumerate(coeffs))
        errs.append(abs(bloch_1d(A1D_HAT, th) - series))
        # same thing through dispersion_unregularized: omega^2 = lambda_1(eps k) / eps^2
        unreg = T.dispersion_unregularized(g[0], [g[2], g[4], g[6]], 1.0, th)
        assert np.isclose(unreg * th**2, series, rtol=1e-14)
    assert errs[1] < 1e-9 and errs[0] / errs[1] > 2**9  # next term is O(theta^10)
    # the effective equations of order s = 1, 2, 3 approach the Bloch relation
    eps, k = 0.1, 3.0
    exact = bloch_1d(A1D_HAT, eps * k) / eps**2
    errors = []
    for s in (0, 1, 2, 3):
        et = T.effective_wave_tensors(g[0], [g[2 * r] for r in range(1, s + 1)])
        errors.append(abs(T.dispersion_effective(et, k, eps) - exact))
    assert all(e2 < e1 / 10 for e1, e2 in itertools.pairwise(errors)), errors


def test_theorem3_1d(cell_1d):
    cell, chi, g, _ = cell_1d
    s = 3
    stiff, cross, mass = theorem3_integrals(cell, chi, s)
    gs = T.assemble_g_sym(g[0], stiff, cross, mass)
    for r in range(1, s + 1):
        assert np.isclose(gs[r - 1].item(), g[2 * r].item(), rtol=1e-10, atol=1e-15)


def test_theorem3_2d_matches_naive_formula(cell_2d):
    cell, chi, g, res = cell_2d
    assert max(res) < 1e-12
    for m in (1, 3, 5):
        assert np.abs(T.symmetrize(g[m])).max() < 1e-12  # Lemma 2
    s = 3
    stiff, cross, mass = theorem3_integrals(cell, chi, s)  # uses chi^1..chi^4 only
    assert max(max(p) for p in mass) <= s
    gs = T.assemble_g_sym(g[0], stiff, cross, mass)
    for r in range(1, s + 1):
        naive = T.symmetrize(g[2 * r])  # (40): needs chi^{2r}, chi^{2r+1}
        assert np.abs(gs[r - 1] - naive).max() <= 1e-10 * np.abs(naive).max()
        assert not T.is_symmetric(g[2 * r], 1e-6)  # only S(g^{2r}) is given by (41)
    # S(g^2):theta^4 > 0 (DESIGN.md) and the effective tensors of order 3 are valid
    assert np.all(T.apply(gs[0], unit_directions(np.random.default_rng(1), 2)) > 0)
    et = T.effective_wave_tensors(g[0], gs)
    for ar, br in zip(et.a, et.b, strict=True):
        assert min_eig_rel(ar) >= -1e-12 and min_eig_rel(br) >= -1e-12
    assert max(T.constraint_residuals(et)) < 1e-14


def test_laminate_qcheck1_indefinite(laminate_2d):
    """DESIGN.md errata: qcheck^1 = -S(g^2) is negative along theta x theta but M(qcheck^1)
    is indefinite for a laminate; Lemma 4 repairs it."""
    _, _, g, res = laminate_2d
    assert max(res) < 1e-12
    g2 = T.symmetrize(g[2])
    et = T.effective_wave_tensors(g[0], [g2])
    thetas = unit_directions(np.random.default_rng(2), 2)
    assert np.all(T.apply(et.qcheck[0], thetas) < 0)
    lam = np.linalg.eigvalsh(T.M(et.qcheck[0]))
    assert lam[0] < 0 < lam[-1]
    assert et.delta[0] > 0 and min_eig_rel(et.a[0]) >= -1e-12
    assert T.is_positive_definite(et.b[0])


def test_theorem3_helpers(rng):
    assert T.required_mass_pairs(1) == [(1, 1)]
    assert T.required_mass_pairs(3) == [(1, 1), (1, 3), (2, 2), (3, 3)]
    assert T.required_mass_pairs(4) == [(1, 1), (1, 3), (2, 2), (2, 4), (3, 3), (4, 4)]
    d, n1, n2 = 3, 2, 3
    full = np.multiply.outer(random_sym(rng, d, n1), random_sym(rng, d, n2))
    i1, i2 = T.multi_indices(d, n1), T.multi_indices(d, n2)
    gram = full[tuple(i1.T)][(slice(None),) + tuple(i2.T)]
    assert np.allclose(T.expand_pair_matrix(gram, d, n1, n2), full)
    lead = rng.standard_normal((d, d))
    gram2 = np.multiply.outer(lead, gram)
    assert np.allclose(T.expand_pair_matrix(gram2, d, n1, n2), np.multiply.outer(lead, full))
    with pytest.raises(ConfigError):
        T.assemble_g_sym(np.eye(2), [np.zeros((2,) * 4)], [np.zeros((2,) * 4)], {})
    # h^1 = <g^0 (x) chi^1 (x) chi^1> = a0 (x) <chi^1 (x) chi^1> (42)
    a0, m11 = random_spd(rng, 2), random_sym(rng, 2, 2)
    assert np.allclose(
        T.theorem3_h(1, [a0], {(1, 1): m11}), T.symmetrize(T.tensor_product(a0, m11))
    )
