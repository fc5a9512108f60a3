"""matplotlib, only when a plot is asked for (it is an optional extra)."""

from __future__ import annotations

from typing import Any


def pyplot() -> Any:
    """matplotlib.pyplot on a file-only backend, or a clear exit saying how to install it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise SystemExit("plotting needs matplotlib: pip install 'shardcast[plot]'") from error
    return plt
