"""One scenario under every policy, scored alike: what `shardcast simulate` and
bench/decision_quality.py print."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from shardcast.planner.model import CostWeights
from shardcast.planner.threshold import ThresholdBounds
from shardcast.sim import engine, metrics, policies
from shardcast.sim.adaptive import Adaptive
from shardcast.sim.scenario import Scenario

FLAP_WINDOWS = 4  # a return to the node a shard left within 4 cooldowns counts as a flap


@dataclass(frozen=True)
class Compared:
    result: engine.RunResult
    score: metrics.Score


def standard_policies(scenario: Scenario, settings: engine.SimSettings,
                      weights: CostWeights | None = None, trigger: str = "point",
                      adaptive: ThresholdBounds | None = None) -> list[engine.Policy]:
    w = weights or CostWeights()
    horizon = settings.horizon_steps
    chosen: list[engine.Policy] = [
        policies.NoOp(),
        policies.Planned("reactive", policies.persistence, trigger, w),
        policies.Planned("predictive", policies.Forecasts(scenario, horizon), trigger, w),
    ]
    if adaptive is not None:
        chosen.append(Adaptive(policies.Planned(
            "predictive+adaptive", policies.Forecasts(scenario, horizon), trigger, w), adaptive))
    chosen += [
        policies.Planned("oracle", policies.truth, trigger, w),
        policies.Greedy("greedy-reactive", policies.persistence),
        policies.Greedy("greedy-oracle", policies.truth),
    ]
    return chosen


def compare(scenario: Scenario, settings: engine.SimSettings, chosen: list[engine.Policy],
            progress: Callable[[int], None] | None = None) -> dict[str, Compared]:
    results = {}
    for policy in chosen:
        result = engine.run(scenario, policy, settings, progress)
        results[policy.name] = Compared(result, metrics.score(
            result, settings.threshold, FLAP_WINDOWS * settings.cooldown_steps))
    return results
