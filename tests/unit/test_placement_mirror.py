"""The etcd mirror re-derives a Shard only when etcd says something it did not already hold."""

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from shardcast.consensus.mirror import PlacementMirror
from shardcast.consensus.records import MIGRATION, PLACEMENT, Placement, Versioned
from shardcast.consensus.store import Change


class Store:
    """Serves an empty snapshot, then (once `go` is set) the given changes, then waits."""

    def __init__(self, changes: Sequence[Change]) -> None:
        self.changes, self.go = changes, asyncio.Event()

    async def versioned_snapshot(self, kind: str) -> tuple[dict[Any, Any], int]:
        return {}, 10

    async def snapshot(self, kind: str) -> tuple[dict[Any, Any], int]:
        return {}, 10

    async def watch(self, kinds: Sequence[str], start_revision: int,
                    on_state: Callable[[str | None], None]) -> AsyncIterator[Change]:
        await self.go.wait()
        for change in self.changes:
            yield change
        await asyncio.Event().wait()


def test_own_registrations_echoed_by_the_watch_are_not_reacted_to() -> None:
    own, other = Placement("node-a", 1), Placement("node-b", 2)
    changes = [Change(PLACEMENT, "ns", "mine", own, 11),
               Change(PLACEMENT, "ns", "moved", other, 12),
               Change(MIGRATION, "ns", "moved", None, 13)]
    store = Store(changes)
    mirror = PlacementMirror(store)  # type: ignore[arg-type]
    heard: list[tuple[str, str]] = []

    async def on_change(namespace: str, shard: str) -> None:
        heard.append((namespace, shard))

    async def run() -> None:
        task = asyncio.create_task(mirror.run(on_change))
        await mirror.ready.wait()  # registered once the first snapshot is in, as Shards do
        mirror.remember("ns", "mine", Versioned(own, 11))
        store.go.set()
        while mirror.revision < 13:
            await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(run())
    assert heard == [("ns", "moved"), ("ns", "moved")]
    assert mirror.record("ns", "mine") == (own, 11)
    assert mirror.record("ns", "moved") == (other, 12)
