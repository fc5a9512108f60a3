"""MigrationPolicy: one evaluation cycle per policy on a timer, fed by an index of shard labels."""

from __future__ import annotations

import datetime
import time
from typing import Any

import kopf

from shardcast.api import policy
from shardcast.api.conditions import rfc3339
from shardcast.api.kinds import GROUP, POLICIES, SHARDS, VERSION
from shardcast.handlers.forecasting import forecast_shards, prometheus_url
from shardcast.handlers.settings import RESYNC_SECONDS
from shardcast.handlers.status import write_status


@kopf.index(GROUP, VERSION, SHARDS)
def shard_labels(namespace: str | None, name: str, labels: kopf.Labels,
                 **_: Any) -> dict[str | None, dict[str, dict[str, str]]]:
    """namespace -> {shard: labels}; policies select from it without listing shards each cycle."""
    return {namespace: {name: dict(labels)}}


@kopf.index(GROUP, VERSION, SHARDS)
def shard_specs(namespace: str | None, name: str, spec: kopf.Spec,
                **_: Any) -> dict[str | None, dict[str, dict[str, Any]]]:
    """namespace -> {shard: spec}: where each shard's metrics live, for the forecasting pass."""
    return {namespace: {name: dict(spec)}}


@kopf.on.resume(GROUP, VERSION, POLICIES)
@kopf.on.create(GROUP, VERSION, POLICIES)
@kopf.on.update(GROUP, VERSION, POLICIES, field="spec")
@kopf.timer(GROUP, VERSION, POLICIES, interval=RESYNC_SECONDS, initial_delay=RESYNC_SECONDS)
async def evaluate_policy(body: kopf.Body, spec: kopf.Spec, name: str, namespace: str | None,
                          patch: kopf.Patch, memo: kopf.Memo, **kwargs: Any) -> None:
    labels_by_shard = _merged(kwargs["shard_labels"], namespace)
    selected = policy.selected_shards(spec.get("shardSelector"), labels_by_shard)
    began = time.monotonic()
    specs = _merged(kwargs["shard_specs"], namespace)
    url = prometheus_url()
    outcome = None
    if url is not None and selected:
        models = memo.setdefault("models", {})
        result = await forecast_shards(namespace or "default", name, spec,
                                       {s: specs[s] for s in selected if s in specs}, models, url)
        outcome = policy.ForecastOutcome(len(result.forecast), dict(result.failed))
    now = rfc3339(datetime.datetime.now(datetime.UTC))
    fields, ready = policy.observe(spec.get("mode", "propose-only"),
                                   body.metadata.get("generation", 0), selected, now,
                                   outcome, time.monotonic() - began)
    write_status(body, patch, fields, ready)


def _merged(index: kopf.Index[str | None, dict[str, Any]], namespace: str | None,
            ) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for entry in index.get(namespace, []):
        merged.update(entry)
    return merged
