"""Additive Holt-Winters with damped trend, run for many series at once with numpy.

statsmodels fits one series at a time (~50 ms each for ETS); an operator forecasting thousands of
shards every few minutes needs the recursion vectorised across shards instead. The smoothing
parameters are chosen per series from a small grid by multi-step error, since the planner acts on
the horizon, not on the next sample, and one-step error rewards chasing noise.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

ALPHAS = (0.03, 0.1, 0.25, 0.5, 0.8)
BETAS = (0.0, 0.01)
GAMMAS = (0.02, 0.15, 0.4)
PHI = 0.9
# Columns: alpha, beta, gamma, and whether the series has a season at all. The non-seasonal rows
# (plain damped-trend smoothing) win on noisy traces where yesterday says little about today.
GRID = np.array([*itertools.product(ALPHAS, BETAS, GAMMAS, (1.0,)),
                 *itertools.product(ALPHAS, BETAS, (0.0,), (0.0,))])
MAX_HORIZON_STEPS = 4096
DAMPING = np.cumsum(PHI ** np.arange(1, MAX_HORIZON_STEPS + 1))


@dataclass
class HoltWintersState:
    """Smoothing state of n series that share one time grid; `phase` is the season slot of the
    next sample. Mutated in place by `step` so a steady-state cycle allocates almost nothing."""

    alpha: np.ndarray
    beta: np.ndarray
    gamma: np.ndarray
    level: np.ndarray
    trend: np.ndarray
    season: np.ndarray  # (m, *shape): slot first, so a step touches one contiguous slice
    phase: int

    @property
    def period(self) -> int:
        return int(self.season.shape[0])

    def step(self, observed: np.ndarray) -> np.ndarray:
        """Absorb one sample per series (NaN: no news, state coasts); returns one-step errors."""
        slot = self.phase
        seasonal = self.season[slot]
        damped = PHI * self.trend
        error = observed - (self.level + damped + seasonal)
        error = np.where(np.isnan(error), 0.0, error)
        self.level += damped + self.alpha * error
        self.trend = damped + self.beta * error
        self.season[slot] = seasonal + self.gamma * error
        self.phase = (slot + 1) % self.period
        return error

    def point(self, steps: int) -> np.ndarray:
        """Point forecasts for steps 1..steps, shape (*shape, steps)."""
        slots = (self.phase + np.arange(steps)) % self.period
        point: np.ndarray = (self.level[..., None] + DAMPING[:steps] * self.trend[..., None]
                             + np.moveaxis(self.season[slots], 0, -1))
        return point

    def point_at(self, step: int) -> np.ndarray:
        """The forecast `step` samples ahead only: cheaper than `point` inside a fit loop."""
        slot = (self.phase + step - 1) % self.period
        point: np.ndarray = self.level + DAMPING[step - 1] * self.trend + self.season[slot]
        return point

    def take(self, index: tuple[np.ndarray, ...] | np.ndarray) -> HoltWintersState:
        """A sub-batch chosen by an index over the leading axes (numpy copies the arrays)."""
        slots: tuple[Any, ...] = (slice(None), *(index if isinstance(index, tuple) else (index,)))
        return HoltWintersState(self.alpha[index], self.beta[index], self.gamma[index],
                                self.level[index], self.trend[index], self.season[slots],
                                self.phase)

    def copy(self) -> HoltWintersState:
        return HoltWintersState(self.alpha.copy(), self.beta.copy(), self.gamma.copy(),
                                self.level.copy(), self.trend.copy(), self.season.copy(),
                                self.phase)


def initial_state(history: np.ndarray, period: int, params: np.ndarray) -> HoltWintersState:
    """Level and season from the first (up to two) seasons of `history` (n, T), for every series
    and every parameter row at once: state arrays have shape (n, len(params))."""
    seasons = max(1, min(2, history.shape[1] // period))
    head = history[:, : seasons * period].reshape(len(history), seasons, period)
    season = np.nan_to_num(np.nanmean(head - np.nanmean(head, axis=2, keepdims=True), axis=1))
    level = np.nan_to_num(np.nanmean(history[:, :period], axis=1))
    shape = (len(history), len(params))
    return HoltWintersState(
        alpha=np.broadcast_to(params[:, 0], shape).copy(),
        beta=np.broadcast_to(params[:, 1], shape).copy(),
        gamma=np.broadcast_to(params[:, 2], shape).copy(),
        level=np.repeat(level[:, None], len(params), axis=1),
        trend=np.zeros(shape),
        season=np.ascontiguousarray((season[:, None, :] * params[None, :, 3, None])
                                    .transpose(2, 0, 1)), phase=0)
