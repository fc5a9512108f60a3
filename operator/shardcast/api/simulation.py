"""A MigrationPolicy's spec as simulator settings (see api/policy_settings.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shardcast.api.policy_settings import horizon_steps, planner_settings, threshold_bounds
from shardcast.planner.model import CostWeights
from shardcast.planner.threshold import ThresholdBounds
from shardcast.sim.engine import SimSettings


@dataclass(frozen=True)
class SimulatedPolicy:
    settings: SimSettings
    weights: CostWeights
    trigger: str
    adaptive: ThresholdBounds | None


def from_policy(spec: Mapping[str, Any], step_seconds: int = 300) -> SimulatedPolicy:
    planner = planner_settings(spec, step_seconds)
    settings = SimSettings(
        threshold=planner.threshold, hysteresis=planner.hysteresis,
        cooldown_steps=int(planner.cooldown_seconds // step_seconds),
        horizon_steps=horizon_steps(spec, step_seconds),
        bandwidth_bytes_per_second=planner.bandwidth_bytes_per_second,
        max_concurrent=planner.max_concurrent, max_per_node=planner.max_per_node)
    return SimulatedPolicy(settings, planner.weights, planner.trigger, threshold_bounds(spec))
