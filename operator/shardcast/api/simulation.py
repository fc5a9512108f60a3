"""A MigrationPolicy's spec as simulator settings, so `shardcast simulate` replays the same
thresholds, limits and cost weights the operator would apply."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shardcast.api import durations
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
    threshold = spec.get("threshold") or {}
    cost = spec.get("cost") or {}
    weights = cost.get("weights") or {}
    limits = spec.get("maxConcurrentMigrations") or {}
    forecast = spec.get("forecast") or {}
    adaptive = threshold.get("adaptive") or {}
    settings = SimSettings(
        threshold=threshold.get("utilization", 80) / 100,
        hysteresis=spec.get("hysteresis", 5) / 100,
        cooldown_steps=int(durations.seconds(spec.get("cooldown", "30m")) // step_seconds),
        horizon_steps=max(1, int(durations.seconds(forecast.get("horizon", "30m"))
                                 // step_seconds)),
        bandwidth_bytes_per_second=float(cost.get("bandwidthBytesPerSecond", 100 * 2**20)),
        max_concurrent=int(limits.get("global", 2)), max_per_node=int(limits.get("perNode", 1)))
    return SimulatedPolicy(
        settings,
        CostWeights(float(weights.get("transfer", 1)), float(weights.get("unavailability", 10)),
                    float(weights.get("cascade", 5)), float(weights.get("flapping", 5))),
        str(threshold.get("trigger", "upper")),
        ThresholdBounds(adaptive.get("min", 50) / 100, adaptive.get("max", 95) / 100,
                        adaptive.get("maxStep", 5) / 100) if adaptive.get("enabled") else None)
