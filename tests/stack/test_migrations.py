"""Migrations end to end on the real API server, kwok-run Jobs, the consensus etcd and Prometheus.

The KPI gates evaluate real PromQL against the stack's Prometheus; the constant-valued queries
(`vector(...)`) stand for a healthy and a regressed error rate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shardcast.devstack import stack
from shardcast.devstack.manifests import statefulset
from tests.stack.consensus import record
from tests.stack.kube import apply, condition, get, wait_for

pytestmark = pytest.mark.usefixtures("operator")
PHASES = ["Pending", "Syncing", "Redirecting", "CuttingOver", "Active"]


def shard(name: str, node: str) -> dict[str, Any]:
    return {"apiVersion": "shardcast.io/v1alpha1", "kind": "Shard", "metadata": {"name": name},
            "spec": {"workload": {"name": "kv"}, "placement": {"node": node},
                     "sizeBytes": 1 << 30}}


def job(name: str, **pod: Any) -> dict[str, Any]:
    return {"template": {"spec": {"containers": [{"name": name, "image": f"example/{name}:1"}],
                                  **pod}}}


def policy(error_rate: float = 0.0, sync: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"apiVersion": "shardcast.io/v1alpha1", "kind": "MigrationPolicy",
            "metadata": {"name": "kv"},
            "spec": {"mode": "propose-only", "shardSelector": {"matchLabels": {"app": "none"}},
                     "metric": {"type": "cpu"},
                     "jobs": {"sync": sync or job("sync"), "cutover": job("cutover")},
                     "trafficShift": {"steps": [50, 100], "gateWindow": "1s", "kpis": {
                         "errorRate": {"query": f'vector({error_rate}) + 0 * vector(1)',
                                       "max": 0.01}}}}}


def move(name: str, shard_name: str, source: str, target: str) -> dict[str, Any]:
    return {"apiVersion": "shardcast.io/v1alpha1", "kind": "ShardMigration",
            "metadata": {"name": name},
            "spec": {"shard": shard_name, "source": source, "target": target, "policy": "kv",
                     "approval": "Approved"}}


def ended(obj: dict[str, Any]) -> bool:
    return obj.get("status", {}).get("phase") in {"Active", "RolledBack", "Failed"}


def test_a_migration_walks_every_phase_and_moves_the_shard(
        kubeconfig: Path, namespace: str, endpoints: stack.Endpoints) -> None:
    apply(kubeconfig, namespace, statefulset("kv", 1), shard("kv-0", "node-a"), policy(),
          move("kv-0-to-b", "kv-0", "node-a", "node-b"))
    done = wait_for(kubeconfig, namespace, "shardmigration/kv-0-to-b", ended, 90)
    status = done["status"]
    assert status["phase"] == "Active", status
    assert [t["phase"] for t in status["phaseTimes"]] == PHASES
    assert condition(done)["status"] == "True"
    assert (status["epoch"], status["trafficPercent"]) == (2, 100)
    assert status["kpisBefore"] == {"errorRate": 0.0} and status["kpisAfter"] == {"errorRate": 0.0}
    placed, claim, route = record(endpoints.consensus_etcd, namespace, "kv-0")
    assert (placed and placed.node, placed and placed.epoch, claim, route) == ("node-b", 2, None,
                                                                              None)
    for kind in ("sync", "cutover"):
        ran = get(kubeconfig, namespace, f"job/{status[f'{kind}Job']}")
        assert ran["status"].get("succeeded") == 1
        container = ran["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e["value"] for e in container["env"]}
        assert (env["SHARDCAST_SHARD"], env["SHARDCAST_SOURCE"], env["SHARDCAST_TARGET"],
                env["SHARDCAST_EPOCH"], env["SHARDCAST_SIZE_BYTES"]) == (
            "kv-0", "node-a", "node-b", "1", str(1 << 30))
    mirrored = wait_for(kubeconfig, namespace, "shard/kv-0",
                        lambda o: o.get("status", {}).get("node") == "node-b")
    assert mirrored["status"]["epoch"] == 2
    workload = get(kubeconfig, namespace, "statefulset/kv")
    assert workload["metadata"]["annotations"]["placement.shardcast.io/kv-0"] == "node-b@2"


def test_a_failing_sync_job_rolls_back_with_the_source_intact(
        kubeconfig: Path, namespace: str, endpoints: stack.Endpoints) -> None:
    # Nothing can schedule this pod; the Job controller fails it at its deadline.
    stuck = {**job("sync", nodeSelector={"shardcast.io/nowhere": "true"}),
             "activeDeadlineSeconds": 2, "backoffLimit": 0}
    apply(kubeconfig, namespace, statefulset("kv", 1), shard("kv-0", "node-a"),
          policy(sync=stuck), move("kv-0-to-b", "kv-0", "node-a", "node-b"))
    done = wait_for(kubeconfig, namespace, "shardmigration/kv-0-to-b", ended, 90)
    assert (done["status"]["phase"], condition(done)["reason"]) == ("RolledBack", "SyncFailed")
    placed, claim, route = record(endpoints.consensus_etcd, namespace, "kv-0")
    assert (placed and placed.node, placed and placed.epoch, claim, route) == ("node-a", 1, None,
                                                                              None)


def test_a_kpi_regression_during_the_shift_rolls_back(
        kubeconfig: Path, namespace: str, endpoints: stack.Endpoints) -> None:
    apply(kubeconfig, namespace, statefulset("kv", 1), shard("kv-0", "node-a"),
          policy(error_rate=0.5), move("kv-0-to-b", "kv-0", "node-a", "node-b"))
    done = wait_for(kubeconfig, namespace, "shardmigration/kv-0-to-b", ended, 90)
    status = done["status"]
    assert (status["phase"], condition(done)["reason"]) == ("RolledBack", "KpiRegression")
    assert "error rate 0.5 > 0.01" in status["rollbackReason"]
    assert [t["phase"] for t in status["phaseTimes"]] == ["Pending", "Syncing", "Redirecting",
                                                          "RolledBack"]
    placed, claim, route = record(endpoints.consensus_etcd, namespace, "kv-0")
    assert (placed and placed.node, placed and placed.epoch, claim, route) == ("node-a", 1, None,
                                                                              None)


def test_two_migrations_of_one_shard_never_run_at_once(
        kubeconfig: Path, namespace: str, endpoints: stack.Endpoints) -> None:
    apply(kubeconfig, namespace, statefulset("kv", 1), shard("kv-0", "node-a"), policy(),
          move("to-b", "kv-0", "node-a", "node-b"), move("to-c", "kv-0", "node-a", "node-c"))
    outcomes = {name: wait_for(kubeconfig, namespace, f"shardmigration/{name}", ended, 120)
                for name in ("to-b", "to-c")}
    phases = sorted(o["status"]["phase"] for o in outcomes.values())
    assert phases == ["Active", "Failed"], phases
    winner = next(n for n, o in outcomes.items() if o["status"]["phase"] == "Active")
    placed, _, _ = record(endpoints.consensus_etcd, namespace, "kv-0")
    assert placed is not None and placed.epoch == 2  # moved exactly once
    assert placed.node == {"to-b": "node-b", "to-c": "node-c"}[winner]
    loser = outcomes[{"to-b": "to-c", "to-c": "to-b"}[winner]]
    assert condition(loser)["reason"] == "SourceMismatch"
    assert "Syncing" not in [t["phase"] for t in loser["status"]["phaseTimes"]]

