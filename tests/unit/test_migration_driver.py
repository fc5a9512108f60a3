"""The migration driver (reconcile/migration_driver.py) against in-memory fakes of etcd's record,
the Job runner, the KPI reader and the Shard writes: each pass's status patch is fed into the
next pass, as kopf would, so a whole move runs in milliseconds."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from shardcast.consensus.records import Announcement, Placement, Versioned
from shardcast.consensus.store import Fenced
from shardcast.migration.model import JobState, Kpis, Phase
from shardcast.reconcile.migration_driver import Migration, MigrationPorts, drive

NS, SHARD, UID = "ns", "kv-0", "uid-1"
T0 = datetime.datetime(2026, 12, 2, 10, 0, tzinfo=datetime.UTC)
POLICY = {"jobs": {kind: {"template": {"spec": {"containers": [{"name": kind, "image": "x"}]}}}
                   for kind in ("sync", "cutover")},
          "trafficShift": {"steps": [50, 100], "gateWindow": "10s"}}


@dataclass
class FakeRecord:
    """etcd's record of one shard, with revisions; a write on a stale read is Fenced."""

    placement_: Versioned[Placement] | None = field(
        default_factory=lambda: Versioned(Placement("node-a", 1), 1))
    claim: Versioned[Announcement] | None = None
    weights: list[dict[str, int] | None] = field(default_factory=list)
    leased: set[int] = field(default_factory=set)  # revisions written under this lease
    revision: int = 1
    adopted: int = 0
    stale_read: Versioned[Announcement] | None = None  # what announcement() answers, if set

    def _next(self) -> int:
        self.revision += 1
        self.leased.add(self.revision)
        return self.revision

    async def placement(self, namespace: str, shard: str) -> Versioned[Placement] | None:
        return self.placement_

    async def announcement(self, namespace: str, shard: str) -> Versioned[Announcement] | None:
        return self.stale_read or self.claim

    async def announce(self, namespace: str, shard: str, placement: Versioned[Placement],
                       announcement: Announcement) -> Versioned[Announcement]:
        if self.claim is not None or placement != self.placement_:
            raise Fenced("claimed or moved")
        self.claim = Versioned(announcement, self._next())
        return self.claim

    async def advance(self, namespace: str, shard: str, held: Versioned[Announcement],
                      phase: str, weights: dict[str, int] | None = None,
                      ) -> Versioned[Announcement]:
        if held != self.claim:
            raise Fenced("stale claim")
        self.claim = Versioned(replace(held.value, phase=phase), self._next())
        self.weights.append(weights)
        return self.claim

    def holds(self, held: Versioned[Announcement]) -> bool:
        return held.revision in self.leased

    async def adopt(self, namespace: str, shard: str,
                    held: Versioned[Announcement]) -> Versioned[Announcement]:
        self.adopted += 1
        return await self.advance(namespace, shard, held, held.value.phase)

    async def commit(self, namespace: str, shard: str,
                     held: Versioned[Announcement]) -> Versioned[Placement]:
        if held != self.claim:
            raise Fenced("stale claim")
        self.placement_ = Versioned(Placement(held.value.target, held.value.epoch + 1),
                                    self._next())
        self.claim = None
        return self.placement_

    async def abandon(self, namespace: str, shard: str, uid: str) -> bool:
        if self.claim is None or self.claim.value.uid != uid:
            return False
        self.claim = None
        return True


@dataclass
class FakeJobs:
    """Jobs succeed as soon as they are created, unless `finish` says otherwise."""

    finish: JobState = JobState.SUCCEEDED
    created: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)

    async def create(self, namespace: str, manifest: Mapping[str, Any]) -> None:
        self.created.setdefault(manifest["metadata"]["name"], manifest)

    async def state(self, namespace: str, name: str) -> JobState:
        return self.finish if name in self.created else JobState.ABSENT

    async def delete(self, namespace: str, name: str) -> None:
        self.deleted.append(name)


@dataclass
class FakeShards:
    statuses: list[Mapping[str, Any]] = field(default_factory=list)
    annotations: list[dict[str, str]] = field(default_factory=list)

    async def patch_shard_status(self, namespace: str, shard: str,
                                 fields: Mapping[str, Any]) -> None:
        self.statuses.append(fields)

    async def annotate_statefulset(self, namespace: str, name: str,
                                   annotations: dict[str, str]) -> bool:
        self.annotations.append(annotations)
        return True


async def kpis(policy: Mapping[str, Any], ns: str, shard: str, source: str,
               target: str) -> tuple[Kpis | None, str | None]:
    return Kpis(latency_seconds=0.01), None


def ports(record: FakeRecord, jobs: FakeJobs, shards: FakeShards) -> MigrationPorts:
    return MigrationPorts(record, jobs, kpis, shards)


def move(status: Mapping[str, Any], now: datetime.datetime,
         refused: tuple[str, str] | None = None) -> Migration:
    return Migration(NS, "m1", UID, {"shard": SHARD, "source": "node-a", "target": "node-b"},
                     status, Phase(status.get("phase", Phase.PENDING.value)), None, refused,
                     POLICY, {"workload": {"name": "kv"}, "sizeBytes": 4096},
                     {"apiVersion": "shardcast.io/v1alpha1", "kind": "ShardMigration",
                      "name": "m1", "uid": UID}, now)


