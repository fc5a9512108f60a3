"""A policy's trafficShift as the migration machine's settings, and its KPI queries per shard."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shardcast.api.durations import seconds
from shardcast.migration.model import KpiLimits, ShiftSettings

KPI_FIELDS = {"latency": "latency_seconds", "errorRate": "error_rate",
              "throughput": "throughput"}


def shift_settings(policy_spec: Mapping[str, Any]) -> ShiftSettings:
    shift = policy_spec.get("trafficShift") or {}
    kpis = shift.get("kpis") or {}
    latency, errors, throughput = (kpis.get(k) or {} for k in ("latency", "errorRate",
                                                                  "throughput"))
    return ShiftSettings(
        steps=tuple(int(s) for s in shift.get("steps", (10, 50, 100))),
        gate_seconds=seconds(shift.get("gateWindow", "2m")),
        limits=KpiLimits(latency_max_seconds=latency.get("maxSeconds"),
                         latency_max_increase_percent=latency.get("maxIncreasePercent"),
                         error_rate_max=errors.get("max"),
                         throughput_min_ratio=throughput.get("minRatio")))


def kpi_queries(policy_spec: Mapping[str, Any], namespace: str, shard: str, source: str,
                target: str) -> dict[str, str]:
    """Kpis field -> PromQL, with $shard, $namespace, $source and $target filled in."""
    kpis = (policy_spec.get("trafficShift") or {}).get("kpis") or {}
    values = {"$namespace": namespace, "$shard": shard, "$source": source, "$target": target}
    queries = {}
    for name, field in KPI_FIELDS.items():
        query = (kpis.get(name) or {}).get("query")
        if query:
            for placeholder, value in values.items():
                query = query.replace(placeholder, value)
            queries[field] = query
    return queries
