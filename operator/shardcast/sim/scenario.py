"""Clusters built from real traces: each shard one trace, rolled in time and scaled by a seeded
factor so peaks do not all line up, the whole scaled to a target mean utilization."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DAY_STEPS = 288  # 5-minute steps
MAX_SHARD_PEAK = 0.5


@dataclass(frozen=True)
class Spike:
    """A scheduled event: `shards` carry `factor` times their load during [start, end)."""

    shards: np.ndarray
    start_step: int
    end_step: int
    factor: float


@dataclass(frozen=True)
class Scenario:
    name: str
    loads: np.ndarray  # (shards, steps) true load, node capacity = 1.0
    sizes_bytes: np.ndarray  # (shards,)
    placement: np.ndarray  # (shards,) initial node of each shard
    nodes: int
    warmup_steps: int  # history the forecaster learns from; not scored
    step_seconds: int = 300
    spike: Spike | None = None

    @property
    def steps(self) -> int:
        return int(self.loads.shape[1])


def build(name: str, traces: list[np.ndarray], nodes: int, shards: int, seed: int, *,
          days: int = 14, warmup_days: int = 4, utilization: float = 0.6,
          spike: bool = False) -> Scenario:
    rng = np.random.default_rng(seed)
    steps = days * DAY_STEPS
    loads = np.empty((shards, steps))
    for i in range(shards):
        trace = traces[rng.integers(len(traces))]
        curve = np.resize(np.roll(trace, rng.integers(len(trace))), steps)
        # Byte and request counters burst to 50x their mean; one such shard would swamp any
        # node. Bursts are kept but bounded at twice the trace's 99th percentile.
        typical = max(float(np.percentile(curve, 99)), 1e-12)
        loads[i] = np.minimum(curve / typical, 2.0) * rng.lognormal(0.0, 0.6)
    _scale(loads, utilization * nodes)
    event = None
    if spike:
        start = warmup_days * DAY_STEPS + int(rng.integers(DAY_STEPS, 3 * DAY_STEPS))
        chosen = rng.choice(shards, size=max(1, shards // 5), replace=False)
        event = Spike(chosen, start, start + 36, 2.5)  # three hours at 2.5x
        loads[chosen, start:start + 36] *= event.factor
    sizes = (rng.uniform(20, 200, size=shards) * 2**30).astype(np.int64)
    return Scenario(name, loads, sizes, _balanced(loads[:, :warmup_days * DAY_STEPS], nodes),
                    nodes, warmup_days * DAY_STEPS, spike=event)


def _scale(loads: np.ndarray, total_mean: float) -> None:
    """Scale to `total_mean` summed mean load, no shard peaking above MAX_SHARD_PEAK of a node:
    a shard larger than a node cannot be balanced by moving it, only by splitting it."""
    for _ in range(5):
        loads *= total_mean / loads.mean(axis=1).sum()
        peaks = loads.max(axis=1)  # zero for a VM that stayed idle: nothing to scale down
        loads *= np.minimum(1.0, MAX_SHARD_PEAK / np.where(peaks > 0, peaks, 1.0))[:, None]
    loads *= total_mean / loads.mean(axis=1).sum()


def _balanced(history: np.ndarray, nodes: int) -> np.ndarray:
    """A sensible static placement: biggest shards first, each onto the least loaded node."""
    placement = np.empty(len(history), dtype=int)
    totals = np.zeros(nodes)
    for shard in np.argsort(-history.mean(axis=1)):
        node = int(np.argmin(totals))
        placement[shard] = node
        totals[node] += history[shard].mean()
    return placement
