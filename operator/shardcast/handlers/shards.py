"""Shard: keep status (phase, node, Ready) true to the StatefulSet that serves the shard."""

from __future__ import annotations

from typing import Any

import kopf

from shardcast.api import shard
from shardcast.api.kinds import GROUP, SHARDS, VERSION
from shardcast.clients import kubernetes as k8s
from shardcast.handlers.settings import RESYNC_SECONDS
from shardcast.handlers.status import write_status


@kopf.on.resume(GROUP, VERSION, SHARDS)
@kopf.on.create(GROUP, VERSION, SHARDS)
@kopf.on.update(GROUP, VERSION, SHARDS, field="spec")
@kopf.timer(GROUP, VERSION, SHARDS, interval=RESYNC_SECONDS, initial_delay=RESYNC_SECONDS)
async def observe_shard(body: kopf.Body, spec: kopf.Spec, namespace: str | None, patch: kopf.Patch,
                        **_: Any) -> None:
    parsed = shard.ShardSpec.from_dict(spec)
    workload = await k8s.read_statefulset(namespace or "default", parsed.workload_name)
    fields, ready = shard.observe(parsed, body.metadata.get("generation", 0), workload)
    write_status(body, patch, fields, ready)
