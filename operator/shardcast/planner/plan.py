"""From a snapshot to an ordered list of moves, each with its reason and cost.

Each node's load over the horizon is projected from its shards' forecasts: the sum of their
point forecasts plus, when the policy triggers on the upper bound, the node's own upper band,
sqrt(sum of the shards' squared band widths). Summing the shards' upper bounds instead would
assume every shard peaks at once and see overload everywhere. Moves in flight land when they
finish and load both ends with their copy until then.

A node is overloaded when that projection passes the threshold within the horizon. For each
overloaded node, most severe first, every movable shard is tried against every node that stays
under threshold - hysteresis with it (copy included) for the whole horizon. What a move
relieves is the source's *expected* overload (risk.py): utilization over the threshold in
expectation under the node's band, step by step. A point forecast that reverts to the mean shows
a node just over the threshold as back under a step or two later, too soon for any copy to land;
the expectation keeps the chance that it stays over. A move must land while expected overload
remains and must remove more of it than its copy adds. Of the moves that
bring the node back under the threshold the cheapest wins; if none does, the one with the most
relief per cost. Between the targets of one shard the cascade term decides: the minutes each is
expected to spend over the threshold with it (risk.py), so an idle node beats a busy one. When
no node can take any of its shards, the plan asks for more replicas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from shardcast.planner.cost import FLAP_WINDOWS, cost, recent_moves
from shardcast.planner.model import Move, MoveRecord, Plan, PlannerSettings, ShardView, Snapshot
from shardcast.planner.risk import band_z, expected_overload, minutes_over


@dataclass
class _Projection:
    """Per-node point load and squared band width over the horizon, (nodes, steps)."""

    names: list[str]
    capacity: np.ndarray
    point: np.ndarray
    spread: np.ndarray  # sum of squared (upper - point) of the node's shards
    band: float  # 1 when the policy acts on the upper bound, 0 on the point forecast

    def index(self, node: str) -> int:
        return self.names.index(node)

    def utilization(self, point: np.ndarray, spread: np.ndarray,
                    node: int | None = None) -> np.ndarray:
        """Projected utilization of every node (rows of `point`), or of `node` alone."""
        risk = point + self.band * np.sqrt(np.maximum(spread, 0.0))
        capacity = self.capacity[:, None] if node is None else self.capacity[node]
        return np.asarray(risk / capacity)

    def expected_overload(self, point: np.ndarray, spread: np.ndarray, node: int,
                          threshold: float, z: float) -> np.ndarray:
        """`node`'s expected utilization over `threshold` at each step (risk.py). A policy that
        acts on the upper bound counts the bound's excess: the overload it chose to act on."""
        if self.band:
            return np.maximum(self.utilization(point, spread, node) - threshold, 0.0)
        return expected_overload(point, spread, self.capacity[node], threshold, z)

    def move(self, shard: ShardView, lead: int, copy: float
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every node's (point, spread) as a target of `shard`, and the source's, if it moves
        now and lands after `lead` steps."""
        width = np.maximum(shard.upper - shard.load, 0.0) ** 2
        during = np.arange(len(shard.load)) < lead
        arriving = np.where(during, copy * shard.load, shard.load)
        leaving = np.where(during, copy * shard.load, -shard.load)
        source = self.index(shard.node)
        target_point = self.point + arriving
        target_spread = self.spread + np.where(during, 0.0, width)
        source_point = self.point[source] + leaving
        source_spread = self.spread[source] - np.where(during, 0.0, width)
        return target_point, target_spread, source_point, source_spread

    def apply(self, shard: ShardView, target: int, lead: int, copy: float) -> None:
        target_point, target_spread, source_point, source_spread = self.move(shard, lead, copy)
        source = self.index(shard.node)
        self.point[target], self.spread[target] = target_point[target], target_spread[target]
        self.point[source], self.spread[source] = source_point, source_spread


def plan(snapshot: Snapshot, settings: PlannerSettings) -> Plan:
    projection = _project(snapshot, settings)
    utilization = projection.utilization(projection.point, projection.spread)
    in_flight = [m for m in snapshot.moves if m.finishes_seconds > snapshot.now_seconds]
    busy = _count_by_node(in_flight)
    cooling = {n for m in snapshot.moves
               if snapshot.now_seconds - m.started_seconds < settings.cooldown_seconds
               for n in (m.source, m.target)}
    moving = {m.shard for m in in_flight}
    budget = settings.max_concurrent - len(in_flight)
    severity = utilization.max(axis=1) - settings.threshold
    overloaded = [projection.names[i] for i in np.argsort(-severity) if severity[i] > 0]
    moves: list[Move] = []
    rejected: list[str] = []
    scale_out: list[str] = []
    for node in overloaded:
        if budget <= 0:
            rejected.append(f"{node}: overloaded, but {settings.max_concurrent} migrations "
                            "already run (maxConcurrentMigrations.global)")
            continue
        if busy.get(node, 0) >= settings.max_per_node:
            rejected.append(f"{node}: overloaded, but a migration already runs on it")
            continue
        if node in cooling:
            rejected.append(f"{node}: overloaded, but it moved a shard within the cooldown")
            continue
        shards = [s for s in snapshot.shards if s.node == node and not s.pinned
                  and s.name not in moving
                  and not _shard_cooling(s.name, snapshot, settings)]
        excluded = cooling | set(overloaded) | {
            n for n, count in busy.items() if count >= settings.max_per_node}
        move, reasons = _best_move(node, shards, projection, excluded, snapshot, settings)
        rejected.extend(reasons)
        if move is None:
            if not any("no node stays under" not in r for r in reasons):
                peak = severity[projection.index(node)] + settings.threshold
                scale_out.append(f"{node}: projected to {peak:.0%} and no node has room for "
                                 "any of its shards: add replicas")
            continue
        moves.append(move)
        budget -= 1
        for end in (move.source, move.target):
            busy[end] = busy.get(end, 0) + 1
    return Plan(tuple(moves), tuple(rejected), tuple(scale_out))


def _best_move(node: str, shards: list[ShardView], projection: _Projection,
               excluded: set[str], snapshot: Snapshot,
               settings: PlannerSettings) -> tuple[Move | None, list[str]]:
    source = projection.index(node)
    capacity = projection.capacity
    limit = settings.threshold - settings.hysteresis
    closed = {n.name for n in snapshot.nodes if not n.accepts_moves}
    open_nodes = np.array([n not in excluded and n not in closed and n != node
                           for n in projection.names])
    before = projection.utilization(projection.point[source], projection.spread[source],
                                    source)
    z = band_z(settings.interval_level)
    overload_before = projection.expected_overload(
        projection.point[source], projection.spread[source], source, settings.threshold, z)
    best: tuple[tuple[bool, float], Move, ShardView, int, int] | None = None
    reasons: list[str] = []
    for shard in shards:
        seconds = shard.size_bytes / settings.bandwidth_bytes_per_second
        lead = min(len(shard.load) - 1, math.ceil(seconds / settings.step_seconds))
        if overload_before[lead:].sum() <= settings.min_relief:
            reasons.append(f"{shard.name}: the overload on {node} is likely over before a "
                           f"{seconds:.0f}s copy would finish")
            continue
        target_point, target_spread, source_point, source_spread = projection.move(
            shard, lead, settings.copy_load)
        # Targets are judged on the point forecast: the upper band decides when to act, and
        # the risk a target takes on is priced (cascade), not forbidden; requiring every target
        # to stay clear at the band leaves no room exactly when room is needed.
        after = target_point / capacity[:, None]
        left = _left_recently(shard.name, snapshot, settings)
        fits = open_nodes & (after.max(axis=1) <= limit) & np.array(
            [n not in left for n in projection.names])
        if not fits.any():
            reasons.append(f"{shard.name}: no node stays under {limit:.0%} with it")
            continue
        remaining = projection.utilization(source_point, source_spread, source)
        relief = float(overload_before.sum() - projection.expected_overload(
            source_point, source_spread, source, settings.threshold, z).sum())
        if relief <= settings.min_relief:
            reasons.append(f"{shard.name}: copying it would add more load to {node} than "
                           "moving it takes away")
            continue
        fixes = bool(remaining[lead:].max() <= settings.threshold)
        recent = recent_moves(shard.name, snapshot.moves, snapshot.now_seconds,
                              settings.cooldown_seconds)
        risk = minutes_over(target_point, target_spread, capacity, settings.threshold, z,
                            settings.step_seconds / 60)
        for target in map(int, np.flatnonzero(fits)):
            price = cost(shard.size_bytes, float(shard.load[0]), float(capacity[source]),
                         float(risk[target]), recent, settings)
            rank = (not fixes, price.total if fixes else -relief / max(price.total, 1e-9))
            if best is None or rank < best[0]:
                peak = lead + int(np.argmax(before[lead:]))
                reason = (f"{node} projected to {before[peak]:.0%} (threshold "
                          f"{settings.threshold:.0%}) in {peak * settings.step_seconds // 60} "
                          f"min; {shard.name} carries {shard.load[peak] / capacity[source]:.0%}"
                          f"; {projection.names[target]} peaks at {after[target].max():.0%} "
                          f"with it; the move removes {relief / overload_before.sum():.0%} of "
                          f"{node}'s expected overload")
                move = Move(shard.name, node, projection.names[target], reason, price, seconds,
                            float(before.max()), peak * settings.step_seconds)
                best = (rank, move, shard, target, lead)
    if best is None:
        return None, reasons
    _, chosen, moved, to, lands = best
    projection.apply(moved, to, lands, settings.copy_load)
    return chosen, reasons


def _project(snapshot: Snapshot, settings: PlannerSettings) -> _Projection:
    names = [n.name for n in snapshot.nodes]
    steps = len(snapshot.shards[0].load) if snapshot.shards else 1
    projection = _Projection(
        names, np.array([n.capacity for n in snapshot.nodes], dtype=float),
        np.zeros((len(names), steps)), np.zeros((len(names), steps)),
        1.0 if settings.trigger == "upper" else 0.0)
    landing = {m.shard: m for m in snapshot.moves if m.finishes_seconds > snapshot.now_seconds}
    for shard in snapshot.shards:
        where = projection.index(shard.node)
        projection.point[where] += shard.load
        projection.spread[where] += np.maximum(shard.upper - shard.load, 0.0) ** 2
        move = landing.get(shard.name)
        if move is not None and move.target in names:
            lands = math.ceil((move.finishes_seconds - snapshot.now_seconds)
                              / settings.step_seconds)
            target_point, target_spread, source_point, source_spread = projection.move(
                shard, lands, settings.copy_load)
            target = projection.index(move.target)
            projection.point[target] = target_point[target]
            projection.spread[target] = target_spread[target]
            projection.point[where], projection.spread[where] = source_point, source_spread
    return projection


def _count_by_node(moves: list[MoveRecord]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for m in moves:
        for n in (m.source, m.target):
            counts[n] = counts.get(n, 0) + 1
    return counts


def _shard_cooling(shard: str, snapshot: Snapshot, settings: PlannerSettings) -> bool:
    return any(m.shard == shard
               and snapshot.now_seconds - m.started_seconds < settings.cooldown_seconds
               for m in snapshot.moves)


def _left_recently(shard: str, snapshot: Snapshot, settings: PlannerSettings) -> set[str]:
    """Nodes the shard left within the flapping window: it is never moved straight back."""
    window = FLAP_WINDOWS * settings.cooldown_seconds
    return {m.source for m in snapshot.moves
            if m.shard == shard and snapshot.now_seconds - m.started_seconds < window}
