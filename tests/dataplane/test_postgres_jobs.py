"""The PostgreSQL Jobs one at a time on real servers: a sync killed once its subscription
exists resumes it instead of copying again, and bad input is refused with a reason and
nothing made."""

from __future__ import annotations

import asyncio
import random

from shardcast.consensus.store import ConsensusStore
from shardcast.dataplane.postgres import catalog
from shardcast.dataplane.postgres.cleanup import clean_shard
from tests.dataplane.driver import Driver, Move
from tests.dataplane.postgres_plane import PgPlane, create_shard, job_command, leftovers


async def _subscriptions(plane: PgPlane, node: str, schema: str) -> list[str]:
    conn = await catalog.connect(plane.nodes[node])
    async with conn:
        return await catalog.subscriptions(conn, schema)


async def _subscription_oid(plane: PgPlane, node: str, name: str) -> int:
    conn = await catalog.connect(plane.nodes[node])
    async with conn:
        cursor = await conn.execute("SELECT oid FROM pg_subscription WHERE subname = %s",
                                    (name,))
        row = await cursor.fetchone()
        assert row is not None, f"no subscription {name} on {node}"
        return int(str(row[0]))


def test_a_killed_sync_resumes_its_subscription(pg_plane: PgPlane,
                                                pg_shards: list[str]) -> None:
    shard, (source, target) = pg_shards[0], list(pg_plane.nodes)[:2]
    schema = catalog.schema_of(shard)

    async def scenario() -> None:
        async with ConsensusStore.open(pg_plane.etcd) as store:
            async def subscribed(move: Move, kind: str) -> None:
                while not await _subscriptions(pg_plane, move.target, schema):
                    await asyncio.sleep(0.01)

            driver = Driver(store, pg_plane, 0.1, random.Random(3), command=job_command,
                            kill_when=subscribed)
            await create_shard(pg_plane.nodes[source], schema, rows=2000)
            await driver.register(shard, source)
            move, _, env = await driver.announce(shard, target)
            assert not await driver.job(move, "sync", env, kill=True)
            [name] = await _subscriptions(pg_plane, target, schema)
            made = await _subscription_oid(pg_plane, target, name)
            assert await driver.job(move, "sync", env), move.jobs
            assert await _subscriptions(pg_plane, target, schema) == [name]
            assert await _subscription_oid(pg_plane, target, name) == made  # not made again
            conn = await catalog.connect(pg_plane.nodes[target])
            async with conn:
                cursor = await conn.execute(f'SELECT count(*) FROM "{schema}".orders')
                assert await cursor.fetchone() == (2000,)

    asyncio.run(scenario())


def _refused_sync(plane: PgPlane, shard: str, source: str, target: str,
                  schema_present: bool) -> list[str]:
    """A sync of `shard` from `source` to `target` that must fail: the Job's output, once
    nothing of the move is found on any node."""

    async def scenario() -> list[str]:
        async with ConsensusStore.open(plane.etcd) as store:
            driver = Driver(store, plane, 0.1, random.Random(3), command=job_command)
            if schema_present:
                await create_shard(plane.nodes[source], catalog.schema_of(shard))
            await driver.register(shard, source)
            move, _, env = await driver.announce(shard, target)
            assert not await driver.job(move, "sync", env)
            assert await leftovers(plane.nodes, catalog.schema_of(shard)) == []
            return move.jobs

    return asyncio.run(scenario())


def test_a_sync_from_a_node_without_the_schema_is_refused(pg_plane: PgPlane,
                                                          pg_shards: list[str]) -> None:
    shard, (source, target) = pg_shards[0], list(pg_plane.nodes)[:2]
    # etcd places the shard on the source, but the schema is not there
    jobs = _refused_sync(pg_plane, shard, source, target, schema_present=False)
    assert f"holds no schema {catalog.schema_of(shard)}" in jobs[-1], jobs


def test_a_node_without_a_server_is_refused(pg_plane: PgPlane, pg_shards: list[str]) -> None:
    shard, source = pg_shards[0], next(iter(pg_plane.nodes))
    jobs = _refused_sync(pg_plane, shard, source, "node-z", schema_present=True)
    assert "SHARDCAST_PG_NODES names no server for node node-z" in jobs[-1], jobs


def test_a_node_that_is_down_does_not_keep_the_owner_fenced(pg_plane: PgPlane,
                                                            pg_shards: list[str]) -> None:
    """An abandoned cutover left the owner fenced; one other node cannot be reached. The
    janitor still gives the owner its writes back and says which node waits."""
    shard, owner = pg_shards[0], next(iter(pg_plane.nodes))
    schema = catalog.schema_of(shard)
    nodes = {**pg_plane.nodes, "node-z": "postgresql://postgres@127.0.0.1:1/postgres"}

    async def scenario() -> None:
        async with ConsensusStore.open(pg_plane.etcd) as store:
            await create_shard(pg_plane.nodes[owner], schema)
            await store.register(pg_plane.namespace, shard, owner)
            conn = await catalog.connect(pg_plane.nodes[owner])
            async with conn:
                await catalog.fence(conn, schema)
                cleaned = await clean_shard(store, nodes, pg_plane.namespace, shard)
                assert not await catalog.fenced(conn, schema)
        assert any(a.startswith("node-z: unreachable") for a in cleaned.actions), cleaned
        assert any("lifted the fence" in a for a in cleaned.actions), cleaned

    asyncio.run(scenario())
