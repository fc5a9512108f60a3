"""Forecasting many shards at once: Holt-Winters and seasonal-naive side by side, the better of
the two chosen per shard by their errors on recent history.

A full fit replays the whole history once (for every grid parameter at the same time); after it,
each new sample costs one vectorised recursion step, so a cycle over 10,000 shards is a handful of
array operations rather than 10,000 model refits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shardcast.forecast.bands import ErrorBands
from shardcast.forecast.holt_winters import GRID, HoltWintersState, initial_state

MAX_ERROR_CELLS = 8_000_000  # errors kept at once during calibration (float64: 64 MB)


@dataclass
class BatchForecaster:
    """Fitted state of n shards sharing one time grid (all histories end at the same instant)."""

    holt_winters: HoltWintersState
    recent: np.ndarray  # (n, m): the last season of samples, slot-indexed like the season state
    use_holt_winters: np.ndarray  # (n,) bool: HW beat seasonal-naive on recent history
    holt_winters_bands: ErrorBands
    naive_bands: ErrorBands
    holt_winters_mae: np.ndarray  # mean absolute error over the calibration origins and steps
    naive_mae: np.ndarray
    scale: np.ndarray  # in-sample seasonal-naive MAE: the denominator of MASE
    interval_level: float

    @property
    def size(self) -> int:
        return len(self.scale)

    @property
    def backtest_mase(self) -> np.ndarray:
        """MASE of the chosen model on recent history (below 1 beats seasonal-naive's scale)."""
        chosen = np.where(self.use_holt_winters, self.holt_winters_mae, self.naive_mae)
        return chosen / np.where(self.scale > 0, self.scale, np.nan)

    def update(self, observed: np.ndarray) -> None:
        """Absorb the next sample of every shard (NaN where a shard has none)."""
        slot = self.holt_winters.phase
        self.recent[:, slot] = np.where(np.isnan(observed), self.recent[:, slot], observed)
        self.holt_winters.step(observed)

    def forecast(self, steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Point, lower and upper bound, each (n, steps), never below zero (utilization)."""
        slots = (self.holt_winters.phase + np.arange(steps)) % self.recent.shape[1]
        point = np.where(self.use_holt_winters[:, None],
                         self.holt_winters.point(steps), self.recent[:, slots])
        bands = ErrorBands.choose(self.use_holt_winters, self.holt_winters_bands,
                                  self.naive_bands)
        lower = np.maximum(point + bands.lower[:, :steps], 0.0)
        upper = np.maximum(point + bands.upper[:, :steps], 0.0)
        return np.maximum(point, 0.0), lower, upper


def fit(history: np.ndarray, period: int, horizon_steps: int, interval_level: float,
        calibration_origins: int | None = None) -> BatchForecaster:
    """Fit every row of `history` (n, T): gap-free, on one grid, T > period + horizon."""
    rows = max(1, MAX_ERROR_CELLS // (_origins(history, period, horizon_steps,
                                                calibration_origins) * horizon_steps))
    parts = [_fit_chunk(history[i:i + rows], period, horizon_steps, interval_level,
                        calibration_origins) for i in range(0, len(history), rows)]
    return parts[0] if len(parts) == 1 else _concatenate(parts)


def _origins(history: np.ndarray, period: int, horizon: int, requested: int | None) -> int:
    """Calibration origins: about three seasons, never more than a quarter of the history."""
    wanted = requested if requested is not None else 7 * period
    return max(1, min(wanted, (history.shape[1] - period - horizon) // 2 or 1))


def _fit_chunk(history: np.ndarray, period: int, horizon: int, interval_level: float,
               calibration_origins: int | None) -> BatchForecaster:
    n, length = history.shape
    origins = _origins(history, period, horizon, calibration_origins)
    start = length - origins - horizon  # first calibration origin
    state = initial_state(history, period, GRID)
    criterion = np.zeros(state.level.shape)
    snapshot = state
    for t in range(length - horizon):
        if t == start:
            snapshot = state.copy()
        state.step(history[:, t, None])
        if t >= period:
            criterion += np.abs(history[:, t + 1, None] - state.point_at(1))
            criterion += np.abs(history[:, t + horizon, None] - state.point_at(horizon))
    best = np.argmin(criterion, axis=1)
    chosen = snapshot.take((np.arange(n), best))
    hw_errors = np.empty((origins, n, horizon))
    for k, t in enumerate(range(start, length - horizon)):
        chosen.step(history[:, t])
        hw_errors[k] = history[:, t + 1:t + 1 + horizon] - chosen.point(horizon)
    for t in range(length - horizon, length):
        chosen.step(history[:, t])
    naive_errors = _naive_errors(history, period, horizon, start, origins)
    hw_mae = np.nanmean(np.abs(hw_errors), axis=(0, 2))
    naive_mae = np.nanmean(np.abs(naive_errors), axis=(0, 2))
    recent = np.empty((n, period))
    recent[:, (length - period + np.arange(period)) % period] = history[:, -period:]
    return BatchForecaster(
        holt_winters=chosen, recent=recent, use_holt_winters=hw_mae < naive_mae,
        holt_winters_bands=ErrorBands.from_errors(hw_errors, interval_level),
        naive_bands=ErrorBands.from_errors(naive_errors, interval_level),
        holt_winters_mae=hw_mae, naive_mae=naive_mae,
        scale=naive_scale(history, period), interval_level=interval_level)


def _naive_errors(history: np.ndarray, period: int, horizon: int, start: int,
                  origins: int) -> np.ndarray:
    """actual - seasonal-naive forecast made at each origin t for t+1..t+horizon."""
    steps = np.arange(1, horizon + 1)
    back = period * np.ceil(steps / period).astype(int)  # same slot, latest season before t
    errors = np.empty((origins, len(history), horizon))
    for k in range(origins):
        t = start + k
        errors[k] = history[:, t + steps] - history[:, t + steps - back]
    return errors


def naive_scale(history: np.ndarray, period: int) -> np.ndarray:
    """Mean |y_t - y_(t-m)| in sample: MASE's denominator, the error of seasonal-naive."""
    return np.asarray(np.nanmean(np.abs(history[:, period:] - history[:, :-period]), axis=1))


def _concatenate(parts: list[BatchForecaster]) -> BatchForecaster:
    def cat(arrays: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(arrays, axis=0)

    hw = [p.holt_winters for p in parts]
    return BatchForecaster(
        holt_winters=HoltWintersState(
            cat([s.alpha for s in hw]), cat([s.beta for s in hw]), cat([s.gamma for s in hw]),
            cat([s.level for s in hw]), cat([s.trend for s in hw]),
            cat([s.season for s in hw]), hw[0].phase),
        recent=cat([p.recent for p in parts]),
        use_holt_winters=cat([p.use_holt_winters for p in parts]),
        holt_winters_bands=ErrorBands(cat([p.holt_winters_bands.lower for p in parts]),
                                      cat([p.holt_winters_bands.upper for p in parts])),
        naive_bands=ErrorBands(cat([p.naive_bands.lower for p in parts]),
                               cat([p.naive_bands.upper for p in parts])),
        holt_winters_mae=cat([p.holt_winters_mae for p in parts]),
        naive_mae=cat([p.naive_mae for p in parts]),
        scale=cat([p.scale for p in parts]), interval_level=parts[0].interval_level)
