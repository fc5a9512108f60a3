"""Migrations exactly as the operator performs them, against etcd and the Job commands.

Announce, run the data plane's sync Job (`python -m shardkv.sync` by default), shift the route
10/50/100 (each held a while), run its cutover Job, commit; or abandon on a failure. `fail`
rehearses the ways a move rolls back: the sync Job killed, an abandon mid-shift, the cutover Job
killed, and an abandon after a successful cutover (the source was fenced and must take writes
again).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from shardcast.consensus.records import Announcement, Versioned
from shardcast.consensus.store import ConsensusStore

KILL_SYNC, ABANDON_SHIFT = "kill-sync", "abandon-shift"
KILL_CUTOVER, ABANDON_AFTER_CUTOVER = "kill-cutover", "abandon-after-cutover"
FAILURES = (KILL_SYNC, ABANDON_SHIFT, KILL_CUTOVER, ABANDON_AFTER_CUTOVER)
SHIFT = (10, 50, 100)


@dataclass
class Move:
    shard: str
    source: str
    target: str
    epoch: int
    fail: str | None
    committed: bool = False
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase
    ended_at: float = 0.0  # time.monotonic() when commit or abandon returned
    jobs: list[str] = field(default_factory=list)  # output of failed or killed Jobs


@dataclass
class History:
    """Placements as etcd returned them (epoch -> node, and when the next epoch was committed),
    and every move, per shard."""

    owners: dict[str, dict[int, str]] = field(default_factory=dict)
    superseded_at: dict[tuple[str, int], float] = field(default_factory=dict)
    moves: list[Move] = field(default_factory=list)


class DataPlane(Protocol):
    @property
    def namespace(self) -> str: ...

    def env(self) -> Mapping[str, str]: ...


def shardkv_job(kind: str) -> list[str]:
    return [sys.executable, "-m", f"shardkv.{kind}"]


class Driver:
    def __init__(self, store: ConsensusStore, cluster: DataPlane, hold: float,
                 rng: random.Random, command: Callable[[str], list[str]] = shardkv_job,
                 kill_when: Callable[[Move, str], Awaitable[None]] | None = None,
                 on_cut: Callable[[Move], Awaitable[None]] | None = None) -> None:
        """`command(kind)` is the argv of the sync or cutover Job; `kill_when(move, kind)`
        returns when a Job that is to be killed should be (default: a random 0.1-0.6 s in);
        `on_cut(move)` runs after a cutover Job succeeded, before the commit."""
        self.store, self.cluster, self.hold, self.rng = store, cluster, hold, rng
        self.command = command
        self.kill_when = kill_when or self._random_kill
        self.on_cut = on_cut
        self.history = History()
        self.namespace = cluster.namespace

    async def register(self, shard: str, node: str) -> None:
        placed = await self.store.register(self.namespace, shard, node)
        self.history.owners[shard] = {placed.value.epoch: placed.value.node}

    async def announce(self, shard: str, target: str, fail: str | None = None
                       ) -> tuple[Move, Versioned[Announcement], dict[str, str]]:
        """Claim a move of `shard` to `target` in etcd: the move, the claim, the Jobs' env."""
        ns = self.namespace
        placed = await self.store.placement(ns, shard)
        assert placed is not None
        uid = str(uuid.uuid4())  # dashed, as Kubernetes writes metadata.uid
        move = Move(shard, placed.value.node, target, placed.value.epoch, fail)
        self.history.moves.append(move)
        held = await self.store.announce(ns, shard, placed, Announcement(
            migration=f"{ns}/m-{uid[:10]}", uid=uid, source=move.source, target=target,
            epoch=move.epoch, phase="Syncing"))
        env = {**os.environ, **self.cluster.env(), "SHARDCAST_NAMESPACE": ns,
               "SHARDCAST_MIGRATION": held.value.migration, "SHARDCAST_SHARD": shard,
               "SHARDCAST_SOURCE": move.source, "SHARDCAST_TARGET": target,
               "SHARDCAST_EPOCH": str(move.epoch), "SHARDKV_JOB_TIMEOUT": "30"}
        return move, held, env

    async def migrate(self, shard: str, target: str, fail: str | None = None) -> Move:
        return await self.perform(*await self.announce(shard, target, fail))

    async def perform(self, move: Move, held: Versioned[Announcement],
                      env: dict[str, str]) -> Move:
        """An announced move, from sync to commit (or abandon)."""
        shard, target, fail = move.shard, move.target, move.fail
        uid = held.value.uid
        began = time.monotonic()
        synced = await self.job(move, "sync", env, fail == KILL_SYNC)
        move.phases["sync"] = time.monotonic() - began
        if not synced:
            return await self.abandon(move, uid)
        began = time.monotonic()
        for percent in SHIFT:
            weights = {n: s for n, s in ((move.source, 100 - percent), (target, percent)) if s}
            held = await self.store.advance(self.namespace, shard, held, "Redirecting", weights)
            await asyncio.sleep(self.hold)
            if fail == ABANDON_SHIFT and percent == 50:
                return await self.abandon(move, uid)
        move.phases["shift"] = time.monotonic() - began
        began = time.monotonic()
        held = await self.store.advance(self.namespace, shard, held, "CuttingOver")
        cut = await self.job(move, "cutover", env, fail == KILL_CUTOVER)
        move.phases["cutover"] = time.monotonic() - began
        if cut and self.on_cut is not None:
            began = time.monotonic()
            await self.on_cut(move)
            move.phases["verify"] = time.monotonic() - began  # writes are held meanwhile
        if not cut or fail == ABANDON_AFTER_CUTOVER:
            return await self.abandon(move, uid)
        return await self.commit(move, held)

    async def commit(self, move: Move, held: Versioned[Announcement]) -> Move:
        began = time.monotonic()
        committed = await self.store.commit(self.namespace, move.shard, held)
        move.ended_at = time.monotonic()
        move.phases["commit"] = move.ended_at - began
        move.committed = True
        self.history.owners[move.shard][committed.value.epoch] = committed.value.node
        self.history.superseded_at[(move.shard, move.epoch)] = move.ended_at
        return move

    async def job(self, move: Move, kind: str, env: dict[str, str], kill: bool = False) -> bool:
        """Run one Job command; `kill` kills it at a random point of its run instead."""
        proc = await asyncio.create_subprocess_exec(
            *self.command(kind), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        ran = asyncio.ensure_future(proc.communicate())
        if kill:
            killer = asyncio.ensure_future(self.kill_when(move, kind))
            await asyncio.wait((ran, killer), return_when=asyncio.FIRST_COMPLETED)
            killer.cancel()
            if not ran.done():
                with contextlib.suppress(ProcessLookupError):  # it ended as the kill came
                    proc.kill()
                await ran
                move.jobs.append(f"{kind} killed")
                return False
        output, _ = await ran
        if proc.returncode != 0 or kill:
            move.jobs.append(f"{kind} exit {proc.returncode}: {output.decode().strip()}")
        return proc.returncode == 0 and not kill

    async def _random_kill(self, move: Move, kind: str) -> None:
        await asyncio.sleep(self.rng.uniform(0.1, 0.6))

    async def abandon(self, move: Move, uid: str) -> Move:
        assert await self.store.abandon(self.namespace, move.shard, uid)
        move.ended_at = time.monotonic()
        return move
