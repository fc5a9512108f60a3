"""ShardMigration: a timer drives every unfinished migration through one pass of the driver
(reconcile/migration_driver.py: observe -> the machine's next step -> perform it), from what
the indexes say of its policy, Shard and target; status records the phase and why.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
from collections.abc import Mapping
from typing import Any

import kopf

from shardcast.api import migration
from shardcast.api.conditions import Condition, parse_rfc3339, rfc3339
from shardcast.api.kinds import GROUP, MIGRATIONS, VERSION
from shardcast.api.migration_jobs import job_name
from shardcast.api.nodes import NodeState, refusal
from shardcast.api.policy_settings import allocatable_resource
from shardcast.api.shard import IndexedShard, WorkloadState
from shardcast.api.traffic_shift import kpi_queries
from shardcast.clients import kubernetes as k8s
from shardcast.clients.prometheus import MetricsUnavailable, instant_value
from shardcast.consensus.store import ConsensusUnavailable, Fenced
from shardcast.handlers import metrics
from shardcast.handlers.indexes import IndexedPolicy, Named, named
from shardcast.handlers.memo import listed_shards, shared_of
from shardcast.handlers.settings import INTERVALS
from shardcast.handlers.status import write_status
from shardcast.migration.model import TERMINAL, Kpis, Phase
from shardcast.reconcile.migration_driver import Migration, MigrationPorts, drive

TICK_SECONDS = INTERVALS.migration_tick_seconds


def _unfinished(status: kopf.Status, **_: Any) -> bool:
    return status.get("phase") not in {p.value for p in TERMINAL}


@kopf.timer(GROUP, VERSION, MIGRATIONS, interval=TICK_SECONDS, when=_unfinished)
async def drive_migration(body: kopf.Body, spec: kopf.Spec, status: kopf.Status, name: str,
                          namespace: str | None, uid: str, patch: kopf.Patch, memo: kopf.Memo,
                          **kwargs: Any) -> None:
    ns = namespace or "default"
    generation = body.metadata.get("generation", 0)
    ours = shared_of(memo)
    indexed: IndexedPolicy | None = named(kwargs["indexed_policies"], namespace,
                                          spec.get("policy", ""))
    policy = indexed.spec if indexed is not None else None
    found = (await listed_shards(memo)).get(namespace, spec["shard"])
    blocked = migration.admission(spec, found.node if found else None, policy)
    phase = Phase(status.get("phase", Phase.PENDING.value))
    store = ours.consensus
    if store is None or (policy is None and phase is not Phase.PENDING):
        reason = ("ConsensusUnconfigured", "the operator has no etcd (SHARDCAST_ETCD_ENDPOINTS)") \
            if store is None else blocked or ("PolicyNotFound", "the policy went away")
        _write(body, patch, status, phase, generation, Condition("Ready", "False", *reason,
                                                                  generation))
        return
    shard_spec = dict(found.raw_spec) if found else {}
    refused = (_shard_going(found, spec["shard"], phase)
               or _target_refusal(spec["target"], kwargs["node_states"], kwargs["workloads"],
                                  namespace, shard_spec, policy or {}))
    move = Migration(ns, name, uid, spec, status, phase, blocked, refused, policy or {},
                     shard_spec, _owner(body), datetime.datetime.now(datetime.UTC))
    ports = MigrationPorts(store, ours.jobs,
                           functools.partial(_read_kpis, ours.settings.prometheus_url),
                           k8s.ShardWriter())
    try:
        step = await drive(move, ports, patch.status)
        if step is None:
            return
    except ConsensusUnavailable as error:
        metrics.DEPENDENCY_ERRORS.labels("etcd").inc()
        _write(body, patch, status, phase, generation, Condition(
            "Ready", "False", "ConsensusUnavailable",
            f"{error}; no step is taken until etcd answers again", generation))
        return
    except Fenced as error:
        _write(body, patch, status, phase, generation, Condition(
            "Ready", "False", "Fenced", f"etcd refused a stale write: {error}", generation))
        return
    _write(body, patch, status, step.phase, generation, Condition(
        "Ready", "True" if step.phase is Phase.ACTIVE else "False", step.reason, step.message,
        generation))


def _shard_going(found: IndexedShard | None, shard: str,
                 phase: Phase) -> tuple[str, str] | None:
    """The Shard is being deleted, or (once the move started) is gone altogether."""
    if found is not None and found.deleting:
        return "ShardDeleted", f"Shard {shard!r} is being deleted"
    if found is None and phase is not Phase.PENDING:
        return "ShardDeleted", f"Shard {shard!r} was deleted"
    return None


def _target_refusal(target: str, node_states: Named[NodeState],
                    workloads: Named[WorkloadState], namespace: str | None,
                    shard_spec: dict[str, Any], policy: dict[str, Any]) -> tuple[str, str] | None:
    """Why the target is not a Node this shard may use now, from the informers' views."""
    node = named(node_states, None, target)
    workload = named(workloads, namespace, (shard_spec.get("workload") or {}).get("name", ""))
    return refusal(target, node, workload.tolerations if workload else (),
                   allocatable_resource(policy))


