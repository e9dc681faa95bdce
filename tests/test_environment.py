"""The environment record: installed versions equal the lock file's pins."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

from femhomog.environment import KEY_PACKAGES, package_versions

LOCK = Path(__file__).resolve().parents[1] / "requirements" / "lock-linux-x86_64.txt"


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def lock_pins() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", line)
        if m:
            pins[_normalize(m.group(1))] = m.group(2)
    return pins


def test_lock_file_pins_and_hashes_every_requirement():
    pins = lock_pins()
    assert {"dolfinx-solver-real", "numpy", "scipy", "mpi4py", "gmsh", "pytest"} <= set(pins)
    # every pinned requirement carries at least one hash (pip --require-hashes needs them)
    blocks = re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text())
    for block in blocks:
        if "==" in block.split("\n", 1)[0]:
            assert "--hash=sha256:" in block, block.split("\n", 1)[0]


def test_installed_versions_match_the_lock():
    """Every locked distribution that is installed here has exactly the pinned version."""
    pins = lock_pins()
    installed = {}
    for name in pins:
        try:
            installed[name] = version(name)
        except PackageNotFoundError:
            continue
    if "dolfinx-solver-real" not in installed:
        pytest.skip("not installed from the lock file (e.g. a conda environment)")
    assert {n: v for n, v in installed.items() if v != pins[n]} == {}


def test_package_versions_match_the_lock():
    pins = lock_pins()
    got = package_versions()
    assert got["python"] == ".".join(map(str, sys.version_info[:3]))
    assert got["femhomog"] is not None
    if got["dolfinx-solver-real"] is None:
        pytest.skip("not installed from the lock file (e.g. a conda environment)")
    checked = 0
    for key, dists in KEY_PACKAGES.items():
        for dist in dists:
            if _normalize(dist) in pins:
                assert got[key] == pins[_normalize(dist)], key
                checked += 1
    assert checked >= 10
    # vendored by the dolfinx-solver-real wheel: found from their sources
    assert got["dolfinx"] and got["petsc4py"] and got["slepc4py"]


def test_package_versions_imports_no_mpi():
    """Recording the environment must not start MPI or import dolfinx/PETSc."""
    code = ("import sys; from femhomog.environment import package_versions; package_versions(); "
            "print(sorted(m for m in ('dolfinx', 'petsc4py', 'mpi4py', 'ufl') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
