"""Exogenous columns for SARIMAX: Fourier terms carry long seasons (a week at 5-minute steps is
2016 lags, far beyond seasonal ARIMA), event indicators keep past campaigns out of the fit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shardcast.forecast.context import Context, Event

DAILY_HARMONICS = 4
WEEKLY_HARMONICS = 2
WEEK_SECONDS = 7 * 86_400


def fourier(times_seconds: np.ndarray, period_seconds: int, harmonics: int) -> np.ndarray:
    """sin/cos pairs of absolute time, so columns line up across refits and origins."""
    angle = 2 * np.pi * (times_seconds % period_seconds) / period_seconds
    return np.column_stack([wave(k * angle) for k in range(1, harmonics + 1)
                            for wave in (np.sin, np.cos)])


@dataclass(frozen=True)
class Columns:
    """Which regressors a fit used; predictions must build exactly the same columns."""

    weekly: bool
    events: tuple[Event, ...]

    @classmethod
    def for_history(cls, context: Context, length: int) -> Columns:
        """The daily season always, the weekly one when two weeks of history show it, and one
        pulse per event that overlaps the history."""
        history_seconds = length * context.step_seconds
        start = context.end_seconds - history_seconds
        return cls(history_seconds >= 2 * WEEK_SECONDS,
                   tuple(e for e in context.events
                         if e.start_seconds <= context.end_seconds and e.end_seconds > start))

    def design(self, times_seconds: np.ndarray, context: Context) -> np.ndarray:
        """Rows for `times_seconds`. Pulses are zero after context.end_seconds: the future effect
        of an event comes from the policy's expectedEffect, applied to every model alike."""
        columns = [fourier(times_seconds, context.period_steps * context.step_seconds,
                           DAILY_HARMONICS)]
        if self.weekly:
            columns.append(fourier(times_seconds, WEEK_SECONDS, WEEKLY_HARMONICS))
        observed = times_seconds <= context.end_seconds
        columns.extend((event.active(times_seconds) & observed)[:, None].astype(float)
                       for event in self.events)
        return np.hstack(columns)
