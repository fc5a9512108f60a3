"""Routing one namespace's reads and writes to shardkv nodes, from the consensus record.

Writes go to the placement's node at the placement's epoch, and nowhere else. Reads follow the
route's weights while a move shifts traffic. A read sent to the move's target (a replica, not the
owner) carries the highest sequence number this router has seen acknowledged for the shard; the
target answers only once it has applied that far, else the read falls back to the owner. So a
client never reads an older state than its own writes acknowledged through this router; a client
of another router may see the target up to the replication lag behind.

A refusal (fenced, stale epoch, not the owner, unreachable) is retried as soon as the router's
view of the record changes, or after a short pause, until `patience` runs out. Every answer says
which node served it, in which role and at which epoch.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp

from shardcast.consensus.records import PLACEMENT, ROUTE, Placement, Route
from shardcast.consensus.store import Change, ConsensusStore
from shardkv.client import NodeClient, Served
from shardkv.protocol import Refused
from shardkv.view import follow_record

PAUSE = 0.02  # between attempts when the view has not changed


class Unavailable(Exception):
    """No node served the request within the router's patience."""


class Router:
    def __init__(self, namespace: str, client: NodeClient, patience: float = 30.0,
                 rng: random.Random | None = None) -> None:
        self.namespace = namespace
        self._client = client
        self._patience = patience
        self._rng = rng or random.Random()
        self._placements: dict[str, Placement] = {}
        self._routes: dict[str, Route] = {}
        self._acked: dict[str, int] = {}  # highest sequence number acknowledged, per shard
        self._changed = asyncio.Event()

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, store: ConsensusStore, namespace: str, client: NodeClient,
                   **options: Any) -> AsyncIterator[Router]:
        """A router whose view is loaded, and kept current until the block ends."""
        router = cls(namespace, client, **options)
        ready = asyncio.Event()
        task = asyncio.create_task(
            follow_record(store, namespace, (PLACEMENT, ROUTE), router._apply, ready))
        waiting = asyncio.create_task(ready.wait())
        try:
            await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                task.result()
            yield router
        finally:
            for pending in (task, waiting):
                pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _apply(self, change: Change) -> None:
        table: dict[str, Any] = self._placements if change.kind == PLACEMENT else self._routes
        if change.value is None:
            table.pop(change.shard, None)
        else:
            table[change.shard] = change.value
        self._changed.set()
        self._changed = asyncio.Event()

    def placement(self, shard: str) -> Placement | None:
        return self._placements.get(shard)

    async def write(self, shard: str, key: str, value: str) -> Served:
        return await self._to_owner(shard, lambda placed: self._client.write(
            placed.node, shard, placed.epoch, key, value))

    async def write_many(self, shard: str, items: dict[str, str]) -> Served:
        """All of `items` at one node; the answer's seq is the last one's."""
        return await self._to_owner(shard, lambda placed: self._client.write_many(
            placed.node, shard, placed.epoch, items))

    async def _to_owner(self, shard: str,
                        send: Callable[[Placement], Awaitable[Served]]) -> Served:
        deadline, last = time.monotonic() + self._patience, None
        while True:
            changed, placed = self._changed, self._placements.get(shard)
            if placed is not None:
                try:
                    served = await send(placed)
                except (Refused, aiohttp.ClientError, TimeoutError) as error:
                    last = error
                else:
                    self._acked[shard] = max(self._acked.get(shard, 0), served.seq)
                    return served
            await self._pause(changed, deadline, shard, last)

    async def read(self, shard: str, key: str) -> Served:
        deadline, last = time.monotonic() + self._patience, None
        while True:
            changed, placed = self._changed, self._placements.get(shard)
            for node in self._candidates(shard, placed):
                assert placed is not None
                try:
                    return await self._client.read(node, shard, placed.epoch, key,
                                                   self._acked.get(shard, 0))
                except (Refused, aiohttp.ClientError, TimeoutError) as error:
                    last = error
            await self._pause(changed, deadline, shard, last)

    def _candidates(self, shard: str, placed: Placement | None) -> list[str]:
        """Nodes to try in order: one drawn by the route's weights first, the owner last."""
        if placed is None:
            return []
        route = self._routes.get(shard)
        weighted = {} if route is None or route.epoch != placed.epoch else {
            node: share for node, share in route.weights.items() if share > 0}
        if not weighted:
            return [placed.node]
        first = self._rng.choices(list(weighted), list(weighted.values()))[0]
        rest = [node for node in (*weighted, placed.node) if node != first]
        return list(dict.fromkeys([first, *rest]))

    async def _pause(self, changed: asyncio.Event, deadline: float, shard: str,
                     last: BaseException | None) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Unavailable(f"shard {shard} of {self.namespace}: {last or 'not placed'}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), min(PAUSE, remaining))
