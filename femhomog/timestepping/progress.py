"""Progress of a time loop on rank 0: a tqdm bar when interactive, log lines in batch."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from femhomog.io.logging import get_logger

__all__ = ["Progress", "default_line"]

log = get_logger(__name__)

#: ``line(row) -> str``: the physics part of a progress line or bar postfix.
RowFormat = Callable[[Mapping[str, float]], str]


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


def default_line(row: Mapping[str, float]) -> str:
    """``name = value`` of every column but ``t`` (a generic progress line)."""
    return ", ".join(f"{k} = {v:.6g}" for k, v in row.items() if k != "t")


class Progress:
    """Progress of a time loop on rank 0: a bar when interactive, log lines in batch.

    Interactive means that stderr is a terminal (on rank 0: under ``mpirun`` the
    launcher forwards rank 0's stderr, usually through a pipe, so parallel runs
    log lines unless the launcher passes the terminal through).  The bar is
    `tqdm <https://tqdm.github.io>`_, created on rank 0 only and never involved
    in communication, so it works unchanged under MPI; while it is shown, log
    records of the ``femhomog`` logger are printed above it
    (:func:`tqdm.contrib.logging.logging_redirect_tqdm`).  Batch runs log one
    line at most every ``interval`` seconds of wall time (and at the end).

    Parameters
    ----------
    interval
        Seconds between log lines (0: every output row); None: no progress.
    t_end
        Final time in output units.
    time_unit
        ``"s"`` for SI runs (written after times), anything else: nothing.
    comm
        The run's communicator (only rank 0 reports).
    t_start
        Start time in output units (a restart's checkpoint time).
    interactive
        Force bar (True) or lines (False); default: whether stderr is a TTY.
    line
        ``line(row)``: the physics part of a log line (default :func:`default_line`).
    postfix
        ``postfix(row)``: the physics part of the bar's postfix (default: none).
    """

    def __init__(self, interval: float | None, t_end: float, time_unit: str, comm: Any,
                 *, t_start: float = 0.0, interactive: bool | None = None,
                 line: RowFormat | None = None, postfix: RowFormat | None = None) -> None:
        self.interval = interval
        self.t_end = float(t_end)
        self.unit = " s" if time_unit == "s" else ""
        self.enabled = interval is not None and comm.rank == 0
        self.interactive = bool(self.enabled and (_stderr_is_tty() if interactive is None
                                                  else interactive))
        self.line = line or default_line
        self.postfix = postfix
        self._last_log = -math.inf
        self._wall0 = time.perf_counter()
        self.bar: Any = None
        self._redirect: Any = None
        if self.interactive:
            import logging

            from tqdm import tqdm
            from tqdm.contrib.logging import logging_redirect_tqdm

            self.bar = tqdm(
                total=self.t_end, initial=float(t_start), file=sys.stderr, dynamic_ncols=True,
                mininterval=0.25, leave=True,
                bar_format="{percentage:5.1f}%|{bar}| t = {n:.4g}/{total:.4g}" + self.unit
                + " [{elapsed}<{remaining}{postfix}]",
            )
            self._redirect = logging_redirect_tqdm(loggers=[logging.getLogger("femhomog")])
            self._redirect.__enter__()

    def step(self, t_out: float) -> None:
        """After every step (cheap: tqdm redraws at most every 0.25 s)."""
        if self.bar is not None:
            self.bar.update(min(t_out, self.t_end) - self.bar.n)

    def row(self, row: Mapping[str, float], steps: int, rejected: int, final: bool) -> None:
        """After every output row (``row["t"]`` in output units): bar postfix, or a log
        line if one is due."""
        if not self.enabled:
            return
        if self.bar is not None:
            extra = self.postfix(row) if self.postfix is not None else ""
            self.bar.set_postfix_str(f"steps {steps}" + (f", {extra}" if extra else ""),
                                     refresh=False)
            self.step(row["t"])
            if not final:
                return
        now = time.perf_counter()
        assert self.interval is not None
        if not final and steps and now - self._last_log < self.interval:
            return
        self._last_log = now
        self.close()  # the final line goes below the finished bar
        frac = 100.0 * row["t"] / self.t_end if self.t_end else 100.0
        text = self.line(row)
        log.info("t = %.6g%s (%5.1f %%), steps %d (rejected %d), %s%.1f s", row["t"], self.unit,
                 frac, steps, rejected, f"{text}, " if text else "", now - self._wall0)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self._redirect is not None:
            self._redirect.__exit__(None, None, None)
            self._redirect = None
