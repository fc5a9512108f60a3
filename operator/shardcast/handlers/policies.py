"""MigrationPolicy: one evaluation cycle per policy on a timer, fed by indexes of shard labels and
of the namespace's policies (of several that select a shard, only the oldest evaluates it)."""

from __future__ import annotations

import asyncio
import datetime
import time
from dataclasses import dataclass
from typing import Any

import kopf

from shardcast.api import decisions, policy
from shardcast.api.conditions import parse_rfc3339, rfc3339
from shardcast.api.kinds import GROUP, MIGRATIONS, POLICIES, SHARDS, VERSION
from shardcast.api.nodes import NodeState, Toleration
from shardcast.api.policy_overlap import Contender, overlap_status, resolve
from shardcast.api.policy_spec import PolicySpec
from shardcast.api.shard import WorkloadState
from shardcast.clients import kubernetes as k8s
from shardcast.clients.prometheus_batch import PrometheusSource
from shardcast.handlers import metrics
from shardcast.handlers.settings import INTERVALS
from shardcast.handlers.status import write_status
from shardcast.reconcile.challenge_pool import SHARED_POOL
from shardcast.reconcile.policy_cycle import CycleInputs, PolicyState, Ports, run_cycle


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


@dataclass(frozen=True)
class IndexedPolicy:
    """A MigrationPolicy without reading it from the API: its spec, which its migrations run
    by, and what the one-policy-per-shard rule orders it by."""

    spec: dict[str, Any]
    contender: Contender


@kopf.index(GROUP, VERSION, POLICIES)
def indexed_policies(namespace: str | None, name: str, spec: kopf.Spec, meta: kopf.Meta,
                     **_: Any) -> dict[str | None, dict[str, IndexedPolicy]]:
    """namespace -> {policy: IndexedPolicy}: each policy finds the others that select its shards,
    each migration its policy's spec."""
    return {namespace: {name: IndexedPolicy(dict(spec), _contender(name, meta, spec))}}


@kopf.on.resume(GROUP, VERSION, POLICIES)
@kopf.on.create(GROUP, VERSION, POLICIES)
@kopf.on.update(GROUP, VERSION, POLICIES, field="spec")
@kopf.timer(GROUP, VERSION, POLICIES, interval=INTERVALS.policy_seconds,
            initial_delay=INTERVALS.policy_seconds)
async def evaluate_policy(body: kopf.Body, spec: kopf.Spec, name: str, namespace: str | None,
                          patch: kopf.Patch, memo: kopf.Memo, **kwargs: Any) -> None:
    began = time.monotonic()
    parsed = PolicySpec.from_dict(spec)
    others = (p.contender for p in _merged(kwargs["indexed_policies"], namespace).values())
    overlaps = resolve(_contender(name, body.metadata, spec), others,
                       _merged(kwargs["shard_labels"], namespace))
    url = memo.settings.prometheus_url
    cycle, planned = None, {}
    if url is not None and overlaps.governed:
        ns = namespace or "default"
        specs = _merged(kwargs["shard_specs"], namespace)
        mine = {s: specs[s] for s in overlaps.governed if s in specs}
        inputs = CycleInputs(
            name, parsed, body.get("status", {}), mine,
            _shard_nodes(kwargs["shard_nodes"], namespace, mine),
            _merged(kwargs["node_states"], None),
            _tolerations(kwargs["workloads"], namespace, mine),
            [m for m in _merged(kwargs["known_migrations"], namespace).values()
             if m.shard in mine], time.time())
        state = memo.setdefault("policy_state", PolicyState())
        cycle = await run_cycle(inputs, state, Ports(PrometheusSource(url),
                                                     k8s.ShardStatusWriter(ns),
                                                     k8s.MigrationWriter(ns)))
        planned = cycle.fields
        metrics.record_cycle(ns, name, cycle, time.monotonic() - began)
    now = rfc3339(datetime.datetime.now(datetime.UTC))
    generation = body.metadata.get("generation", 0)
    fields, ready = policy.observe(parsed.mode, generation, overlaps.governed, now,
                                   cycle.outcome if cycle else None, time.monotonic() - began,
                                   yielded=len(overlaps.yielded))
    shared, overlapping = overlap_status(overlaps, generation)
    write_status(body, patch, {**fields, **shared, **planned}, ready, overlapping)


@kopf.on.cleanup()
async def stop_challenges(**_: Any) -> None:
    """Stop the challenge workers, dropping the queued challenges (a restart redoes them), so a
    shutdown waits for the challenges running now, not for a budget's worth."""
    await asyncio.to_thread(SHARED_POOL.shutdown)


@kopf.index("", "v1", "nodes")
def node_states(name: str, spec: kopf.Spec, status: kopf.Status,
                **_: Any) -> dict[None, dict[str, NodeState]]:
    """node -> capacity, readiness, cordon and taints: where a policy may move shards, and
    whether a migration's target is a usable Node."""
    return {None: {name: NodeState.from_object(spec, status)}}


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


def _tolerations(workloads: kopf.Index[tuple[str | None, str], WorkloadState],
                 namespace: str | None, shards: dict[str, Any],
                 ) -> frozenset[tuple[Toleration, ...]]:
    """The distinct toleration sets of the shards' workloads (a handful, however many shards)."""
    names = {str(spec["workload"]["name"]) for spec in shards.values()}
    found: set[tuple[Toleration, ...]] = set()
    for name in names:
        for state in workloads.get((namespace, name), []):
            found.add(state.tolerations)
    return frozenset(found)


def _merged(index: kopf.Index[str | None, dict[str, Any]], namespace: str | None,
            ) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for entry in index.get(namespace, []):
        merged.update(entry)
    return merged


def _contender(name: str, meta: kopf.Meta, spec: kopf.Spec) -> Contender:
    return Contender(name, parse_rfc3339(meta["creationTimestamp"]), spec.get("shardSelector"))
