"""One policy's planning pass: forecasts in, a Plan out, published in the policy's status and,
unless the policy is dry-run, as ShardMigrations (awaiting approval when propose-only).

Shards without a forecast do not stop the pass: their nodes are closed to arriving moves (their
load is unknown) and every other shard is planned. Nodes a shard may not go to (cordoned, not
Ready, tainted against its workload) are closed the same way, with the reason in status."""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from shardcast.api import decisions, quantity
from shardcast.api.conditions import rfc3339
from shardcast.api.nodes import NodeState, Toleration, closed_to_moves
from shardcast.api.policy_settings import allocatable_resource, planner_settings, threshold_bounds
from shardcast.migration.model import KPI_REGRESSION, Phase
from shardcast.planner.cost import FLAP_WINDOWS
from shardcast.planner.model import Plan, PlannerSettings, Snapshot
from shardcast.planner.outcome_window import FinishedMove, Window
from shardcast.planner.plan import plan
from shardcast.planner.threshold import Threshold, adapt
from shardcast.reconcile.policy_forecast import PassResult
from shardcast.reconcile.ports import MigrationWriter


class CapacityUnavailable(ValueError):
    """The policy's capacity source cannot say how much a node holds."""


@dataclass
class AdaptiveThreshold:
    """A policy's adaptive threshold between cycles. It lives in the operator's memory and is
    restored from status.threshold after a restart; the outcome window starts afresh, and only
    moves that finished since then are judged (each once, whichever window first sees it)."""

    threshold: Threshold
    window: Window
    changed_at: str
    learning_since: float

    @classmethod
    def start(cls, spec: Mapping[str, Any], status: Mapping[str, Any],
              now: float) -> AdaptiveThreshold:
        written = status.get("threshold") or {}
        if written.get("reason", CONFIGURED) != CONFIGURED and "current" in written:
            return cls(Threshold(written["current"] / 100, written["reason"]), Window(now),
                       str(written.get("changedAt", "")), now)
        configured = (spec.get("threshold") or {}).get("utilization", 80) / 100
        return cls(Threshold(configured, CONFIGURED), Window(now), "", now)

    def learn(self, spec: Mapping[str, Any], settings: PlannerSettings,
              nodes: list[dict[str, Any]], migrations: list[decisions.KnownMigration],
              loads: Mapping[str, float], capacities: Mapping[str, float], now: float) -> None:
        """Fold this cycle into the window; once a cooldown has passed, adjust (or not)."""
        bounds = threshold_bounds(spec)
        assert bounds is not None, "only policies with threshold.adaptive.enabled adapt"
        since = self.window.started_seconds
        relieved = {m.source for m in migrations if not m.dry_run
                    and (m.finished_seconds is None or m.finished_seconds >= since)}
        finished = [_finished(m, loads, capacities) for m in migrations
                    if m.finished_seconds and m.finished_seconds >= self.learning_since
                    and _judgeable(m, loads, capacities)]
        self.window = self.window.observe({n["name"]: n["utilization"] / 100 for n in nodes},
                                          relieved, finished, self.threshold.current,
                                          bounds.max_step)
        if now - since < settings.cooldown_seconds:
            return
        changed = adapt(self.threshold, self.window.outcomes(), bounds)
        if changed is not self.threshold:
            self.threshold = changed
            self.changed_at = rfc3339(datetime.datetime.fromtimestamp(now, datetime.UTC))
        self.window = self.window.next(now)


CONFIGURED = "spec.threshold.utilization"


def _judgeable(migration: decisions.KnownMigration, loads: Mapping[str, float],
               capacities: Mapping[str, float]) -> bool:
    """A move that made the KPIs worse, or one that landed and can be weighed against its
    source's load now."""
    if migration.phase == Phase.ROLLED_BACK:
        return migration.reason == KPI_REGRESSION
    return (migration.phase == Phase.ACTIVE and migration.shard in loads
            and bool(capacities.get(migration.source)))


def _finished(migration: decisions.KnownMigration, loads: Mapping[str, float],
              capacities: Mapping[str, float]) -> FinishedMove:
    rolled_back = migration.phase == Phase.ROLLED_BACK  # judged by its KPIs, not its load
    load = 0.0 if rolled_back else loads[migration.shard] / capacities[migration.source]
    return FinishedMove(f"{migration.shard}@{migration.created_seconds}", migration.source,
                        load, kpi_regression=rolled_back)


@dataclass(frozen=True)
class Planned:
    fields: dict[str, Any]  # status fields of the policy
    moves: int
    created: list[str]


@dataclass(frozen=True)
class _Decided:
    settings: PlannerSettings
    capacities: dict[str, float]
    closed: dict[str, str]  # node -> why no move may arrive there
    shards: dict[str, decisions.ShardForecast]
    snapshot: Snapshot
    chosen: Plan


