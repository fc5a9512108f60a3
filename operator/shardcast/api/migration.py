"""The ShardMigration kind: whether a requested move is admissible and what its status says."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shardcast.api.conditions import Condition


def observe(spec: Mapping[str, Any], generation: int, shard_node: str | None,
            started_at: str) -> tuple[dict[str, Any], Condition]:
    """Status of a migration that has not started moving data.

    `shard_node` is the node the Shard currently lives on, or None if the Shard does not exist.
    """
    name, source = spec["shard"], spec["source"]
    fields = {"phase": "Pending", "observedGeneration": generation,
              "phaseTimes": [{"phase": "Pending", "startedAt": started_at}]}
    if shard_node is None:
        return fields, Condition("Ready", "False", "ShardNotFound",
                                 f"Shard {name!r} does not exist in this namespace", generation)
    if shard_node != source:
        return fields, Condition("Ready", "False", "SourceMismatch",
                                 f"Shard {name!r} lives on {shard_node!r}, not on spec.source "
                                 f"{source!r}; nothing will be moved", generation)
    if spec.get("dryRun"):
        return fields, Condition("Ready", "False", "DryRun",
                                 "dry run: recorded, never executed", generation)
    approval = spec.get("approval", "Pending")
    if approval == "Pending":
        return fields, Condition("Ready", "False", "AwaitingApproval",
                                 "set spec.approval to Approved to start the move", generation)
    if approval == "Rejected":
        return fields, Condition("Ready", "False", "Rejected",
                                 "spec.approval is Rejected; nothing will be moved", generation)
    return fields, Condition("Ready", "False", "ExecutorUnavailable",
                             "approved, but this shardcast version does not execute migrations "
                             "yet; the shard stays on its source", generation)
