"""The data planes `shardcast demo` can move shards of: the reference `shardkv` (examples/
dataplane) or real PostgreSQL servers (shardcast.dataplane.postgres). Each gives the operator's
environment and the policy's Jobs, and writes through its router while the operator moves
shards, then reads every acknowledged write back from the owner."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg import sql

from shardcast.consensus.store import ConsensusStore
from shardcast.dataplane.postgres import catalog
from shardcast.dataplane.postgres.cleanup import drop_schemas, janitor
from shardcast.dataplane.postgres.router import PostgresRouter
from shardcast.devstack.postgres import ensure_servers

DATAPLANES = ("shardkv", "postgres")
WRITE_PAUSE = 0.005  # seconds between the demo writer's writes


@dataclass(frozen=True)
class DemoPlane:
    env: Mapping[str, str]  # what the operator (and so its local Jobs) needs to reach it
    jobs: dict[str, Any]  # the policy's spec.jobs
    # Writes until `wait` (blocking: the operator's moves end) returns; (acknowledged, lost).
    writes_during: Callable[[Callable[[], None]], Coroutine[Any, Any, tuple[int, int]]]


@contextlib.contextmanager
def demo_plane(kind: str, namespace: str, etcd: tuple[str, ...], placements: Mapping[str, str],
               nodes: Sequence[str], logs: Path) -> Iterator[DemoPlane]:
    """`placements`: each demo shard's first node."""
    if kind == "postgres":
        with _postgres(namespace, etcd, placements, nodes) as plane:
            yield plane
    else:
        with _shardkv(namespace, etcd, list(placements), nodes, logs) as plane:
            yield plane


def _job(name: str, command: list[str], image: str) -> dict[str, Any]:
    """A Job whose command runs the data plane's tool; the local executor runs it as is."""
    return {"template": {"spec": {"containers": [
        {"name": name, "image": image, "command": command}]}}}


@contextlib.contextmanager
def _shardkv(namespace: str, etcd: tuple[str, ...], shards: list[str], nodes: Sequence[str],
             logs: Path) -> Iterator[DemoPlane]:
    from shardkv.client import NodeClient
    from shardkv.local import running
    from shardkv.router import Router

    with running(namespace, etcd, tuple(nodes), logs) as cluster:
        async def writes_during(wait: Callable[[], None]) -> tuple[int, int]:
            acked: dict[tuple[str, str], str] = {}
            async with ConsensusStore.open(cluster.etcd) as store, \
                    NodeClient.open(cluster.addresses) as client, \
                    Router.open(store, namespace, client) as router:
                while any(router.placement(s) is None for s in shards):
                    await asyncio.sleep(0.2)  # the operator registers each Shard in etcd

                async def write(n: int) -> None:
                    shard = shards[n % len(shards)]
                    await router.write(shard, f"k{n}", f"v{n}")
                    acked[(shard, f"k{n}")] = f"v{n}"

                await _write_until(write, wait)
                wrong = 0
                for (shard, key), value in acked.items():
                    wrong += (await router.read(shard, key)).value != value
                return len(acked), wrong

        yield DemoPlane(cluster.env(), {
            kind: _job(kind, [sys.executable, "-m", f"shardkv.{kind}"], "shardkv:dev")
            for kind in ("sync", "cutover")}, writes_during)


@contextlib.contextmanager
def _postgres(namespace: str, etcd: tuple[str, ...], placements: Mapping[str, str],
              nodes: Sequence[str]) -> Iterator[DemoPlane]:
    """One local PostgreSQL 15 server per node; each shard a schema with a `writes` table on
    its first node, made afresh; the janitor runs beside the writer."""
    servers = {s.node: s.dsn for s in ensure_servers(nodes)}
    schemas = {shard: catalog.schema_of(shard) for shard in placements}
    asyncio.run(_fresh(servers, placements, schemas))

    async def writes_during(wait: Callable[[], None]) -> tuple[int, int]:
        acked: dict[str, list[str]] = {shard: [] for shard in placements}
        async with ConsensusStore.open(etcd) as store, \
                PostgresRouter.open(namespace, servers, store) as router:
            cleaner = asyncio.create_task(janitor(store, servers, namespace, 5.0))
            try:
                while any(router.owner(s) is None for s in placements):
                    await asyncio.sleep(0.2)  # the operator registers each Shard in etcd
                shards = list(placements)

                async def write(n: int) -> None:
                    shard = shards[n % len(shards)]
                    table = sql.Identifier(schemas[shard], "writes")
                    await router.write(shard, lambda conn: conn.execute(sql.SQL(
                        "INSERT INTO {} (key) VALUES (%s)").format(table), (f"k{n}",)))
                    acked[shard].append(f"k{n}")

                await _write_until(write, wait)
                lost = 0
                for shard, keys in acked.items():
                    owner = router.owner(shard)
                    assert owner is not None
                    lost += len(set(keys) - set(await _keys(servers[owner], schemas[shard])))
                return sum(map(len, acked.values())), lost
            finally:
                cleaner.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await cleaner

    command = [sys.executable, "-m", "shardcast", "dataplane", "postgres"]
    yield DemoPlane({"SHARDCAST_PG_NODES": ",".join(f"{n}={d}" for n, d in servers.items()),
                     "SHARDCAST_ETCD_ENDPOINTS": ",".join(etcd)},
                    {kind: _job(kind, [*command, kind], "shardcast:dev")
                     for kind in ("sync", "cutover")}, writes_during)


async def _write_until(write: Callable[[int], Awaitable[None]], wait: Callable[[], None]) -> None:
    stop = asyncio.Event()

    async def writer() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            await write(n)
            await asyncio.sleep(WRITE_PAUSE)

    task = asyncio.create_task(writer())
    try:
        await asyncio.to_thread(wait)
    finally:
        stop.set()
        await task


async def _fresh(servers: Mapping[str, str], placements: Mapping[str, str],
                 schemas: Mapping[str, str]) -> None:
    await drop_schemas(servers, list(schemas.values()))
    for shard, node in placements.items():
        conn = await catalog.connect(servers[node])
        async with conn:
            schema = sql.Identifier(schemas[shard])
            await conn.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
            await conn.execute(sql.SQL("CREATE TABLE {}.writes (key text PRIMARY KEY, "
                                       "at timestamptz NOT NULL DEFAULT now())").format(schema))


async def _keys(dsn: str, schema: str) -> list[str]:
    conn = await catalog.connect(dsn)
    async with conn:
        cursor = await conn.execute(sql.SQL("SELECT key FROM {}.writes").format(
            sql.Identifier(schema)))
        return [str(row[0]) for row in await cursor.fetchall()]
