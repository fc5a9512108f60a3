"""A statsmodels model reduced to what forecasting and updating need: its parameters and its
state at the latest sample, a few KiB, where a results object holds the whole history it was
fitted on. Both are linear recursions, so a new sample is one step and nothing is replayed.

Missing samples (NaN) carry no news: the state coasts, as the batch Holt-Winters' does."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from shardcast.forecast.context import Context
from shardcast.forecast.regressors import Columns


class CompactState(Protocol):
    def advanced(self, values: np.ndarray, context: Context) -> CompactState:
        """The state after absorbing `values`, the samples ending at context.end_seconds."""
        ...

    def point(self, context: Context) -> np.ndarray:
        """Point forecast for steps 1..H after context.end_seconds."""
        ...


@dataclass(frozen=True)
class EtsState:
    """ETS(A,Ad,A) in statsmodels' error-correction form: level, damped slope and one season
    of slots, `season[0]` the slot of the next sample."""

    alpha: float
    beta: float
    gamma: float
    phi: float
    level: float
    slope: float
    season: np.ndarray  # (m,)

    def advanced(self, values: np.ndarray, context: Context) -> EtsState:
        level, slope, season = self.level, self.slope, self.season.copy()
        for slot, observed in enumerate(values):
            slot %= len(season)
            damped = self.phi * slope
            error = observed - (level + damped + season[slot])
            error = 0.0 if np.isnan(error) else float(error)
            level += damped + self.alpha * error
            slope = damped + self.beta * error
            season[slot] += self.gamma * error
        return replace(self, level=level, slope=slope,
                       season=np.roll(season, -len(values)))

    def point(self, context: Context) -> np.ndarray:
        steps = np.arange(1, context.horizon_steps + 1)
        damping = np.cumsum(self.phi ** steps)
        return np.asarray(self.level + damping * self.slope
                          + self.season[(steps - 1) % len(self.season)])


@dataclass(frozen=True)
class SarimaxState:
    """SARIMAX as statsmodels' state space: y_t = x_t . coefficients + design . a_t, with the
    Kalman filter in its steady state (the gain converges within a day of samples, so the
    stored gain updates exactly what `extend` would, without the covariance recursion)."""

    coefficients: np.ndarray  # (k,) regression on `columns`
    columns: Columns
    transition: np.ndarray  # (s, s)
    design: np.ndarray  # (s,)
    gain: np.ndarray  # (s,) steady-state Kalman gain
    state: np.ndarray  # (s,) the predicted state of the next sample

    def advanced(self, values: np.ndarray, context: Context) -> SarimaxState:
        regression = self.columns.design(context.times(len(values)), context) @ self.coefficients
        state = self.state
        for observed, mean in zip(values, regression, strict=True):
            innovation = observed - mean - self.design @ state
            state = self.transition @ state + (0.0 if np.isnan(innovation)
                                               else innovation) * self.gain
        return replace(self, state=state)

    def point(self, context: Context) -> np.ndarray:
        regression = self.columns.design(context.future_times(), context) @ self.coefficients
        state, point = self.state, np.empty(context.horizon_steps)
        for step in range(context.horizon_steps):
            point[step] = regression[step] + self.design @ state
            state = self.transition @ state
        return point
