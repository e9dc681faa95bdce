"""matplotlib for figure files: the Agg backend (no display), optional dependency.

The demos write PNG figures next to their tables when matplotlib is installed
(the ``plot`` extra, installed by ``make venv``); the tables are the results,
the figures a convenience, so a missing matplotlib is a message, not an error.
"""

from __future__ import annotations

from typing import Any

__all__ = ["agg_pyplot"]


def agg_pyplot(what: str = "figure") -> Any | None:
    """``matplotlib.pyplot`` on the Agg backend, or None (with a message) if not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no display
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"matplotlib is not installed: {what} not written")
        return None
    return plt
