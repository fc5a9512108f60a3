"""A MigrationPolicy's spec as the planner's settings: one reading for the operator and the
simulator, so `shardcast simulate --policy` replays what the operator would do."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shardcast.api import durations
from shardcast.api.policy_spec import ForecastSpec
from shardcast.planner.model import CostWeights, PlannerSettings
from shardcast.planner.threshold import ThresholdBounds


def planner_settings(spec: Mapping[str, Any], step_seconds: int,
                     threshold: float | None = None) -> PlannerSettings:
    """`threshold` (a fraction) overrides spec.threshold.utilization: the adaptive value."""
    configured = spec.get("threshold") or {}
    cost = spec.get("cost") or {}
    weights = cost.get("weights") or {}
    limits = spec.get("maxConcurrentMigrations") or {}
    return PlannerSettings(
        threshold=threshold if threshold is not None else configured.get("utilization", 80) / 100,
        hysteresis=spec.get("hysteresis", 5) / 100,
        cooldown_seconds=cooldown_seconds(spec),
        step_seconds=step_seconds,
        bandwidth_bytes_per_second=float(cost.get("bandwidthBytesPerSecond", 100 * 2**20)),
        weights=CostWeights(float(weights.get("transfer", 1)),
                            float(weights.get("unavailability", 10)),
                            float(weights.get("cascade", 5)), float(weights.get("flapping", 5))),
        trigger=str(configured.get("trigger", "point")),
        interval_level=float((spec.get("forecast") or {}).get("intervalLevel",
                                                               ForecastSpec.interval_level)),
        max_concurrent=int(limits.get("global", 2)), max_per_node=int(limits.get("perNode", 1)))


def cooldown_seconds(spec: Mapping[str, Any]) -> float:
    return durations.seconds(spec.get("cooldown", "30m"))


ALLOCATABLE = {"cpu": "cpu", "memory": "memory"}  # metric -> the Node's allocatable resource


def allocatable_resource(spec: Mapping[str, Any]) -> str | None:
    """The Node allocatable resource a policy's capacity comes from; None when the capacity
    does not come from the Node (spec.capacity.source Fixed) or the metric has none."""
    if (spec.get("capacity") or {}).get("source", "NodeAllocatable") != "NodeAllocatable":
        return None
    return ALLOCATABLE.get(str((spec.get("metric") or {}).get("type", "cpu")))


def threshold_bounds(spec: Mapping[str, Any]) -> ThresholdBounds | None:
    adaptive = (spec.get("threshold") or {}).get("adaptive") or {}
    if not adaptive.get("enabled"):
        return None
    return ThresholdBounds(adaptive.get("min", 50) / 100, adaptive.get("max", 95) / 100,
                           adaptive.get("maxStep", 5) / 100)


def horizon_steps(spec: Mapping[str, Any], step_seconds: int) -> int:
    horizon = (spec.get("forecast") or {}).get("horizon", "30m")
    return max(1, int(durations.seconds(horizon) // step_seconds))
