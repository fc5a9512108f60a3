"""The MigrationPolicy kind: which shards it governs and what its status reports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shardcast.api.conditions import Condition
from shardcast.api.selector import matches


def selected_shards(selector: Mapping[str, Any] | None,
                    shard_labels: Mapping[str, Mapping[str, str]]) -> list[str]:
    """Names of the shards (name -> labels) that the policy's selector picks, sorted."""
    return sorted(name for name, labels in shard_labels.items() if matches(selector, labels))


def observe(mode: str, generation: int, selected: list[str],
            evaluated_at: str) -> tuple[dict[str, Any], Condition]:
    """Status after one evaluation cycle. Forecasting and planning are not wired in yet, so the
    policy says plainly that it selects shards but proposes no moves."""
    why = ("no shard matches spec.shardSelector" if not selected else
           "forecasting and move planning are not enabled in this shardcast version")
    fields = {
        "observedGeneration": generation,
        "lastEvaluation": {"time": evaluated_at, "shardsEvaluated": len(selected)},
        "whyNothingMoved": why,
    }
    reason = "Evaluated" if selected else "NoShardsSelected"
    ready = Condition("Ready", "True", reason,
                      f"mode {mode}: {len(selected)} shard(s) selected; {why}", generation)
    return fields, ready
