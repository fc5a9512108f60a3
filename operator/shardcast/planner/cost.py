"""The cost of one candidate move, term by term (MigrationPolicy spec.cost):
total = transfer x seconds of copying + unavailability x cutover seconds x load share
      + cascade x minutes the target is expected to spend over the threshold with the shard
      + flapping x moves of this shard in the recent cooldown windows."""

from __future__ import annotations

from shardcast.planner.model import Cost, MoveRecord, PlannerSettings

FLAP_WINDOWS = 4  # how many cooldowns back a shard's earlier moves still count as churn


def transfer_seconds(size_bytes: int, bandwidth_bytes_per_second: float) -> float:
    return size_bytes / bandwidth_bytes_per_second


def unavailability(cutover_seconds: float, load_now: float, capacity: float) -> float:
    """Seconds of paused writes weighted by the share of the node's capacity they serve."""
    return cutover_seconds * load_now / capacity


def recent_moves(shard: str, moves: tuple[MoveRecord, ...], now_seconds: float,
                 cooldown_seconds: float) -> int:
    window = FLAP_WINDOWS * cooldown_seconds
    return sum(1 for m in moves if m.shard == shard and now_seconds - m.started_seconds < window)


def cost(size_bytes: int, load_now: float, source_capacity: float, cascade_minutes: float,
         recent: int, settings: PlannerSettings) -> Cost:
    """`cascade_minutes`: how long the target, with the shard, is expected to be over the
    threshold within the horizon (planner/risk.py): the overload, and the next move, that this
    move may cause there."""
    w = settings.weights
    seconds = transfer_seconds(size_bytes, settings.bandwidth_bytes_per_second)
    paused = unavailability(settings.cutover_seconds, load_now, source_capacity)
    total = (w.transfer * seconds + w.unavailability * paused + w.cascade * cascade_minutes
             + w.flapping * recent)
    return Cost(seconds, paused, cascade_minutes, recent, total)
