"""Tests of the coefficients (UFL forms, DG0 materials, positivity/periodicity checks, protocol).

The ``mpi`` test runs under ``mpirun -n 2 python -m mpi4py -m pytest -m mpi``; the
others work on any number of ranks too (every assertion is collective-safe).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from femhomog import _fenicsx  # noqa: F401  (must precede dolfinx)

# isort: split
import dolfinx
import ufl
from mpi4py import MPI

from femhomog import ConfigError
from femhomog.coefficients import CellCoefficient, Coefficient, ConstantCoefficient

COMM = MPI.COMM_WORLD


@pytest.fixture(scope="module")
def mesh() -> dolfinx.mesh.Mesh:
    return dolfinx.mesh.create_unit_square(COMM, 8, 8)


def make_tags(msh: dolfinx.mesh.Mesh, rule) -> dolfinx.mesh.MeshTags:
    """Cell tags from a rule on the cell midpoints (owned cells only; ghosts are filled
    by the coefficient's scatter)."""
    tdim = msh.topology.dim
    n = msh.topology.index_map(tdim).size_local
    cells = np.arange(n, dtype=np.int32)
    mid = dolfinx.mesh.compute_midpoints(msh, tdim, cells)
    values = np.asarray(rule(mid), dtype=np.int32)
    keep = values > 0  # 0 = leave untagged
    return dolfinx.mesh.meshtags(msh, tdim, cells[keep], values[keep])


def halves(mid: np.ndarray) -> np.ndarray:
    return np.where(mid[:, 0] > 0.5, 2, 1)


def integrate(msh: dolfinx.mesh.Mesh, integrand) -> float:
    form = dolfinx.fem.form(integrand * ufl.dx(domain=msh))
    return msh.comm.allreduce(dolfinx.fem.assemble_scalar(form), op=MPI.SUM)


def raises_everywhere(fn, match: str) -> str:
    """Run fn on every rank, require the same ConfigError message on all ranks."""
    with pytest.raises(ConfigError, match=match) as info:
        fn()
    msgs = COMM.allgather(str(info.value))
    assert all(m == msgs[0] for m in msgs), msgs
    return msgs[0]


# ---------------------------------------------------------------- integrals


@pytest.mark.parametrize(
    "spec,exact,tol",
    [
        ("1 + 0.5*sin(2*pi*y[0])*sin(2*pi*y[1])", 1.0, 1e-10),  # by symmetry even with quadrature
        ("2 + y[0]*y[1]", 2.25, 1e-12),
        ("exp(y[0]) * (1 + y[1]**2)", (math.e - 1) * 4 / 3, 1e-6),
        (3, 3.0, 1e-12),
    ],
)
def test_expression_integral(mesh, spec, exact: float, tol: float) -> None:
    a = CellCoefficient.from_expression(spec, 2)
    assert not a.is_matrix
    assert integrate(mesh, a.ufl(mesh)) == pytest.approx(exact, abs=tol)


def test_matrix_expression_integral(mesh) -> None:
    off = "0.5*cos(2*pi*y[0])"
    a = CellCoefficient.from_expression([["2", off], ["cos(2*pi*y[0])*0.5", "3 + y[1]"]], 2)
    assert a.is_matrix
    A = a.ufl(mesh)
    assert A.ufl_shape == (2, 2)
    got = [
        integrate(mesh, A[0, 0]),
        integrate(mesh, A[0, 1] + 10 * A[1, 0]),
        integrate(mesh, A[1, 1]),
    ]
    np.testing.assert_allclose(got, [2.0, 0.0, 3.5], atol=1e-10)


def test_oscillating_coefficient(mesh) -> None:
    """a(x/eps) through the y argument: the mean over the unit square is the cell mean."""
    a = CellCoefficient.from_expression("2 + sin(2*pi*y[0])", 2)
    x = ufl.SpatialCoordinate(mesh)
    eps = 0.5
    assert integrate(mesh, a.ufl(mesh, y=x / eps)) == pytest.approx(2.0, abs=1e-10)
    # and it really oscillates: a(x/eps) at x = (1/8, 0) is a(1/4, 0) = 3
    assert integrate(mesh, a.ufl(mesh, y=x / eps) * x[0]) != pytest.approx(
        integrate(mesh, a.ufl(mesh) * x[0]), abs=1e-3
    )


def test_materials_scalar_integral(mesh) -> None:
    tags = make_tags(mesh, halves)
    a = CellCoefficient.from_materials({1: 1.0, 2: 5.0}, 2)
    assert not a.is_matrix and a.kind == "materials"
    a.check(mesh, tags)
    assert integrate(mesh, a.ufl(mesh, tags)) == pytest.approx(3.0, abs=1e-12)


def test_materials_matrix_integral(mesh) -> None:
    tags = make_tags(mesh, halves)
    # TOML-style string keys; a number next to a matrix means number * I
    a = CellCoefficient.from_materials({"1": [[1.0, 0.5], [0.5, 3.0]], "2": 5.0}, 2)
    assert a.is_matrix
    A = a.ufl(mesh, tags)
    assert A.ufl_shape == (2, 2)
    got = [integrate(mesh, A[0, 0]), integrate(mesh, A[0, 1]), integrate(mesh, A[1, 1])]
    np.testing.assert_allclose(got, [3.0, 0.25, 4.0], atol=1e-12)
    a.check(mesh, tags)
    d = a.describe()
    assert d["materials"] == {"1": [[1.0, 0.5], [0.5, 3.0]], "2": 5.0}
    json.dumps(d)


# ---------------------------------------------------------------- construction errors


def test_non_symmetric_matrix() -> None:
    with pytest.raises(
        ConfigError, match=r"not symmetric: a\[0\]\[1\] = 'y\[0\]' but a\[1\]\[0\] = 'y\[1\]'"
    ):
        CellCoefficient.from_expression([["1", "y[0]"], ["y[1]", "1"]], 2)
    with pytest.raises(
        ConfigError, match=r"not symmetric: a\[0\]\[1\] = '0.1' but a\[1\]\[0\] = '0.2'"
    ):
        CellCoefficient.from_expression([[1, 0.1], [0.2, 1]], 2)
    with pytest.raises(ConfigError, match="physical group 4 is not symmetric"):
        CellCoefficient.from_materials({4: [[1, 0.1], [0.2, 1]]}, 2)
    # equal values written differently are fine
    CellCoefficient.from_expression([["1", "0.1*y[0]"], ["y[0]*0.1", "1"]], 2)


@pytest.mark.parametrize(
    "spec,match",
    [
        ([["1", "0"]], "must be 2 x 2.*got 1 rows"),
        ([["1", "0"], ["0"]], "row 1 has 1 entries"),
        ([["1", "0", "0"], ["0", "1", "0"]], "row 0 has 3 entries"),
        (["1", "2"], "row 0 is '1'"),
        ({"a": 1}, "got dict"),
        (True, "got bool"),
        ([["1", "z"], ["z", "1"]], r"coefficient a\[0\]\[1\] 'z': unknown name 'z'"),
        ("1 + y[2]", "out of range for a 2D cell"),
    ],
)
def test_bad_expression_specs(spec, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        CellCoefficient.from_expression(spec, 2)


@pytest.mark.parametrize(
    "materials,match",
    [
        ({}, "non-empty"),
        ([1.0], "non-empty table"),
        ({"one": 1.0}, "material key 'one' is not a physical group number"),
        ({1: 1.0, "1": 2.0}, "physical group 1 given twice"),
        ({1: "1 + y[0]"}, "physical group 1 must be a number or a 2 x 2 matrix"),
        ({1: [[1, 0, 0]]}, "physical group 1 must be a number or a 2 x 2 matrix"),
        ({1: float("nan")}, "physical group 1 is not finite"),
        ({1: True}, "must be a number"),
    ],
)
def test_bad_materials(materials, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        CellCoefficient.from_materials(materials, 2)


def test_bad_dim() -> None:
    with pytest.raises(ConfigError, match="dimension must be 1, 2 or 3"):
        CellCoefficient.from_expression("1", 4)


# ---------------------------------------------------------------- checks


def test_check_passes(mesh) -> None:
    CellCoefficient.from_expression("1 + 0.5*sin(2*pi*y[0])*sin(2*pi*y[1])", 2).check(
        mesh, period=[1.0, 1.0]
    )
    CellCoefficient.from_expression(
        [["2 + cos(2*pi*y[1])", "0.5*sin(2*pi*y[0])"], ["0.5*sin(2*pi*y[0])", "2"]], 2
    ).check(mesh, period=(1, 1))
    CellCoefficient.from_expression(4, 2).check(mesh, period=[1, 1])


def test_check_period_of_box() -> None:
    box = dolfinx.mesh.create_rectangle(COMM, [[0.0, 0.0], [2.0, 1.0]], [6, 3])
    a = CellCoefficient.from_expression("2 + sin(pi*y[0])*cos(2*pi*y[1])", 2)
    a.check(box, period=[2.0, 1.0])
    raises_everywhere(lambda: a.check(box, period=[1.0, 1.0]), r"not periodic in y\[0\]")
    raises_everywhere(lambda: a.check(box, period=[2.0]), "cell period must be 2 positive")
    raises_everywhere(lambda: a.check(box, period=[2.0, -1.0]), "cell period must be 2 positive")


def test_check_negative(mesh) -> None:
    msg = raises_everywhere(
        lambda: CellCoefficient.from_expression("y[0] - 0.5", 2).check(mesh),
        r"coefficient is not positive: a\(y\) = -0.5 at y = \(0, ",
    )
    assert "\n" not in msg
    raises_everywhere(
        lambda: CellCoefficient.from_expression("-1", 2).check(mesh), r"not positive: a\(y\) = -1"
    )


def test_check_indefinite_matrix(mesh) -> None:
    a = CellCoefficient.from_expression([["1", "2"], ["2", "1"]], 2)
    raises_everywhere(
        lambda: a.check(mesh), r"not positive definite: smallest eigenvalue of a\(y\) is -1 at y = "
    )
    m = CellCoefficient.from_materials({1: 1.0, 2: [[1, 2], [2, 1]]}, 2)
    raises_everywhere(
        lambda: m.check(mesh),
        "not positive definite: smallest eigenvalue of a is -1 in physical group 2",
    )
    raises_everywhere(
        lambda: CellCoefficient.from_materials({1: 1.0, 2: -3}, 2).check(mesh),
        "not positive: a = -3 in physical group 2",
    )


def test_check_not_finite(mesh) -> None:
    raises_everywhere(
        lambda: CellCoefficient.from_expression("2 + log(y[0])", 2).check(mesh),
        r"coefficient is not finite: a\(y\) = -inf at y = \(0, ",
    )


def test_check_not_periodic(mesh) -> None:
    raises_everywhere(
        lambda: CellCoefficient.from_expression("1 + y[0]", 2).check(mesh, period=[1, 1]),
        r"coefficient is not periodic in y\[0\] on the cell .* but .* at y \+ 1 e_0",
    )
    raises_everywhere(
        lambda: CellCoefficient.from_expression([["2", "0.1*y[1]"], ["0.1*y[1]", "2"]], 2).check(
            mesh, period=[1, 1]
        ),
        r"coefficient a\[0\]\[1\] is not periodic in y\[1\]",
    )
    # period 1/2 in y[0] is also period 1; sin(pi*y) is not 1-periodic
    raises_everywhere(
        lambda: CellCoefficient.from_expression("2 + sin(pi*y[1])", 2).check(mesh, period=[1, 1]),
        r"not periodic in y\[1\]",
    )


def test_materials_tag_errors(mesh) -> None:
    tags = make_tags(mesh, halves)
    raises_everywhere(
        lambda: CellCoefficient.from_materials({1: 1.0}, 2).ufl(mesh, tags),
        "^material for physical group 2 missing; materials given for 1$",
    )
    raises_everywhere(
        lambda: CellCoefficient.from_materials({1: 1.0}, 2).check(mesh, tags),
        "material for physical group 2 missing",
    )
    raises_everywhere(
        lambda: CellCoefficient.from_materials({1: 1.0, 2: 2.0, 7: 3.0}, 2).ufl(mesh, tags),
        r"material given for physical group 7, which is not in the mesh "
        r"\(physical groups in the mesh: 1, 2\)",
    )
    a = CellCoefficient.from_materials({1: 1.0, 2: 2.0}, 2)
    raises_everywhere(lambda: a.ufl(mesh), "no cell tags")
    raises_everywhere(lambda: a.ufl(mesh, tags, y=ufl.SpatialCoordinate(mesh)), "x/eps")
    raises_everywhere(lambda: a.evaluate(np.zeros((1, 2))), "cannot be evaluated")
    partial = make_tags(mesh, lambda mid: np.where(mid[:, 0] > 0.5, 2, 0))
    raises_everywhere(
        lambda: a.ufl(mesh, partial), r"^64 of 128 cells have no physical group \(cell tag\)"
    )


def test_dimension_mismatch(mesh) -> None:
    raises_everywhere(
        lambda: CellCoefficient.from_expression("1", 3).ufl(mesh),
        "given for a 3D cell but the mesh is 2D",
    )


# ---------------------------------------------------------------- evaluate / describe


def test_evaluate_matrix_and_means() -> None:
    a = CellCoefficient.from_expression([["1 + y[0]", "0"], ["0", "2"]], 2)
    pts = np.array([[0.0, 0.0, 0.0], [0.5, 1.0, 0.0]])
    vals = a.evaluate(pts)
    assert vals.shape == (2, 2, 2)
    np.testing.assert_allclose(vals[1], [[1.5, 0.0], [0.0, 2.0]])
    # analytic use: harmonic and arithmetic means of a laminate-like profile
    s = CellCoefficient.from_expression("2 + sin(2*pi*y[0])", 1)
    y = (np.arange(4096) + 0.5) / 4096
    v = s.evaluate(y[:, None])
    assert v.shape == (4096,)
    assert np.mean(v) == pytest.approx(2.0, abs=1e-12)
    assert 1 / np.mean(1 / v) == pytest.approx(math.sqrt(3.0), rel=1e-10)


def test_describe_and_constant() -> None:
    s = CellCoefficient.from_expression("1 + y[0]", 2)
    assert s.describe() == {"kind": "expression", "dim": 2, "shape": "scalar", "a": "1 + y[0]"}
    assert not s.constant
    m = CellCoefficient.from_expression([[2, 0], [0, 2]], 2)
    assert m.describe()["a"] == [["2", "0"], ["0", "2"]]
    assert m.constant
    json.dumps(m.describe())


# ---------------------------------------------------------------- MPI


@pytest.mark.mpi
def test_mpi_errors_everywhere_and_integrals() -> None:
    """Same errors on every rank (no hang), integrals independent of the partition."""
    msh = dolfinx.mesh.create_unit_square(COMM, 12, 12)
    tags = make_tags(msh, halves)

    a = CellCoefficient.from_expression("2 + y[0]*y[1]", 2)
    assert integrate(msh, a.ufl(msh)) == pytest.approx(2.25, abs=1e-12)
    m = CellCoefficient.from_materials({1: 1.0, 2: 5.0}, 2)
    m.check(msh, tags)
    assert integrate(msh, m.ufl(msh, tags)) == pytest.approx(3.0, abs=1e-12)
    # ghost cells carry their owner's value (scatter_forward): the local array
    # including ghosts only holds material values
    f = m.ufl(msh, tags)
    assert set(np.unique(f.x.array)) <= {1.0, 5.0}

    # The offending point lies on one rank only; all ranks must raise the same error.
    raises_everywhere(
        lambda: CellCoefficient.from_expression("y[0] - 0.99", 2).check(msh),
        r"not positive: a\(y\) = -0.99 at y = \(0, ",
    )
    raises_everywhere(
        lambda: CellCoefficient.from_expression("10*y[0]*y[1] - 9.99", 2).check(msh, period=[1, 1]),
        "not positive",
    )
    raises_everywhere(
        lambda: CellCoefficient.from_expression("1 + y[0]", 2).check(msh, period=[1, 1]),
        r"not periodic in y\[0\]",
    )
    raises_everywhere(
        lambda: CellCoefficient.from_materials({1: 1.0}, 2).ufl(msh, tags),
        "material for physical group 2 missing",
    )
    # tag 3 only in a corner (owned by one rank at most)
    corner = make_tags(
        msh, lambda mid: np.where((mid[:, 0] > 0.9) & (mid[:, 1] > 0.9), 3, halves(mid))
    )
    raises_everywhere(lambda: m.ufl(msh, corner), "material for physical group 3 missing")
    partial = make_tags(msh, lambda mid: np.where(mid[:, 1] > 0.95, 0, halves(mid)))
    raises_everywhere(lambda: m.check(msh, partial), "cells have no physical group")
    # and a successful collective call afterwards still works (no rank left behind)
    assert COMM.allreduce(1) == COMM.size


# ---------------------------------------------------------------- the protocol


def test_cell_and_constant_coefficients_share_the_protocol(mesh) -> None:
    A = [[2.0, 0.3], [0.3, 1.0]]
    const = ConstantCoefficient(A)
    expr = CellCoefficient.from_expression([[str(v) for v in row] for row in A], 2)
    assert isinstance(const, Coefficient) and isinstance(expr, Coefficient)
    assert const.is_matrix and const.dim == 2 and const.constant and const.kind == "constant"
    assert ConstantCoefficient(3.0).dim is None  # a number fits any dimension
    for coef in (const, expr):
        coef.check(mesh)
        a = coef.ufl(mesh)
        assert integrate(mesh, a[0, 1]) == pytest.approx(0.3, rel=1e-14)
        np.testing.assert_allclose(coef.evaluate(np.zeros((4, 2))), np.tile(A, (4, 1, 1)))
    assert json.loads(json.dumps(const.describe()))["a"] == A
    assert "ConstantCoefficient" in repr(const)
    line = dolfinx.mesh.create_unit_interval(COMM, 4)
    raises_everywhere(lambda: const.check(line), "is a 2 x 2 matrix but the mesh has dimension 1")


def test_constant_coefficient_validated_once() -> None:
    with pytest.raises(ConfigError, match="not positive: a = -1"):
        ConstantCoefficient(-1.0)
    with pytest.raises(ConfigError, match=r"^exchange: coefficient a is not symmetric"):
        ConstantCoefficient([[1.0, 2.0], [0.0, 1.0]], "exchange: coefficient a")
    with pytest.raises(ConfigError, match="smallest eigenvalue of a is -1"):
        ConstantCoefficient([[1.0, 2.0], [2.0, 1.0]])
    out = ConstantCoefficient([[1.0, 0.2], [0.2 + 1e-17, 1.0]]).value
    assert np.array_equal(out, out.T) and not out.flags.writeable


def test_check_positive_at_given_points() -> None:
    """The reported value is the smallest among the failing points, on every rank."""
    a = CellCoefficient.from_expression("y[0] - 0.5", 2)
    pts = np.array([[0.75, 0.0], [0.25, 0.0], [0.0, 0.0], [1.0, 1.0]])
    raises_everywhere(
        lambda: a.check_positive(COMM, pts, what="exchange: coefficient", symbol="a(x/eps)",
                                 at="x/eps"),
        r"^exchange: coefficient is not positive: a\(x/eps\) = -0.5 at x/eps = \(0, 0\)$",
    )
    a.check_positive(COMM, pts[[0, 3]])
    a.check_positive(COMM, np.zeros((0, 2)) + 1.0)  # no points on this rank
