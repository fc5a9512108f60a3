"""The handlers' wiring, without a cluster: every index is defined in handlers/indexes.py with
its documented key shape and read through its accessors; the startup handlers run in the order
they rely on and leave one typed Shared in the memo; a policy's state stays in its own copy."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import kopf
import pytest
from kopf._core.actions import lifecycles
from kopf._core.engines.activities import run_activity
from kopf._core.engines.indexing import OperatorIndexer, OperatorIndexers
from kopf._core.intents.causes import Activity

import shardcast.handlers  # noqa: F401  (registers the handlers)
from shardcast.clients import kubernetes as k8s
from shardcast.clients.jobs import LocalJobs
from shardcast.clients.shard_informer import ShardInformer
from shardcast.handlers import indexes
from shardcast.handlers.memo import Shared, listed_shards, policy_state, shared_of
from shardcast.reconcile.challenge_pool import SHARED_POOL

REGISTRY = kopf.get_default_registry()
LISTED = {"known_migrations"}  # keyed by namespace alone (see indexes.py)


def test_every_index_is_defined_in_the_indexes_module() -> None:
    found = {h.id: h.fn.__module__ for h in REGISTRY._indexing.get_all_handlers()}
    assert found and set(found.values()) == {"shardcast.handlers.indexes"}
    assert set(found) >= LISTED


def test_kopf_does_not_watch_shards() -> None:
    """kopf's indexing costs a toggle per object of an indexed kind before any handler runs,
    its handling a worker per object, and a kopf watching Shards would take away the finalizer
    no kopf handler of them needs (api/shard_index.py, handlers/shard_sync.py): Shards, the
    kind with thousands, have their own informer and status loop instead."""
    registries = (REGISTRY._indexing, REGISTRY._changing, REGISTRY._spawning,
                  REGISTRY._watching)
    watched = {h.selector.any_name for r in registries for h in r.get_all_handlers()}
    assert {"migrationpolicies", "shardmigrations"} <= watched and "shards" not in watched


SHARD: dict[str, Any] = {
    "namespace": "ns", "name": "s1", "labels": {"app": "kv"},
    "spec": {"workload": {"name": "kv"}, "placement": {"node": "n1"}, "sizeBytes": 1},
    "status": {"node": "n2"}, "meta": {"uid": "u", "generation": 3,
                                       "creationTimestamp": "2026-12-02T10:00:00Z"}}


MIGRATION = {**SHARD, "spec": {"shard": "s1", "source": "n1", "target": "n2"}, "status": {}}


@pytest.mark.parametrize("handler", sorted(
    h.id for h in kopf.get_default_registry()._indexing.get_all_handlers()))
def test_each_index_has_its_documented_key_shape(handler: str) -> None:
    fn = getattr(indexes, handler)
    keys = list(fn(**(MIGRATION if handler == "known_migrations" else SHARD)))
    if handler in LISTED:
        assert keys == ["ns"]
    elif handler == "node_states":
        assert keys == [(None, "s1")]
    else:
        assert keys == [("ns", "s1")]


def test_accessors_read_one_object_a_listing_or_a_small_namespace() -> None:
    by_name, by_namespace = OperatorIndexer(), OperatorIndexer()  # kopf's own, per object
    for key, value in {("ns", "a"): "A", ("ns", "b"): "B", ("other", "a"): "X"}.items():
        by_name.replace(("uid", *key), {key: value})
    for name, value in (("a", 1), ("b", 2)):
        by_namespace.replace(("uid", name), {"ns": (name, value)})
    assert indexes.named(by_name.index, "ns", "a") == "A"
    assert indexes.named(by_name.index, "ns", "missing") is None
    assert dict(indexes.in_namespace(by_name.index, "ns")) == {"a": "A", "b": "B"}
    assert indexes.listed(by_namespace.index, "ns") == {"a": 1, "b": 2}
    assert indexes.listed(by_namespace.index, "none") == {}


def test_the_settings_startup_handler_runs_first() -> None:
    ids = [h.id for h in REGISTRY._activities.get_handlers(Activity.STARTUP)]
    assert ids[0].endswith("configure"), ids


@pytest.mark.parametrize("namespaces", [("ns-*",), None])
def test_startup_leaves_one_typed_shared_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                               namespaces: tuple[str, ...] | None) -> None:
    """The startup handlers as kopf runs them, with no etcd and no metrics address: under
    `shardcast run` (a Shared with the namespaces) and `kopf run -m` (kopf's bare memo)."""
    for name in ("SHARDCAST_ETCD_ENDPOINTS", "SHARDCAST_METRICS_ADDRESS",
                 "SHARDCAST_PROMETHEUS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SHARDCAST_JOB_EXECUTOR", "local")
    monkeypatch.setenv("SHARDCAST_LOCAL_JOBS_DIR", str(tmp_path))
    monkeypatch.setenv("SHARDCAST_CHALLENGE_WORKERS", "2")
    monkeypatch.setattr(k8s, "configure", lambda: None)
    memo = kopf.Memo() if namespaces is None else kopf.Memo(shared=Shared(namespaces))

    indexers = OperatorIndexers()  # as kopf makes them: one per index handler
    for handler in REGISTRY._indexing.get_all_handlers():
        indexers[handler.id] = OperatorIndexer()

    async def start() -> None:
        await run_activity(lifecycle=lifecycles.all_at_once, registry=REGISTRY,
                           settings=kopf.OperatorSettings(), activity=Activity.STARTUP,
                           indices=indexers.indices, memo=memo)  # type: ignore[arg-type]
        for task in shared_of(memo).tasks:
            task.cancel()

    try:
        asyncio.run(start())
        ours = shared_of(memo)
        assert ours.namespaces == (namespaces or ())
        assert ours.consensus is None and ours.mirror is None
        assert isinstance(ours.jobs, LocalJobs)
        assert ours.settings.local_jobs_dir == tmp_path
        assert SHARED_POOL.workers == 2
    finally:
        SHARED_POOL.resize(1)


def test_a_policy_keeps_its_state_in_its_own_copy_of_the_memo() -> None:
    operator = kopf.Memo(shared=Shared())
    one, two = copy.copy(operator), copy.copy(operator)  # as kopf copies it per resource
    assert shared_of(one) is shared_of(two)
    assert policy_state(one) is policy_state(one)
    assert policy_state(one) is not policy_state(two)


def test_a_memo_without_shared_state_is_a_permanent_error() -> None:
    with pytest.raises(kopf.PermanentError, match="startup did not finish"):
        shared_of(kopf.Memo())


def test_handlers_wait_for_every_shard_to_be_listed() -> None:
    """Until the informer has listed every Shard, a handler that reads the index gets a
    temporary error naming why (a Shard not seen yet must not pass for a deleted one)."""
    ours = Shared()
    memo = kopf.Memo(shared=ours)

    async def scenario() -> None:
        with pytest.raises(kopf.TemporaryError, match="not started"):
            await listed_shards(memo)
        ours.informer = ShardInformer(ours.shards, lambda _: True)
        ours.informer.error = "the API server answered 403 Forbidden"
        with pytest.raises(kopf.TemporaryError, match="403 Forbidden"):
            await listed_shards(memo, wait_seconds=0.01)
        ours.informer.listed.set()
        assert await listed_shards(memo) is ours.shards

    asyncio.run(scenario())
