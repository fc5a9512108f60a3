"""MigrationPolicy: one evaluation cycle per policy on a timer, fed by the Shard index
(api/shard_index.py) and kopf's index of the namespace's policies (handlers/indexes.py; of
several policies that select a shard, only the oldest evaluates it)."""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Iterable, Mapping
from typing import Any

import kopf

from shardcast.api import policy
from shardcast.api.conditions import rfc3339
from shardcast.api.kinds import GROUP, POLICIES, VERSION
from shardcast.api.nodes import Toleration
from shardcast.api.policy_overlap import overlap_status, resolve
from shardcast.api.policy_spec import PolicySpec
from shardcast.api.shard import IndexedShard, WorkloadState
from shardcast.clients import kubernetes as k8s
from shardcast.clients.prometheus_batch import PrometheusSource
from shardcast.handlers import metrics
from shardcast.handlers.indexes import Named, contender, in_namespace, listed
from shardcast.handlers.memo import listed_shards, policy_state, shared_of
from shardcast.handlers.settings import INTERVALS
from shardcast.handlers.status import write_status
from shardcast.reconcile import migration_history
from shardcast.reconcile.challenge_pool import SHARED_POOL
from shardcast.reconcile.policy_cycle import CycleInputs, Ports, run_cycle


@kopf.on.resume(GROUP, VERSION, POLICIES)
@kopf.on.create(GROUP, VERSION, POLICIES)
@kopf.on.update(GROUP, VERSION, POLICIES, field="spec")
@kopf.timer(GROUP, VERSION, POLICIES, interval=INTERVALS.policy_seconds,
            initial_delay=INTERVALS.policy_seconds)
async def evaluate_policy(body: kopf.Body, spec: kopf.Spec, name: str, namespace: str | None,
                          patch: kopf.Patch, memo: kopf.Memo, **kwargs: Any) -> None:
    began = time.monotonic()
    parsed = PolicySpec.from_dict(spec)
    served = (await listed_shards(memo)).in_namespace(namespace)
    others = (p.contender for p in dict(in_namespace(kwargs["indexed_policies"],
                                                     namespace)).values())
    overlaps = resolve(contender(name, body.metadata, spec), others,
                       {shard: found.labels for shard, found in served.items()})
    url = shared_of(memo).settings.prometheus_url
    ns = namespace or "default"
    migrations = listed(kwargs["known_migrations"], namespace)
    cycle, planned = None, {}
    if url is not None and overlaps.governed:
        mine = {s: served[s] for s in overlaps.governed if s in served}
        inputs = CycleInputs(
            name, parsed, body.get("status", {}),
            {s: found.raw_spec for s, found in mine.items()},
            {s: found.node for s, found in mine.items()},
            dict(in_namespace(kwargs["node_states"], None)),
            _tolerations(kwargs["workloads"], namespace, mine.values()),
            [m for m in migrations.values() if m.shard in mine], time.time(),
            {s: found.status["prediction"] for s, found in mine.items()
             if isinstance(found.status.get("prediction"), Mapping)})
        state = policy_state(memo)
        cycle = await run_cycle(inputs, state, Ports(PrometheusSource(url),
                                                     k8s.ShardStatusWriter(ns),
                                                     k8s.MigrationWriter(ns)))
        planned = cycle.fields
        metrics.record_cycle(ns, name, cycle, time.monotonic() - began)
    await migration_history.collect(name, spec, migrations, time.time(),
                                    k8s.MigrationWriter(ns))
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


def _tolerations(workloads: Named[WorkloadState], namespace: str | None,
                 shards: Iterable[IndexedShard]) -> frozenset[tuple[Toleration, ...]]:
    """The distinct toleration sets of the shards' workloads (a handful, however many shards)."""
    names = {found.spec.workload_name for found in shards}
    found: set[tuple[Toleration, ...]] = set()
    for name in names:
        for state in workloads.get((namespace, name), []):
            found.add(state.tolerations)
    return frozenset(found)

