"""A node's load over the horizon as a distribution, not a point: the sum of its shards' point
forecasts, spread by their interval widths added in quadrature (as independent errors would
add). What the planner weighs a target by: the minutes it is expected to spend over the
threshold, which is never quite zero for a busy node and so keeps the headroom of idle ones."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri


def band_z(level: float) -> float:
    """How many standard deviations above the point a two-sided `level` interval's upper bound
    lies (1.645 for 90%)."""
    return float(ndtri(0.5 + level / 2.0))


def minutes_over(point: np.ndarray, spread: np.ndarray, capacity: np.ndarray | float,
                 threshold: float, z: float, step_minutes: float) -> np.ndarray:
    """Expected minutes over `threshold` x capacity within the horizon, per row of `point`
    (nodes x steps; `spread` is the summed squared band width, so sqrt(spread) / z is the
    standard deviation). A step without spread counts whole or not at all."""
    limit = threshold * np.asarray(capacity, dtype=float)
    limit = limit[:, None] if point.ndim == 2 and limit.ndim == 1 else limit
    sigma = np.sqrt(np.maximum(spread, 0.0)) / z
    excess = point - limit
    with np.errstate(divide="ignore", invalid="ignore"):
        chance = np.where(sigma > 0, ndtr(excess / np.where(sigma > 0, sigma, 1.0)),
                          (excess > 0).astype(float))
    return np.asarray(chance.sum(axis=-1) * step_minutes)


def expected_overload(point: np.ndarray, spread: np.ndarray, capacity: np.ndarray | float,
                      threshold: float, z: float) -> np.ndarray:
    """E[max(utilization - threshold, 0)] at every step (the shape of `point`): how far over
    the threshold a node is expected to be, its forecast's uncertainty included. A point
    forecast that reverts towards the mean shows a node just over the threshold as back under
    within a step or two; the expectation keeps the chance that it stays over."""
    capacity = np.asarray(capacity, dtype=float)
    capacity = capacity[:, None] if point.ndim == 2 and capacity.ndim == 1 else capacity
    excess = point / capacity - threshold
    sigma = np.sqrt(np.maximum(spread, 0.0)) / z / capacity
    safe = np.where(sigma > 0, sigma, 1.0)
    d = excess / safe
    smooth = sigma * np.exp(-0.5 * d * d) / np.sqrt(2 * np.pi) + excess * ndtr(d)
    return np.asarray(np.where(sigma > 0, smooth, np.maximum(excess, 0.0)))
