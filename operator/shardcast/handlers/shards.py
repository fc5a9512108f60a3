"""Shard: the informer, the status loop's wiring and orphaned etcd records.

Nothing polls per shard: Shards come from one watch (clients/shard_informer.py), etcd
placements and claims from another (consensus.mirror), StatefulSets from kopf's watch (an
index), and a change of any re-derives the status of the shards it concerns
(handlers/shard_sync.py), written only when it would say something new; a slow safety resync
re-derives every one from the same in-memory views, with no I/O unless it differs."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Sequence
from typing import Any

import kopf

# kopf's matcher is private; tests/unit/test_served_namespaces.py pins its behaviour.
from kopf._cogs.structs.references import NamespaceName, match_namespace

from shardcast.clients.shard_informer import ShardInformer
from shardcast.consensus.mirror import PlacementMirror
from shardcast.consensus.store import ConsensusUnavailable
from shardcast.handlers import metrics
from shardcast.handlers.memo import shared_of
from shardcast.handlers.settings import INTERVALS
from shardcast.handlers.shard_sync import ShardSync

SAFETY_RESYNC_SECONDS = INTERVALS.shard_resync_seconds
LOG = logging.getLogger(__name__)


@kopf.on.startup()
async def watch_shards(memo: kopf.Memo, **kwargs: Any) -> None:
    """One list-and-watch of the served Shards feeds the index the handlers read
    (api/shard_index.py says why it is not a kopf index) and marks each changed Shard for the
    status loop (handlers/shard_sync.py), which starts once kopf's own indexes are filled."""
    ours = shared_of(memo)
    sync = ours.shard_sync = ShardSync(ours.shards, kwargs["workloads"], SAFETY_RESYNC_SECONDS)
    def changed(namespace: str, name: str) -> None:
        metrics.shard_seen()
        sync.mark(namespace, name)

    ours.informer = informer = ShardInformer(
        ours.shards, functools.partial(serves, ours.namespaces), changed)
    informer.start()

    async def when_indexed() -> None:
        await ours.kopf_indexed.wait()
        await sync.run(informer.listed)

    ours.tasks.append(asyncio.create_task(when_indexed()))


@kopf.on.cleanup()
async def stop_watching_shards(memo: kopf.Memo, **_: Any) -> None:
    informer = shared_of(memo).informer
    if informer is not None:
        informer.stop()


@kopf.on.event("apps", "v1", "statefulsets")
async def statefulset_changed(namespace: str | None, name: str, memo: kopf.Memo,
                              **_: Any) -> None:
    """Replica counts changed: re-derive the status of the shards this workload serves."""
    ours = shared_of(memo)
    if ours.shard_sync is not None:
        for served in ours.shards.serving(namespace, name):
            ours.shard_sync.mark(namespace, served)


@kopf.on.startup()
async def mirror_consensus(memo: kopf.Memo, **_: Any) -> None:
    """One etcd watch for every shard's placement and claim (needs the consensus store,
    opened by an earlier startup handler); a change re-derives the shard's status."""
    ours = shared_of(memo)
    if ours.consensus is None or ours.informer is None or ours.shard_sync is None:
        return
    mirror = ours.mirror = ours.shard_sync.mirror = PlacementMirror(ours.consensus)
    sync = ours.shard_sync

    async def changed(namespace: str, name: str) -> None:
        sync.mark(namespace, name)

    ours.tasks.append(asyncio.create_task(mirror.run(changed)))
    ours.tasks.append(asyncio.create_task(collect_orphans(
        mirror, ours.informer, ours.namespaces)))


@kopf.on.event("", "v1", "nodes")
async def nodes_listed(memo: kopf.Memo, **_: Any) -> None:
    """kopf calls no handler before its indexes are filled (nor while peering keeps this
    replica standing by), so the first Node event (every cluster has Nodes) says that Shard
    statuses may be derived from the StatefulSets' index."""
    shared_of(memo).kopf_indexed.set()


async def collect_orphans(mirror: PlacementMirror, informer: ShardInformer,
                          namespaces: Sequence[str]) -> None:
    """Remove etcd records whose Shard is gone (deleted while no operator ran, or with its
    finalizer removed by hand), in the namespaces this operator serves: once every Shard is
    listed, then every safety resync. Records a move still claims are left to that move."""
    await informer.listed.wait()
    shards = informer.index
    while True:
        await mirror.ready.wait()
        for (ns, name), (_, revision) in list(mirror.placements.items()):
            if (not serves(namespaces, ns) or shards.get(ns, name) is not None
                    or mirror.claim(ns, name)):
                continue
            with contextlib.suppress(ConsensusUnavailable):
                if await mirror.store.remove(ns, name, revision):
                    LOG.info("removed the etcd records of %s/%s: no such Shard", ns, name)
        await asyncio.sleep(SAFETY_RESYNC_SECONDS)


def serves(namespaces: Sequence[str], namespace: str) -> bool:
    """Whether kopf serves `namespace` under `--namespace` patterns (none: every namespace).
    kopf's own matcher, so the two can never disagree about a glob or a `!` exclusion."""
    return not namespaces or any(match_namespace(NamespaceName(namespace), pattern)
                                 for pattern in namespaces)
