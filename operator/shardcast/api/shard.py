"""The Shard kind: its spec, and what its status should say given what the cluster shows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shardcast.api.conditions import Condition


@dataclass(frozen=True)
class ShardSpec:
    workload_kind: str
    workload_name: str
    node: str
    member: str | None
    size_bytes: int

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> ShardSpec:
        workload, placement = spec["workload"], spec["placement"]
        return cls(workload_kind=workload.get("kind", "StatefulSet"),
                   workload_name=workload["name"], node=placement["node"],
                   member=placement.get("member"), size_bytes=int(spec["sizeBytes"]))


@dataclass(frozen=True)
class WorkloadState:
    """Replica counts of the shard's StatefulSet as the API server reports them."""

    replicas: int
    ready_replicas: int


def observe(spec: ShardSpec, generation: int,
            workload: WorkloadState | None) -> tuple[dict[str, Any], Condition]:
    """Status fields and the Ready condition for a shard whose workload looks like `workload`."""
    if workload is None:
        ready = Condition("Ready", "False", "WorkloadNotFound",
                          f"{spec.workload_kind} {spec.workload_name!r} does not exist in this "
                          "namespace; create it or fix spec.workload.name", generation)
        return {"phase": "Pending", "observedGeneration": generation}, ready
    if workload.ready_replicas < workload.replicas:
        ready = Condition("Ready", "False", "WorkloadNotReady",
                          f"{spec.workload_kind} {spec.workload_name!r} has "
                          f"{workload.ready_replicas}/{workload.replicas} ready replicas",
                          generation)
        return {"phase": "Degraded", "node": spec.node, "observedGeneration": generation}, ready
    ready = Condition("Ready", "True", "Placed",
                      f"served by {spec.workload_kind} {spec.workload_name!r} on node "
                      f"{spec.node!r}", generation)
    return {"phase": "Placed", "node": spec.node, "observedGeneration": generation}, ready
