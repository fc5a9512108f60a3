"""The Shard informer against the real API server: one list fills the index, the watch keeps
it as Shards come, change (labels, status) and go, and a namespace not served stays out."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

from shardcast.api.shard_index import ShardIndex
from shardcast.clients import kubernetes as k8s
from shardcast.clients.shard_informer import ShardInformer
from shardcast.devstack.kubectl import kubectl
from tests.stack.kube import apply
from tests.stack.test_migrations import shard


async def until(holds: Callable[[], bool], timeout_seconds: float = 30) -> None:
    deadline = time.monotonic() + timeout_seconds
    while not holds():
        assert time.monotonic() < deadline, "the index never caught up"
        await asyncio.sleep(0.1)


def test_the_index_follows_shards_as_they_come_change_and_go(kubeconfig: Path,
                                                            namespace: str) -> None:
    apply(kubeconfig, namespace, shard("a", "node-a"), shard("b", "node-b"))

    def run(*args: str) -> None:
        kubectl(kubeconfig, "-n", namespace, *args)

    async def scenario() -> None:
        k8s.configure()
        index = ShardIndex()
        informer = ShardInformer(index, lambda ns: ns == namespace)
        informer.start()
        try:
            await asyncio.wait_for(informer.listed.wait(), 30)
            assert informer.error is None
            assert sorted(index.in_namespace(namespace)) == ["a", "b"]
            assert len(index) == 2  # Shards of namespaces not served stay out
            await asyncio.to_thread(apply, kubeconfig, namespace, shard("c", "node-c"))
            await until(lambda: index.get(namespace, "c") is not None)
            await asyncio.to_thread(run, "label", "shard/a", "tier=hot")
            await until(lambda: (found := index.get(namespace, "a")) is not None
                        and found.labels.get("tier") == "hot")
            await asyncio.to_thread(run, "patch", "shard/a", "--subresource=status",
                                    "--type=merge", "-p",
                                    json.dumps({"status": {"node": "node-d"}}))
            await until(lambda: (found := index.get(namespace, "a")) is not None
                        and found.node == "node-d")
            await asyncio.to_thread(run, "delete", "shard/b")
            await until(lambda: index.get(namespace, "b") is None)
            assert index.serving(namespace, "kv") == ["a", "c"]
        finally:
            informer.stop()

    asyncio.run(scenario())
