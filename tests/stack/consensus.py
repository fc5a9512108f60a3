"""Reading the consensus etcd from synchronous tests."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from shardcast.consensus.records import Announcement, Placement, Route
from shardcast.consensus.store import ConsensusStore


def record(endpoints: Sequence[str], namespace: str, shard: str
           ) -> tuple[Placement | None, Announcement | None, Route | None]:
    """etcd's placement, move claim and route for one shard, read now."""
    async def read() -> tuple[Placement | None, Announcement | None, Route | None]:
        async with ConsensusStore.open(endpoints) as store:
            placed, claim, route = await asyncio.gather(
                store.placement(namespace, shard), store.announcement(namespace, shard),
                store.route(namespace, shard))
        return (placed.value if placed else None, claim.value if claim else None,
                route.value if route else None)

    return asyncio.run(read())


def register(endpoints: Sequence[str], namespace: str, shard: str, node: str) -> None:
    """Write a placement record as if a Shard had been registered (for a Shard that is not)."""
    async def write() -> None:
        async with ConsensusStore.open(endpoints) as store:
            await store.register(namespace, shard, node)

    asyncio.run(write())
