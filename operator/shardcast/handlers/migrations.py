"""ShardMigration: observe etcd, the Jobs and the KPIs, take the one step the machine names.

A timer drives every unfinished migration. Each pass reads the world afresh and performs one
idempotent action, so a restarted operator, or the replica that takes over, simply continues.
"""

from __future__ import annotations

import asyncio
import datetime
from dataclasses import dataclass, replace
from typing import Any

import kopf

from shardcast.api import migration
from shardcast.api.conditions import Condition, parse_rfc3339, rfc3339
from shardcast.api.kinds import GROUP, MIGRATIONS, SHARDS, VERSION
from shardcast.api.migration_jobs import job_env, job_manifest, job_name
from shardcast.api.nodes import NodeState, refusal
from shardcast.api.policy_settings import allocatable_resource
from shardcast.api.shard import IndexedShard, WorkloadState
from shardcast.api.traffic_shift import kpi_queries, shift_settings
from shardcast.clients import kubernetes as k8s
from shardcast.clients.jobs import JobRunner
from shardcast.clients.prometheus import MetricsUnavailable, instant_value
from shardcast.consensus.records import Announcement, Placement, Versioned
from shardcast.consensus.store import ConsensusStore, ConsensusUnavailable, Fenced
from shardcast.handlers import metrics
from shardcast.handlers.indexes import IndexedPolicy, Named, named
from shardcast.handlers.memo import shared_of
from shardcast.handlers.settings import INTERVALS
from shardcast.handlers.status import write_status
from shardcast.migration import actions
from shardcast.migration.machine import next_step
from shardcast.migration.model import TERMINAL, JobState, Kpis, Observed, Phase

TICK_SECONDS = INTERVALS.migration_tick_seconds


def _unfinished(status: kopf.Status, **_: Any) -> bool:
    return status.get("phase") not in {p.value for p in TERMINAL}


@dataclass(frozen=True)
class World:
    """What one pass read, kept for performing the step it leads to."""

    seen: Observed
    placement: Versioned[Placement] | None
    claim: Versioned[Announcement] | None
    policy: dict[str, Any]
    shard_spec: dict[str, Any]  # the Shard's spec: its StatefulSet and size


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
    blocked = migration.admission(spec, named(kwargs["shard_nodes"], namespace, spec["shard"]),
                                  policy)
    phase = Phase(status.get("phase", Phase.PENDING.value))
    store = ours.consensus
    if store is None or (policy is None and phase is not Phase.PENDING):
        reason = ("ConsensusUnconfigured", "the operator has no etcd (SHARDCAST_ETCD_ENDPOINTS)") \
            if store is None else blocked or ("PolicyNotFound", "the policy went away")
        _write(body, patch, status, phase, generation, Condition("Ready", "False", *reason,
                                                                  generation))
        return
    try:
        shard_spec = named(kwargs["shard_specs"], namespace, spec["shard"]) or {}
        world = await _observe(store, ours.jobs, ns, name, uid, spec, status, phase,
                               blocked, policy or {}, shard_spec, ours.settings.prometheus_url)
        refused = (_shard_going(kwargs["indexed_shards"], namespace, spec["shard"], phase)
                   or _target_refusal(spec["target"], kwargs["node_states"],
                                      kwargs["workloads"], namespace, shard_spec, policy or {}))
        step = next_step(replace(world.seen, refused=refused),
                         shift_settings(world.policy))
        if step is None:
            return
        await _perform(step, world, store, ours.jobs, ns, name, uid, body, spec, patch)
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


async def _observe(store: ConsensusStore, jobs: JobRunner, ns: str, name: str, uid: str,
                   spec: kopf.Spec, status: kopf.Status, phase: Phase,
                   blocked: tuple[str, str] | None, policy: dict[str, Any],
                   shard_spec: dict[str, Any], prometheus_url: str | None) -> World:
    shard = spec["shard"]
    placement = await store.placement(ns, shard)
    claim = await store.announcement(ns, shard)
    ours = claim is not None and claim.value.uid == uid
    # Each pass reads only what its phase decides on: the Job that phase runs (the only one
    # that can be running, so the only one a rollback deletes), and the KPIs while the shift
    # is gated or when a Job's success makes them kpisBefore or kpisAfter.
    sync_state = cutover_state = JobState.ABSENT
    if phase is Phase.SYNCING:
        sync_state = await jobs.state(ns, job_name(name, "sync"))
    if phase is Phase.CUTTING_OVER:
        cutover_state = await jobs.state(ns, job_name(name, "cutover"))
    kpis_now, kpis_error = None, None
    if phase is Phase.REDIRECTING or JobState.SUCCEEDED in (sync_state, cutover_state):
        kpis_now, kpis_error = await _read_kpis(prometheus_url, policy, ns, shard,
                                                spec["source"], spec["target"])
    started = status.get("trafficShiftedAt")
    age = (datetime.datetime.now(datetime.UTC)
           - parse_rfc3339(started)).total_seconds() if started else 0.0
    seen = Observed(
        phase=phase, source=spec["source"], target=spec["target"], blocked=blocked,
        placement=(placement.value.node, placement.value.epoch) if placement else None,
        claimed_by_us=ours, claimed_by=claim.value.migration if claim and not ours else None,
        epoch=status.get("epoch"), sync_job=sync_state, cutover_job=cutover_state,
        traffic_percent=int(status.get("trafficPercent", 0)), step_age_seconds=age,
        kpis_before=migration.kpis_from_status(status.get("kpisBefore")), kpis_now=kpis_now,
        kpis_error=kpis_error)
    return World(seen, placement, claim if ours else None, policy, shard_spec)


