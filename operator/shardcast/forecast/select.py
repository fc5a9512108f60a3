"""Pick a model per shard by rolling-origin backtest, then forecast with it.

Every candidate is fitted on the history before the backtest window and forecasts from many
origins inside it with fixed parameters; the one with the lowest error wins, its errors become
the prediction interval, and its MASE (against seasonal-naive's in-sample error) is reported.
Anything that diverges or forecasts nonsense is rejected and seasonal-naive takes over.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from shardcast.forecast.calibration import AdaptiveInterval
from shardcast.forecast.candidates import (
    Candidate,
    CycleNaive,
    Ets,
    Fitted,
    HoltWinters,
    Persistence,
    Sarimax,
    SeasonalNaive,
)
from shardcast.forecast.context import Context
from shardcast.forecast.history import prepare
from shardcast.forecast.types import Forecast, ForecastRejected

BASELINE = SeasonalNaive()
CANDIDATES: dict[str, Candidate] = {
    c.name: c for c in (BASELINE, Persistence(), CycleNaive(), HoltWinters(), Ets(), Sarimax())}
# What a candidate may raise instead of a forecast; each makes it lose the selection.
REJECTIONS = (ForecastRejected, np.linalg.LinAlgError, ValueError)
ABSURD_FACTOR = 10.0  # a forecast ten times the largest value ever seen is a broken fit
# how much lower than seasonal-naive's a candidate's backtest error must be to replace it (best_of)
SELECTION_MARGIN = 0.15


@dataclass(frozen=True)
class Backtest:
    """How one candidate did on the backtest window."""

    model: str
    errors: np.ndarray  # (origins, H): actual - forecast
    fitted: Fitted

    def mae(self, steps: int | None = None) -> float:
        return float(np.mean(np.abs(self.errors[:, :steps])))


@dataclass(frozen=True)
class Selection:
    """The chosen model for one shard, kept until its next refit."""

    model: str
    fitted: Fitted
    interval: AdaptiveInterval  # mutable: its level follows the outcomes observed since the fit
    backtest_mase: float
    scale: float  # in-sample seasonal-naive MAE
    train_length: int
    fallback_reason: str | None
    backtests: tuple[Backtest, ...]


def backtest_origins(length: int, context: Context, stride: int) -> np.ndarray:
    """Origins over the last ~7 seasons (at most half the history), `stride` apart."""
    window = min(7 * context.period_steps, (length - 2 * context.period_steps) // 2)
    first = length - context.horizon_steps - max(window, 1)
    return np.arange(first, length - context.horizon_steps, stride)


def backtest(candidate: Candidate, history: np.ndarray, context: Context,
             origins: np.ndarray) -> Backtest:
    train = history[: origins[0] + 1]
    train_context = replace(context, end_seconds=int(context.times(len(history))[origins[0]]))
    fitted = candidate.fit(train, train_context)
    predicted = fitted.predict(history, context, origins)
    _check_bounded(candidate.name, predicted, history)
    # A dip below zero after a burst is scored as zero, as production clips it; only a
    # forecast that is far below zero at the moment it is made gets the model rejected.
    predicted = np.maximum(predicted, 0.0)
    actual = history[origins[:, None] + np.arange(1, context.horizon_steps + 1)[None, :]]
    return Backtest(candidate.name, actual - predicted, fitted)


def best_of(results: list[Backtest]) -> Backtest:
    """Lowest mean absolute error over the whole horizon, but a model must beat seasonal-naive
    by SELECTION_MARGIN to replace it: smaller wins on a few days of bursty history are mostly
    luck, and out of sample they turn into losses (bench/forecast_accuracy.py)."""
    best = min(results, key=lambda r: (r.mae(), r.model != BASELINE.name))
    baseline = next((r for r in results if r.model == BASELINE.name), None)
    if baseline is not None and best.mae() > (1.0 - SELECTION_MARGIN) * baseline.mae():
        return baseline
    return best


def select(values: np.ndarray, context: Context, model: str = "auto",
           stride: int = 6) -> Selection:
    """Backtest `model` (or, for auto, every candidate) and keep the best non-rejected one."""
    history = prepare(values, context.period_steps, context.horizon_steps)
    origins = backtest_origins(len(history), context, stride)
    names = list(CANDIDATES) if model == "auto" else [model]
    results: list[Backtest] = []
    rejected: list[str] = []
    for name in names:
        try:
            results.append(backtest(CANDIDATES[name], history, context, origins))
        except REJECTIONS as error:
            rejected.append(f"{name}: {error}")
    if not results:
        results.append(backtest(BASELINE, history, context, origins))
    best = best_of(results)
    scale = _naive_scale(history[: origins[0] + 1], context.period_steps)
    return Selection(
        model=best.model, fitted=best.fitted,
        interval=AdaptiveInterval(best.errors, context.interval_level),
        backtest_mase=best.mae() / scale if scale > 0 else float("nan"), scale=scale,
        train_length=int(origins[0]) + 1,
        fallback_reason="; ".join(rejected) or None, backtests=tuple(results))


def forecast(selection: Selection, values: np.ndarray, context: Context) -> Forecast:
    """Forecast from the end of `values`, which must start with the selection's training data
    (fixed parameters: the cheap update between refits). Scheduled events scale the result."""
    history = prepare(values, context.period_steps, context.horizon_steps)
    point = selection.fitted.predict(history, context, np.array([len(history) - 1]))[0]
    _check_bounded(selection.model, point, history)
    floor = -0.5 * float(np.mean(history))
    if np.min(point) < floor:
        raise ForecastRejected(f"{selection.model}: forecast {np.min(point):.4g} is far below "
                               "zero")
    point = np.maximum(point, 0.0)
    bands = selection.interval.bands()
    result = Forecast(selection.model, context.step_seconds, point,
                      np.maximum(point + bands.lower[0], 0.0), point + bands.upper[0],
                      context.interval_level)
    return result.scaled(context.event_factors(context.future_times()))


def _check_bounded(model: str, predicted: np.ndarray, history: np.ndarray) -> None:
    if not np.all(np.isfinite(predicted)):
        raise ForecastRejected(f"{model}: forecast is not finite")
    ceiling = ABSURD_FACTOR * max(float(np.max(np.abs(history))), 1e-9)
    if np.max(np.abs(predicted)) > ceiling:
        raise ForecastRejected(f"{model}: forecast {np.max(predicted):.4g} is absurd "
                               f"(over {ABSURD_FACTOR:g}x the largest value in the history)")


def _naive_scale(history: np.ndarray, period: int) -> float:
    return float(np.mean(np.abs(history[period:] - history[:-period])))
