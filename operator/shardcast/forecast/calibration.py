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
