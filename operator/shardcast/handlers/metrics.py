"""/metrics (prometheus-client): what the operator forecast, decided and moved, and what failed.

Served only when SHARDCAST_METRICS_ADDRESS (host:port) is set, so several operator processes on
one machine (tests, the demo) never fight over a port.
"""

from __future__ import annotations

import os
import time
from typing import Any

import kopf
import prometheus_client as prom

from shardcast.api.kinds import GROUP, MIGRATIONS, POLICIES, SHARDS, VERSION

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
ADDRESS = "SHARDCAST_METRICS_ADDRESS"


@kopf.on.startup()
def serve_metrics(logger: kopf.Logger, **_: Any) -> None:
    address = os.environ.get(ADDRESS)
    if address:
        host, port = address.rsplit(":", 1)
        prom.start_http_server(int(port), addr=host)
        logger.info(f"metrics at http://{address}/metrics")


def _watched(kind: str) -> Any:
    def seen(**_: Any) -> None:
        LAST_WATCH_EVENT.labels(kind).set(time.time())
    return seen


for _plural in (SHARDS, POLICIES, MIGRATIONS):
    kopf.on.event(GROUP, VERSION, _plural, id=f"watch-{_plural}")(_watched(_plural))
