"""Intervals that keep their promise as the load changes: adaptive conformal inference
(Gibbs & Candès, 2021). Backtest errors set the band's shape; the level they are cut at moves
with every outcome seen, up after a miss and slightly down after a hit, so over time the
share of outcomes inside the band tracks the target even when the backtest window was calmer
or wilder than today."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from shardcast.forecast.bands import ErrorBands

DEFAULT_RATE = 0.02  # per outcome; outcomes arrive once per grid step


@dataclass
class AdaptiveInterval:
    errors: np.ndarray  # (origins, H): actual - forecast of the chosen model in its backtest
    target: float
    rate: float = DEFAULT_RATE
    miss_rate: float = field(init=False)  # the alpha of ACI: 1 - level in use

    def __post_init__(self) -> None:
        self.miss_rate = 1.0 - self.target

    @property
    def level(self) -> float:
        return float(np.clip(1.0 - self.miss_rate, 0.0, 0.999))

    def bands(self) -> ErrorBands:
        return ErrorBands.from_errors(self.errors[:, None, :], self.level)

    def observe(self, covered: bool) -> None:
        self.miss_rate += self.rate * ((1.0 - self.target) - (0.0 if covered else 1.0))


WIDTH_RATE = 0.2  # log-width change per outcome of the band's last step (docs/forecasting.md)


@dataclass
class AdaptiveWidth:
    """The same feedback for a batch of n shards, cheap enough for 10,000 of them: no errors
    kept per shard, only a log-scale factor on each shard's band, widened after an outcome
    outside the band issued for it and narrowed a little after one inside, so each shard's
    share of outcomes inside tracks the target whether the days since its fit are calmer or
    wilder than the days it was calibrated on. Outcomes are those of the band's last step
    (the horizon the planner acts on); `pending` holds the bounds issued for the samples to
    come, row 0 for the next one."""

    log_width: np.ndarray  # (n,)
    pending: np.ndarray  # (depth, 2, n): lower and upper issued for each coming sample, NaN: none
    target: float
    rate: float = WIDTH_RATE

    @classmethod
    def fresh(cls, n: int, depth: int, target: float) -> AdaptiveWidth:
        return cls(np.zeros(n), np.full((depth, 2, n), np.nan), target)

    @property
    def factor(self) -> np.ndarray:
        return np.asarray(np.exp(self.log_width))

    def issued(self, ahead: int, lower: np.ndarray, upper: np.ndarray) -> None:
        """Bounds (n,) just forecast for the sample `ahead` steps on (1: the next)."""
        self.pending[ahead - 1] = lower, upper

    def observe(self, observed: np.ndarray) -> None:
        """The next sample of every row (NaN where none): scored against the bounds issued for
        it, then the queue moves one sample on."""
        lower, upper = self.pending[0]
        known = ~np.isnan(observed) & ~np.isnan(lower)
        miss = (observed < lower) | (observed > upper)
        self.log_width += np.where(known, self.rate * (miss - (1.0 - self.target)), 0.0)
        self.pending = np.roll(self.pending, -1, axis=0)
        self.pending[-1] = np.nan

    def take(self, rows: np.ndarray) -> AdaptiveWidth:
        return AdaptiveWidth(self.log_width[rows], self.pending[:, :, rows], self.target,
                             self.rate)

    @staticmethod
    def concatenate(parts: list[AdaptiveWidth]) -> AdaptiveWidth:
        return AdaptiveWidth(np.concatenate([p.log_width for p in parts]),
                             np.concatenate([p.pending for p in parts], axis=2),
                             parts[0].target, parts[0].rate)
