"""MigrationPolicy: one evaluation cycle per policy on a timer, fed by an index of shard labels."""

from __future__ import annotations

import datetime
from typing import Any

import kopf

from shardcast.api import policy
from shardcast.api.conditions import rfc3339
from shardcast.api.kinds import GROUP, POLICIES, SHARDS, VERSION
from shardcast.handlers.settings import RESYNC_SECONDS
from shardcast.handlers.status import write_status


@kopf.index(GROUP, VERSION, SHARDS)
def shard_labels(namespace: str | None, name: str, labels: kopf.Labels,
                 **_: Any) -> dict[str | None, dict[str, dict[str, str]]]:
    """namespace -> {shard: labels}; policies select from it without listing shards each cycle."""
    return {namespace: {name: dict(labels)}}


@kopf.on.resume(GROUP, VERSION, POLICIES)
@kopf.on.create(GROUP, VERSION, POLICIES)
@kopf.on.update(GROUP, VERSION, POLICIES, field="spec")
@kopf.timer(GROUP, VERSION, POLICIES, interval=RESYNC_SECONDS, initial_delay=RESYNC_SECONDS)
def evaluate_policy(body: kopf.Body, spec: kopf.Spec, namespace: str | None, patch: kopf.Patch,
                    **kwargs: Any) -> None:
    shard_labels: kopf.Index[str | None, dict[str, dict[str, str]]] = kwargs["shard_labels"]
    labels_by_shard: dict[str, dict[str, str]] = {}
    for entry in shard_labels.get(namespace, []):
        labels_by_shard.update(entry)
    selected = policy.selected_shards(spec.get("shardSelector"), labels_by_shard)
    now = rfc3339(datetime.datetime.now(datetime.UTC))
    fields, ready = policy.observe(spec.get("mode", "propose-only"),
                                   body.metadata.get("generation", 0), selected, now)
    write_status(body, patch, fields, ready)
