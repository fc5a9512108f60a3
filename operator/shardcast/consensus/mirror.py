"""Every shard's placement and move claim, mirrored from etcd by one watch: Shard status reads
the mirror instead of asking etcd per shard, and hears of a change when it happens."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from shardcast.consensus.records import (
    MIGRATION,
    PLACEMENT,
    Announcement,
    Placement,
    Versioned,
)
from shardcast.consensus.store import Change, ConsensusStore, ConsensusUnavailable

LOG = logging.getLogger(__name__)
RETRY_SECONDS = 1.0

Key = tuple[str, str]  # (namespace, shard)
OnChange = Callable[[str, str], Awaitable[None]]


@dataclass
class PlacementMirror:
    """`placements` and `claims` as of `revision`; `error` says why the mirror may be behind
    (etcd unreachable), None while it is current."""

    store: ConsensusStore
    placements: dict[Key, tuple[Placement, int]] = field(default_factory=dict)
    claims: dict[Key, Announcement] = field(default_factory=dict)
    revision: int = 0
    error: str | None = "not yet read from etcd"
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, on_change: OnChange) -> None:
        """Snapshot, then follow the watch; `on_change(namespace, shard)` after each change.
        Runs until cancelled; an unreachable etcd is retried, with `error` set meanwhile."""
        while True:
            try:
                await self._load()
            except ConsensusUnavailable as unavailable:
                self.error = str(unavailable)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            async for change in self.store.watch((PLACEMENT, MIGRATION), self.revision + 1,
                                                 self._on_state):
                if not self._apply(change):
                    continue  # this process's own write, remembered when it was made
                try:
                    await on_change(change.namespace, change.shard)
                except Exception:  # one shard's failed write must not end the watch for all
                    LOG.exception("reacting to %s of %s/%s failed", change.kind,
                                  change.namespace, change.shard)

    async def _load(self) -> None:
        placements, revision = await self.store.versioned_snapshot(PLACEMENT)
        claims, _ = await self.store.snapshot(MIGRATION)
        self.placements = {key: (v.value, v.revision) for key, v in placements.items()}
        self.claims = dict(claims)
        self.revision, self.error = revision, None
        self.ready.set()

    def _on_state(self, error: str | None) -> None:
        self.error = error

    def _apply(self, change: Change) -> bool:
        """Take the change in; False when the mirror already held it (a placement this process
        wrote and remembered), so nobody re-derives a status that did not change."""
        key = (change.namespace, change.shard)
        self.revision = change.revision
        if change.kind == PLACEMENT:
            if isinstance(change.value, Placement):
                held = (change.value, change.revision)
                if self.placements.get(key) == held:
                    return False
                self.placements[key] = held
            else:
                self.placements.pop(key, None)
        elif isinstance(change.value, Announcement):
            self.claims[key] = change.value
        else:
            self.claims.pop(key, None)
        return True

    def remember(self, namespace: str, shard: str, placed: Versioned[Placement]) -> None:
        """A placement this process just wrote, before its watch event arrives."""
        self.placements[(namespace, shard)] = (placed.value, placed.revision)

    def record(self, namespace: str, shard: str) -> tuple[Placement, int] | None:
        return self.placements.get((namespace, shard))

    def claim(self, namespace: str, shard: str) -> Announcement | None:
        return self.claims.get((namespace, shard))
