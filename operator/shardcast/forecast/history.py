"""Make a raw history fit to model, or say why it is not: bad metrics must never trigger a move."""

from __future__ import annotations

import numpy as np

from shardcast.forecast.types import InsufficientHistory

MAX_MISSING_FRACTION = 0.2


def prepare(values: np.ndarray, period_steps: int, horizon_steps: int) -> np.ndarray:
    """Interpolate interior gaps; refuse a history that is short, mostly missing, stale (its
    last sample missing) or negative (utilization cannot be)."""
    values = np.asarray(values, dtype=float)
    needed = 2 * period_steps + 2 * horizon_steps
    if len(values) < needed:
        raise InsufficientHistory(
            f"{len(values)} samples, need at least {needed} (two seasons plus two horizons)")
    known = np.isfinite(values)
    missing = 1.0 - known.mean()
    if missing > MAX_MISSING_FRACTION:
        raise InsufficientHistory(f"{missing:.0%} of the history is missing "
                                  f"(at most {MAX_MISSING_FRACTION:.0%} is tolerated)")
    if not known[-1]:
        raise InsufficientHistory("the latest sample is missing: the series is stale")
    if np.any(values[known] < 0):
        raise InsufficientHistory("the history has negative values; utilization cannot")
    if missing == 0:
        return values
    index = np.arange(len(values))
    return np.asarray(np.interp(index, index[known], values[known]))
