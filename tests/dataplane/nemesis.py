"""A randomized fault campaign, the way etcd and CockroachDB are tested with nemeses: the real
operator moves shards of the reference data plane under writes and reads while faults strike at
seeded random times, and the invariants are checked all along and at the end.

Shared by `bench/fault_campaign.py` (the full run) and the suite's short seeded slice. Faults
come one at a time: inject, hold, heal, pause; so "after its faults heal" has one meaning."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import random
import signal
import statistics
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shardkv.client import NodeClient
from shardkv.local import Cluster
from shardkv.router import Router

from shardcast.consensus.records import MIGRATION, PLACEMENT, ROUTE, Placement
from shardcast.consensus.store import ConsensusStore
from shardcast.devstack import process, stack
from shardcast.devstack.kubectl import kubectl
from shardcast.devstack.manifests import statefulset
from shardcast.devstack.paths import state_dir
from tests.dataplane.driver import History, Move
from tests.dataplane.workload import Ledger, leftovers, lost_writes, misplaced_reads, read, write
from tests.stack.kube import apply, wait_for
from tests.stack.operator_process import Operators
from tests.stack.test_migrations import move, shard

FAULTS = ("operator-kill", "operator-freeze", "etcd-kill", "etcd-freeze", "apiserver-restart",
          "prometheus-stop", "job-kill", "migration-delete", "target-cordon")
TERMINAL = {"Active", "RolledBack", "Failed"}
MOVING = {"Syncing", "Redirecting", "CuttingOver"}
NOWHERE = "node-zz"  # a typo'd target: must be refused, never owned


def job(module: str) -> dict[str, Any]:
    return {"template": {"spec": {"containers": [
        {"name": module.rsplit(".", 1)[1], "image": "shardkv:dev",
         "command": [sys.executable, "-m", module]}]}}}


POLICY = {"apiVersion": "shardcast.io/v1alpha1", "kind": "MigrationPolicy",
          "metadata": {"name": "kv"},
          "spec": {"mode": "propose-only", "shardSelector": {"matchLabels": {"app": "none"}},
                   "metric": {"type": "cpu"},
                   "jobs": {"sync": job("shardkv.sync"), "cutover": job("shardkv.cutover")},
                   "trafficShift": {"steps": [10, 50, 100], "gateWindow": "1s"}}}


@dataclass(frozen=True)
class Settings:
    migrations: int = 200
    faults: int = 100
    lanes: int = 3  # moves under way at once
    shards: int = 8
    seed: int = 1
    bound_seconds: float = 120.0  # a migration ends this long after its faults heal, at most
    bad_targets: float = 0.05  # share of manual moves to a Node that does not exist


@dataclass
class Report:
    faults: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)  # "phase/reason", or "deleted"
    violations: list[str] = field(default_factory=list)
    heal_to_end: list[float] = field(default_factory=list)  # seconds, per migration
    acknowledged: int = 0
    unavailable: list[str] = field(default_factory=list)  # requests the router gave up on
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [f"faults injected: {sum(self.faults.values())}  "
                 + ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items())),
                 f"migrations: {sum(self.outcomes.values())}  "
                 + ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items())),
                 f"acknowledged writes: {self.acknowledged}; requests given up on (shard "
                 f"unavailable past the router's patience): {len(self.unavailable)}"
                 + (f", e.g. {self.unavailable[0]}" if self.unavailable else ""),
                 f"invariant violations: {len(self.violations)}"]
        lines += [f"  - {v}" for v in self.violations[:30]]
        if self.heal_to_end:
            ordered = sorted(self.heal_to_end)
            p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
            lines.append(f"time to terminal phase after healing: p50 "
                         f"{statistics.median(ordered):.1f}s  p95 {p95:.1f}s  "
                         f"max {ordered[-1]:.1f}s")
        lines.append(f"wall time: {self.seconds:.0f}s")
        return "\n".join(lines)


@dataclass
class Seen:
    """What the watchers saw: each migration's spec, first and terminal sighting, and the
    placement history from etcd's watch."""

    created: dict[str, float] = field(default_factory=dict)
    ended: dict[str, float] = field(default_factory=dict)
    outcome: dict[str, str] = field(default_factory=dict)
    specs: dict[str, dict[str, Any]] = field(default_factory=dict)
    epochs: dict[str, int] = field(default_factory=dict)  # migration -> epoch it establishes
    history: History = field(default_factory=History)
    heals: list[float] = field(default_factory=list)
    deleted: set[str] = field(default_factory=set)


