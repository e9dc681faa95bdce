"""Plot <m>(t) of muMAG standard problem 4 runs (``femhomog llg demos/sp4/field*.toml``).

Usage::

    .venv/bin/python demos/sp4/plot.py results/sp4/field1 [results/sp4/field2] [--out sp4.png]

One panel per run directory (its ``averages.csv``: the field phase, t = 0 at the
field switch-on), with <mx>, <my>, <mz> against t in ns.  A panel whose run has
the field-1 field gets a dashed line at the published first zero crossing of
<mx> (0.14 ns) and a marker at the crossing of the run.  The relaxed S-state
(last row of ``relax.csv``) is printed in the panel title.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from femhomog.io.plotting import agg_pyplot
from femhomog.micromag.experiments.sp4 import (
    FIELD1_T,
    REF_FIELD1_CROSSING_NS,
    first_zero_crossing,
    read_table,
)


def _is_field1(run_dir: Path) -> bool:
    try:
        cfg = json.loads((run_dir / "run.json").read_text())["config"]
        h = [float(v) for v in cfg["zeeman"]["h"]]
        return cfg["zeeman"]["unit"] == "T" and all(
            abs(a - b) < 1e-6 for a, b in zip(h, FIELD1_T, strict=True))
    except (OSError, KeyError, ValueError, TypeError):
        return "field1" in run_dir.name


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="output directories of SP4 runs")
    parser.add_argument("--out", type=Path, default=None,
                        help="PNG file (default: sp4.png in the first run's parent directory)")
    args = parser.parse_args(argv)
    out = args.out or args.runs[0].parent / "sp4.png"
    plt = agg_pyplot(str(out))
    if plt is None:
        raise SystemExit(1)
    fig, axes = plt.subplots(len(args.runs), 1, figsize=(8, 3.4 * len(args.runs)),
                             squeeze=False, sharex=True)
    for ax, run in zip(axes[:, 0], args.runs, strict=True):
        data = read_table(run / "averages.csv")
        t_ns = data["t"] * 1e9
        for key, color in (("mx", "C0"), ("my", "C1"), ("mz", "C2")):
            ax.plot(t_ns, data[key], color=color, label=f"<{key}>")
        title = run.name
        relax_csv = run / "relax.csv"
        if relax_csv.is_file():
            rel = read_table(relax_csv)
            if len(rel["mx"]):
                title += (f"  (relaxed S-state <m> = ({rel['mx'][-1]:.3f}, {rel['my'][-1]:.3f}, "
                          f"{rel['mz'][-1]:.3f}))")
        crossing = first_zero_crossing(t_ns, data["mx"])
        if _is_field1(run):
            ax.axvline(REF_FIELD1_CROSSING_NS, color="k", ls="--", lw=0.8,
                       label=f"reference <mx> = 0 at {REF_FIELD1_CROSSING_NS} ns")
        if crossing is not None:
            ax.plot([crossing], [0.0], "ko", ms=4, label=f"<mx> = 0 at {crossing:.4f} ns")
            print(f"{run}: first zero crossing of <mx> at {crossing:.4f} ns")
        ax.axhline(0.0, color="0.7", lw=0.5)
        ax.set_ylabel("<m>")
        ax.set_ylim(-1.05, 1.05)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=8, loc="lower left")
    axes[-1, 0].set_xlabel("t (ns)")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    main()
