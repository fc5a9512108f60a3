"""One policy's planning pass: forecasts in, a Plan out, published in the policy's status and,
unless the policy is dry-run, as ShardMigrations (awaiting approval when propose-only)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shardcast.api import decisions, quantity
from shardcast.api.kinds import MIGRATIONS
from shardcast.api.policy_settings import planner_settings
from shardcast.clients import kubernetes as k8s
from shardcast.handlers.forecasting import PassResult
from shardcast.planner.plan import plan

ALLOCATABLE = {"cpu": "cpu", "memory": "memory"}


class CapacityUnavailable(ValueError):
    """The policy's capacity source cannot say how much a node holds."""


@dataclass(frozen=True)
class Planned:
    fields: dict[str, Any]  # status fields of the policy
    moves: int
    created: list[str]


async def plan_policy(namespace: str, name: str, spec: Mapping[str, Any], result: PassResult,
                      shard_specs: Mapping[str, Mapping[str, Any]],
                      shard_nodes: Mapping[str, str],
                      node_allocatable: Mapping[str, Mapping[str, str]],
                      migrations: list[decisions.KnownMigration]) -> Planned:
    settings = planner_settings(spec, result.step_seconds)
    metric = str((spec.get("metric") or {}).get("type", "cpu"))
    capacities = _capacities(spec, metric, node_allocatable)
    shards = {n: decisions.ShardForecast(
        n, shard_nodes[n], int(shard_specs[n].get("sizeBytes", 0)),
        bool(shard_specs[n].get("pinned", False)), f.now, f.forecast, result.end_seconds)
        for n, f in result.forecast.items() if shard_nodes.get(n) in capacities}
    snapshot = decisions.snapshot(list(shards.values()), capacities, migrations, time.time())
    chosen = plan(snapshot, settings)
    mode = str(spec.get("mode", "propose-only"))
    created: dict[str, str] = {}
    if mode != "dry-run":
        horizon = (spec.get("forecast") or {}).get("horizon", "30m")
        for move in chosen.moves:
            body = decisions.migration_manifest(name, move, shards[move.shard], mode, metric,
                                                horizon, settings)
            await k8s.create_custom(MIGRATIONS, namespace, body)
            created[move.shard] = body["metadata"]["name"]
    nodes = decisions.node_status(snapshot, settings, result.end_seconds)
    overloaded = any(n["predictedPeak"] > settings.threshold * 100 for n in nodes)
    fields = {
        "decisions": decisions.decisions(chosen, shards, settings, created),
        "nodes": nodes,
        "whyNothingMoved": decisions.why_nothing_moved(chosen, mode, overloaded),
        "threshold": {"current": round(settings.threshold * 100, 2),
                      "reason": "spec.threshold.utilization"},
    }
    return Planned(fields, len(chosen.moves), list(created.values()))


def _capacities(spec: Mapping[str, Any], metric: str,
                node_allocatable: Mapping[str, Mapping[str, str]]) -> dict[str, float]:
    capacity = spec.get("capacity") or {}
    source = capacity.get("source", "NodeAllocatable")
    if source == "Fixed":
        value = quantity.parse(capacity["value"])
        return dict.fromkeys(node_allocatable, value)
    if source == "NodeAllocatable":
        resource = ALLOCATABLE.get(metric)
        if resource is None:
            raise CapacityUnavailable(f"nodes do not report allocatable {metric}; set "
                                      "spec.capacity.source to Fixed or Prometheus")
        return {node: quantity.parse(allocatable[resource])
                for node, allocatable in node_allocatable.items() if resource in allocatable}
    raise CapacityUnavailable("spec.capacity.source Prometheus is not supported in this "
                              "shardcast version; use NodeAllocatable or Fixed")