async def _read_kpis(url: str | None, policy: Mapping[str, Any], ns: str, shard: str, source: str,
                     target: str) -> tuple[Kpis | None, str | None]:
    queries = kpi_queries(policy, ns, shard, source, target)
    if not queries:
        return None, None
    if url is None:
        return None, "SHARDCAST_PROMETHEUS_URL is not set"
    answers = await asyncio.gather(*(asyncio.to_thread(instant_value, url, q)
                                     for q in queries.values()), return_exceptions=True)
    for answer in answers:
        if isinstance(answer, MetricsUnavailable):
            metrics.DEPENDENCY_ERRORS.labels("prometheus").inc()
            return None, str(answer)
        if isinstance(answer, BaseException):
            raise answer
    return Kpis(**dict(zip(queries, answers, strict=True))), None  # type: ignore[arg-type]


def _owner(body: kopf.Body) -> dict[str, Any]:
    return {"apiVersion": body["apiVersion"], "kind": body["kind"],
            "name": body.metadata["name"], "uid": body.metadata["uid"]}


def _write(body: kopf.Body, patch: kopf.Patch, status: kopf.Status, phase: Phase,
           generation: int, condition: Condition) -> None:
    now = rfc3339(datetime.datetime.now(datetime.UTC))
    before = list(status.get("phaseTimes") or [])
    times = migration.phase_times(before, phase, now)
    if len(times) > len(before):
        _count_phases(body.metadata.get("namespace", ""), before, times)
    fields = {"phase": phase.value, "observedGeneration": generation, "phaseTimes": times}
    write_status(body, patch, fields, condition)


def _count_phases(namespace: str, before: list[dict[str, Any]],
                  times: list[dict[str, Any]]) -> None:
    """Phases entered, and how long each finished one lasted, into /metrics."""
    for step in times[max(len(before) - 1, 0):]:
        if "finishedAt" in step:
            started = parse_rfc3339(step["startedAt"])
            ended = parse_rfc3339(step["finishedAt"])
            metrics.PHASE_SECONDS.labels(step["phase"]).observe(
                (ended - started).total_seconds())
    for step in times[len(before):]:
        metrics.MIGRATION_PHASES.labels(namespace, step["phase"]).inc()


@kopf.on.delete(GROUP, VERSION, MIGRATIONS)
async def release_migration(spec: kopf.Spec, status: kopf.Status, name: str,
                            namespace: str | None, uid: str, memo: kopf.Memo, **_: Any) -> None:
    """A migration deleted mid-move gives its claim up: the source stays authoritative. Its
    running Job stops too (Kubernetes would collect it through its owner, local Jobs have
    none), so no copy carries on for a move that is over."""
    if not _unfinished(status):
        return
    ns = namespace or "default"
    ours = shared_of(memo)
    for kind in ("sync", "cutover"):
        await ours.jobs.delete(ns, job_name(name, kind))
    if ours.consensus is not None:
        await ours.consensus.abandon(ns, spec["shard"], uid)
