"""Between the cluster and the planner: a policy's shards, forecasts and migrations as a
Snapshot; the Plan as status.decisions, status.nodes, whyNothingMoved and ShardMigrations."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from shardcast.api.conditions import find, parse_rfc3339, rfc3339
from shardcast.api.kinds import GROUP, VERSION
from shardcast.forecast.types import Forecast
from shardcast.migration.model import UNFINISHED, Phase
from shardcast.planner.model import (
    Move,
    MoveRecord,
    NodeView,
    Plan,
    PlannerSettings,
    ShardView,
    Snapshot,
)
from shardcast.planner.risk import band_z, minutes_over

POLICY_LABEL = f"{GROUP}/policy"


@dataclass(frozen=True)
class ShardForecast:
    name: str
    node: str
    size_bytes: int
    pinned: bool
    now: float
    forecast: Forecast
    end_seconds: int

    def series(self) -> tuple[np.ndarray, np.ndarray]:
        return (np.concatenate([[self.now], self.forecast.point]),
                np.concatenate([[self.now], self.forecast.upper]))


@dataclass(frozen=True)
class KnownMigration:
    """A ShardMigration as the index holds it."""

    shard: str
    source: str
    target: str
    phase: str
    created_seconds: float
    finished_seconds: float | None
    dry_run: bool
    reason: str = ""  # of its Ready condition: why it is in its phase
    created_by: str = ""  # the policy that created it (its POLICY_LABEL); "" if made by hand

    @property
    def ended_seconds(self) -> float | None:
        """When an ended migration ended (its creation if no phase time says); None if not."""
        if self.phase in UNFINISHED:
            return None
        return self.finished_seconds or self.created_seconds


def snapshot(shards: list[ShardForecast], capacities: Mapping[str, float],
             migrations: list[KnownMigration], now_seconds: float, memory_seconds: float,
             closed: Collection[str] = ()) -> Snapshot:
    """Unfinished migrations are in flight until they end (their end is unknown: never within
    the horizon); finished ones count for cooldown and flapping from when they started, for
    `memory_seconds` (the planner's flapping window): older ones would only lengthen the scans
    the planner makes per shard. `closed` nodes take no moves."""
    views = []
    for s in shards:
        load, upper = s.series()
        views.append(ShardView(s.name, s.node, s.size_bytes, load, upper, s.pinned))
    far = now_seconds + 10 * 86_400
    moves = tuple(MoveRecord(m.shard, m.source, m.target, m.created_seconds,
                             far if m.phase in UNFINISHED else (m.finished_seconds or far))
                  for m in migrations if not m.dry_run and m.phase != Phase.FAILED
                  and (m.phase in UNFINISHED
                       or now_seconds - m.created_seconds < memory_seconds))
    nodes = tuple(NodeView(name, capacity, name not in closed)
                  for name, capacity in sorted(capacities.items()))
    return Snapshot(now_seconds, nodes, tuple(views), moves)


def decisions(plan: Plan, shards: Mapping[str, ShardForecast], settings: PlannerSettings,
              migrations: Mapping[str, str]) -> list[dict[str, Any]]:
    """status.decisions: each move (with the ShardMigration created for it), then scale-outs."""
    entries: list[dict[str, Any]] = []
    for move in plan.moves:
        shard = shards[move.shard]
        entry = {"shard": move.shard, "action": "move", "from": move.source, "to": move.target,
                 "reason": move.reason[:1024], "threshold": round(settings.threshold * 100, 2),
                 "predictedPeak": round(move.source_peak * 100, 2),
                 "cost": round(move.cost.total, 3),
                 "peakTime": _at(shard.end_seconds + move.peak_in_seconds)}
        if move.shard in migrations:
            entry["migration"] = migrations[move.shard]
        entries.append(entry)
    entries += [{"shard": "", "action": "scale-out", "reason": why[:1024]}
                for why in plan.scale_out]
    return entries[:50]


def why_nothing_moved(plan: Plan, mode: str, overloaded: bool) -> str:
    if plan.moves:
        return {"dry-run": "dry-run: moves are recorded in status.decisions, never proposed",
                "propose-only": "moves proposed; ShardMigrations await approval"}.get(mode, "")
    if plan.scale_out:
        return plan.scale_out[0][:1024]
    if not overloaded:
        return "no node is projected over the threshold within the horizon"
    return ("; ".join(plan.rejected[:3]) or "no move would relieve the projected overload")[:1024]


def node_status(snapshot_: Snapshot, settings: PlannerSettings, end_seconds: int,
                closed: Mapping[str, str]) -> list[dict[str, Any]]:
    """status.nodes: each node's load now and projected peak; `closed` nodes (node -> why)
    say why no move may arrive there."""
    entries = []
    by_node: dict[str, list[ShardView]] = {}
    for shard in snapshot_.shards:
        by_node.setdefault(shard.node, []).append(shard)
    z = band_z(settings.interval_level)
    for node in snapshot_.nodes:
        mine = by_node.get(node.name, [])
        if mine:
            point = np.sum([s.load for s in mine], axis=0)
            spread = np.sum([(s.upper - s.load) ** 2 for s in mine], axis=0)
        else:
            point = spread = np.zeros(1)
        band = np.sqrt(spread) if settings.trigger == "upper" else 0.0
        projected = (point + band) / node.capacity
        peak = int(np.argmax(projected))
        over = minutes_over(point[1:], spread[1:], node.capacity, settings.threshold, z,
                            settings.step_seconds / 60)
        entry = {
            "name": node.name, "capacity": node.capacity,
            "utilization": round(float(point[0] / node.capacity) * 100, 2),
            "predictedPeak": round(float(projected[peak]) * 100, 2),
            "peakTime": _at(end_seconds + peak * settings.step_seconds),
            "minutesOverThreshold": round(float(over), 1),
            "shards": len(mine)}
        if node.name in closed:
            entry["closed"] = closed[node.name][:256]
        entries.append(entry)
    return entries[:256]


def migration_manifest(policy: str, move: Move, shard: ShardForecast, mode: str, metric: str,
                       horizon: str, settings: PlannerSettings) -> dict[str, Any]:
    """The ShardMigration for an accepted proposal; its name is stable per shard, source,
    target and forecast instant, so a retried evaluation cannot create it twice."""
    digest = hashlib.sha1(f"{move.shard}/{move.source}/{move.target}/{shard.end_seconds}"
                          .encode()).hexdigest()[:6]
    forecast = shard.forecast
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "ShardMigration",
        "metadata": {"name": f"{move.shard}-{digest}"[:253], "labels": {POLICY_LABEL: policy}},
        "spec": {
            "shard": move.shard, "source": move.source, "target": move.target,
            "policy": policy, "approval": "Approved" if mode == "auto" else "Pending",
            "reason": {"metric": metric, "model": forecast.model, "horizon": horizon,
                       "predictedPeak": round(move.source_peak * 100, 2),
                       "peakTime": _at(shard.end_seconds + move.peak_in_seconds),
                       "threshold": round(settings.threshold * 100, 2),
                       "message": move.reason[:1024]},
            "cost": {"transferSeconds": round(move.cost.transfer_seconds, 3),
                     "unavailabilitySeconds": round(settings.cutover_seconds, 3),
                     "cascade": round(move.cost.cascade_minutes, 3),
                     "flapping": move.cost.recent_moves,
                     "total": round(move.cost.total, 3)}}}


def known_migration(spec: Mapping[str, Any], status: Mapping[str, Any],
                    meta: Mapping[str, Any]) -> KnownMigration:
    def seconds(value: str) -> float:
        return parse_rfc3339(value).timestamp()

    phase = str(status.get("phase", Phase.PENDING.value))
    ended = next((t.get("startedAt") for t in status.get("phaseTimes", [])
                  if t.get("phase") == phase and phase not in UNFINISHED), None)
    ready = find(status.get("conditions", []), "Ready")
    return KnownMigration(str(spec["shard"]), str(spec["source"]), str(spec["target"]), phase,
                          seconds(meta.get("creationTimestamp", "")),
                          seconds(ended) if ended else None, bool(spec.get("dryRun")),
                          str(ready.get("reason", "")),
                          str((meta.get("labels") or {}).get(POLICY_LABEL, "")))


def _at(seconds: float) -> str:
    return rfc3339(datetime.datetime.fromtimestamp(seconds, datetime.UTC))

