"""The cost of one candidate move, term by term (MigrationPolicy spec.cost):
total = transfer x seconds of copying + unavailability x cutover seconds x load share
      + cascade x percentage points the target's upper-bound forecast would pass the threshold
      + flapping x moves of this shard in the recent cooldown windows."""

from __future__ import annotations

import numpy as np

from shardcast.planner.model import Cost, MoveRecord, PlannerSettings

FLAP_WINDOWS = 4  # how many cooldowns back a shard's earlier moves still count as churn


def transfer_seconds(size_bytes: int, bandwidth_bytes_per_second: float) -> float:
    return size_bytes / bandwidth_bytes_per_second


def unavailability(cutover_seconds: float, load_now: float, capacity: float) -> float:
    """Seconds of paused writes weighted by the share of the node's capacity they serve."""
    return cutover_seconds * load_now / capacity


def cascade_points(target_upper_after: np.ndarray, capacity: float, threshold: float) -> float:
    """Percentage points by which the target, with the shard, could pass the threshold if load
    comes in at the upper bound: the overload (and the next move) this move may cause."""
    peak = float(np.max(target_upper_after)) / capacity
    return max(0.0, peak - threshold) * 100


def recent_moves(shard: str, moves: tuple[MoveRecord, ...], now_seconds: float,
                 cooldown_seconds: float) -> int:
    window = FLAP_WINDOWS * cooldown_seconds
    return sum(1 for m in moves if m.shard == shard and now_seconds - m.started_seconds < window)


def cost(size_bytes: int, load_now: float, source_capacity: float,
         target_upper_after: np.ndarray, target_capacity: float, recent: int,
         settings: PlannerSettings) -> Cost:
    w = settings.weights
    seconds = transfer_seconds(size_bytes, settings.bandwidth_bytes_per_second)
    paused = unavailability(settings.cutover_seconds, load_now, source_capacity)
    points = cascade_points(target_upper_after, target_capacity, settings.threshold)
    total = (w.transfer * seconds + w.unavailability * paused + w.cascade * points
             + w.flapping * recent)
    return Cost(seconds, paused, points, recent, total)
