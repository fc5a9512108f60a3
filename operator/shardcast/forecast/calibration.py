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
    # Bounds promised for instants not yet observed: target time -> (lower, upper).
    pending: dict[int, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.miss_rate = 1.0 - self.target

    @property
    def level(self) -> float:
        return float(np.clip(1.0 - self.miss_rate, 0.0, 0.999))

    def bands(self) -> ErrorBands:
        return ErrorBands.from_errors(self.errors[:, None, :], self.level)

    def observe(self, covered: bool) -> None:
        self.miss_rate += self.rate * ((1.0 - self.target) - (0.0 if covered else 1.0))

    def expect(self, target_seconds: int, lower: float, upper: float) -> None:
        """Remember a promise to check once the outcome at `target_seconds` is known."""
        self.pending.setdefault(target_seconds, (lower, upper))

    def settle(self, values: np.ndarray, start_seconds: int, step_seconds: int) -> int:
        """Check every promise whose instant `values` (a grid from start_seconds) now covers;
        returns how many were settled. Missing outcomes are dropped, not counted as hits."""
        end = start_seconds + (len(values) - 1) * step_seconds
        settled = 0
        for target in sorted(t for t in self.pending if t <= end):
            lower, upper = self.pending.pop(target)
            index = (target - start_seconds) // step_seconds
            if 0 <= index < len(values) and np.isfinite(values[index]):
                self.observe(bool(lower <= values[index] <= upper))
                settled += 1
        return settled
