"""Make a raw history fit to model, or say why it is not: bad metrics must never trigger a move."""

from __future__ import annotations

import numpy as np

from shardcast.forecast.types import InsufficientHistory

MAX_MISSING_FRACTION = 0.2


def prepare(values: np.ndarray, period_steps: int, horizon_steps: int) -> np.ndarray:
    """Interpolate interior gaps; refuse a history that is short, mostly missing, stale (its
    last sample missing) or negative (utilization cannot be)."""
    clean, refused = prepare_rows(np.asarray(values, dtype=float)[None, :], period_steps,
                                  horizon_steps)
    if refused:
        raise InsufficientHistory(refused[0])
    return np.asarray(clean[0])


def prepare_rows(values: np.ndarray, period_steps: int,
                 horizon_steps: int) -> tuple[np.ndarray, dict[int, str]]:
    """`prepare` for every row of `values` (n, T) at once: the rows fit to model with interior
    gaps interpolated, and why each refused row (by index) was refused. Refused rows are left
    as they were; only the gappy ones are interpolated one by one."""
    values = np.asarray(values, dtype=float)
    refused: dict[int, str] = {}
    needed = 2 * period_steps + 2 * horizon_steps
    if values.shape[1] < needed:
        reason = (f"{values.shape[1]} samples, need at least {needed} "
                  "(two seasons plus two horizons)")
        return values, dict.fromkeys(range(len(values)), reason)
    known = np.isfinite(values)
    missing = 1.0 - known.mean(axis=1)
    negative = np.any(np.where(known, values, 0.0) < 0, axis=1)
    for row in np.flatnonzero(missing > MAX_MISSING_FRACTION):
        refused[int(row)] = (f"{missing[row]:.0%} of the history is missing "
                             f"(at most {MAX_MISSING_FRACTION:.0%} is tolerated)")
    for row in np.flatnonzero(~known[:, -1]):
        refused.setdefault(int(row), "the latest sample is missing: the series is stale")
    for row in np.flatnonzero(negative):
        refused.setdefault(int(row), "the history has negative values; utilization cannot")
    clean = values.copy()
    index = np.arange(values.shape[1])
    for row in np.flatnonzero(missing > 0):
        if int(row) not in refused:
            clean[row] = np.interp(index, index[known[row]], values[row, known[row]])
    return clean, refused
