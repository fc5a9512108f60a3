"""Which PromQL reads a shard's usage of the metric a policy forecasts (spec.metrics contract)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TEMPLATES = {
    "cpu": "shardcast_shard_cpu_cores{$labels}",
    "memory": "shardcast_shard_memory_bytes{$labels}",
    "io": "shardcast_shard_io_bytes_per_second{$labels}",
}


class MetricNotConfigured(ValueError):
    """The policy forecasts a metric the shard gives no way to read."""


def shard_query(shard_name: str, shard_spec: Mapping[str, Any],
                policy_metric: Mapping[str, Any]) -> str:
    """The shard's own query if it has one, else the template with its label matchers (by
    default shard="<name>")."""
    metric_type = str(policy_metric.get("type", "cpu"))
    source = (shard_spec.get("metrics") or {}).get(metric_type) or {}
    if "query" in source:
        return str(source["query"])
    labels = source.get("labels") or {"shard": shard_name}
    template = policy_metric.get("query") if metric_type == "custom" else TEMPLATES[metric_type]
    if not template:
        raise MetricNotConfigured(f"policy metric {metric_type} has no query")
    matchers = ",".join(f'{k}="{_escape(str(v))}"' for k, v in sorted(labels.items()))
    return str(template).replace("$labels", matchers)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
