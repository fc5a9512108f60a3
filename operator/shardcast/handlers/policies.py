"""MigrationPolicy: one evaluation cycle per policy on a timer, fed by an index of shard labels."""

from __future__ import annotations

import datetime
import time
from dataclasses import replace
from typing import Any

import kopf

from shardcast.api import decisions, policy
from shardcast.api.conditions import rfc3339
from shardcast.api.kinds import GROUP, MIGRATIONS, POLICIES, SHARDS, VERSION
from shardcast.api.policy_settings import threshold_bounds
from shardcast.handlers import metrics
from shardcast.handlers.forecasting import forecast_shards, prometheus_url
from shardcast.handlers.planning import AdaptiveThreshold, CapacityUnavailable, plan_policy
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
    planned: dict[str, Any] = {}
    if url is not None and selected:
        models = memo.setdefault("models", {})
        mine = {s: specs[s] for s in selected if s in specs}
        result = await forecast_shards(namespace or "default", name, spec, mine, models, url)
        outcome = policy.ForecastOutcome(len(result.forecast), dict(result.failed))
        if not result.failed:
            try:
                done = await plan_policy(
                    namespace or "default", name, spec, result, mine,
                    _shard_nodes(kwargs["shard_nodes"], namespace, mine),
                    _merged(kwargs["node_allocatable"], None),
                    [m for m in _merged(kwargs["known_migrations"], namespace).values()
                     if m.shard in mine],
                    _adaptive(memo, namespace, name, spec, body.get("status", {})))
            except CapacityUnavailable as error:
                outcome = replace(outcome, why_nothing_moved=str(error))
            else:
                planned = done.fields
                for decision in planned.get("decisions", []):
                    metrics.DECISIONS.labels(namespace, name, decision["action"]).inc()
                outcome = replace(outcome, why_nothing_moved=planned.pop("whyNothingMoved"),
                                  moves=done.moves, migrations_created=len(done.created))
    now = rfc3339(datetime.datetime.now(datetime.UTC))
    fields, ready = policy.observe(spec.get("mode", "propose-only"),
                                   body.metadata.get("generation", 0), selected, now,
                                   outcome, time.monotonic() - began)
    write_status(body, patch, {**fields, **planned}, ready)


def _adaptive(memo: kopf.Memo, namespace: str | None, name: str, spec: kopf.Spec,
              status: dict[str, Any]) -> AdaptiveThreshold | None:
    """The policy's adaptive threshold, kept across cycles; None unless the policy asks."""
    if threshold_bounds(spec) is None:
        return None
    kept: dict[tuple[str | None, str], AdaptiveThreshold] = memo.setdefault("thresholds", {})
    if (namespace, name) not in kept:
        kept[(namespace, name)] = AdaptiveThreshold.start(spec, status, time.time())
    return kept[(namespace, name)]


@kopf.index("", "v1", "nodes")
def node_allocatable(name: str, status: kopf.Status,
                     **_: Any) -> dict[None, dict[str, dict[str, str]]]:
    """node -> allocatable resources: the capacity a policy's NodeAllocatable source reads."""
    return {None: {name: dict(status.get("allocatable") or {})}}


@kopf.index(GROUP, VERSION, MIGRATIONS)
def known_migrations(namespace: str | None, name: str, spec: kopf.Spec, status: kopf.Status,
                     meta: kopf.Meta, **_: Any) -> dict[str | None, dict[str, Any]]:
    """namespace -> {migration: what it moves and how far it got}: in-flight moves, cooldowns."""
    return {namespace: {name: decisions.known_migration(
        spec, status, meta.get("creationTimestamp", ""))}}


def _shard_nodes(index: kopf.Index[tuple[str | None, str], str], namespace: str | None,
                 shards: dict[str, Any]) -> dict[str, str]:
    found = {}
    for shard in shards:
        nodes = list(index.get((namespace, shard), []))
        if nodes and nodes[0]:
            found[shard] = nodes[0]
    return found


def _merged(index: kopf.Index[str | None, dict[str, Any]], namespace: str | None,
            ) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for entry in index.get(namespace, []):
        merged.update(entry)
    return merged
