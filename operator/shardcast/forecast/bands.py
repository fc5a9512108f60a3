"""Prediction intervals from the model's own recent forecast errors (split-conformal style).

Model-based intervals assume Gaussian, homoscedastic errors; utilization traces are bursty and
skewed, so their nominal 90% rarely covers 90%. Quantiles of the signed errors each model made
on recent history, per horizon step, are calibrated by construction and cost one sort.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ErrorBands:
    """Offsets added to a point forecast, per series and horizon step: shape (n, H)."""

    lower: np.ndarray
    upper: np.ndarray

    @classmethod
    def from_errors(cls, errors: np.ndarray, level: float) -> ErrorBands:
        """`errors` has shape (origins, n, H) holding actual - forecast (NaN where unknown)."""
        tail = (1.0 - level) / 2.0
        low, high = np.nanquantile(errors, [tail, 1.0 - tail], axis=0)
        # An interval that narrows further out is an artefact of few samples, not knowledge.
        low = np.minimum.accumulate(np.minimum(low, 0.0), axis=-1)
        high = np.maximum.accumulate(np.maximum(high, 0.0), axis=-1)
        return cls(np.nan_to_num(low), np.nan_to_num(high))

    def take(self, rows: np.ndarray) -> ErrorBands:
        return ErrorBands(self.lower[rows], self.upper[rows])

    @staticmethod
    def concatenate(parts: list[ErrorBands]) -> ErrorBands:
        return ErrorBands(np.concatenate([p.lower for p in parts]),
                          np.concatenate([p.upper for p in parts]))

    @staticmethod
    def choose(mask: np.ndarray, if_true: ErrorBands, if_false: ErrorBands) -> ErrorBands:
        pick = mask[:, None]
        return ErrorBands(np.where(pick, if_true.lower, if_false.lower),
                          np.where(pick, if_true.upper, if_false.upper))
