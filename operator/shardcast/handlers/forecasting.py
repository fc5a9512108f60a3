"""One policy's forecasting pass: read each selected shard's history from Prometheus, refit the
shards that are due (staggered), forecast the rest with their fitted parameters, and publish the
result in each Shard's status.prediction. Any failure leaves that shard without a prediction,
never with a guess."""

from __future__ import annotations

import asyncio
import datetime
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shardcast.api import durations
from shardcast.api.conditions import parse_rfc3339
from shardcast.api.kinds import GROUP, SHARDS, VERSION
from shardcast.api.metrics import MetricNotConfigured, shard_query
from shardcast.api.prediction import prediction_status
from shardcast.clients import kubernetes as k8s
from shardcast.clients.prometheus import MetricsUnavailable, query_history_async
from shardcast.forecast.context import Context, Event
from shardcast.forecast.refits import due_refits
from shardcast.forecast.select import Selection, forecast, select
from shardcast.forecast.types import Forecast, ForecastRejected, InsufficientHistory
from shardcast.handlers import metrics
from shardcast.handlers.settings import RESYNC_SECONDS

DAY_SECONDS = 86_400


@dataclass
class ShardModel:
    """A shard's fitted model; until its next refit, histories are read from `start_seconds`
    so they begin with the data the parameters were fitted on."""

    selection: Selection
    start_seconds: int
    fitted_at: float


@dataclass
class PassResult:
    forecast: dict[str, Forecasted] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    end_seconds: int = 0
    step_seconds: int = 300


@dataclass(frozen=True)
class Forecasted:
    forecast: Forecast
    now: float  # the latest observed value


def prometheus_url() -> str | None:
    return os.environ.get("SHARDCAST_PROMETHEUS_URL") or None


async def forecast_shards(namespace: str, policy_name: str, spec: Mapping[str, Any],
                          shard_specs: Mapping[str, Mapping[str, Any]],
                          models: dict[str, ShardModel], url: str) -> PassResult:
    settings = spec.get("forecast") or {}
    step = int(durations.seconds(settings.get("step", "5m")))
    horizon = settings.get("horizon", "30m")
    context = Context(
        step_seconds=step,
        period_steps=max(2, int(durations.seconds(settings.get("seasonalPeriod", "24h")) // step)),
        horizon_steps=max(1, int(durations.seconds(horizon) // step)),
        end_seconds=int(time.time()) // step * step,
        interval_level=float(settings.get("intervalLevel", 0.9)),
        events=tuple(_event(e) for e in settings.get("events", [])))
    window = int(durations.seconds(settings.get("historyWindow", "168h")))
    retrain = durations.seconds(settings.get("retrainInterval", "1h"))
    now = time.time()
    refit = set(due_refits({name: models[name].fitted_at if name in models else None
                            for name in shard_specs}, now, retrain, RESYNC_SECONDS))
    result = PassResult(end_seconds=context.end_seconds, step_seconds=step)
    metric = spec.get("metric") or {"type": "cpu"}
    for name, shard_spec in sorted(shard_specs.items()):
        start = (context.end_seconds - window if name in refit or name not in models
                 else models[name].start_seconds)
        try:
            query = shard_query(name, shard_spec, metric)
            history = await query_history_async(url, query, start, context.end_seconds, step)
            if name in refit or name not in models:
                selection = await asyncio.to_thread(select, history.values, context,
                                                    settings.get("model", "auto"))
                models[name] = ShardModel(selection, start, now)
            model = models[name].selection
            model.interval.settle(history.values, start, step)
            try:
                predicted = forecast(model, history.values, context)
            except ForecastRejected as error:
                model = await asyncio.to_thread(select, history.values, context,
                                                "seasonal-naive")
                model = _with_reason(model, str(error))
                predicted = forecast(model, history.values, context)
        except (MetricsUnavailable, InsufficientHistory, MetricNotConfigured) as error:
            result.failed[name] = str(error)
            metrics.FORECAST_FAILURES.labels(namespace, policy_name).inc()
            if isinstance(error, MetricsUnavailable):
                metrics.DEPENDENCY_ERRORS.labels("prometheus").inc()
            continue
        model.interval.expect(context.end_seconds + context.horizon_steps * step,
                              float(predicted.lower[-1]), float(predicted.upper[-1]))
        status = prediction_status(
            predicted, policy=policy_name, metric=str(metric.get("type", "cpu")),
            horizon=horizon, end_seconds=context.end_seconds,
            computed_at=datetime.datetime.now(datetime.UTC),
            backtest_mase=model.backtest_mase, fallback_reason=model.fallback_reason)
        await k8s.patch_status(GROUP, VERSION, SHARDS, namespace, name, {"prediction": status})
        if "backtestMASE" in status:
            metrics.FORECAST_MASE.labels(namespace, name, predicted.model).set(
                status["backtestMASE"])
        observed = history.values[np.isfinite(history.values)]
        result.forecast[name] = Forecasted(predicted, float(observed[-1]))
    return result


def _event(raw: Mapping[str, Any]) -> Event:
    def at(value: str) -> int:
        return int(parse_rfc3339(value).timestamp())

    return Event(str(raw["name"]), at(raw["start"]), at(raw["end"]),
                 float(raw["expectedEffect"]))


def _with_reason(selection: Selection, reason: str) -> Selection:
    from dataclasses import replace

    return replace(selection, fallback_reason=reason)
