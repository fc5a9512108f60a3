"""One pass of a ShardMigration: observe (etcd's record, the Jobs, the KPIs) -> the machine's
`next_step` -> perform that one action.

Every action is idempotent (deterministic Job names, create-if-absent, compare-and-swap on the
revision read), so a pass repeated after a crash, or by the replica that takes over, continues.
The world comes in through the ports below; the handler (handlers/migrations.py) reads the
object and the indexes, and writes the phase and Ready condition the step names.
"""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol

from shardcast.api import migration
from shardcast.api.conditions import parse_rfc3339, rfc3339
from shardcast.api.migration_jobs import job_env, job_manifest, job_name
from shardcast.api.traffic_shift import shift_settings
from shardcast.consensus.records import Announcement, Placement, Versioned
from shardcast.migration import actions
from shardcast.migration.machine import next_step
from shardcast.migration.model import JobState, Kpis, Observed, Phase
from shardcast.reconcile.ports import JobRunner

# (KPIs now, or why they could not be read), for a policy's KPI queries of one move
ReadKpis = Callable[[Mapping[str, Any], str, str, str, str],
                    Awaitable[tuple[Kpis | None, str | None]]]


class MoveRecord(Protocol):
    """etcd's record of a shard's placement and of the move that claims it
    (consensus.store.ConsensusStore); every write fenced by the revision read."""

    async def placement(self, namespace: str, shard: str) -> Versioned[Placement] | None: ...

    async def announcement(self, namespace: str,
                           shard: str) -> Versioned[Announcement] | None: ...

    async def announce(self, namespace: str, shard: str, placement: Versioned[Placement],
                       announcement: Announcement) -> Versioned[Announcement]: ...

    async def advance(self, namespace: str, shard: str, held: Versioned[Announcement],
                      phase: str, weights: dict[str, int] | None = None,
                      ) -> Versioned[Announcement]: ...

    def holds(self, held: Versioned[Announcement]) -> bool: ...

    async def adopt(self, namespace: str, shard: str,
                    held: Versioned[Announcement]) -> Versioned[Announcement]: ...

    async def commit(self, namespace: str, shard: str,
                     held: Versioned[Announcement]) -> Versioned[Placement]: ...

    async def abandon(self, namespace: str, shard: str, uid: str) -> bool: ...


class ShardWrites(Protocol):
    """What a committed move writes to the Kubernetes API beside etcd's record."""

    async def patch_shard_status(self, namespace: str, shard: str,
                                 fields: Mapping[str, Any]) -> None: ...

    async def annotate_statefulset(self, namespace: str, name: str,
                                   annotations: dict[str, str]) -> bool: ...


@dataclass(frozen=True)
class MigrationPorts:
    record: MoveRecord
    jobs: JobRunner
    read_kpis: ReadKpis
    shards: ShardWrites


@dataclass(frozen=True)
class Migration:
    """What the handler read of one ShardMigration, from the object and the indexes."""

    namespace: str
    name: str
    uid: str
    spec: Mapping[str, Any]  # the ShardMigration's: shard, source, target
    status: Mapping[str, Any]
    phase: Phase
    blocked: tuple[str, str] | None  # admission's (reason, message) while it may not start
    refused: tuple[str, str] | None  # why it may not go on (api.nodes.refusal, Shard going)
    policy: Mapping[str, Any]  # the policy's spec: jobs, traffic shift, KPI gates
    shard_spec: Mapping[str, Any]  # the Shard's spec: its StatefulSet and size
    owner: Mapping[str, Any]  # the owner reference of the Jobs it creates
    now: datetime.datetime


@dataclass(frozen=True)
class World:
    """What one pass read, kept for performing the step it leads to."""

    seen: Observed
    placement: Versioned[Placement] | None
    claim: Versioned[Announcement] | None  # the move's claim, when it is this migration's


async def drive(move: Migration, ports: MigrationPorts,
                status: MutableMapping[str, Any]) -> actions.Step | None:
    """Observe, take the machine's step, write what it changed into `status` (a patch); None
    when the migration has ended."""
    world = await observe(move, ports)
    step = next_step(world.seen, shift_settings(move.policy))
    if step is not None:
        await perform(step, world, move, ports, status)
    return step


