"""Shard: keep status (phase, node, epoch, Ready) true to etcd and to the StatefulSet.

Nothing polls per shard: etcd placements and claims come from one watch (consensus.mirror),
StatefulSets from kopf's watch (an index), and a change of either re-derives the status of the
shards it concerns. Status is written only when it would say something new; a slow timer
re-derives it from the same in-memory views as a safety net, with no I/O unless it differs."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import kopf

from shardcast.api import shard
from shardcast.api.conditions import Condition, find, merge, rfc3339
from shardcast.api.kinds import GROUP, SHARDS, VERSION
from shardcast.clients import kubernetes as k8s
from shardcast.consensus.mirror import PlacementMirror
from shardcast.consensus.store import ConsensusUnavailable
from shardcast.handlers.status import write_status

SAFETY_RESYNC_SECONDS = float(os.environ.get("SHARDCAST_SHARD_RESYNC_SECONDS", "600"))
MIRROR_WAIT_SECONDS = 10.0  # at start, how long a Shard waits for etcd's first snapshot


@dataclass(frozen=True)
class IndexedShard:
    """What re-deriving a Shard's status needs, without reading it from the API."""

    reference: dict[str, Any]  # apiVersion, kind, metadata: what an Event is posted about
    spec: shard.ShardSpec
    generation: int
    status: Mapping[str, Any]


@kopf.index("apps", "v1", "statefulsets")
def workloads(namespace: str | None, name: str, spec: kopf.Spec, status: kopf.Status,
              **_: Any) -> dict[tuple[str | None, str], shard.WorkloadState]:
    return {(namespace, name): shard.WorkloadState(
        replicas=int(spec.get("replicas") or 0),
        ready_replicas=int(status.get("readyReplicas") or 0))}


@kopf.index(GROUP, VERSION, SHARDS)
def indexed_shards(namespace: str | None, name: str, spec: kopf.Spec, status: kopf.Status,
                   meta: kopf.Meta, **_: Any) -> dict[tuple[str | None, str], IndexedShard]:
    reference = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Shard",
                 "metadata": {"name": name, "namespace": namespace, "uid": meta.get("uid")}}
    return {(namespace, name): IndexedShard(reference, shard.ShardSpec.from_dict(spec),
                                            int(meta.get("generation") or 0), dict(status))}


@kopf.index(GROUP, VERSION, SHARDS)
def shards_by_workload(namespace: str | None, name: str, spec: kopf.Spec,
                       **_: Any) -> dict[tuple[str | None, str], str]:
    return {(namespace, spec["workload"]["name"]): name}


@kopf.on.resume(GROUP, VERSION, SHARDS)
@kopf.on.create(GROUP, VERSION, SHARDS)
@kopf.on.update(GROUP, VERSION, SHARDS, field="spec")
@kopf.timer(GROUP, VERSION, SHARDS, interval=SAFETY_RESYNC_SECONDS,
            initial_delay=SAFETY_RESYNC_SECONDS)
async def observe_shard(body: kopf.Body, spec: kopf.Spec, name: str, namespace: str | None,
                        patch: kopf.Patch, memo: kopf.Memo, **kwargs: Any) -> None:
    parsed = shard.ShardSpec.from_dict(spec)
    ns = namespace or "default"
    mirror: PlacementMirror | None = memo.get("mirror")
    if mirror is not None:
        with contextlib.suppress(TimeoutError):  # etcd down: derived as not consulted
            await asyncio.wait_for(mirror.ready.wait(), MIRROR_WAIT_SECONDS)
    if mirror is not None and mirror.record(ns, name) is None and mirror.error is None:
        # First sight: etcd's placement starts at the declared node. If etcd is down, the
        # status derived below says it was not consulted.
        with contextlib.suppress(ConsensusUnavailable):
            mirror.remember(ns, name, await mirror.store.register(ns, name, parsed.node))
    fields, ready = derive(ns, name, parsed, body.metadata.get("generation", 0),
                           _workload(kwargs["workloads"], namespace, parsed.workload_name),
                           mirror, body.get("status", {}))
    if shard.status_changed(body.get("status", {}), fields, ready):
        write_status(body, patch, fields, ready)


