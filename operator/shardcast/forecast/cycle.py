"""Cycles shorter than a season: a cron job every hour, a batch every twenty minutes.

Many shards repeat within the hour, not only over the day: a VM's hourly job, a cache flushed
every half hour. Seasonal-naive a day back carries the day-old level of that cycle, persistence
the load now, which is right at whole multiples of the cycle and wrong between them (an hourly
cycle that persistence forecasts perfectly at exactly 60 minutes and badly at 5 to 55). The
same point one cycle back is right all along the horizon.

The cycles tried divide the season (the policy's `seasonalPeriod`), so a cycle holds a whole
number of times per season, as cron schedules do: at 5-minute steps over a day, 10 minutes to
12 hours. A shard's cycle is the one whose forecast (the latest sample at the same point of
the cycle) has the lowest error on its history, averaged over the horizon's steps; whether that
forecast beats the other models is then decided by the backtest, like any model's.
"""

from __future__ import annotations

import numpy as np


def candidates(period: int) -> np.ndarray:
    """The cycles tried, in steps: every divisor of the season from 2 to half of it (a cycle
    of one step is persistence, a cycle of the season is seasonal-naive)."""
    return np.array([c for c in range(2, period // 2 + 1) if period % c == 0], dtype=int)


def lags(cycle: np.ndarray, steps: int) -> np.ndarray:
    """How far back the same point of the cycle was last observed, (n, steps) for a cycle per
    row (n,): the next whole number of cycles at or past each step ahead."""
    ahead = np.arange(1, steps + 1)
    return np.asarray(cycle[:, None] * np.ceil(ahead[None, :] / cycle[:, None]), dtype=int)


def detect(history: np.ndarray, period: int, horizon: int) -> np.ndarray:
    """Each row's cycle (n,) in steps, from its history (n, T): the candidate whose forecast
    has the lowest mean absolute error in sample over horizon steps 1..horizon. The season
    itself when it has no divisor to try."""
    tried = candidates(period)
    if len(tried) == 0:
        return np.full(len(history), period)
    per_lag: dict[int, np.ndarray] = {}  # a lag's error is shared by every cycle that uses it
    error = np.empty((len(history), len(tried)))
    for k, cycle in enumerate(tried):
        back = lags(np.array([cycle]), horizon)[0]
        for lag in set(back.tolist()) - per_lag.keys():
            per_lag[lag] = np.nanmean(np.abs(history[:, lag:] - history[:, :-lag]), axis=1)
        error[:, k] = np.mean([per_lag[lag] for lag in back], axis=0)
    return np.asarray(tried[np.argmin(np.where(np.isnan(error), np.inf, error), axis=1)])