async def observe(move: Migration, ports: MigrationPorts) -> World:
    ns, shard, phase = move.namespace, move.spec["shard"], move.phase
    placement = await ports.record.placement(ns, shard)
    claim = await ports.record.announcement(ns, shard)
    ours = claim is not None and claim.value.uid == move.uid
    # Each pass reads only what its phase decides on: the Job that phase runs (the only one
    # that can be running, so the only one a rollback deletes), and the KPIs while the shift
    # is gated or when a Job's success makes them kpisBefore or kpisAfter.
    sync_state = cutover_state = JobState.ABSENT
    if phase is Phase.SYNCING:
        sync_state = await ports.jobs.state(ns, job_name(move.name, "sync"))
    if phase is Phase.CUTTING_OVER:
        cutover_state = await ports.jobs.state(ns, job_name(move.name, "cutover"))
    kpis_now, kpis_error = None, None
    if phase is Phase.REDIRECTING or JobState.SUCCEEDED in (sync_state, cutover_state):
        kpis_now, kpis_error = await ports.read_kpis(move.policy, ns, shard, move.spec["source"],
                                                     move.spec["target"])
    started = move.status.get("trafficShiftedAt")
    age = (move.now - parse_rfc3339(started)).total_seconds() if started else 0.0
    seen = Observed(
        phase=phase, source=move.spec["source"], target=move.spec["target"],
        blocked=move.blocked,
        placement=(placement.value.node, placement.value.epoch) if placement else None,
        claimed_by_us=ours, claimed_by=claim.value.migration if claim and not ours else None,
        epoch=move.status.get("epoch"), sync_job=sync_state, cutover_job=cutover_state,
        traffic_percent=int(move.status.get("trafficPercent", 0)), step_age_seconds=age,
        kpis_before=migration.kpis_from_status(move.status.get("kpisBefore")),
        kpis_now=kpis_now, kpis_error=kpis_error, refused=move.refused)
    return World(seen, placement, claim if ours else None)


async def perform(step: actions.Step, world: World, move: Migration, ports: MigrationPorts,
                  status: MutableMapping[str, Any]) -> None:
    ns, name, record = move.namespace, move.name, ports.record
    shard, source, target = move.spec["shard"], move.spec["source"], move.spec["target"]
    seen, claim = world.seen, world.claim
    now = rfc3339(move.now)
    if claim is not None:
        claim = await _adopt(record, ns, shard, claim)
    match step.action:
        case actions.Announce():
            assert world.placement is not None
            held = await record.announce(ns, shard, world.placement, Announcement(
                migration=f"{ns}/{name}", uid=move.uid, source=source, target=target,
                epoch=world.placement.value.epoch, phase=Phase.SYNCING.value))
            status["epoch"] = held.value.epoch + 1
        case actions.StartJob(kind=kind):
            assert claim is not None
            env = job_env(ns, name, shard, source, target, claim.value.epoch,
                          int(move.shard_spec.get("sizeBytes", 0)))
            if kind == "cutover":
                # Routers hold writes before the Job can fence: a cutover Job that finds the
                # move still Redirecting refuses to run (routers may still write the source).
                await record.advance(ns, shard, claim, Phase.CUTTING_OVER.value)
            await ports.jobs.create(ns, job_manifest(job_name(name, kind), kind,
                                                     move.policy["jobs"][kind], env,
                                                     dict(move.owner)))
            status[f"{kind}Job"] = job_name(name, kind)
            # also when a claim is adopted after its status write was lost
            status["epoch"] = claim.value.epoch + 1
        case actions.Shift(percent=percent):
            assert claim is not None
            weights = {node: share for node, share in ((source, 100 - percent),
                                                       (target, percent)) if share}
            await record.advance(ns, shard, claim, Phase.REDIRECTING.value, weights)
            status["trafficPercent"] = percent
            status["trafficShiftedAt"] = now
            if seen.traffic_percent == 0 and seen.kpis_now is not None:
                status["kpisBefore"] = migration.kpis_status(seen.kpis_now)
        case actions.Commit():
            assert claim is not None
            placed = await record.commit(ns, shard, claim)
            status["epoch"] = placed.value.epoch
            await ports.shards.patch_shard_status(ns, shard, {
                "node": placed.value.node, "epoch": placed.value.epoch,
                "lastMigration": {"name": name, "phase": Phase.ACTIVE.value, "finishedAt": now}})
            workload = (move.shard_spec.get("workload") or {}).get("name")
            if workload:
                await ports.shards.annotate_statefulset(ns, workload,
                                                        migration.placement_annotation(
                                                            shard, placed.value.node,
                                                            placed.value.epoch))
            if seen.kpis_now is not None:
                status["kpisAfter"] = migration.kpis_status(seen.kpis_now)
        case actions.RollBack():
            for kind, state in (("sync", seen.sync_job), ("cutover", seen.cutover_job)):
                if state is JobState.RUNNING:
                    await ports.jobs.delete(ns, job_name(name, kind))
            await record.abandon(ns, shard, move.uid)
            status["trafficPercent"] = 0
            status["rollbackReason"] = step.message
        case actions.Adopt() | actions.Hold():
            pass


async def _adopt(record: MoveRecord, ns: str, shard: str,
                 claim: Versioned[Announcement]) -> Versioned[Announcement]:
    """Put a claim made by an earlier process under this process's lease, before that lease's
    TTL runs out and takes the claim (and the traffic weights) with it."""
    if record.holds(claim):
        return claim
    return await record.adopt(ns, shard, claim)
