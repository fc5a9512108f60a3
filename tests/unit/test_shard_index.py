"""The Shard index the informer keeps: parsed once from the API's objects, looked up by name,
by namespace and by workload, and replaced whole by a fresh list."""

from __future__ import annotations

from typing import Any

from shardcast.api.shard import IndexedShard
from shardcast.api.shard_index import ShardIndex


def body(name: str, namespace: str = "ns", workload: str = "kv", node: str = "n1",
         status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"apiVersion": "shardcast.io/v1alpha1", "kind": "Shard",
            "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}",
                         "generation": 2, "labels": {"app": workload}},
            "spec": {"workload": {"name": workload}, "placement": {"node": node},
                     "sizeBytes": 10},
            "status": status or {}}


def test_a_shard_is_parsed_once_with_what_the_handlers_read() -> None:
    shard = IndexedShard.from_object(body("s1", node="n1", status={"phase": "Placed"}))
    assert (shard.namespace, shard.name, shard.generation) == ("ns", "s1", 2)
    assert shard.labels == {"app": "kv"} and shard.raw_spec["sizeBytes"] == 10
    assert shard.reference["metadata"]["uid"] == "uid-s1" and not shard.deleting
    assert shard.node == "n1"  # declared, until status observes another
    assert IndexedShard.from_object(body("s1", node="n1", status={"node": "n2"})).node == "n2"


def test_lookups_by_name_namespace_and_workload_follow_puts_and_drops() -> None:
    index = ShardIndex()
    for name, ns, workload in (("a", "ns", "kv"), ("b", "ns", "kv"), ("c", "ns", "db"),
                               ("a", "other", "kv")):
        index.put(IndexedShard.from_object(body(name, ns, workload)))
    assert len(index) == 4
    assert sorted(index.in_namespace("ns")) == ["a", "b", "c"]
    assert index.serving("ns", "kv") == ["a", "b"] and index.serving("other", "kv") == ["a"]
    index.put(IndexedShard.from_object(body("b", "ns", "db")))  # its workload changed
    assert index.serving("ns", "kv") == ["a"] and index.serving("ns", "db") == ["b", "c"]
    index.drop("ns", "a")
    index.drop("ns", "missing")
    assert index.get("ns", "a") is None and index.get("other", "a") is not None
    assert index.serving("ns", "kv") == []


def test_a_fresh_list_replaces_everything_so_a_shard_deleted_meanwhile_goes() -> None:
    index = ShardIndex()
    for name in ("a", "b"):
        index.put(IndexedShard.from_object(body(name)))
    index.replace([IndexedShard.from_object(body("b")), IndexedShard.from_object(body("c"))])
    assert sorted(index.in_namespace("ns")) == ["b", "c"] and index.serving("ns", "kv") == [
        "b", "c"]
