"""Rollback and cleanup: whatever a move left on the nodes once etcd no longer records it.

    shardcast dataplane postgres janitor    (SHARDCAST_ETCD_ENDPOINTS, SHARDCAST_PG_NODES,
                                             SHARDCAST_NAMESPACE)

etcd decides, the nodes follow: for a shard no move claims, the placement's node is the owner.
On every other node the shard's subscriptions are dropped (with their slots on the owner), and
a copy that is not fenced is dropped with them: it is a target that never finished its sync
(a copy that was cut over away from is fenced, read-only, and kept until the shard moves back).
On the owner the publication and any slot left by an unreachable target are dropped, and the
fence is lifted: a move abandoned after its cutover leaves the source authoritative again.

The janitor does this for each shard whose move ends, as etcd's watch reports it, and for
every shard at start and every minute. Only shards no move claims are touched, and a
subscription or slot is named by its move's uid, so a new move of the same shard is never
taken for a leftover; what remains is a window in which a shard's check and its cleanup
straddle the start of a new move, which then fails its sync (a target, never the owner, loses
its copy) and is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import psycopg

from shardcast.consensus.records import MIGRATION, Announcement
from shardcast.consensus.store import ConsensusStore
from shardcast.dataplane.jobs import JobFailed
from shardcast.dataplane.postgres import catalog
from shardcast.dataplane.postgres.settings import parse_nodes

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Cleaned:
    shard: str
    actions: tuple[str, ...]


async def clean_shard(store: ConsensusStore, nodes: Mapping[str, str], namespace: str,
                      shard: str, schema: str | None = None) -> Cleaned:
    """Bring every node in line with etcd for one shard no move claims (else nothing)."""
    schema = schema or catalog.schema_of(shard)
    if await store.announcement(namespace, shard) is not None:
        return Cleaned(shard, ())
    placed = await store.placement(namespace, shard)
    if placed is None:
        return Cleaned(shard, ())
    owner = placed.value.node
    actions: list[str] = []
    for node, dsn in nodes.items():
        if node == owner:
            continue
        try:
            conn = await catalog.connect(dsn)
        except psycopg.OperationalError as error:
            # A node that is down must not keep the owner fenced or its slots filling the
            # disk; its leftovers wait for a sweep after it is back (routers follow etcd).
            actions.append(f"{node}: unreachable, cleaned at a later sweep ({error})")
            continue
        async with conn:
            for name in await catalog.subscriptions(conn, schema):
                await catalog.drop_subscription(conn, name)
                actions.append(f"{node}: dropped subscription {name}")
            if (await catalog.schema_exists(conn, schema)
                    and not await catalog.fenced(conn, schema)):
                await catalog.drop_schema(conn, schema)
                actions.append(f"{node}: dropped unfinished copy {schema}")
    if owner in nodes:
        conn = await catalog.connect(nodes[owner])
        async with conn:
            for slot, active in await catalog.slots(conn, schema):
                if not active:
                    await catalog.drop_slot(conn, slot)
                    actions.append(f"{owner}: dropped slot {slot}")
            await catalog.drop_publication(conn, schema)
            if await catalog.fenced(conn, schema):
                await catalog.unfence(conn, schema)
                actions.append(f"{owner}: lifted the fence on {schema} (the owner again)")
    return Cleaned(shard, tuple(actions))


async def sweep(store: ConsensusStore, nodes: Mapping[str, str], namespace: str) -> list[Cleaned]:
    """clean_shard for every shard etcd places in the namespace."""
    placements, _ = await store.snapshot("placement")
    return [await clean_shard(store, nodes, namespace, shard)
            for ns, shard in sorted(placements) if ns == namespace]


async def janitor(store: ConsensusStore, nodes: Mapping[str, str], namespace: str,
                  sweep_seconds: float = 60.0) -> None:
    """Clean each shard whose move ended, as the watch reports it, and sweep every shard
    every `sweep_seconds` (a cleanup that failed, a move that ended while the janitor was
    down). Runs until cancelled."""
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(_sweep_every(store, nodes, namespace, sweep_seconds))
        tasks.create_task(_follow(store, nodes, namespace))


async def _sweep_every(store: ConsensusStore, nodes: Mapping[str, str], namespace: str,
                       seconds: float) -> None:
    while True:
        try:
            for cleaned in await sweep(store, nodes, namespace):
                _log(cleaned)
        except Exception:  # a node or etcd down: the next sweep retries
            LOG.exception("sweeping %s failed", namespace)
        await asyncio.sleep(seconds)


async def _follow(store: ConsensusStore, nodes: Mapping[str, str], namespace: str) -> None:
    _, revision = await store.snapshot(MIGRATION)
    async for change in store.watch((MIGRATION,), revision + 1):
        if change.namespace != namespace or isinstance(change.value, Announcement):
            continue
        try:
            _log(await clean_shard(store, nodes, namespace, change.shard))
        except Exception:  # one node down must not end the watch for every shard
            LOG.exception("cleaning %s/%s failed; the next sweep retries", namespace,
                          change.shard)


async def drop_schemas(nodes: Mapping[str, str], schemas: Sequence[str]) -> None:
    """The schemas and whatever their moves left (subscriptions, slots, publications), on
    every node: a fresh start for the demo and the tests, never part of a move."""
    for dsn in nodes.values():
        conn = await catalog.connect(dsn)
        async with conn:
            for schema in schemas:
                for name in await catalog.subscriptions(conn, schema):
                    await catalog.drop_subscription(conn, name)
            for schema in schemas:
                for slot, _ in await catalog.slots(conn, schema):
                    await catalog.drop_slot(conn, slot)
                await catalog.drop_publication(conn, schema)
                await catalog.drop_schema(conn, schema)


def run_janitor(environ: Mapping[str, str], sweep_seconds: float) -> None:
    """The janitor command: SHARDCAST_NAMESPACE, SHARDCAST_ETCD_ENDPOINTS, SHARDCAST_PG_NODES."""
    missing = [name for name in ("SHARDCAST_NAMESPACE", "SHARDCAST_ETCD_ENDPOINTS",
                                 "SHARDCAST_PG_NODES") if not environ.get(name)]
    if missing:
        raise JobFailed(f"missing environment: {', '.join(missing)}")
    nodes = parse_nodes(environ["SHARDCAST_PG_NODES"])
    logging.basicConfig(level=logging.WARNING)

    async def serve() -> None:
        async with ConsensusStore.open(environ["SHARDCAST_ETCD_ENDPOINTS"].split(",")) as store:
            await janitor(store, nodes, environ["SHARDCAST_NAMESPACE"], sweep_seconds)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


def _log(cleaned: Cleaned) -> None:
    for action in cleaned.actions:
        LOG.warning("%s: %s", cleaned.shard, action)
