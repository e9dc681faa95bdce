"""From the cell to the effective wave equation of order s (wave paper Sect. 3.4).

The algorithm interleaves cell solves and tensor algebra, because the correctors of
order >= 4 depend on the chosen effective tensors through p^k (21):

    chi^1 -> a^0 (26)
    for r = 1..s:
        correctors up to chi^{r+1} (Theorem 3) or chi^{2r+1} (naive (40))
        S(g^{2r}) by (41)-(42) or (40)
        qcheck^r (35), delta (37), a^{2r}, b^{2r} (38)          [femhomog.tensors]
        p^{2r} = (-1)^r c^r for the next correctors (21)

Theorem 3 needs CP(d, s+1) scalar cell problems, the naive formula CP(d, 2s+1).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from femhomog import (
    ConfigError,
    _fenicsx,  # noqa: F401
)

# isort: split
from femhomog.cell.correctors import CellCorrectors
from femhomog.cell.problem import PeriodicCell
from femhomog.io.logging import get_logger
from femhomog.tensors import EffectiveTensors, effective_wave_tensors, p_tensors

log = get_logger(__name__)

METHODS = ("theorem3", "naive")


@dataclass
class CellHomogenization:
    """Effective tensors of order s computed on a periodic cell, with their cost."""

    tensors: EffectiveTensors
    correctors: CellCorrectors
    method: str
    order: int
    tensor_time_s: list[float] = field(default_factory=list)

    @property
    def cell_problems_solved(self) -> int:
        return self.correctors.cell_problems_solved

    def as_dict(self) -> dict:
        """JSON-ready: a0, g2.., a2.., b2.., delta, counts and per-order timings."""
        t = self.tensors
        out: dict = {"a0": t.a0.tolist(), "order": self.order, "method": self.method}
        for r in range(1, self.order + 1):
            out[f"g{2 * r}"] = t.g[r - 1].tolist()
            out[f"a{2 * r}"] = t.a[r - 1].tolist()
            out[f"b{2 * r}"] = t.b[r - 1].tolist()
        out["delta"] = [float(x) for x in t.delta]
        out["delta_star"] = [float(x) for x in t.delta_star]
        out["cell_problems_solved"] = self.cell_problems_solved
        out["cell_problems_per_order"] = self.correctors.solves_per_order[1:]
        out["solve_time_per_order_s"] = self.correctors.solve_time_per_order[1:]
        out["tensor_time_per_order_s"] = self.tensor_time_s
        out["max_rhs_incompatibility"] = self.correctors.max_incompatibility
        return out


def homogenize_cell(
    cell: PeriodicCell,
    order: int = 0,
    method: str = "theorem3",
    delta: float | str | list | None = None,
) -> CellHomogenization:
    """a^0 and the tensors S(g^{2r}), a^{2r}, b^{2r}, r = 1..order, of Lemma 4.

    Parameters
    ----------
    cell
        The periodic cell with its factorized operator.
    order
        s = floor(alpha / 2) for the timescale eps^{-alpha}; 0 gives a^0 only.
    method
        ``"theorem3"`` ((41)-(42): chi^1..chi^{s+1}) or ``"naive"`` ((40): up to chi^{2s+1}).
    delta
        Choice of delta in (37)-(38): None/"star" (delta*), "smallest", a number >= delta*,
        or one such value per order.
    """
    if method not in METHODS:
        raise ConfigError(f"homogenization method must be one of {METHODS}, got {method!r}")
    if order < 0:
        raise ConfigError(f"homogenization order must be >= 0, got {order}")
    correctors = CellCorrectors(cell)
    correctors.solve_next([])
    a0 = correctors.homogenized_tensor()
    g_list: list = []
    tensors = effective_wave_tensors(a0, [], delta=None)
    times: list[float] = []
    for r in range(1, order + 1):
        p = p_tensors(a0, tensors.a, tensors.b)
        if method == "theorem3":
            correctors.ensure_order(r + 1, p)
            t0 = time.perf_counter()
            g_list.append(correctors.g_theorem3(r)[r - 1])
        else:
            correctors.ensure_order(2 * r + 1, p)
            t0 = time.perf_counter()
            g_list.append(correctors.g_naive(r))
        per_r = delta if not isinstance(delta, (list, tuple)) else list(delta[:r])
        tensors = effective_wave_tensors(a0, g_list, delta=per_r)
        times.append(time.perf_counter() - t0)
        log.info(
            "order %d: %d cell problems so far, delta = %.4g (delta* = %.4g)",
            r,
            correctors.cell_problems_solved,
            tensors.delta[-1],
            tensors.delta_star[-1],
        )
    return CellHomogenization(tensors, correctors, method, order, times)