def _shard_going(indexed_shards: Named[IndexedShard], namespace: str | None, shard: str,
                 phase: Phase) -> tuple[str, str] | None:
    """The Shard is being deleted, or (once the move started) is gone altogether."""
    found = named(indexed_shards, namespace, shard)
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


async def _read_kpis(url: str | None, policy: dict[str, Any], ns: str, shard: str, source: str,
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


async def _perform(step: actions.Step, world: World, store: ConsensusStore, jobs: JobRunner,
                   ns: str, name: str, uid: str, body: kopf.Body, spec: kopf.Spec,
                   patch: kopf.Patch) -> None:
    shard, source, target = spec["shard"], spec["source"], spec["target"]
    action, seen, claim = step.action, world.seen, world.claim
    now = rfc3339(datetime.datetime.now(datetime.UTC))
    if claim is not None:
        claim = await _adopt(store, ns, shard, claim)
    match action:
        case actions.Announce():
            assert world.placement is not None
            held = await store.announce(ns, shard, world.placement, Announcement(
                migration=f"{ns}/{name}", uid=uid, source=source, target=target,
                epoch=world.placement.value.epoch, phase=Phase.SYNCING.value))
            patch.status["epoch"] = held.value.epoch + 1
        case actions.StartJob(kind=kind):
            assert claim is not None
            env = job_env(ns, name, shard, source, target, claim.value.epoch,
                          int(world.shard_spec.get("sizeBytes", 0)))
            await jobs.create(ns, job_manifest(job_name(name, kind), kind,
                                               world.policy["jobs"][kind], env, _owner(body)))
            patch.status[f"{kind}Job"] = job_name(name, kind)
            if kind == "cutover":
                await store.advance(ns, shard, claim, Phase.CUTTING_OVER.value)
            # also when a claim is adopted after its status write was lost
            patch.status["epoch"] = claim.value.epoch + 1
        case actions.Shift(percent=percent):
            assert claim is not None
            weights = {node: share for node, share in ((source, 100 - percent),
                                                       (target, percent)) if share}
            await store.advance(ns, shard, claim, Phase.REDIRECTING.value, weights)
            patch.status["trafficPercent"] = percent
            patch.status["trafficShiftedAt"] = now
            if seen.traffic_percent == 0 and seen.kpis_now is not None:
                patch.status["kpisBefore"] = migration.kpis_status(seen.kpis_now)
        case actions.Commit():
            assert claim is not None
            placed = await store.commit(ns, shard, claim)
            patch.status["epoch"] = placed.value.epoch
            await k8s.patch_status(GROUP, VERSION, SHARDS, ns, shard, {
                "node": placed.value.node, "epoch": placed.value.epoch,
                "lastMigration": {"name": name, "phase": Phase.ACTIVE.value, "finishedAt": now}})
            workload = (world.shard_spec.get("workload") or {}).get("name")
            if workload:
                await k8s.annotate_statefulset(ns, workload, migration.placement_annotation(
                    shard, placed.value.node, placed.value.epoch))
            if seen.kpis_now is not None:
                patch.status["kpisAfter"] = migration.kpis_status(seen.kpis_now)
        case actions.RollBack():
            for kind, state in (("sync", seen.sync_job), ("cutover", seen.cutover_job)):
                if state is JobState.RUNNING:
                    await jobs.delete(ns, job_name(name, kind))
            await store.abandon(ns, shard, uid)
            patch.status["trafficPercent"] = 0
            patch.status["rollbackReason"] = step.message
        case actions.Adopt() | actions.Hold():
            pass


async def _adopt(store: ConsensusStore, ns: str, shard: str,
                 claim: Versioned[Announcement]) -> Versioned[Announcement]:
    """Put a claim made by an earlier process under this process's lease, before that lease's
    TTL runs out and takes the claim (and the traffic weights) with it."""
    if store.holds(claim):
        return claim
    return await store.adopt(ns, shard, claim)


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
