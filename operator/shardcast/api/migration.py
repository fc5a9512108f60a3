"""The ShardMigration kind: may a requested move start, and what its status says at each step."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from shardcast.migration.model import Kpis, Phase

KPI_STATUS = {"latency_seconds": "latencySeconds", "error_rate": "errorRate",
              "throughput": "throughput"}


def admission(spec: Mapping[str, Any], shard_node: str | None,
              policy_spec: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """(reason, message) while the migration may not start; None once it may.

    `shard_node` is where the Shard lives (None if there is no such Shard); `policy_spec` is the
    MigrationPolicy named by spec.policy (None if absent), which supplies the Jobs and gates.
    """
    name, source = spec["shard"], spec["source"]
    if shard_node is None:
        return "ShardNotFound", f"Shard {name!r} does not exist in this namespace"
    approval = spec.get("approval", "Pending")
    # Once approved, etcd's placement decides (the machine fails the move if it disagrees).
    if shard_node != source and approval != "Approved":
        return "SourceMismatch", (f"Shard {name!r} lives on {shard_node!r}, not on spec.source "
                                  f"{source!r}; nothing will be moved")
    if spec.get("dryRun"):
        return "DryRun", "dry run: recorded, never executed"
    if approval == "Pending":
        return "AwaitingApproval", "set spec.approval to Approved to start the move"
    if approval == "Rejected":
        return "Rejected", "spec.approval is Rejected; nothing will be moved"
    if policy_spec is None:
        return "PolicyNotFound", (f"MigrationPolicy {spec.get('policy')!r} (spec.policy) does "
                                  "not exist in this namespace; it supplies the sync and cutover "
                                  "Jobs")
    missing = [k for k in ("sync", "cutover") if k not in (policy_spec.get("jobs") or {})]
    if missing:
        return "NoJobTemplate", (f"MigrationPolicy {spec['policy']!r} has no "
                                 f"{' or '.join(f'jobs.{k}' for k in missing)}; nothing can "
                                 "copy or switch the shard")
    return None


def placement_annotation(shard: str, node: str, epoch: int) -> dict[str, str]:
    """Where a shard lives, on its StatefulSet: `placement.shardcast.io/<shard>: <node>@<epoch>`,
    for the workload's own tooling (and humans) to read without etcd."""
    digest = hashlib.sha1(shard.encode()).hexdigest()[:8]
    name = shard if len(shard) <= 63 else f"{shard[:54]}-{digest}"
    return {f"placement.shardcast.io/{name}": f"{node}@{epoch}"}


def phase_times(existing: list[Mapping[str, Any]], phase: Phase, now: str) -> list[dict[str, Any]]:
    """The phase history with `phase` current: the previous phase finishes when it starts."""
    times = [dict(t) for t in existing] or [{"phase": Phase.PENDING.value, "startedAt": now}]
    if times[-1]["phase"] == phase.value:
        return times
    times[-1]["finishedAt"] = now
    entry = {"phase": phase.value, "startedAt": now}
    if phase in (Phase.ACTIVE, Phase.ROLLED_BACK, Phase.FAILED):
        entry["finishedAt"] = now
    return [*times, entry]


def kpis_status(kpis: Kpis) -> dict[str, float]:
    return {KPI_STATUS[k]: v for k, v in asdict(kpis).items() if v is not None}


def kpis_from_status(fields: Mapping[str, Any] | None) -> Kpis | None:
    if not fields:
        return None
    return Kpis(**{k: fields[v] for k, v in KPI_STATUS.items() if v in fields})
