"""Shard status, kept true to etcd and to the StatefulSet by one loop instead of a kopf
handler per Shard.

kopf's per-object machinery (a worker, handler progress, a diff base and a timer per Shard)
cost more CPU at start than every forecast of the first cycle. Here a Shard is marked dirty
when the informer sees it change, when etcd's record of it changes (consensus.mirror), when its
StatefulSet changes, and for all of them at every safety resync; one loop re-derives the
marked Shards from those in-memory views, a bounded number at a time, and writes a status
only when it would say something new. The same loop holds each Shard by shardcast's finalizer
(the one kopf put there before) and, when it is deleted, releases its etcd records first. kopf
does not watch Shards at all. The loop starts with the first Node event, which kopf delivers
only once its indexes are filled and only to the active replica."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
from collections.abc import Mapping
from typing import Any

from shardcast.api import shard
from shardcast.api.conditions import Condition, find, merge, rfc3339
from shardcast.api.kinds import FINALIZER, GROUP, SHARDS, VERSION
from shardcast.api.shard import IndexedShard
from shardcast.api.shard_index import Key, ShardIndex
from shardcast.clients import kubernetes as k8s
from shardcast.consensus.mirror import PlacementMirror
from shardcast.consensus.store import ConsensusUnavailable
from shardcast.handlers.indexes import Named, named

LOG = logging.getLogger(__name__)
CONCURRENCY = 16  # Shards re-derived at once (each may register in etcd and patch its status)
MIRROR_WAIT_SECONDS = 10.0  # at start, how long the first pass waits for etcd's first snapshot
RELEASE_RETRY_SECONDS = 2.0  # a deleted Shard whose move is still rolling back: look again then


class ShardSync:
    """Dirty Shards, re-derived by `run()`; `mark()` from anywhere on the event loop."""

    def __init__(self, shards: ShardIndex, workloads: Named[shard.WorkloadState],
                 resync_seconds: float) -> None:
        self.shards, self.workloads, self.resync_seconds = shards, workloads, resync_seconds
        self.mirror: PlacementMirror | None = None  # set once etcd's watch is opened
        self._dirty: set[Key] = set()
        self._wake = asyncio.Event()

    def mark(self, namespace: str | None, name: str) -> None:
        self._dirty.add((namespace or "default", name))
        self._wake.set()

    def mark_all(self) -> None:
        for namespace, names in self.shards.namespaces():
            for name in names:
                self.mark(namespace, name)

    async def run(self, listed: asyncio.Event) -> None:
        """From the first complete list of Shards on, until cancelled."""
        await listed.wait()
        if self.mirror is not None:
            with contextlib.suppress(TimeoutError):  # etcd down: derived as not consulted
                await asyncio.wait_for(self.mirror.ready.wait(), MIRROR_WAIT_SECONDS)
        resync = asyncio.create_task(self._resync())
        limit = asyncio.Semaphore(CONCURRENCY)

        async def one(key: Key) -> None:
            async with limit:
                try:
                    await self.sync(*key)
                except Exception:  # one Shard's failed write must not stop the others
                    LOG.exception("deriving the status of Shard %s/%s failed", *key)
                    asyncio.get_running_loop().call_later(1.0, self.mark, *key)

        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                batch, self._dirty = self._dirty, set()
                await asyncio.gather(*(one(key) for key in sorted(batch)))
        finally:
            resync.cancel()

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self.resync_seconds)
            self.mark_all()

    async def sync(self, namespace: str, name: str) -> None:
        """Hold a new Shard by the finalizer, release a deleted one; register a Shard seen for
        the first time in etcd (its placement starts at the declared node), then re-derive its
        status; patch it if it changed."""
        indexed = self.shards.get(namespace, name)
        if indexed is None:
            return
        if indexed.deleting:
            await self._release(indexed)
            return
        if FINALIZER not in indexed.finalizers:  # the patched Shard comes back through the watch
            await k8s.set_finalizers(SHARDS, namespace, name, [*indexed.finalizers, FINALIZER],
                                     indexed.resource_version)
            return
        mirror = self.mirror
        if mirror is not None and mirror.record(namespace, name) is None and mirror.error is None:
            with contextlib.suppress(ConsensusUnavailable):  # derived as not consulted
                mirror.remember(namespace, name, await mirror.store.register(
                    namespace, name, indexed.spec.node))
        fields, ready = derive(namespace, name, indexed.spec, indexed.generation,
                               named(self.workloads, namespace, indexed.spec.workload_name),
                               mirror, indexed.status)
        if not shard.status_changed(indexed.status, fields, ready):
            return
        conditions = merge(list(indexed.status.get("conditions") or []), ready,
                           datetime.datetime.now(datetime.UTC))
        await k8s.patch_status(GROUP, VERSION, SHARDS, namespace, name,
                               {**fields, "conditions": conditions})
        previous = find(indexed.status.get("conditions") or [], ready.type)
        # An Event for each change of Ready, and a Warning for a Shard first seen unhealthy;
        # not a Normal Event per healthy Shard at first sight (10,000 of them at a fresh start).
        changed = (previous.get("reason"), previous.get("status")) != (ready.reason, ready.status)
        if changed and (previous or not ready.healthy):
            await k8s.post_event(indexed.reference, "Normal" if ready.healthy else "Warning",
                                 ready.reason, ready.message)


    async def _release(self, indexed: IndexedShard) -> None:
        """A deleted Shard takes its etcd records with it, so a Shard created again under the
        name starts from its own spec, not from the previous one's placement. A move in flight
        is rolled back first (its migration sees the Shard going): finishing it would hand over
        a shard nobody serves, and rolling back leaves the data where it was."""
        if FINALIZER not in indexed.finalizers:
            return
        namespace, name, mirror = indexed.namespace, indexed.name, self.mirror
        if mirror is not None:
            claim = mirror.claim(namespace, name)
            if claim is not None or not await mirror.store.remove(namespace, name):
                LOG.info("Shard %s/%s waits for %s to roll back before its etcd records go",
                         namespace, name, claim.migration if claim else "a migration")
                asyncio.get_running_loop().call_later(RELEASE_RETRY_SECONDS, self.mark,
                                                      namespace, name)
                return
        await k8s.set_finalizers(SHARDS, namespace, name,
                                 [f for f in indexed.finalizers if f != FINALIZER],
                                 indexed.resource_version)


def derive(ns: str, name: str, spec: shard.ShardSpec, generation: int,
           workload: shard.WorkloadState | None, mirror: PlacementMirror | None,
           status: Mapping[str, Any]) -> tuple[dict[str, Any], Condition]:
    record, error = _record(ns, name, mirror, status)
    fields, ready = shard.observe(spec, generation, workload, record)
    fields["consensus"] = shard.consensus_status(
        spec, record, error, rfc3339(datetime.datetime.now(datetime.UTC)))
    return fields, ready


def _record(ns: str, name: str, mirror: PlacementMirror | None,
            status: Mapping[str, Any]) -> tuple[shard.Record | None, str | None]:
    """etcd's placement as mirrored; while the mirror is behind, what status last showed."""
    if mirror is None:
        return None, None
    mirrored = mirror.record(ns, name)
    claim = mirror.claim(ns, name)
    record = (shard.Record(mirrored[0].node, mirrored[0].epoch, mirrored[1],
                           claim.migration if claim else None)
              if mirrored is not None else _last_mirrored(status))
    return record, mirror.error


def _last_mirrored(status: Mapping[str, Any]) -> shard.Record | None:
    """What the status last mirrored from etcd: better than the declared node, which a
    migration may have left behind."""
    if "epoch" not in status:
        return None
    return shard.Record(status["node"], status["epoch"],
                        status.get("consensus", {}).get("etcdRevision", 0), None)
