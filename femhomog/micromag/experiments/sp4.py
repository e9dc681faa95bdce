"""muMAG standard problem 4: parameters, published reference behaviour, table helpers.

Standard problem 4 (muMAG, NIST, https://www.ctcms.nist.gov/~rdm/mumag.org.html) is
the switching of a permalloy film of 500 x 125 x 3 nm: the S-state, relaxed from
saturation along [1, 1, 1] in zero field, is driven by a field switched on at
t = 0 and followed for 1 ns with the LLG (1.7) of the Boltzmann-LLG paper
(exchange, stray field (1.8)-(1.9), Zeeman; no anisotropy), alpha = 0.02.

Reference behaviour used by ``demos/sp4``, ``tests/test_sp4.py`` and
``benchmarks/sp4.py`` (from the published solutions on the muMAG page, e.g.
McMichael et al., and the OOMMF/magpar/Nmag/MuMax3 reproductions):

* relaxed S-state ``<m> ~ (0.967, 0.125, 0)`` (finite-difference solutions at
  2.5-4 nm; ``<my>`` is the quantity that varies most with the discretization,
  between about 0.12 and 0.13);
* field 1, mu0 H = (-24.6, 4.3, 0) mT: ``<mx>`` first crosses zero near
  ``t = 0.14 ns`` (the published curves differ by a few ps);
* field 2, mu0 H = (-35.5, -6.3, 0) mT: a different reversal path; no
  reference number is checked here, the curves are for comparison by eye.

Nothing here runs a simulation: the job is ``femhomog llg demos/sp4/field1.toml``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

__all__ = [
    "ALPHA",
    "EXCHANGE_A",
    "FIELD1_T",
    "FIELD2_T",
    "GAMMA",
    "LENGTHS",
    "MS",
    "REF_FIELD1_CROSSING_NS",
    "REF_S_STATE",
    "first_zero_crossing",
    "read_table",
]

#: Saturation magnetization (A/m), exchange stiffness (J/m), damping, gyromagnetic ratio.
MS = 8.0e5
EXCHANGE_A = 1.3e-11
ALPHA = 0.02
GAMMA = 2.211e5
#: Film edge lengths (m).
LENGTHS = (500e-9, 125e-9, 3e-9)
#: Applied fields mu0 H (T).
FIELD1_T = (-24.6e-3, 4.3e-3, 0.0)
FIELD2_T = (-35.5e-3, -6.3e-3, 0.0)
#: Published relaxed S-state <m> (approximate).
REF_S_STATE = (0.967, 0.125, 0.0)
#: Published first zero crossing of <mx> under field 1 (ns; references differ by a few ps).
REF_FIELD1_CROSSING_NS = 0.14


def read_table(path: str | Path) -> dict[str, np.ndarray]:
    """Columns of a CSV table with a header (``averages.csv``, ``relax.csv``) as arrays."""
    with open(path, newline="", encoding="ascii") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], [r for r in rows[1:] if len(r) == len(rows[0])]
    data = np.array(body, dtype=np.float64).reshape(-1, len(header))
    return {name: data[:, j] for j, name in enumerate(header)}


def first_zero_crossing(t: np.ndarray, y: np.ndarray) -> float | None:
    """First time at which ``y`` changes sign from positive to non-positive.

    Linear interpolation between the two samples around the sign change (the
    error is O(dt^2 |y''|) for a sampling interval dt: below 0.01 ps for
    ``<mx>`` of SP4 sampled every ps).  None if ``y`` never crosses.
    """
    t = np.asarray(t, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    idx = np.nonzero((y[:-1] > 0.0) & (y[1:] <= 0.0))[0]
    if idx.size == 0:
        return None
    i = int(idx[0])
    return float(t[i] + (t[i + 1] - t[i]) * y[i] / (y[i] - y[i + 1]))
