"""The application's side of a move: a router that sends each shard's reads and writes to the
right PostgreSQL node, following etcd.

    async with PostgresRouter.open(namespace, nodes, store) as router:
        await router.write("orders-7", lambda conn: conn.execute("INSERT ..."))
        rows = await router.read("orders-7", fetch)

- Writes go to the owner (etcd's placement), in one transaction. While the move is CuttingOver
  they wait: the source is being fenced and the target is not the owner yet. A write the node
  refuses as fenced (SQLSTATE SCFEN: this router's view is behind etcd's) waits for the next
  change and is retried; the write is only ever applied once, since a refused statement
  commits nothing.
- Reads follow the move's traffic weights while it shifts (Redirecting): a share of them go to
  the target, which applies the source's changes by logical replication a little later. So a
  read on the target can miss a write acknowledged by the source just before (read-your-writes
  holds only on the owner; the sync Job bounds the lag at SHARDCAST_PG_MAX_LAG_BYTES when it
  hands over). `read(..., fresh=True)` always reads the owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import psycopg

from shardcast.consensus.records import (
    MIGRATION,
    PLACEMENT,
    ROUTE,
    Announcement,
    Placement,
    Route,
)
from shardcast.consensus.store import ConsensusStore
from shardcast.dataplane.postgres import catalog

Result = TypeVar("Result")
Value = TypeVar("Value", Placement, Announcement, Route)
Work = Callable[[catalog.Conn], Awaitable[Result]]
CUTTING_OVER = "CuttingOver"
RETRY_SECONDS = 0.05


class NotRouted(Exception):
    """No node took the request within its time (no placement, or a move held it too long)."""


@dataclass
class _View:
    placements: dict[str, Placement] = field(default_factory=dict)
    claims: dict[str, Announcement] = field(default_factory=dict)
    routes: dict[str, Route] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class PostgresRouter:
    def __init__(self, namespace: str, nodes: Mapping[str, str], store: ConsensusStore,
                 rng: random.Random | None = None) -> None:
        self.namespace, self.nodes, self.store = namespace, dict(nodes), store
        self.rng = rng or random.Random()
        self.view = _View()
        self._conns: dict[str, catalog.Conn] = {}
        self._locks = {node: asyncio.Lock() for node in nodes}

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, namespace: str, nodes: Mapping[str, str], store: ConsensusStore,
                   rng: random.Random | None = None) -> AsyncIterator[PostgresRouter]:
        router = cls(namespace, nodes, store, rng)
        revision = await router._load()
        follower = asyncio.create_task(router._follow(revision))
        try:
            yield router
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
            for conn in router._conns.values():
                await conn.close()

    def owner(self, shard: str) -> str | None:
        placed = self.view.placements.get(shard)
        return placed.node if placed else None

    async def write(self, shard: str, work: Work[Result], timeout: float = 30.0) -> Result:
        """`work` in one transaction on the shard's owner, once."""
        deadline = time.monotonic() + timeout
        while True:
            claim = self.view.claims.get(shard)
            owner = self.owner(shard)
            if owner is not None and (claim is None or claim.phase != CUTTING_OVER):
                try:
                    return await self._run(owner, work)
                except psycopg.Error as error:
                    if error.sqlstate != catalog.FENCED_SQLSTATE:
                        raise
            await self._wait(deadline, f"write to {shard} (owner {owner}, move "
                                       f"{claim.phase if claim else None})")

    async def read(self, shard: str, work: Work[Result], fresh: bool = False,
                   timeout: float = 30.0) -> Result:
        """`work` on the owner, or during a shift on the node the weights pick."""
        deadline = time.monotonic() + timeout
        while (owner := self.owner(shard)) is None:
            await self._wait(deadline, f"read of {shard} (no placement)")
        node = owner
        route, claim = self.view.routes.get(shard), self.view.claims.get(shard)
        if not fresh and route and claim and claim.phase == "Redirecting" and route.weights:
            names = list(route.weights)
            node = self.rng.choices(names, weights=[route.weights[n] for n in names])[0]
        return await self._run(node, work)

    async def _run(self, node: str, work: Work[Result]) -> Result:
        async with self._locks[node]:
            conn = self._conns.get(node)
            if conn is None or conn.closed:
                conn = self._conns[node] = await catalog.connect(self.nodes[node])
            async with conn.transaction():
                return await work(conn)

    async def _wait(self, deadline: float, what: str) -> None:
        """Until etcd's next change reaches the view, or RETRY_SECONDS (a fence is lifted by
        the janitor, which etcd does not hear of)."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise NotRouted(f"{what}: not routed in time")
        self.view.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.view.changed.wait(), min(left, RETRY_SECONDS))

    async def _load(self) -> int:
        placements, revision = await self.store.snapshot(PLACEMENT)
        claims, _ = await self.store.snapshot(MIGRATION)
        routes, _ = await self.store.snapshot(ROUTE)
        mine = self.namespace
        self.view.placements = {s: v for (ns, s), v in placements.items() if ns == mine}
        self.view.claims = {s: v for (ns, s), v in claims.items() if ns == mine}
        self.view.routes = {s: v for (ns, s), v in routes.items() if ns == mine}
        return revision

    async def _follow(self, revision: int) -> None:
        view = self.view
        async for change in self.store.watch((PLACEMENT, MIGRATION, ROUTE), revision + 1):
            if change.namespace != self.namespace:
                continue
            value, shard = change.value, change.shard
            if change.kind == PLACEMENT:
                _put(view.placements, shard, value if isinstance(value, Placement) else None)
            elif change.kind == MIGRATION:
                _put(view.claims, shard, value if isinstance(value, Announcement) else None)
            else:
                _put(view.routes, shard, value if isinstance(value, Route) else None)
            view.changed.set()


def _put(table: dict[str, Value], shard: str, value: Value | None) -> None:
    if value is None:
        table.pop(shard, None)
    else:
        table[shard] = value