@kopf.on.event("apps", "v1", "statefulsets")
async def statefulset_changed(namespace: str | None, name: str, memo: kopf.Memo,
                              **kwargs: Any) -> None:
    """Replica counts changed: re-derive the status of the shards this workload serves."""
    for served in list(kwargs["shards_by_workload"].get((namespace, name), [])):
        await refresh(namespace, served, memo.get("mirror"), kwargs["workloads"],
                      kwargs["indexed_shards"])


@kopf.on.startup()
async def mirror_consensus(memo: kopf.Memo, **kwargs: Any) -> None:
    """One etcd watch for every shard's placement and claim (needs the consensus store,
    opened by an earlier startup handler)."""
    store = memo.get("consensus")
    if store is None:
        memo.mirror = None
        return
    mirror = PlacementMirror(store)
    memo.mirror = mirror

    async def changed(namespace: str, name: str) -> None:
        await refresh(namespace, name, mirror, kwargs["workloads"], kwargs["indexed_shards"])

    memo.mirror_task = asyncio.create_task(mirror.run(changed))


async def refresh(namespace: str | None, name: str, mirror: PlacementMirror | None,
                  workloads: kopf.Index[tuple[str | None, str], shard.WorkloadState],
                  indexed_shards: kopf.Index[tuple[str | None, str], IndexedShard]) -> None:
    """Re-derive one Shard's status from the in-memory views; patch it if it changed."""
    found = list(indexed_shards.get((namespace, name), []))
    if not found:
        return  # not a Shard this operator serves (or deleted meanwhile)
    indexed = found[0]
    ns = namespace or "default"
    fields, ready = derive(ns, name, indexed.spec, indexed.generation,
                           _workload(workloads, namespace, indexed.spec.workload_name), mirror,
                           indexed.status)
    if not shard.status_changed(indexed.status, fields, ready):
        return
    conditions = merge(list(indexed.status.get("conditions") or []), ready,
                       datetime.datetime.now(datetime.UTC))
    await k8s.patch_status(GROUP, VERSION, SHARDS, ns, name,
                           {**fields, "conditions": conditions})
    previous = find(indexed.status.get("conditions") or [], ready.type)
    if (previous.get("reason"), previous.get("status")) != (ready.reason, ready.status):
        await k8s.post_event(indexed.reference, "Normal" if ready.healthy else "Warning",
                             ready.reason, ready.message)


def derive(ns: str, name: str, spec: shard.ShardSpec, generation: int,
           workload: shard.WorkloadState | None, mirror: PlacementMirror | None,
           status: Mapping[str, Any]) -> tuple[dict[str, Any], Condition]:
    record, error = _record(ns, name, mirror, status)
    fields, ready = shard.observe(spec, generation, workload, record)
    fields["consensus"] = shard.consensus_status(
        spec, record, error, rfc3339(datetime.datetime.now(datetime.UTC)))
    return fields, ready


def _record(ns: str, name: str, mirror: PlacementMirror | None,
            status: Mapping[str, Any]) -> tuple[shard.Record | None, str | None]:
    """etcd's placement as mirrored; while the mirror is behind, what status last showed."""
    if mirror is None:
        return None, None
    mirrored = mirror.record(ns, name)
    claim = mirror.claim(ns, name)
    record = (shard.Record(mirrored[0].node, mirrored[0].epoch, mirrored[1],
                           claim.migration if claim else None)
              if mirrored is not None else _last_mirrored(status))
    return record, mirror.error


def _last_mirrored(status: Mapping[str, Any]) -> shard.Record | None:
    """What the status last mirrored from etcd: better than the declared node, which a
    migration may have left behind."""
    if "epoch" not in status:
        return None
    return shard.Record(status["node"], status["epoch"],
                        status.get("consensus", {}).get("etcdRevision", 0), None)


def _workload(index: kopf.Index[tuple[str | None, str], shard.WorkloadState],
              namespace: str | None, name: str) -> shard.WorkloadState | None:
    found = list(index.get((namespace, name), []))
    return found[0] if found else None
