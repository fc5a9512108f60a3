"""What a run achieved, in the units operators talk about."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shardcast.sim.engine import RunResult


@dataclass(frozen=True)
class Score:
    overload_node_minutes: float  # node-minutes above 100% utilization
    above_threshold_node_minutes: float
    p99_utilization: float
    moves: int
    moved_bytes: int
    flaps: int  # a shard moved back to the node it left less than `flap_window_steps` later


def score(result: RunResult, threshold: float, flap_window_steps: int) -> Score:
    minutes = result.step_seconds / 60
    util = result.utilization
    return Score(
        overload_node_minutes=float((util > 1.0).sum() * minutes),
        above_threshold_node_minutes=float((util > threshold).sum() * minutes),
        p99_utilization=float(np.percentile(util, 99)),
        moves=len(result.moves), moved_bytes=result.moved_bytes,
        flaps=_flaps(result, flap_window_steps))


def _flaps(result: RunResult, window: int) -> int:
    last: dict[int, tuple[int, int]] = {}  # shard -> (source it left, step)
    flaps = 0
    for move in sorted(result.moves, key=lambda m: m.start_step):
        previous = last.get(move.shard)
        if previous is not None and move.target == previous[0] and (
                move.start_step - previous[1] < window):
            flaps += 1
        last[move.shard] = (move.source, move.start_step)
    return flaps
