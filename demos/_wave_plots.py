"""Figures and small CSV files shared by ``wave_fig1.py`` and ``wave_fig2.py`` (a helper,
not a demo).  Plotting only: the computations are :mod:`femhomog.wave.bloch_runs`."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def write_rows(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """A list of equal-keyed dicts as a CSV file with a header."""
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def errors_plot(path: Path, times: Sequence[float], errors: dict[int, Sequence[float]],
                *, loglog: bool, marks: Sequence[tuple[float, str]] = ()) -> None:
    """err(u~^s)(t) per order, with vertical lines at ``marks`` (time, label)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for s, e in errors.items():
        (ax.loglog if loglog else ax.semilogy)(times, e, "o-", ms=3, label=f"err(u~^{s})")
    for t, label in marks:
        ax.axvline(t, color="grey", lw=0.5)
        ax.text(t, ax.get_ylim()[1], label, fontsize=8, va="top")
    ax.set_xlabel("t")
    ax.set_ylabel("relative l2 error")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def refinement_plot(path: Path, rows: Sequence[dict[str, Any]], smallest: float) -> None:
    """The refinement rows of :func:`femhomog.wave.bloch_runs.refinement` over time, with
    the line 0.1 x the smallest err reported (u^eps must stay below it)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in dict.fromkeys(r["discretization"] for r in rows):
        sel = [r for r in rows if r["discretization"] == name]
        ax.loglog([r["t"] for r in sel], [r["difference"] for r in sel], "o-",
                  label=f"p={sel[0]['degree']}, {sel[0]['cells_per_period']} el./period"
                  + (" (used)" if name == "base" else ""))
    ax.axhline(0.1 * smallest, color="k", lw=0.8, ls="--", label="0.1 x smallest err")
    ax.set_xlabel("t")
    ax.set_ylabel("||u^eps - u^eps_finest|| / ||u^eps_finest||")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def cuts_plot(path: Path, cuts: Sequence[dict[str, np.ndarray]], titles: Sequence[str],
              orders: Sequence[int], *, zoom: float, full_first: bool, xlabel: str) -> None:
    """u^eps and u~^s along the cuts.  ``full_first``: one cut, whole and zoomed (Fig. 2);
    otherwise every cut zoomed (Fig. 1).  The zoom is centred on the largest |u^eps| at
    positive coordinates (the right-moving front)."""
    plt = _pyplot()
    panels = []
    for cut, title in zip(cuts, titles, strict=True):
        x = cut[next(k for k in cut if k.startswith("x"))]
        centre = x[np.argmax(np.abs(cut["u_eps"]) * (x > 0))]
        window = (x > centre - zoom) & (x < centre + zoom)
        if full_first:
            panels += [(cut, x, np.ones_like(x, bool), title), (cut, x, window, "zoom")]
        else:
            panels.append((cut, x, window, title))
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4))
    for ax, (cut, x, sel, title) in zip(np.atleast_1d(axes), panels, strict=True):
        ax.plot(x[sel], cut["u_eps"][sel], "k", lw=1.5, label="u^eps")
        for s, style in zip(orders, ("--", "-.", ":", (0, (5, 1))), strict=False):
            ax.plot(x[sel], cut[f"u_s{s}"][sel], ls=style, lw=1, label=f"u~^{s}")
        ax.set_title(title)
        ax.set_xlabel(xlabel)
    np.atleast_1d(axes)[-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
