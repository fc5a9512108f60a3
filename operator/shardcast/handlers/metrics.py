"""/metrics (prometheus-client): what the operator forecast, decided and moved, and what failed.

Served only when SHARDCAST_METRICS_ADDRESS (host:port; config.Settings.metrics_address) is set,
so several operator processes on one machine (tests, the demo) never fight over a port.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import kopf
import prometheus_client as prom

from shardcast.api.kinds import GROUP, MIGRATIONS, POLICIES, SHARDS, VERSION
from shardcast.handlers.memo import shared_of
from shardcast.reconcile.policy_cycle import CycleOutcome

FORECAST_MASE = prom.Gauge(
    "shardcast_forecast_backtest_mase", "Backtest MASE of the model chosen for a shard (lower "
    "is better; 1 = as good as seasonal-naive)", ["namespace", "shard", "model"])
FORECAST_FAILURES = prom.Counter(
    "shardcast_forecast_failures_total", "Shards left without a forecast in a policy cycle",
    ["namespace", "policy"])
DECISIONS = prom.Counter(
    "shardcast_decisions_total", "Planner decisions per policy cycle", ["namespace", "policy",
                                                                         "action"])
MIGRATION_PHASES = prom.Counter(
    "shardcast_migration_phase_entered_total", "Migrations entering each phase (the terminal "
    "phases Active, RolledBack and Failed count outcomes)", ["namespace", "phase"])
PHASE_SECONDS = prom.Histogram(
    "shardcast_migration_phase_seconds", "Time a migration spent in a phase", ["phase"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600))
DEPENDENCY_ERRORS = prom.Counter(
    "shardcast_dependency_errors_total", "Calls that failed, by dependency",
    ["dependency"])
LAST_WATCH_EVENT = prom.Gauge(
    "shardcast_last_watch_event_timestamp_seconds", "When the last watch event of a kind "
    "arrived; time() minus this is its age", ["kind"])
CYCLE_SECONDS = prom.Gauge(
    "shardcast_policy_cycle_seconds", "Wall time of the policy's last evaluation, from the "
    "Prometheus read to the last write", ["namespace", "policy"])
CYCLES = prom.Counter(
    "shardcast_policy_cycles_total", "Policy evaluations; forecast: new samples were read "
    "and forecast, idle: the grid had not advanced and nothing was due", ["namespace", "policy",
                                                                          "work"])
SHARDS_FORECAST = prom.Gauge(
    "shardcast_policy_shards_forecast", "Selected shards that have a forecast",
    ["namespace", "policy"])
PROMETHEUS_REQUESTS = prom.Counter(
    "shardcast_prometheus_requests_total", "Range queries sent to Prometheus by policy cycles",
    ["namespace", "policy"])
PROMETHEUS_SAMPLES = prom.Counter(
    "shardcast_prometheus_samples_total", "Samples received from Prometheus by policy cycles",
    ["namespace", "policy"])
PREDICTION_WRITES = prom.Counter(
    "shardcast_prediction_writes_total", "Shard status.prediction patches (only predictions "
    "that changed materially or aged are written)", ["namespace", "policy"])
REFITS = prom.Counter("shardcast_forecast_refits_total", "Shards whose model was fully refitted",
                      ["namespace", "policy"])
CHALLENGES = prom.Counter(
    "shardcast_forecast_challenges_total", "Shards whose statsmodels challengers (ETS, SARIMAX) "
    "were fitted and backtested in the background pool; won: one replaced the batch model",
    ["outcome"])
LOOP_LAG_MAX = prom.Gauge(
    "shardcast_event_loop_lag_seconds_max", "The longest a 100 ms ticker on the operator's "
    "event loop has run late since start: how long the loop was blocked")
TICK_SECONDS = 0.1


@kopf.on.startup()
def serve_metrics(memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    address = shared_of(memo).settings.metrics_address
    if address is not None:
        host, port = address
        prom.start_http_server(port, addr=host)
        logger.info(f"metrics at http://{host}:{port}/metrics")


@kopf.on.startup()
async def watch_event_loop(memo: kopf.Memo, **_: Any) -> None:
    """A ticker whose lateness is the event loop's lag (held in the memo so it is not
    garbage-collected; it ends with the loop)."""
    async def tick() -> None:
        worst = 0.0
        while True:
            began = time.monotonic()
            await asyncio.sleep(TICK_SECONDS)
            late = time.monotonic() - began - TICK_SECONDS
            if late > worst:
                worst = late
                LOOP_LAG_MAX.set(late)

    shared_of(memo).tasks.append(asyncio.create_task(tick()))


def record_cycle(namespace: str, policy: str, cycle: CycleOutcome, seconds: float) -> None:
    cost = cycle.cost
    CYCLE_SECONDS.labels(namespace, policy).set(seconds)
    CYCLES.labels(namespace, policy, "forecast" if cost.forecast_work else "idle").inc()
    SHARDS_FORECAST.labels(namespace, policy).set(cycle.outcome.forecast)
    PROMETHEUS_REQUESTS.labels(namespace, policy).inc(cost.requests)
    PROMETHEUS_SAMPLES.labels(namespace, policy).inc(cost.samples)
    PREDICTION_WRITES.labels(namespace, policy).inc(cost.written)
    REFITS.labels(namespace, policy).inc(cost.refitted)
    for outcome in ("won", "lost", "failed"):
        CHALLENGES.labels(outcome).inc(getattr(cost.challenges, outcome))
    if cost.forecast_work and cycle.outcome.failed:
        FORECAST_FAILURES.labels(namespace, policy).inc(len(cycle.outcome.failed))
    for shard, (model, mase) in cycle.models.items():
        if math.isfinite(mase):
            FORECAST_MASE.labels(namespace, shard, model).set(mase)
    for decision in cycle.fields.get("decisions", []):
        DECISIONS.labels(namespace, policy, decision["action"]).inc()


def _watched(kind: str) -> Any:
    def seen(**_: Any) -> None:
        LAST_WATCH_EVENT.labels(kind).set(time.time())
    return seen


def shard_seen() -> None:
    """Shards come through shardcast's own informer: kopf watching them would cost a worker
    per Shard, and would take away the finalizer it finds no kopf handler needing."""
    LAST_WATCH_EVENT.labels(SHARDS).set(time.time())


for _plural in (POLICIES, MIGRATIONS):
    kopf.on.event(GROUP, VERSION, _plural, id=f"watch-{_plural}")(_watched(_plural))
