"""The Shard status loop without a cluster (the stack tests run it against the real one): a
new Shard is first held by the finalizer, a deleted one keeps it while a move claims it and
loses it once its etcd records are gone, and a status is written only when it changes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kopf._core.engines.indexing import OperatorIndexer

from shardcast.api.kinds import FINALIZER
from shardcast.api.shard import IndexedShard
from shardcast.api.shard_index import ShardIndex
from shardcast.clients import kubernetes as k8s
from shardcast.handlers import shard_sync
from shardcast.handlers.shard_sync import ShardSync
from tests.unit.test_shard_index import body


class Calls:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.finalizers: list[tuple[str, list[str], str]] = []
        self.statuses: list[dict[str, Any]] = []

        async def set_finalizers(plural: str, namespace: str, name: str,
                                 finalizers: list[str], version: str) -> bool:
            self.finalizers.append((name, finalizers, version))
            return True

        async def patch_status(*args: Any) -> None:
            self.statuses.append(args[-1])

        async def post_event(*_: Any) -> None:
            return None

        monkeypatch.setattr(k8s, "set_finalizers", set_finalizers)
        monkeypatch.setattr(k8s, "patch_status", patch_status)
        monkeypatch.setattr(k8s, "post_event", post_event)


class Store:
    def __init__(self, removable: bool) -> None:
        self.removable, self.removed = removable, 0

    async def remove(self, namespace: str, name: str) -> bool:
        self.removed += 1
        return self.removable


class Claim:
    migration = "ns/move-s1"


class Mirror:
    def __init__(self, store: Store, claimed: bool = False) -> None:
        self.store, self.claimed, self.error = store, claimed, None

    def claim(self, namespace: str, name: str) -> Claim | None:
        return Claim() if self.claimed else None


def shard(finalizers: tuple[str, ...] = (), deleting: bool = False,
          status: dict[str, Any] | None = None) -> IndexedShard:
    meta: dict[str, Any] = {"finalizers": list(finalizers), "resourceVersion": "7"}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-03T10:00:00Z"
    raw = body("s1", status=status)
    raw["metadata"].update(meta)
    return IndexedShard.from_object(raw)


def sync_for(found: IndexedShard) -> ShardSync:
    index = ShardIndex()
    index.put(found)
    return ShardSync(index, OperatorIndexer().index, 600)


def test_a_new_shard_is_held_by_the_finalizer_before_anything_else(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls = Calls(monkeypatch)
    asyncio.run(sync_for(shard()).sync("ns", "s1"))
    assert calls.finalizers == [("s1", [FINALIZER], "7")] and calls.statuses == []


def test_a_status_is_written_once_and_not_again_when_nothing_changed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls = Calls(monkeypatch)
    asyncio.run(sync_for(shard((FINALIZER,))).sync("ns", "s1"))
    [written] = calls.statuses
    assert written["phase"] == "Pending"  # no StatefulSet kv: WorkloadNotFound
    asyncio.run(sync_for(shard((FINALIZER,), status=written)).sync("ns", "s1"))
    assert len(calls.statuses) == 1


@pytest.mark.parametrize(("claimed", "removable", "released"),
                         [(True, True, False), (False, False, False), (False, True, True)])
def test_a_deleted_shard_keeps_the_finalizer_until_its_records_are_gone(
        monkeypatch: pytest.MonkeyPatch, claimed: bool, removable: bool, released: bool) -> None:
    calls = Calls(monkeypatch)
    monkeypatch.setattr(shard_sync, "RELEASE_RETRY_SECONDS", 0.01)
    sync = sync_for(shard(("other.io/keep", FINALIZER), deleting=True))
    store = Store(removable)
    sync.mirror = Mirror(store, claimed)  # type: ignore[assignment]

    async def scenario() -> None:
        await sync.sync("ns", "s1")
        await asyncio.sleep(0.05)

    asyncio.run(scenario())
    assert calls.statuses == []
    assert store.removed == (0 if claimed else 1)
    assert calls.finalizers == ([("s1", ["other.io/keep"], "7")] if released else [])
    assert sync._dirty == (set() if released else {("ns", "s1")})  # looked at again later
