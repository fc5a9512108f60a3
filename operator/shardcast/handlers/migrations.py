"""ShardMigration: check the requested move against the Shard it names and report why it waits."""

from __future__ import annotations

import datetime
from typing import Any

import kopf

from shardcast.api import migration
from shardcast.api.conditions import rfc3339
from shardcast.api.kinds import GROUP, MIGRATIONS, SHARDS, VERSION
from shardcast.handlers.status import write_status


@kopf.index(GROUP, VERSION, SHARDS)
def shard_nodes(namespace: str | None, name: str, status: kopf.Status, spec: kopf.Spec,
                **_: Any) -> dict[tuple[str | None, str], str]:
    """(namespace, shard) -> the node it lives on: observed status first, declared spec second."""
    return {(namespace, name): status.get("node") or spec.get("placement", {}).get("node", "")}


@kopf.on.resume(GROUP, VERSION, MIGRATIONS)
@kopf.on.create(GROUP, VERSION, MIGRATIONS)
@kopf.on.update(GROUP, VERSION, MIGRATIONS, field="spec")
def admit_migration(body: kopf.Body, spec: kopf.Spec, status: kopf.Status, namespace: str | None,
                    patch: kopf.Patch, **kwargs: Any) -> None:
    shard_nodes: kopf.Index[tuple[str | None, str], str] = kwargs["shard_nodes"]
    nodes = list(shard_nodes.get((namespace, spec["shard"]), []))
    started = (status.get("phaseTimes") or [{}])[0].get("startedAt") or \
        rfc3339(datetime.datetime.now(datetime.UTC))
    fields, ready = migration.observe(spec, body.metadata.get("generation", 0),
                                      nodes[0] if nodes else None, started)
    write_status(body, patch, fields, ready)
