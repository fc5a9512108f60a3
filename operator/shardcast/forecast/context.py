"""What a model needs to know besides the numbers: the grid, the season, the horizon, the
calendar of scheduled events."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Event:
    """A scheduled event from the policy: load is `effect` times the usual while it is active."""

    name: str
    start_seconds: int
    end_seconds: int
    effect: float

    def active(self, times_seconds: np.ndarray) -> np.ndarray:
        return (times_seconds >= self.start_seconds) & (times_seconds < self.end_seconds)


@dataclass(frozen=True)
class Context:
    """History `values[i]` was sampled at end_seconds - (len - 1 - i) * step_seconds."""

    step_seconds: int
    period_steps: int
    horizon_steps: int
    end_seconds: int
    interval_level: float = 0.9
    events: tuple[Event, ...] = field(default_factory=tuple)

    def times(self, length: int) -> np.ndarray:
        """Timestamps of a history of `length` samples ending at end_seconds."""
        return self.end_seconds - self.step_seconds * np.arange(length - 1, -1, -1)

    def future_times(self) -> np.ndarray:
        return self.end_seconds + self.step_seconds * np.arange(1, self.horizon_steps + 1)

    def event_factors(self, times_seconds: np.ndarray) -> np.ndarray:
        """Multiplier per timestamp: product of the effects of the events active then."""
        factors = np.ones(len(times_seconds))
        for event in self.events:
            factors = np.where(event.active(times_seconds), factors * event.effect, factors)
        return factors