class Campaign:
    def __init__(self, cluster: Cluster, endpoints: stack.Endpoints, operators: Operators,
                 settings: Settings) -> None:
        self.cluster, self.endpoints, self.operators = cluster, endpoints, operators
        self.settings, self.rng = settings, random.Random(settings.seed)
        self.kubeconfig, self.ns = endpoints.kubeconfig, cluster.namespace
        self.shards = [f"s{i}" for i in range(settings.shards)]
        self.report, self.seen = Report(), Seen()
        self.operator = operators.start()
        self.faults_done = asyncio.Event()
        self.unhealed: Callable[[], Awaitable[None]] | None = None

    # -- the run -------------------------------------------------------------------------------

    async def run(self) -> Report:
        began = time.monotonic()
        nodes = list(self.cluster.addresses)
        await asyncio.to_thread(apply, self.kubeconfig, self.ns, statefulset("kv", 4), POLICY,
                                *(shard(s, nodes[i % len(nodes)])
                                  for i, s in enumerate(self.shards)))
        for s in self.shards:
            await asyncio.to_thread(wait_for, self.kubeconfig, self.ns, f"shard/{s}",
                                    lambda o: "epoch" in o.get("status", {}), 60)
        async with ConsensusStore.open(self.cluster.etcd) as store, \
                NodeClient.open(self.cluster.addresses) as client, \
                Router.open(store, self.ns, client) as router:
            for s in self.shards:
                placed = await store.placement(self.ns, s)
                assert placed is not None
                self.seen.history.owners[s] = {placed.value.epoch: placed.value.node}
            ledger, stop = Ledger(), asyncio.Event()
            watchers = [asyncio.create_task(self._watch_placements(store)),
                        asyncio.create_task(self._watch_migrations())]
            traffic = [asyncio.create_task(write(router, ledger, self.shards, w, stop,
                                                 random.Random(self.settings.seed * 100 + w),
                                                 tolerate=True)) for w in range(2)]
            traffic.append(asyncio.create_task(read(router, ledger, stop,
                                                    random.Random(self.settings.seed * 200),
                                                    tolerate=True)))
            budget = [self.settings.migrations]
            lanes = [asyncio.create_task(self._lane(router, budget))
                     for _ in range(self.settings.lanes)]
            nemesis = asyncio.create_task(self._nemesis())
            try:
                await asyncio.gather(*lanes)
            finally:
                nemesis.cancel()  # only still running if a lane failed
                with contextlib.suppress(asyncio.CancelledError):
                    await nemesis
                if self.unhealed is not None:  # stopped mid-fault: heal before leaving
                    await self.unhealed()
            await self._settle()
            stop.set()
            await asyncio.gather(*traffic)
            for task in watchers:
                task.cancel()
            await self._final_checks(store, client, router, ledger)
        self.report.acknowledged = len(ledger.seqs)
        self.report.unavailable = ledger.unavailable
        self.report.seconds = time.monotonic() - began
        return self.report

    async def _lane(self, router: Router, budget: list[int]) -> None:
        """Moves one shard at a time: at least the budget, and on until the faults are done
        (faults against an idle system prove nothing)."""
        busy = self.seen.specs
        while budget[0] > 0 or not self.faults_done.is_set():
            budget[0] -= 1
            moving = {spec["shard"] for name, spec in busy.items() if name not in self.seen.ended}
            free = [s for s in self.shards if s not in moving]
            if not free:
                await asyncio.sleep(0.5)
                budget[0] += 1
                continue
            name_of = self.rng.choice(free)
            placed = router.placement(name_of)
            assert placed is not None
            target = (NOWHERE if self.rng.random() < self.settings.bad_targets else
                      self.rng.choice([n for n in self.cluster.addresses if n != placed.node]))
            name = f"m{len(busy)}-{name_of}-{target}"
            busy[name] = {"shard": name_of, "source": placed.node, "target": target}
            self.seen.created[name] = time.monotonic()
            await self._kubectl_retrying(functools.partial(
                apply, self.kubeconfig, self.ns, move(name, name_of, placed.node, target)))
            while name not in self.seen.ended:
                await asyncio.sleep(0.3)
            await asyncio.sleep(0.3)  # the router's view catches up with a commit

    # -- faults --------------------------------------------------------------------------------

    async def _nemesis(self) -> None:
        injected = 0
        while injected < self.settings.faults:
            await asyncio.sleep(self.rng.uniform(0.5, 3.0))
            kind = self.rng.choice(FAULTS)
            self.unhealed = await self._inject(kind)
            if self.unhealed is None:
                continue
            injected += 1
            self.report.faults[kind] += 1
            await asyncio.sleep(self.rng.uniform(1.0, 8.0))
            await self.unhealed()
            self.unhealed = None
            self.seen.heals.append(time.monotonic())
        self.faults_done.set()

    async def _inject(self, kind: str) -> Callable[[], Awaitable[None]] | None:
        state = state_dir()
        if kind == "operator-kill":
            self.operator.send_signal(signal.SIGKILL)
            await asyncio.to_thread(self.operator.wait, 10)

            async def restart() -> None:
                self.operator = self.operators.start()
            return restart
        if kind == "operator-freeze":
            return self._freeze(self.operator.pid)
        if kind in ("etcd-kill", "etcd-freeze"):
            member = self.rng.choice(stack.consensus_members())
            if kind == "etcd-freeze":
                pid = process.running_pid(member, state)
                return self._freeze(pid) if pid else None
            await asyncio.to_thread(process.stop, member, state)
            return self._starter(member)
        if kind in ("apiserver-restart", "prometheus-stop"):
            part = stack.part("kube-apiserver" if kind == "apiserver-restart" else "prometheus")
            await asyncio.to_thread(process.stop, part, state)
            return self._starter(part)
        if kind == "job-kill":
            pids = self._job_pids()
            if not pids:
                return None
            os.kill(self.rng.choice(pids), signal.SIGKILL)
            return _nothing
        moving = [n for n, s in self.seen.specs.items()
                  if n not in self.seen.ended and s["target"] != NOWHERE]
        if not moving:
            return None
        name = self.rng.choice(moving)
        if kind == "migration-delete":
            self.seen.deleted.add(name)
            await self._kubectl_retrying(lambda: kubectl(
                self.kubeconfig, "-n", self.ns, "delete", "shardmigration", name,
                "--wait=false"))
            return _nothing
        target = self.seen.specs[name]["target"]
        await self._kubectl_retrying(lambda: kubectl(self.kubeconfig, "cordon", target))

        async def uncordon() -> None:
            await self._kubectl_retrying(lambda: kubectl(self.kubeconfig, "uncordon", target))
        return uncordon

    def _freeze(self, pid: int) -> Callable[[], Awaitable[None]]:
        os.kill(pid, signal.SIGSTOP)

        async def thaw() -> None:
            os.kill(pid, signal.SIGCONT)
        return thaw

    @staticmethod
    def _starter(part: process.Part) -> Callable[[], Awaitable[None]]:
        async def start() -> None:
            await asyncio.to_thread(process.start, part, state_dir())
        return start

    def _job_pids(self) -> list[int]:
        """This campaign's running sync and cutover processes (their environment names this
        data plane's nodes)."""
        marker = self.cluster.env()["SHARDKV_NODES"].encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                command = (entry / "cmdline").read_bytes()
                ours = (b"shardkv.sync" in command or b"shardkv.cutover" in command) and \
                    not command.startswith(b"sh\0") and marker in (entry / "environ").read_bytes()
                if ours:
                    found.append(int(entry.name))
            except OSError:
                continue
        return found

    async def _kubectl_retrying(self, call: Callable[[], object]) -> None:
        """A kubectl call that the API server's restart may refuse for a while."""
        deadline = time.monotonic() + 120
        while True:
            try:
                await asyncio.to_thread(call)
                return
            except process.StackError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(1)

    # -- watching and invariants ---------------------------------------------------------------

    async def _watch_placements(self, store: ConsensusStore) -> None:
        """Every placement etcd commits, in revision order: epochs rise by exactly one."""
        _, revision = await store.snapshot(PLACEMENT)
        async for change in store.watch((PLACEMENT,), revision + 1):
            if change.namespace != self.ns or not isinstance(change.value, Placement):
                continue
            owners = self.seen.history.owners.setdefault(change.shard, {})
            latest = max(owners, default=0)
            placed = change.value
            if placed.epoch != latest + 1:
                self.report.violations.append(
                    f"{change.shard}: epoch {latest} -> {placed.epoch} at revision "
                    f"{change.revision} (must rise by one)")
            owners[placed.epoch] = placed.node
            self.seen.history.superseded_at[(change.shard, latest)] = time.monotonic()

    async def _watch_migrations(self) -> None:
        """Polls every ShardMigration: ends, outcomes, and never two moving one shard."""
        while True:
            try:
                listed = await asyncio.to_thread(kubectl, self.kubeconfig, "-n", self.ns, "get",
                                                 "shardmigrations", "-o", "json")
            except process.StackError:
                await asyncio.sleep(1)
                continue
            now, present, moving = time.monotonic(), set(), Counter[str]()
            for item in json.loads(listed)["items"]:
                name, status = item["metadata"]["name"], item.get("status", {})
                present.add(name)
                phase = status.get("phase", "Pending")
                if phase in MOVING:
                    moving[item["spec"]["shard"]] += 1
                if status.get("epoch"):  # announced: the epoch its commit would establish
                    self.seen.epochs[name] = int(status["epoch"])
                if phase in TERMINAL and name not in self.seen.ended:
                    reason = next((c["reason"] for c in status.get("conditions", [])
                                   if c["type"] == "Ready"), "")
                    self.seen.ended[name], self.seen.outcome[name] = now, f"{phase}/{reason}"
            for shard_name, count in moving.items():
                if count > 1:
                    self.report.violations.append(f"{count} migrations of {shard_name} past "
                                                  "Pending at once")
            for name in self.seen.deleted - set(self.seen.ended) - present:
                self.seen.ended[name], self.seen.outcome[name] = now, "deleted"
            await asyncio.sleep(0.5)

    async def _settle(self) -> None:
        """Every migration ends within the bound of the last heal (all faults are healed)."""
        deadline = max([time.monotonic(), *self.seen.heals]) + self.settings.bound_seconds
        while set(self.seen.specs) - set(self.seen.ended) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        for name in sorted(set(self.seen.specs) - set(self.seen.ended)):
            self.report.violations.append(f"{name} not ended {self.settings.bound_seconds:.0f}s "
                                          "after the faults healed")

    async def _final_checks(self, store: ConsensusStore, client: NodeClient, router: Router,
                            ledger: Ledger) -> None:
        seen, violations = self.seen, self.report.violations
        for name, ended in seen.ended.items():
            healed = max([seen.created[name], *(h for h in seen.heals if h <= ended)])
            self.report.heal_to_end.append(ended - healed)
            if ended - healed > self.settings.bound_seconds:
                violations.append(f"{name} ended {ended - healed:.0f}s after its faults healed")
        owned = {(shard_name, epoch, node) for shard_name, owners in seen.history.owners.items()
                 for epoch, node in owners.items()}
        for name in seen.deleted & set(seen.epochs):  # the commit may win the race with delete
            spec = seen.specs[name]
            if (spec["shard"], seen.epochs[name], spec["target"]) in owned:
                seen.outcome[name] = "deleted after its commit"
        targets = {(s["shard"], seen.epochs[n], s["target"]) for n, s in seen.specs.items()
                   if n in seen.epochs and seen.outcome.get(n, "").startswith(
                       ("Active", "deleted after"))}
        for shard_name, epoch, node in sorted(owned):
            if epoch > 1 and (shard_name, epoch, node) not in targets:
                violations.append(f"{shard_name} owned by {node} at epoch {epoch} without an "
                                  "Active migration there")
        self.report.outcomes.update(seen.outcome[name] for name in seen.ended)
        seen.history.moves = [Move(s["shard"], s["source"], s["target"], seen.epochs[n] - 1,
                                   None) for n, s in seen.specs.items() if n in seen.epochs]
        await asyncio.sleep(1)  # the router's view of the last commits
        _, lost_or_wrong = await lost_writes(client, router, ledger)
        violations += lost_or_wrong + ledger.errors + misplaced_reads(ledger, seen.history)
        violations += await leftovers(client, router, self.shards)
        for kind in (MIGRATION, ROUTE):
            records, _ = await store.snapshot(kind)
            violations += [f"{kind} record of {s} left behind" for (ns, s) in records
                           if ns == self.ns]
        violations += [f"job process {pid} left running" for pid in self._job_pids()]


async def _nothing() -> None:
    """The heal of a fault that heals itself (a killed Job, a deleted migration)."""
