"""`shardcast forecast`: one series' forecast, explained, from a CSV, a bundled trace or a Shard
in the cluster (its history read from Prometheus exactly as the operator reads it)."""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shardcast.api import durations
from shardcast.api.metrics import shard_query
from shardcast.forecast.context import Context
from shardcast.forecast.select import Selection, forecast, select
from shardcast.forecast.types import Forecast
from shardcast.plotting import pyplot
from shardcast.traces import TRACES, default_traces_dir, load_trace
from shardcast.traces.catalog import csv_spec

DAY_SECONDS = 86_400


@dataclass(frozen=True)
class History:
    label: str
    values: np.ndarray
    step_seconds: int
    end_seconds: int


@dataclass(frozen=True)
class Settings:
    model: str = "auto"
    horizon: str = "1h"
    history_window: str = "168h"
    seasonal_period: str = "24h"
    interval_level: float = 0.9


def from_csv(path: Path) -> History:
    spec = csv_spec(path, path.parent)
    if spec is None:
        raise ValueError(f"{path}: no numeric column to forecast")
    trace = load_trace(spec, path.parent)
    return History(str(path), trace.values, trace.step_seconds, _now(trace.step_seconds))


def from_trace(name: str) -> History:
    spec = next((t for t in TRACES if t.name == name), None)
    if spec is None:
        raise ValueError(f"unknown trace {name!r}; known: {', '.join(t.name for t in TRACES)}")
    trace = load_trace(spec, default_traces_dir())
    return History(name, trace.values, trace.step_seconds, _now(trace.step_seconds))


def from_shard(namespace: str, name: str, policy: str | None, prometheus_url: str,
               settings: Settings) -> tuple[History, Settings]:
    """The Shard's history as the operator reads it, with the policy's forecast settings."""
    from shardcast.clients import kubernetes as k8s
    from shardcast.clients.prometheus import query_history

    shard = k8s.get_custom("shards", namespace, name)
    metric = {"type": "cpu"}
    if policy:
        spec = k8s.get_custom("migrationpolicies", namespace, policy)["spec"]
        metric = spec.get("metric", metric)
        forecast_spec = spec.get("forecast", {})
        settings = Settings(forecast_spec.get("model", "auto"),
                            forecast_spec.get("horizon", "30m"),
                            forecast_spec.get("historyWindow", "168h"),
                            forecast_spec.get("seasonalPeriod", "24h"),
                            float(forecast_spec.get("intervalLevel", 0.9)))
    step = 300
    end = _now(step)
    start = end - int(durations.seconds(settings.history_window))
    query = shard_query(name, shard["spec"], metric)
    history = query_history(prometheus_url, query, start, end, step)
    return History(f"{namespace}/{name}: {query}", history.values, step, end), settings


def run(history: History, settings: Settings) -> tuple[Selection, Forecast, Context]:
    step = history.step_seconds
    window = int(durations.seconds(settings.history_window) // step)
    context = Context(step, int(durations.seconds(settings.seasonal_period) // step),
                      max(1, int(durations.seconds(settings.horizon) // step)),
                      history.end_seconds, settings.interval_level)
    values = history.values[-window:]
    chosen = select(values, context, settings.model)
    return chosen, forecast(chosen, values, context), context


def describe(history: History, chosen: Selection, predicted: Forecast, context: Context) -> str:
    lines = [f"series   {history.label} ({len(history.values)} samples, "
             f"step {history.step_seconds}s)",
             f"model    {chosen.model} (backtest MASE {chosen.backtest_mase:.3f})"]
    for result in chosen.backtests:
        lines.append(f"  {result.model:15} backtest MAE {result.mae():.4g}"
                     f"  MASE {result.mae() / chosen.scale:.3f}")
    if chosen.fallback_reason:
        lines.append(f"fallback {chosen.fallback_reason}")
    lines.append(f"{'ahead':>8} {'point':>10} {'lower':>10} {'upper':>10}   "
                 f"({predicted.interval_level:.0%} interval)")
    for step in sorted({1, *range(0, predicted.horizon_steps + 1,
                                   max(1, predicted.horizon_steps // 6))} - {0}):
        lines.append(f"{_ahead(step * context.step_seconds):>8} {predicted.point[step - 1]:10.4g} "
                     f"{predicted.lower[step - 1]:10.4g} {predicted.upper[step - 1]:10.4g}")
    peak_in = predicted.peak_step * context.step_seconds
    peak_at = datetime.datetime.fromtimestamp(context.end_seconds + peak_in, datetime.UTC)
    lines.append(f"peak     {predicted.peak:.4g} in {_ahead(peak_in)} "
                 f"({peak_at:%Y-%m-%d %H:%M} UTC); the upper bound peaks at "
                 f"{predicted.peak_upper:.4g}")
    return "\n".join(lines)


def plot(history: History, predicted: Forecast, context: Context, path: Path) -> None:
    """Recent history (24 horizons, at most two days), the forecast and its interval."""
    plt = pyplot()
    step = context.step_seconds
    shown = min(len(history.values), 2 * DAY_SECONDS // step, 24 * predicted.horizon_steps)
    past = (np.arange(-shown + 1, 1) * step) / 3600
    ahead = np.arange(1, predicted.horizon_steps + 1) * step / 3600
    figure, axes = plt.subplots(figsize=(11, 4))
    axes.plot(past, history.values[-shown:], color="0.35", linewidth=0.8, label="history")
    axes.fill_between(ahead, predicted.lower, predicted.upper, color="tab:orange", alpha=0.3,
                      label=f"{predicted.interval_level:.0%} interval")
    axes.plot(ahead, predicted.point, color="tab:orange", label=f"forecast ({predicted.model})")
    axes.axvline(0, color="0.6", linestyle=":")
    axes.set_xlabel("hours from now")
    axes.set_title(history.label, fontsize=9)
    axes.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _ahead(seconds: int) -> str:
    return f"{seconds // 60}m" if seconds < 3600 else f"{seconds / 3600:g}h"


def _now(step: int) -> int:
    return int(time.time()) // step * step
