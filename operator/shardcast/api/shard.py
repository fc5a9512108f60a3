"""The Shard kind: its spec, and what its status should say given what the cluster shows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shardcast.api.conditions import Condition, find
from shardcast.api.kinds import API_VERSION
from shardcast.api.nodes import Toleration


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
    # the pod template's tolerations: which tainted nodes the shard may move to
    tolerations: tuple[Toleration, ...] = ()


@dataclass(frozen=True)
class Record:
    """What etcd, the authority on placement, says about the shard."""

    node: str
    epoch: int
    revision: int
    moving: str | None  # the migration holding the shard, if one is under way


def consensus_status(spec: ShardSpec, record: Record | None, error: str | None,
                     checked_at: str) -> dict[str, Any]:
    """status.consensus: the etcd revision mirrored, and why status may differ from spec."""
    if error is not None:
        return {"checkedAt": checked_at, "message": f"etcd not consulted: {error}"}
    if record is None:
        return {"checkedAt": checked_at, "message": "no consensus record configured"}
    message = f"etcd: {record.node} at epoch {record.epoch}"
    if record.node != spec.node:
        message += (f"; spec.placement.node says {spec.node!r} but etcd wins (a migration "
                    "moved the shard)")
    if record.moving:
        message += f"; {record.moving} is moving it"
    return {"etcdRevision": record.revision, "checkedAt": checked_at, "message": message}


def observe(spec: ShardSpec, generation: int, workload: WorkloadState | None,
            record: Record | None = None) -> tuple[dict[str, Any], Condition]:
    """Status fields and the Ready condition for a shard whose workload looks like `workload`
    and whose placement etcd records as `record` (the declared spec when there is none)."""
    node = record.node if record else spec.node
    placed = {"node": node, "observedGeneration": generation}
    if record is not None:
        placed["epoch"] = record.epoch
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
        return {**placed, "phase": "Degraded"}, ready
    if record is not None and record.moving:
        ready = Condition("Ready", "True", "Migrating",
                          f"served from {node!r} while {record.moving} moves it", generation)
        return {**placed, "phase": "Migrating"}, ready
    ready = Condition("Ready", "True", "Placed",
                      f"served by {spec.workload_kind} {spec.workload_name!r} on node "
                      f"{node!r}", generation)
    return {**placed, "phase": "Placed"}, ready


def status_changed(current: Mapping[str, Any], fields: Mapping[str, Any],
                   condition: Condition) -> bool:
    """Whether writing `fields` and `condition` would tell a reader anything new: a field
    differs (consensus.checkedAt aside, which changes every time), or the condition does."""
    for key, value in fields.items():
        old = current.get(key)
        if key == "consensus" and isinstance(old, Mapping) and isinstance(value, Mapping):
            old = {k: v for k, v in old.items() if k != "checkedAt"}
            value = {k: v for k, v in value.items() if k != "checkedAt"}
        if old != value:
            return True
    previous = find(current.get("conditions") or [], condition.type)
    return any(previous.get(k) != v for k, v in (
        ("status", condition.status), ("reason", condition.reason),
        ("message", condition.message),
        ("observedGeneration", condition.observed_generation)))


@dataclass(frozen=True)
class IndexedShard:
    """A Shard as the informer holds it: what re-deriving its status needs, what a policy
    selects and plans it by, and whether it is being deleted, without reading it from the API."""

    reference: dict[str, Any]  # apiVersion, kind, metadata: what an Event is posted about
    spec: ShardSpec
    generation: int
    status: Mapping[str, Any]
    deleting: bool = False  # deletion requested; the finalizer holds it until etcd is clean
    labels: Mapping[str, str] = field(default_factory=dict)
    raw_spec: Mapping[str, Any] = field(default_factory=dict)  # as the policy cycle reads it
    finalizers: tuple[str, ...] = ()
    resource_version: str = ""  # what a finalizer patch is conditional on

    @property
    def namespace(self) -> str:
        return str(self.reference["metadata"]["namespace"])

    @property
    def name(self) -> str:
        return str(self.reference["metadata"]["name"])

    @property
    def node(self) -> str:
        """Where the shard lives: observed status first, declared spec second."""
        return str(self.status.get("node") or self.spec.node)

    @classmethod
    def from_object(cls, body: Mapping[str, Any]) -> IndexedShard:
        """Parse a Shard as the API server returns it (once, at the informer's edge)."""
        meta, spec = body["metadata"], body.get("spec") or {}
        reference = {"apiVersion": body.get("apiVersion", API_VERSION),
                     "kind": "Shard",
                     "metadata": {"name": meta["name"], "namespace": meta["namespace"],
                                  "uid": meta.get("uid")}}
        return cls(reference, ShardSpec.from_dict(spec), int(meta.get("generation") or 0),
                   dict(body.get("status") or {}), bool(meta.get("deletionTimestamp")),
                   dict(meta.get("labels") or {}), dict(spec),
                   tuple(meta.get("finalizers") or ()), str(meta.get("resourceVersion", "")))
