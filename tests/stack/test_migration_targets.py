"""A migration's target must be a Node the shard may use: refused before any claim or Job when
it is not, rolled back with the source authoritative when it stops being one mid-move."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shardcast.devstack import stack
from shardcast.devstack.kubectl import kubectl
from shardcast.devstack.manifests import statefulset
from shardcast.devstack.nodes import FakeNode, node_manifest, wait_nodes_ready
from tests.stack.consensus import record
from tests.stack.kube import apply, condition, get, wait_for
from tests.stack.test_migrations import ended, job, move, policy, shard

pytestmark = pytest.mark.usefixtures("operator")
SOURCE_ONLY = ("node-a", 1, None, None)  # etcd: still on the source, no claim, no route


@pytest.fixture
def spare_node(kubeconfig: Path, namespace: str) -> Iterator[str]:
    """A Node of this test's own, so cordoning or tainting it disturbs no other test."""
    name = f"spare-{namespace[-8:]}"
    kubectl(kubeconfig, "apply", "-f", "-",
            stdin=json.dumps(node_manifest(FakeNode(name, "zone-3"))))
    kubectl(kubeconfig, "patch", "node", name, "--type=merge", "-p", '{"spec": {"taints": null}}')
    wait_nodes_ready(kubeconfig, [name])
    yield name
    kubectl(kubeconfig, "delete", "node", name, "--wait=false")


def _on_source(endpoints: stack.Endpoints, namespace: str) -> tuple[object, ...]:
    """kv-0's placement, claim and route in etcd. The status loop registers a new Shard there
    on its own time, and a refused move may end before that: wait (30 s) for the placement."""
    deadline = time.monotonic() + 30
    while True:
        placed, claim, route = record(endpoints.consensus_etcd, namespace, "kv-0")
        if placed is not None or time.monotonic() > deadline:
            return (placed and placed.node, placed and placed.epoch, claim, route)
        time.sleep(0.5)


def _jobs(kubeconfig: Path, namespace: str) -> list[str]:
    listed = json.loads(kubectl(kubeconfig, "-n", namespace, "get", "jobs", "-o", "json"))
    return [j["metadata"]["name"] for j in listed["items"]]


def test_a_migration_to_a_node_that_does_not_exist_is_refused(
        kubeconfig: Path, namespace: str, endpoints: stack.Endpoints) -> None:
    apply(kubeconfig, namespace, statefulset("kv", 1), shard("kv-0", "node-a"), policy(),
          move("typo", "kv-0", "node-a", "node-zz"))
    done = wait_for(kubeconfig, namespace, "shardmigration/typo", ended, 60)
    assert (done["status"]["phase"], condition(done)["reason"]) == ("Failed", "TargetNotFound")
    assert "no Node 'node-zz'" in condition(done)["message"]
    assert _on_source(endpoints, namespace) == SOURCE_ONLY
    assert _jobs(kubeconfig, namespace) == []
    events = json.loads(kubectl(kubeconfig, "-n", namespace, "get", "events", "-o", "json"))
    assert any(e["reason"] == "TargetNotFound" for e in events["items"])


def test_a_migration_to_a_cordoned_node_is_refused(
        kubeconfig: Path, namespace: str, endpoints: stack.Endpoints, spare_node: str) -> None:
    kubectl(kubeconfig, "cordon", spare_node)
    apply(kubeconfig, namespace, statefulset("kv", 1), shard("kv-0", "node-a"), policy(),
          move("to-cordoned", "kv-0", "node-a", spare_node))
    done = wait_for(kubeconfig, namespace, "shardmigration/to-cordoned", ended, 60)
    assert (done["status"]["phase"], condition(done)["reason"]) == ("Failed",
                                                                   "TargetUnschedulable")
    assert "cordoned" in condition(done)["message"]
    assert _on_source(endpoints, namespace) == SOURCE_ONLY


def test_a_target_cordoned_mid_move_rolls_the_move_back(
        kubeconfig: Path, namespace: str, endpoints: stack.Endpoints, spare_node: str) -> None:
    # The sync Job's pod can schedule nowhere, so the move stays in Syncing until cordoned.
    stuck = {**job("sync", nodeSelector={"shardcast.io/nowhere": "true"}),
             "activeDeadlineSeconds": 600}
    apply(kubeconfig, namespace, statefulset("kv", 1), shard("kv-0", "node-a"), policy(sync=stuck),
          move("to-spare", "kv-0", "node-a", spare_node))
    wait_for(kubeconfig, namespace, "shardmigration/to-spare",
             lambda o: "syncJob" in o.get("status", {}), 60)
    assert _jobs(kubeconfig, namespace)  # the sync Job is running
    kubectl(kubeconfig, "cordon", spare_node)
    done = wait_for(kubeconfig, namespace, "shardmigration/to-spare", ended, 60)
    assert (done["status"]["phase"], condition(done)["reason"]) == ("RolledBack",
                                                                   "TargetUnschedulable")
    assert "node-a stayed authoritative" in condition(done)["message"]
    assert _on_source(endpoints, namespace) == SOURCE_ONLY
    wait_for(kubeconfig, namespace, "shard/kv-0",
             lambda o: o.get("status", {}).get("node") == "node-a")
    assert get(kubeconfig, namespace, "shard/kv-0")["status"]["epoch"] == 1
    assert _jobs(kubeconfig, namespace) == []  # the roll-back deleted the running sync Job
