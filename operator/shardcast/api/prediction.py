"""Shard.status.prediction: what the forecast says at the end of the horizon and at its peak."""

from __future__ import annotations

import datetime
import math
from typing import Any

from shardcast.api.conditions import rfc3339
from shardcast.forecast.types import Forecast


def prediction_status(forecast: Forecast, *, policy: str, metric: str, horizon: str,
                      end_seconds: int, computed_at: datetime.datetime,
                      backtest_mase: float, fallback_reason: str | None) -> dict[str, Any]:
    peak_time = datetime.datetime.fromtimestamp(
        end_seconds + forecast.peak_step * forecast.step_seconds, datetime.UTC)
    status: dict[str, Any] = {
        "policy": policy, "model": forecast.model, "metric": metric, "horizon": horizon,
        "computedAt": rfc3339(computed_at),
        "point": _shown(forecast.point[-1]), "lower": _shown(forecast.lower[-1]),
        "upper": _shown(forecast.upper[-1]), "intervalLevel": forecast.interval_level,
        "peak": _shown(forecast.peak), "peakTime": rfc3339(peak_time),
        "fallbackReason": (fallback_reason or "")[:1024],
    }
    if math.isfinite(backtest_mase):
        status["backtestMASE"] = round(backtest_mase, 3)
    return status


def _shown(value: float) -> float:
    """Four significant digits: what a forecast can claim, and what fits a printer column."""
    return float(f"{float(value):.4g}")
