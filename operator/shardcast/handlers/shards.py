"""Shard: keep status (phase, node, epoch, Ready) true to etcd and to the StatefulSet.

Nothing polls per shard: etcd placements and claims come from one watch (consensus.mirror),
StatefulSets from kopf's watch (an index), and a change of either re-derives the status of the
shards it concerns. Status is written only when it would say something new; a slow timer
re-derives it from the same in-memory views as a safety net, with no I/O unless it differs."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import kopf

# kopf's matcher is private; tests/unit/test_served_namespaces.py pins its behaviour.
from kopf._cogs.structs.references import NamespaceName, match_namespace

from shardcast.api import shard
from shardcast.api.conditions import Condition, find, merge, rfc3339
from shardcast.api.kinds import GROUP, SHARDS, VERSION
from shardcast.api.shard_index import ShardIndex
from shardcast.clients import kubernetes as k8s
from shardcast.clients.shard_informer import ShardInformer
from shardcast.consensus.mirror import PlacementMirror
from shardcast.consensus.store import ConsensusUnavailable
from shardcast.handlers.indexes import Named, named
from shardcast.handlers.memo import shared_of
from shardcast.handlers.settings import INTERVALS
from shardcast.handlers.status import write_status

SAFETY_RESYNC_SECONDS = INTERVALS.shard_resync_seconds
LOG = logging.getLogger(__name__)
MIRROR_WAIT_SECONDS = 10.0  # at start, how long a Shard waits for etcd's first snapshot


@kopf.on.resume(GROUP, VERSION, SHARDS)
@kopf.on.create(GROUP, VERSION, SHARDS)
@kopf.on.update(GROUP, VERSION, SHARDS, field="spec")
@kopf.timer(GROUP, VERSION, SHARDS, interval=SAFETY_RESYNC_SECONDS,
            initial_delay=SAFETY_RESYNC_SECONDS)
async def observe_shard(body: kopf.Body, spec: kopf.Spec, name: str, namespace: str | None,
                        patch: kopf.Patch, memo: kopf.Memo, **kwargs: Any) -> None:
    parsed = shard.ShardSpec.from_dict(spec)
    ns = namespace or "default"
    mirror = shared_of(memo).mirror
    if mirror is not None:
        with contextlib.suppress(TimeoutError):  # etcd down: derived as not consulted
            await asyncio.wait_for(mirror.ready.wait(), MIRROR_WAIT_SECONDS)
    if mirror is not None and mirror.record(ns, name) is None and mirror.error is None:
        # First sight: etcd's placement starts at the declared node. If etcd is down, the
        # status derived below says it was not consulted.
        with contextlib.suppress(ConsensusUnavailable):
            mirror.remember(ns, name, await mirror.store.register(ns, name, parsed.node))
    fields, ready = derive(ns, name, parsed, body.metadata.get("generation", 0),
                           named(kwargs["workloads"], namespace, parsed.workload_name),
                           mirror, body.get("status", {}))
    if shard.status_changed(body.get("status", {}), fields, ready):
        write_status(body, patch, fields, ready)


@kopf.on.delete(GROUP, VERSION, SHARDS)
async def release_shard(name: str, namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
    """A deleted Shard takes its etcd records with it, so a Shard created again under the name
    starts from its own spec, not from the previous one's placement. A move in flight is rolled
    back first (its migration sees the Shard going): finishing it would hand over a shard
    nobody serves, and rolling back leaves the data where it was."""
    mirror = shared_of(memo).mirror
    if mirror is None:
        return
    ns = namespace or "default"
    claim = mirror.claim(ns, name)
    if claim is not None or not await mirror.store.remove(ns, name):
        raise kopf.TemporaryError(f"waiting for {claim.migration if claim else 'a migration'} "
                                  "to roll back before the shard's etcd records go", delay=2)


@kopf.on.startup()
async def watch_shards(memo: kopf.Memo, **_: Any) -> None:
    """One list-and-watch of the served Shards feeds the index the handlers read
    (api/shard_index.py says why it is not a kopf index)."""
    ours = shared_of(memo)
    ours.informer = ShardInformer(ours.shards, functools.partial(serves, ours.namespaces))
    ours.informer.start()


@kopf.on.cleanup()
async def stop_watching_shards(memo: kopf.Memo, **_: Any) -> None:
    informer = shared_of(memo).informer
    if informer is not None:
        informer.stop()


@kopf.on.event("apps", "v1", "statefulsets")
async def statefulset_changed(namespace: str | None, name: str, memo: kopf.Memo,
                              **kwargs: Any) -> None:
    """Replica counts changed: re-derive the status of the shards this workload serves (before
    the Shards are listed, each Shard's own resume handler derives it)."""
    ours = shared_of(memo)
    for served in ours.shards.serving(namespace, name):
        await refresh(namespace, served, ours.mirror, kwargs["workloads"], ours.shards)


@kopf.on.startup()
async def mirror_consensus(memo: kopf.Memo, **kwargs: Any) -> None:
    """One etcd watch for every shard's placement and claim (needs the consensus store,
    opened by an earlier startup handler)."""
    ours = shared_of(memo)
    if ours.consensus is None or ours.informer is None:
        return
    mirror = ours.mirror = PlacementMirror(ours.consensus)

    async def changed(namespace: str, name: str) -> None:
        await refresh(namespace, name, mirror, kwargs["workloads"], ours.shards)

    ours.tasks.append(asyncio.create_task(mirror.run(changed)))
    ours.tasks.append(asyncio.create_task(collect_orphans(
        mirror, ours.informer, ours.namespaces)))


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


async def refresh(namespace: str | None, name: str, mirror: PlacementMirror | None,
                  workloads: Named[shard.WorkloadState], shards: ShardIndex) -> None:
    """Re-derive one Shard's status from the in-memory views; patch it if it changed."""
    indexed = shards.get(namespace, name)
    if indexed is None:
        return  # not a Shard this operator serves (or deleted meanwhile)
    ns = namespace or "default"
    fields, ready = derive(ns, name, indexed.spec, indexed.generation,
                           named(workloads, namespace, indexed.spec.workload_name), mirror,
                           indexed.status)
    if not shard.status_changed(indexed.status, fields, ready):
        return
    conditions = merge(list(indexed.status.get("conditions") or []), ready,
                       datetime.datetime.now(datetime.UTC))
    await k8s.patch_status(GROUP, VERSION, SHARDS, ns, name,
                           {**fields, "conditions": conditions})
    previous = find(indexed.status.get("conditions") or [], ready.type)
    if (previous.get("reason"), previous.get("status")) != (ready.reason, ready.status):
        await k8s.post_event(indexed.reference, "Normal" if ready.healthy else "Warning",
                             ready.reason, ready.message)


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