async def run(record: FakeRecord, jobs: FakeJobs, shards: FakeShards,
              status: dict[str, Any], passes: int = 20) -> tuple[dict[str, Any], list[str]]:
    """Passes 15 s apart until the move ends; the status and each step's reason."""
    reasons, now = [], T0
    for _ in range(passes):
        patch: dict[str, Any] = {}
        step = await drive(move(status, now), ports(record, jobs, shards), patch)
        if step is None:
            break
        status = {**status, **patch, "phase": step.phase.value}
        reasons.append(step.reason)
        now += datetime.timedelta(seconds=15)
    return status, reasons


def test_a_move_runs_from_pending_to_active() -> None:
    record, jobs, shards = FakeRecord(), FakeJobs(), FakeShards()
    status, reasons = asyncio.run(run(record, jobs, shards, {}))
    assert reasons == ["Syncing", "Syncing", "Redirecting", "Redirecting", "CuttingOver",
                       "Active"]
    assert status["phase"] == Phase.ACTIVE and status["epoch"] == 2
    assert record.placement_ is not None and record.placement_.value == Placement("node-b", 2)
    assert record.claim is None
    assert record.weights == [{"node-a": 50, "node-b": 50}, {"node-b": 100}, None]
    assert list(jobs.created) == ["m1-sync", "m1-cutover"]
    env = {e["name"]: e["value"] for e in
           jobs.created["m1-sync"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert (env["SHARDCAST_EPOCH"], env["SHARDCAST_SIZE_BYTES"]) == ("1", "4096")
    assert status["kpisBefore"] == status["kpisAfter"] == {"latencySeconds": 0.01}
    assert shards.statuses[0]["node"] == "node-b" and shards.statuses[0]["epoch"] == 2
    assert shards.annotations == [{"placement.shardcast.io/kv-0": "node-b@2"}]


@dataclass
class JobsThatReadTheRecord(FakeJobs):
    """Notes the phase etcd holds when each Job is created (what a started Job reads)."""

    record: FakeRecord = field(default_factory=FakeRecord)
    phase_seen: dict[str, str | None] = field(default_factory=dict)

    async def create(self, namespace: str, manifest: Mapping[str, Any]) -> None:
        claim = self.record.claim
        self.phase_seen[manifest["metadata"]["name"]] = claim.value.phase if claim else None
        await super().create(namespace, manifest)


def test_etcd_says_cutting_over_before_the_cutover_job_exists() -> None:
    record = FakeRecord()
    jobs = JobsThatReadTheRecord(record=record)
    asyncio.run(run(record, jobs, FakeShards(), {}))
    assert jobs.phase_seen == {"m1-sync": "Syncing", "m1-cutover": "CuttingOver"}


def test_a_refused_move_rolls_back_its_running_job_and_gives_the_claim_up() -> None:
    record, jobs, shards = FakeRecord(), FakeJobs(finish=JobState.RUNNING), FakeShards()
    status, _ = asyncio.run(run(record, jobs, shards, {}, passes=2))  # claimed, sync running
    assert status["phase"] == Phase.SYNCING and record.claim is not None
    patch: dict[str, Any] = {}
    step = asyncio.run(drive(move(status, T0, refused=("TargetUnschedulable", "cordoned")),
                             ports(record, jobs, shards), patch))
    assert step is not None and (step.phase, step.reason) == (Phase.ROLLED_BACK,
                                                              "TargetUnschedulable")
    assert jobs.deleted == ["m1-sync"] and record.claim is None
    assert patch["trafficPercent"] == 0 and "cordoned" in patch["rollbackReason"]
    assert record.placement_ is not None and record.placement_.value == Placement("node-a", 1)


def test_a_claim_made_by_an_earlier_process_is_adopted_before_the_next_step() -> None:
    record, jobs, shards = FakeRecord(), FakeJobs(), FakeShards()
    status, _ = asyncio.run(run(record, jobs, shards, {}, passes=1))  # announced
    record.leased.clear()  # the operator restarted: its lease is gone
    patch: dict[str, Any] = {}
    step = asyncio.run(drive(move(status, T0), ports(record, jobs, shards), patch))
    assert step is not None and step.reason == "Syncing"
    assert record.adopted == 1 and list(jobs.created) == ["m1-sync"]


def test_a_shard_another_move_holds_waits() -> None:
    record, jobs, shards = FakeRecord(), FakeJobs(), FakeShards()
    record.claim = Versioned(Announcement("ns/other", "uid-2", "node-a", "node-c", 1,
                                          Phase.SYNCING.value), 5)
    patch: dict[str, Any] = {}
    step = asyncio.run(drive(move({}, T0), ports(record, jobs, shards), patch))
    assert step is not None and (step.phase, step.reason) == (Phase.PENDING, "ShardBusy")
    assert patch == {} and not jobs.created


def test_a_write_on_a_stale_read_is_fenced_not_applied() -> None:
    record, jobs, shards = FakeRecord(), FakeJobs(), FakeShards()
    status, _ = asyncio.run(run(record, jobs, shards, {}, passes=2))  # claimed, sync Job done
    assert record.claim is not None
    record.stale_read = record.claim
    record.claim = replace(record.claim, revision=99)  # written since this pass read it
    with pytest.raises(Fenced):
        asyncio.run(drive(move(status, T0), ports(record, jobs, shards), {}))
    assert record.weights == []
