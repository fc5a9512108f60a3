"""The operator, run by kopf's own test runner against the real API server, keeps status true."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kopf.testing import KopfRunner

from shardcast.devstack.kubectl import kubectl
from shardcast.devstack.manifests import statefulset
from tests.stack.kube import apply, condition, wait_for


def shard(name: str, workload: str, node: str,
          labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "shardcast.io/v1alpha1", "kind": "Shard",
            "metadata": {"name": name, "labels": labels or {}},
            "spec": {"workload": {"name": workload}, "placement": {"node": node},
                     "sizeBytes": 1 << 30}}


def test_shard_becomes_ready_when_its_statefulset_runs(
        operator: KopfRunner, kubeconfig: Path, namespace: str) -> None:
    apply(kubeconfig, namespace, shard("users-0", "kv", "node-a"))
    waiting = wait_for(kubeconfig, namespace, "shard/users-0",
                       lambda o: condition(o).get("reason") == "WorkloadNotFound")
    assert condition(waiting)["status"] == "False"
    assert waiting["status"]["phase"] == "Pending"

    apply(kubeconfig, namespace, statefulset("kv", replicas=2))
    ready = wait_for(kubeconfig, namespace, "shard/users-0",
                     lambda o: condition(o).get("status") == "True")
    assert condition(ready)["reason"] == "Placed"
    assert condition(ready)["observedGeneration"] == ready["metadata"]["generation"]
    assert ready["status"]["phase"] == "Placed"
    assert ready["status"]["node"] == "node-a"
    # kubectl's own readiness wait understands the condition
    kubectl(kubeconfig, "-n", namespace, "wait", "--for=condition=Ready", "shard/users-0",
            "--timeout=10s")
    events = kubectl(kubeconfig, "-n", namespace, "get", "events", "-o",
                     "jsonpath={range .items[*]}{.reason}{'\\n'}{end}").split()
    assert {"WorkloadNotFound", "Placed"} <= set(events)


def test_policy_counts_the_shards_its_selector_picks(
        operator: KopfRunner, kubeconfig: Path, namespace: str) -> None:
    apply(kubeconfig, namespace,
          shard("a", "kv", "node-a", {"tier": "web"}), shard("b", "kv", "node-b", {"tier": "web"}),
          shard("c", "kv", "node-c", {"tier": "batch"}),
          {"apiVersion": "shardcast.io/v1alpha1", "kind": "MigrationPolicy",
           "metadata": {"name": "web"},
           "spec": {"mode": "dry-run", "shardSelector": {"matchLabels": {"tier": "web"}},
                    "metric": {"type": "cpu"}}})
    policy = wait_for(kubeconfig, namespace, "migrationpolicy/web",
                      lambda o: o.get("status", {}).get("lastEvaluation", {})
                      .get("shardsEvaluated") == 2)
    # Prometheus has no series for these shards: no forecast, so nothing may move, and why.
    assert condition(policy)["status"] == "False"
    assert condition(policy)["reason"] == "ForecastFailed"
    assert "2 of 2 shard(s) have no forecast" in condition(policy)["message"]
    assert "missing" in condition(policy)["message"]


def test_migration_from_the_wrong_node_is_refused(
        operator: KopfRunner, kubeconfig: Path, namespace: str) -> None:
    apply(kubeconfig, namespace, statefulset("kv", replicas=1), shard("orders-0", "kv", "node-a"))
    migration = {"apiVersion": "shardcast.io/v1alpha1", "kind": "ShardMigration",
                 "metadata": {"name": "m1"},
                 "spec": {"shard": "orders-0", "source": "node-b", "target": "node-c"}}
    apply(kubeconfig, namespace, migration)
    refused = wait_for(kubeconfig, namespace, "shardmigration/m1",
                       lambda o: bool(condition(o)))
    assert condition(refused)["reason"] == "SourceMismatch"
    assert refused["status"]["phase"] == "Pending"

    migration["metadata"]["name"] = "m2"
    migration["spec"]["source"] = "node-a"
    apply(kubeconfig, namespace, migration)
    waiting = wait_for(kubeconfig, namespace, "shardmigration/m2", lambda o: bool(condition(o)))
    assert condition(waiting)["reason"] == "AwaitingApproval"
    placed = wait_for(kubeconfig, namespace, "shard/orders-0",
                      lambda o: o.get("status", {}).get("phase") == "Placed")
    assert placed["status"]["node"] == "node-a"  # nothing moved
