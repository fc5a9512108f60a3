"""The shapes every model shares: what a forecast says and why one can be refused."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class ForecastRejected(ValueError):
    """A fit or forecast that must not be acted on (diverged, NaN, negative, absurd)."""


class InsufficientHistory(ValueError):
    """Too little or too gappy history to fit anything, even the seasonal-naive baseline."""


@dataclass(frozen=True)
class Forecast:
    """Predicted values for steps 1..H after the end of the history, with a prediction interval
    at `interval_level` (e.g. 0.9: the truth should fall inside 90% of the time)."""

    model: str
    step_seconds: int
    point: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    interval_level: float

    @property
    def horizon_steps(self) -> int:
        return len(self.point)

    @property
    def peak_step(self) -> int:
        """1-based step of the highest point forecast: when the planner must be done by."""
        return int(np.argmax(self.point)) + 1

    @property
    def peak(self) -> float:
        return float(self.point[self.peak_step - 1])

    @property
    def peak_upper(self) -> float:
        return float(np.max(self.upper))

    def scaled(self, factors: np.ndarray) -> Forecast:
        """The same forecast multiplied step by step (scheduled events' expected effect)."""
        return Forecast(self.model, self.step_seconds, self.point * factors,
                        self.lower * factors, self.upper * factors, self.interval_level)
