"""Shard: keep status (phase, node, epoch, Ready) true to etcd and to the StatefulSet."""

from __future__ import annotations

import datetime
from typing import Any

import kopf

from shardcast.api import shard
from shardcast.api.conditions import rfc3339
from shardcast.api.kinds import GROUP, SHARDS, VERSION
from shardcast.clients import kubernetes as k8s
from shardcast.consensus.store import ConsensusStore, ConsensusUnavailable
from shardcast.handlers.settings import RESYNC_SECONDS
from shardcast.handlers.status import write_status


@kopf.on.resume(GROUP, VERSION, SHARDS)
@kopf.on.create(GROUP, VERSION, SHARDS)
@kopf.on.update(GROUP, VERSION, SHARDS, field="spec")
@kopf.timer(GROUP, VERSION, SHARDS, interval=RESYNC_SECONDS, initial_delay=RESYNC_SECONDS)
async def observe_shard(body: kopf.Body, spec: kopf.Spec, name: str, namespace: str | None,
                        patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    parsed = shard.ShardSpec.from_dict(spec)
    ns = namespace or "default"
    workload = await k8s.read_statefulset(ns, parsed.workload_name)
    record, error = None, None
    if memo.consensus is not None:
        try:
            record = await _record(memo.consensus, ns, name, parsed.node)
        except ConsensusUnavailable as unavailable:
            error = str(unavailable)
            record = _last_mirrored(body.get("status", {}))
    fields, ready = shard.observe(parsed, body.metadata.get("generation", 0), workload, record)
    fields["consensus"] = shard.consensus_status(
        parsed, record, error, rfc3339(datetime.datetime.now(datetime.UTC)))
    write_status(body, patch, fields, ready)


async def _record(store: ConsensusStore, ns: str, name: str, declared: str) -> shard.Record:
    """etcd's placement, created from the declared node the first time the shard is seen."""
    # One after the other: if the first fails, no orphaned second call is left to fail later.
    placed = await store.register(ns, name, declared)
    claim = await store.announcement(ns, name)
    return shard.Record(placed.value.node, placed.value.epoch, placed.revision,
                        claim.value.migration if claim else None)


def _last_mirrored(status: dict[str, Any]) -> shard.Record | None:
    """What the status last mirrored from etcd: better than the declared node, which a
    migration may have left behind."""
    if "epoch" not in status:
        return None
    return shard.Record(status["node"], status["epoch"],
                        status.get("consensus", {}).get("etcdRevision", 0), None)
