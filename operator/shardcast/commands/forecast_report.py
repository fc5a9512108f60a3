"""`shardcast forecast`: one series' forecast, explained, from a CSV, a bundled trace or a Shard
in the cluster (its history read from Prometheus as the operator reads it: the policy's step,
window, horizon and events, through the same batched reader), with every per-shard candidate's
backtest beside the pick the operator's batch forecast makes."""

from __future__ import annotations

import asyncio
import datetime
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from shardcast.api.metrics import query_of
from shardcast.api.policy_spec import ForecastSpec, PolicySpec
from shardcast.commands.plotting import pyplot
from shardcast.forecast import batch
from shardcast.forecast.context import Context
from shardcast.forecast.history import prepare
from shardcast.forecast.select import Selection, forecast, select
from shardcast.forecast.types import Forecast
from shardcast.traces import TRACES, default_traces_dir, load_trace
from shardcast.traces.catalog import csv_spec

DAY_SECONDS = 86_400


@dataclass(frozen=True)
class History:
    label: str
    values: np.ndarray
    step_seconds: int
    end_seconds: int


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
               settings: ForecastSpec) -> tuple[History, ForecastSpec]:
    """The Shard's history as the operator reads it, with the policy's forecast settings."""
    from shardcast.clients import kubernetes as k8s
    from shardcast.clients.prometheus_batch import read_batch

    shard = k8s.get_custom("shards", namespace, name)
    spec = PolicySpec.from_dict({"forecast": {}})
    if policy:
        spec = PolicySpec.from_dict(k8s.get_custom("migrationpolicies", namespace, policy)["spec"])
        settings = spec.forecast
    step = settings.step_seconds
    end = settings.grid_end(time.time())
    query = query_of(name, shard["spec"], spec.metric)
    read = asyncio.run(read_batch(prometheus_url, [query],
                                  end - settings.history_window_seconds, end, step))
    if name in read.failed:
        raise RuntimeError(read.failed[name])
    return History(f"{namespace}/{name}: {query.promql}", read.values[name], step, end), settings


def run(history: History, settings: ForecastSpec) -> tuple[Selection, Forecast, Context]:
    settings = replace(settings, step_seconds=history.step_seconds)
    context = settings.context(history.end_seconds)
    values = history.values[-settings.window_points:]
    chosen = select(values, context, settings.model)
    return chosen, forecast(chosen, values, context), context


def operator_pick(history: History, settings: ForecastSpec) -> tuple[str, float]:
    """The model the operator's batch forecast picks for this history, and its MASE."""
    from shardcast.reconcile.policy_forecast import MODELS

    settings = replace(settings, step_seconds=history.step_seconds)
    values = prepare(history.values[-settings.window_points:], settings.period_steps,
                     settings.horizon_steps)
    fitted = batch.fit(values[None, :], settings.period_steps, settings.horizon_steps,
                       settings.interval_level, models=MODELS[settings.model])
    return fitted.model_names[0], float(fitted.backtest_mase[0])


def describe(history: History, chosen: Selection, predicted: Forecast, context: Context,
             pick: tuple[str, float]) -> str:
    lines = [f"series   {history.label} ({len(history.values)} samples, "
             f"step {history.step_seconds}s)",
             f"model    {chosen.model} (backtest MASE {chosen.backtest_mase:.3f})",
             f"operator {pick[0]} (its batch forecast's pick; backtest MASE {pick[1]:.3f})"]
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
