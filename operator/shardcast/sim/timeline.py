"""A run as it unfolds: cumulative overload and bytes moved per step, and the stretch of hours
where two policies part ways most. What `shardcast simulate --plot` draws; pure."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shardcast.sim.engine import RunResult

GIB = 2**30


@dataclass(frozen=True)
class Timeline:
    """Per scored step: hours since the scored period began, node-minutes over 100% so far and
    GiB moved so far (a move counts when it starts)."""

    hours: np.ndarray
    overload_node_minutes: np.ndarray
    moved_gib: np.ndarray


def timeline(result: RunResult, sizes_bytes: np.ndarray) -> Timeline:
    steps = result.utilization.shape[1]
    minutes = result.step_seconds / 60
    overload = np.cumsum((result.utilization > 1.0).sum(axis=0) * minutes)
    started = np.zeros(steps)
    for move in result.moves:
        started[move.start_step - result.first_step] += sizes_bytes[move.shard] / GIB
    hours = np.arange(steps) * result.step_seconds / 3600
    return Timeline(hours, overload, np.cumsum(started))


def widest_gap(a: Timeline, b: Timeline, window_steps: int) -> slice:
    """The `window_steps` steps over which a's and b's overload grew most differently: where a
    reader sees one policy avoid (or cause) what the other does not."""
    steps = len(a.hours)
    if steps <= window_steps:
        return slice(0, steps)
    gap = np.concatenate([[0.0], a.overload_node_minutes - b.overload_node_minutes])
    growth = np.abs(gap[window_steps:] - gap[:-window_steps])
    start = int(np.argmax(growth))
    return slice(start, start + window_steps)
