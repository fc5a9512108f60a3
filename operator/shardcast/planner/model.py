"""The planner's view of a cluster: a snapshot in, a plan out."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class NodeView:
    name: str
    capacity: float  # in the units of the forecast metric (cores, bytes, bytes/s)
    accepts_moves: bool = True  # False: no shard may be moved here (e.g. its load is unknown)


@dataclass(frozen=True)
class ShardView:
    """`load[0]` is the load now, `load[1:]` the forecast the planner acts on (point or upper
    bound, by policy); `upper` the pessimistic side of it (the interval's upper bound), which
    prices the risk a move pushes onto its target. Same length for every shard."""

    name: str
    node: str
    size_bytes: int
    load: np.ndarray
    upper: np.ndarray
    pinned: bool = False


@dataclass(frozen=True)
class MoveRecord:
    """A move started at `started_seconds`; it ends (or ended) at `finishes_seconds`."""

    shard: str
    source: str
    target: str
    started_seconds: float
    finishes_seconds: float


@dataclass(frozen=True)
class CostWeights:
    transfer: float = 1.0
    unavailability: float = 10.0
    cascade: float = 5.0
    flapping: float = 5.0


@dataclass(frozen=True)
class PlannerSettings:
    threshold: float = 0.8  # utilization fraction that counts as overloaded
    hysteresis: float = 0.05  # targets must stay this far below the threshold
    cooldown_seconds: float = 1800.0
    step_seconds: int = 300
    bandwidth_bytes_per_second: float = 100 * 2**20
    cutover_seconds: float = 5.0  # writes pause this long when traffic switches
    copy_load: float = 0.25  # extra load on both ends while copying, as a share of the shard's
    trigger: str = "point"  # act on the point forecast, or on its interval's upper bound
    interval_level: float = 0.9  # of the shards' bands: how wide one standard deviation is
    # Overload a move must remove (utilization above threshold, summed over the horizon's
    # steps) to be worth its copy; smaller reliefs are mostly forecast noise. Tuned in
    # bench/decision_quality.py (docs/planning.md): on the boosted model's forecasts 0.05 cut
    # predictive's overload node-minutes over the five scenarios by 8.5% from 0.2's.
    min_relief: float = 0.05
    weights: CostWeights = field(default_factory=CostWeights)
    max_concurrent: int = 2
    max_per_node: int = 1


@dataclass(frozen=True)
class Snapshot:
    now_seconds: float
    nodes: tuple[NodeView, ...]
    shards: tuple[ShardView, ...]
    moves: tuple[MoveRecord, ...] = ()  # in flight and recently finished


@dataclass(frozen=True)
class Cost:
    """Each term already weighted; `total` ranks candidate moves (lower is better)."""

    transfer_seconds: float
    unavailability: float
    cascade_minutes: float  # expected minutes the target spends over the threshold
    recent_moves: int
    total: float


@dataclass(frozen=True)
class Move:
    shard: str
    source: str
    target: str
    reason: str
    cost: Cost
    lead_seconds: float
    source_peak: float  # projected utilization of the source at its peak (fraction)
    peak_in_seconds: float  # how far ahead that peak is


@dataclass(frozen=True)
class Plan:
    moves: tuple[Move, ...]
    rejected: tuple[str, ...]  # why other candidates were not proposed
    scale_out: tuple[str, ...]  # overloaded nodes no move can relieve: add replicas
