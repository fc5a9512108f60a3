"""The MigrationPolicy kind: which shards it selects and what its status reports (which of
them it governs when other policies select them too: api/policy_overlap.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shardcast.api.conditions import Condition
from shardcast.api.selector import matches


def selected_shards(selector: Mapping[str, Any] | None,
                    shard_labels: Mapping[str, Mapping[str, str]]) -> list[str]:
    """Names of the shards (name -> labels) that the policy's selector picks, sorted."""
    return sorted(name for name, labels in shard_labels.items() if matches(selector, labels))


@dataclass(frozen=True)
class ForecastOutcome:
    """What one pass achieved: shards forecast, why the others were not, and what the planner
    made of the forecasts (of every shard that has one)."""

    forecast: int
    failed: dict[str, str]
    why_nothing_moved: str | None = None
    moves: int = 0
    migrations_created: int = 0


def observe(mode: str, generation: int, governed: Sequence[str], evaluated_at: str,
            outcome: ForecastOutcome | None = None, duration_seconds: float = 0.0,
            yielded: int = 0) -> tuple[dict[str, Any], Condition]:
    """Status after one evaluation cycle, with a Ready condition that says what was done.
    `governed` are the selected shards the policy forecasts and plans; `yielded` counts those
    it left to older policies (api/policy_overlap.py)."""
    selection = f"{len(governed) + yielded} shard(s) selected" + (
        f", {yielded} of them left to older policies" if yielded else "")
    if not governed:
        why = ("older policies govern every selected shard (see the Overlapping condition)"
               if yielded else "no shard matches spec.shardSelector")
    elif outcome is None:
        why = "no Prometheus is configured (SHARDCAST_PROMETHEUS_URL), so nothing is forecast"
    else:
        why = outcome.why_nothing_moved or ""
    evaluation: dict[str, Any] = {"time": evaluated_at, "shardsEvaluated": len(governed),
                                  "shardsYielded": yielded,
                                  "durationSeconds": round(duration_seconds, 3)}
    fields: dict[str, Any] = {"observedGeneration": generation, "lastEvaluation": evaluation,
                              "whyNothingMoved": why}
    if outcome is not None:
        evaluation.update(migrationsCreated=outcome.migrations_created,
                          shardsForecast=outcome.forecast,
                          shardsWithoutForecast=len(outcome.failed))
        fields["withoutForecast"] = [{"shard": shard, "reason": reason[:1024]}
                                     for shard, reason in sorted(outcome.failed.items())[:20]]
    if not governed:
        # Nothing is planned, so no earlier plan stays listed (a policy that now yields its
        # last shard to an older one must not show the move it planned before).
        fields.update(decisions=[], nodes=[])
        return fields, Condition("Ready", "True",
                                 "NoShardsGoverned" if yielded else "NoShardsSelected",
                                 f"mode {mode}: {selection}; {why}", generation)
    if outcome is not None and outcome.failed:
        first = sorted(outcome.failed.items())[:3]
        detail = "; ".join(f"{shard}: {reason}" for shard, reason in first)
        return fields, Condition(
            "Ready", "False", "ForecastFailed",
            f"{len(outcome.failed)} of {len(governed)} shard(s) have no forecast; their nodes "
            f"take no moves and the other shards are planned ({why or 'nothing to do'}): "
            f"{detail}"[:1024], generation)
    forecast = (f"{outcome.forecast} forecast, {outcome.moves} move(s) planned; "
                if outcome is not None else "")
    return fields, Condition("Ready", "True", "Evaluated",
                             f"mode {mode}: {selection}; {forecast}{why}"[:1024], generation)
