"""Keeping a process's view of one namespace's consensus record current: a snapshot of each
kind, then every later change in revision order, each applied exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from shardcast.consensus.store import Change, ConsensusStore


async def follow_record(store: ConsensusStore, namespace: str, kinds: Sequence[str],
                        apply: Callable[[Change], None], ready: asyncio.Event) -> None:
    """Runs until cancelled. Each kind's snapshot is read at its own revision, so the watch
    starts after the oldest and skips, per kind, what that kind's snapshot already held."""
    seen: dict[str, int] = {}
    for kind in kinds:
        values, revision = await store.snapshot(kind)
        for (ns, shard), value in values.items():
            if ns == namespace:
                apply(Change(kind, ns, shard, value, revision))
        seen[kind] = revision
    ready.set()
    async for change in store.watch(kinds, start_revision=min(seen.values()) + 1):
        if change.namespace == namespace and change.revision > seen[change.kind]:
            apply(change)
