"""Deleting a Shard leaves nothing behind: a move in flight rolls back, its etcd records go,
a Shard created again under the name starts from its own spec, and records whose Shard is
gone are collected."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from shardcast.devstack import stack
from shardcast.devstack.kubectl import kubectl
from shardcast.devstack.manifests import statefulset
from tests.stack.consensus import record, register
from tests.stack.kube import apply, condition, get, wait_for
from tests.stack.test_migrations import ended, job, move, policy, shard

NOTHING = (None, None, None)


def _gone(kubeconfig: Path, namespace: str, ref: str, timeout_seconds: float = 30) -> None:
    deadline = time.monotonic() + timeout_seconds
    while json.loads(kubectl(kubeconfig, "-n", namespace, "get", ref, "--ignore-not-found",
                             "-o", "json") or "null") is not None:
        assert time.monotonic() < deadline, f"{ref} is still there"
        time.sleep(0.5)


def test_records_whose_shard_is_gone_are_collected_at_start(
        request: pytest.FixtureRequest, kubeconfig: Path, namespace: str,
        endpoints: stack.Endpoints) -> None:
    # Left by a Shard deleted while no operator ran (this module's operator is not up yet).
    register(endpoints.consensus_etcd, namespace, "ghost", "node-a")
    apply(kubeconfig, namespace, statefulset("kv", 1), shard("kv-0", "node-a"))
    request.getfixturevalue("operator")
    wait_for(kubeconfig, namespace, "shard/kv-0", lambda o: o.get("status", {}).get("epoch") == 1)
    deadline = time.monotonic() + 30
    while record(endpoints.consensus_etcd, namespace, "ghost") != NOTHING:
        assert time.monotonic() < deadline, "the orphaned record was never collected"
        time.sleep(0.5)
    assert record(endpoints.consensus_etcd, namespace, "kv-0")[0] is not None  # a live one stays


@pytest.mark.usefixtures("operator")
def test_a_shard_deleted_mid_move_rolls_the_move_back_and_leaves_no_record(
        kubeconfig: Path, namespace: str, endpoints: stack.Endpoints) -> None:
    stuck = {**job("sync", nodeSelector={"shardcast.io/nowhere": "true"}),
             "activeDeadlineSeconds": 600}
    apply(kubeconfig, namespace, statefulset("kv", 1), shard("kv-0", "node-a"),
          policy(sync=stuck), move("to-b", "kv-0", "node-a", "node-b"))
    wait_for(kubeconfig, namespace, "shardmigration/to-b", lambda o: "syncJob" in o.get(
        "status", {}), 60)
    kubectl(kubeconfig, "-n", namespace, "delete", "shard", "kv-0", "--wait=false")
    done = wait_for(kubeconfig, namespace, "shardmigration/to-b", ended, 60)
    assert (done["status"]["phase"], condition(done)["reason"]) == ("RolledBack", "ShardDeleted")
    _gone(kubeconfig, namespace, "shard/kv-0")
    assert record(endpoints.consensus_etcd, namespace, "kv-0") == NOTHING
    _gone(kubeconfig, namespace, f"job/{done['status']['syncJob']}")


@pytest.mark.usefixtures("operator")
def test_a_shard_created_again_starts_from_its_own_spec(
        kubeconfig: Path, namespace: str, endpoints: stack.Endpoints) -> None:
    apply(kubeconfig, namespace, statefulset("kv", 1), shard("kv-0", "node-a"), policy(),
          move("to-b", "kv-0", "node-a", "node-b"))
    moved = wait_for(kubeconfig, namespace, "shardmigration/to-b", ended, 90)
    assert moved["status"]["phase"] == "Active"
    kubectl(kubeconfig, "-n", namespace, "delete", "shard", "kv-0", "--timeout=30s")
    assert record(endpoints.consensus_etcd, namespace, "kv-0") == NOTHING
    apply(kubeconfig, namespace, shard("kv-0", "node-c"))
    again = wait_for(kubeconfig, namespace, "shard/kv-0",
                     lambda o: o.get("status", {}).get("epoch") is not None)
    assert (again["status"]["node"], again["status"]["epoch"]) == ("node-c", 1)
    placed = record(endpoints.consensus_etcd, namespace, "kv-0")[0]
    assert placed is not None and (placed.node, placed.epoch) == ("node-c", 1)
    assert get(kubeconfig, namespace, "shard/kv-0")["metadata"]["finalizers"]


@pytest.mark.usefixtures("operator")
def test_a_namespace_deleted_takes_its_etcd_records_with_it(
        kubeconfig: Path, endpoints: stack.Endpoints) -> None:
    ns = f"gone-{uuid.uuid4().hex[:8]}"
    kubectl(kubeconfig, "create", "namespace", ns)
    apply(kubeconfig, ns, statefulset("kv", 2), shard("kv-0", "node-a"), shard("kv-1", "node-b"))
    for name in ("kv-0", "kv-1"):
        wait_for(kubeconfig, ns, f"shard/{name}", lambda o: "epoch" in o.get("status", {}))
    kubectl(kubeconfig, "delete", "namespace", ns, "--timeout=60s")
    assert [record(endpoints.consensus_etcd, ns, n) for n in ("kv-0", "kv-1")] == [NOTHING] * 2