async def plan_policy(name: str, spec: Mapping[str, Any], result: PassResult,
                      shard_specs: Mapping[str, Mapping[str, Any]],
                      shard_nodes: Mapping[str, str], nodes: Mapping[str, NodeState],
                      tolerations: Collection[tuple[Toleration, ...]],
                      migrations: list[decisions.KnownMigration], creator: MigrationWriter,
                      adaptive: AdaptiveThreshold | None = None) -> Planned:
    """Plan in a worker thread (thousands of shards are seconds of numpy), create the chosen
    ShardMigrations, then render status in a worker thread again. `tolerations` are those of
    the shards' workloads: a node one of them may not use takes no moves."""
    decided = await asyncio.to_thread(_decide, spec, result, shard_specs, shard_nodes,
                                      nodes, tolerations, migrations, adaptive)
    mode = str(spec.get("mode", "propose-only"))
    created: dict[str, str] = {}
    if mode != "dry-run":
        metric = str((spec.get("metric") or {}).get("type", "cpu"))
        horizon = (spec.get("forecast") or {}).get("horizon", "30m")
        for move in decided.chosen.moves:
            body = decisions.migration_manifest(name, move, decided.shards[move.shard], mode,
                                                metric, horizon, decided.settings)
            await creator.create(body)
            created[move.shard] = body["metadata"]["name"]
    fields = await asyncio.to_thread(_render, decided, spec, result, migrations, created,
                                     adaptive)
    return Planned(fields, len(decided.chosen.moves), list(created.values()))


def _decide(spec: Mapping[str, Any], result: PassResult,
            shard_specs: Mapping[str, Mapping[str, Any]], shard_nodes: Mapping[str, str],
            nodes: Mapping[str, NodeState], tolerations: Collection[tuple[Toleration, ...]],
            migrations: list[decisions.KnownMigration],
            adaptive: AdaptiveThreshold | None) -> _Decided:
    settings = planner_settings(spec, result.step_seconds,
                                adaptive.threshold.current if adaptive else None)
    capacities = _capacities(spec, nodes)
    shards = {n: decisions.ShardForecast(
        n, shard_nodes[n], int(shard_specs[n].get("sizeBytes", 0)),
        bool(shard_specs[n].get("pinned", False)), f.now, f.forecast, result.end_seconds)
        for n, f in result.forecast.items() if shard_nodes.get(n) in capacities}
    unknown = {shard_nodes[n]: "a shard here has no forecast, so the node's load is unknown"
               for n in result.failed if n in shard_nodes}
    unusable = closed_to_moves({n: nodes[n] for n in capacities}, tolerations)
    shut = {**unknown, **unusable}
    snapshot = decisions.snapshot(list(shards.values()), capacities, migrations, time.time(),
                                  FLAP_WINDOWS * settings.cooldown_seconds, closed=shut)
    return _Decided(settings, capacities, shut, shards, snapshot, plan(snapshot, settings))


def _render(decided: _Decided, spec: Mapping[str, Any], result: PassResult,
            migrations: list[decisions.KnownMigration], created: dict[str, str],
            adaptive: AdaptiveThreshold | None) -> dict[str, Any]:
    settings, chosen = decided.settings, decided.chosen
    mode = str(spec.get("mode", "propose-only"))
    nodes = decisions.node_status(decided.snapshot, settings, result.end_seconds,
                                  decided.closed)
    overloaded = any(n["predictedPeak"] > settings.threshold * 100 for n in nodes)
    fields = {
        "decisions": decisions.decisions(chosen, decided.shards, settings, created),
        "nodes": nodes,
        "whyNothingMoved": decisions.why_nothing_moved(chosen, mode, overloaded),
        "threshold": {"current": round(settings.threshold * 100, 2), "reason": CONFIGURED},
    }
    if adaptive is not None:
        adaptive.learn(spec, settings, nodes, migrations,
                       {n: f.now for n, f in result.forecast.items()}, decided.capacities,
                       time.time())
        fields["threshold"] = {"current": round(adaptive.threshold.current * 100, 2),
                               "reason": adaptive.threshold.reason,
                               **({"changedAt": adaptive.changed_at} if adaptive.changed_at
                                  else {})}
    return fields


def _capacities(spec: Mapping[str, Any], nodes: Mapping[str, NodeState]) -> dict[str, float]:
    capacity = spec.get("capacity") or {}
    source = capacity.get("source", "NodeAllocatable")
    if source == "Fixed":
        value = quantity.parse(capacity["value"])
        return dict.fromkeys(nodes, value)
    if source == "NodeAllocatable":
        resource = allocatable_resource(spec)
        if resource is None:
            metric = (spec.get("metric") or {}).get("type", "cpu")
            raise CapacityUnavailable(f"nodes do not report allocatable {metric}; set "
                                      "spec.capacity.source to Fixed or Prometheus")
        return {name: quantity.parse(node.allocatable[resource])
                for name, node in nodes.items() if resource in node.allocatable}
    raise CapacityUnavailable("spec.capacity.source Prometheus is not supported in this "
                              "shardcast version; use NodeAllocatable or Fixed")
