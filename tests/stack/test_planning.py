"""Planning end to end: real traces in Prometheus, kwok nodes' allocatable CPU as capacity, the
operator's plan in the policy's status and as ShardMigrations on the real API server."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from kopf.testing import KopfRunner

from shardcast.devstack.history import replay_query
from shardcast.devstack.kubectl import kubectl
from shardcast.devstack.manifests import statefulset
from shardcast.devstack.paths import state_dir
from tests.stack.kube import apply, condition, get, wait_for

GIB = 2**30


def shard(name: str, trace: str, divisor: float, node: str) -> dict[str, Any]:
    """A shard whose CPU (cores) is a real CPU-% trace scaled down to fit 8-core nodes."""
    query = f"({replay_query(trace, state_dir())}) / {divisor}"
    return {"apiVersion": "shardcast.io/v1alpha1", "kind": "Shard",
            "metadata": {"name": name, "labels": {"app": "kv"}},
            "spec": {"workload": {"name": "kv"}, "placement": {"node": node},
                     "sizeBytes": 50 * GIB, "metrics": {"cpu": {"query": query}}}}


def policy(mode: str) -> dict[str, Any]:
    return {"apiVersion": "shardcast.io/v1alpha1", "kind": "MigrationPolicy",
            "metadata": {"name": "kv"},
            "spec": {"mode": mode, "shardSelector": {"matchLabels": {"app": "kv"}},
                     "metric": {"type": "cpu"}, "threshold": {"utilization": 80},
                     "forecast": {"model": "holt-winters", "horizon": "30m"},
                     **({"jobs": {step: {"template": {"spec": {"containers": [
                         {"name": step, "image": f"example/{step}:1"}]}}}
                         for step in ("sync", "cutover")}}
                        if mode == "auto" else {})}}


def crowded_node_a() -> list[dict[str, Any]]:
    """node-a carries ~10 cores of 8 (CPU traces around 93%, 15% and 38%); b, c, d are idle."""
    return [shard("hot", "nab/ec2_cpu_utilization_825cc2", 20, "node-a"),
            shard("warm", "nab/rds_cpu_utilization_cc0c53", 4, "node-a"),
            shard("mild", "nab/ec2_cpu_utilization_5f5533", 20, "node-a")]


def migrations(kubeconfig: Path, namespace: str) -> list[dict[str, Any]]:
    listed = json.loads(kubectl(kubeconfig, "-n", namespace, "get", "shardmigrations",
                                "-o", "json"))
    return list(listed["items"])


def test_an_overloaded_node_gets_a_proposal_awaiting_approval_once(
        operator: KopfRunner, kubeconfig: Path, namespace: str) -> None:
    apply(kubeconfig, namespace, *crowded_node_a(), policy("propose-only"))
    planned = wait_for(kubeconfig, namespace, "migrationpolicy/kv",
                       lambda o: bool(o.get("status", {}).get("decisions")), timeout_seconds=90)
    decision = planned["status"]["decisions"][0]
    assert decision["action"] == "move" and decision["from"] == "node-a"
    assert decision["shard"] == "hot"  # the only move that brings node-a under 80%
    assert decision["to"] in {"node-b", "node-c", "node-d"}
    assert decision["predictedPeak"] > 80
    node_a = next(n for n in planned["status"]["nodes"] if n["name"] == "node-a")
    assert node_a["capacity"] == 8 and node_a["predictedPeak"] > 100
    assert node_a["shards"] == 3

    proposal = wait_for(kubeconfig, namespace, f"shardmigration/{decision['migration']}",
                        lambda o: condition(o).get("reason") == "AwaitingApproval")
    spec = proposal["spec"]
    assert (spec["shard"], spec["source"], spec["target"]) == ("hot", "node-a", decision["to"])
    assert spec["approval"] == "Pending" and spec["policy"] == "kv"
    # The policy's model, or a baseline standing in until the shard's window is read.
    assert spec["reason"]["model"] in {"holt-winters", "seasonal-naive", "persistence"}
    assert spec["cost"]["transferSeconds"] == 50 * GIB / (100 * 2**20)  # 512 s
    # Later cycles see the proposal in flight and propose nothing more for it.
    wait_for(kubeconfig, namespace, "migrationpolicy/kv",
             lambda o: "node-a: overloaded, but a migration already runs on it" in (
                 o["status"]["whyNothingMoved"]), timeout_seconds=90)
    assert len(migrations(kubeconfig, namespace)) == 1


def test_a_shard_without_a_forecast_closes_its_node_and_the_others_still_move(
        operator: KopfRunner, kubeconfig: Path, namespace: str) -> None:
    blind = {**shard("blind", "nab/ec2_cpu_utilization_5f5533", 20, "node-b")}
    blind["spec"] = {**blind["spec"], "metrics": {"cpu": {"query": "absent_metric_of_blind"}}}
    apply(kubeconfig, namespace, *crowded_node_a(), blind, policy("propose-only"))
    planned = wait_for(kubeconfig, namespace, "migrationpolicy/kv",
                       lambda o: bool(o.get("status", {}).get("decisions")), timeout_seconds=90)
    status = planned["status"]
    assert [s["shard"] for s in status["withoutForecast"]] == ["blind"]
    assert condition(planned)["reason"] == "ForecastFailed"
    decision = status["decisions"][0]
    assert (decision["shard"], decision["from"]) == ("hot", "node-a")
    assert decision["to"] in {"node-c", "node-d"}  # node-b's load is unknown: it takes no move
    node_b = next(n for n in status["nodes"] if n["name"] == "node-b")
    assert "no forecast" in node_b["closed"]


def test_dry_run_records_decisions_and_creates_nothing(
        operator: KopfRunner, kubeconfig: Path, namespace: str) -> None:
    apply(kubeconfig, namespace, *crowded_node_a(), policy("dry-run"))
    planned = wait_for(kubeconfig, namespace, "migrationpolicy/kv",
                       lambda o: bool(o.get("status", {}).get("decisions")), timeout_seconds=90)
    assert planned["status"]["decisions"][0]["action"] == "move"
    assert "migration" not in planned["status"]["decisions"][0]
    assert "dry-run" in planned["status"]["whyNothingMoved"]
    assert migrations(kubeconfig, namespace) == []


def constant_shard(cores: float) -> dict[str, Any]:
    hot = shard("hot", "nab/ec2_cpu_utilization_825cc2", 1, "node-a")
    hot["spec"]["metrics"]["cpu"]["query"] = f"vector({cores})"
    return hot


def node_a(policy_: dict[str, Any]) -> dict[str, Any]:
    nodes = policy_.get("status", {}).get("nodes", [])
    return next((n for n in nodes if n["name"] == "node-a"), {})


def test_an_adaptive_threshold_drops_after_an_overload_from_just_under_it_once(
        operator: KopfRunner, kubeconfig: Path, namespace: str) -> None:
    """node-a sits at 78% of its 8 cores, under the 80% threshold, then jumps to 120% and no
    node has room for its shard (dry run): a peak one step lower would have flagged. After a
    cooldown the threshold drops by maxStep and the status says why. The overload goes on, but
    node-a is now over the threshold, flagged: later windows leave the threshold alone."""
    adaptive = policy("dry-run")
    adaptive["spec"]["threshold"] = {"utilization": 80, "adaptive": {
        "enabled": True, "min": 60, "max": 90, "maxStep": 5}}
    adaptive["spec"]["cooldown"] = "6s"
    apply(kubeconfig, namespace, constant_shard(6.24), adaptive)
    wait_for(kubeconfig, namespace, "migrationpolicy/kv",
             lambda o: node_a(o).get("utilization") == 78, timeout_seconds=90)
    apply(kubeconfig, namespace, constant_shard(9.6))
    lowered = wait_for(kubeconfig, namespace, "migrationpolicy/kv",
                       lambda o: o.get("status", {}).get("threshold", {}).get("current", 80) < 80,
                       timeout_seconds=120)
    threshold = lowered["status"]["threshold"]
    assert threshold["current"] == 75
    assert threshold["reason"].startswith("lowered: 1 node overload(s) from just under")
    assert "changedAt" in threshold
    assert node_a(lowered)["utilization"] == 120
    # Three more cooldowns at 120%: nothing lowers it further.
    time.sleep(3 * 6 + 4)
    held = get(kubeconfig, namespace, "migrationpolicy/kv")
    assert node_a(held)["utilization"] == 120
    assert held["status"]["threshold"] == threshold


def test_an_adaptive_threshold_rises_after_moves_that_made_the_kpis_worse(
        operator: KopfRunner, kubeconfig: Path, namespace: str) -> None:
    """An auto policy moves `hot` off the crowded node-a; its traffic shift sees an error rate of
    0.5 (limit 0.01) and rolls back. The next adjustment judges that move not worth making and
    raises the threshold half a step, saying why."""
    adaptive = policy("auto")
    adaptive["spec"]["threshold"] = {"utilization": 80, "adaptive": {
        "enabled": True, "min": 60, "max": 90, "maxStep": 5}}
    adaptive["spec"]["cooldown"] = "6s"
    adaptive["spec"]["trafficShift"] = {"steps": [50, 100], "gateWindow": "1s", "kpis": {
        "errorRate": {"query": "vector(0.5) + 0 * vector(1)", "max": 0.01}}}
    apply(kubeconfig, namespace, statefulset("kv", 1), *crowded_node_a(), adaptive)
    listed = wait_for(kubeconfig, namespace, "shardmigrations",
                      lambda o: any(rolled_back(m) for m in o["items"]), timeout_seconds=120)
    move = next(m for m in listed["items"] if rolled_back(m))
    assert condition(move)["reason"] == "KpiRegression"
    assert move["spec"]["shard"] == "hot" and move["spec"]["source"] == "node-a"
    raised = wait_for(kubeconfig, namespace, "migrationpolicy/kv",
                      lambda o: o.get("status", {}).get("threshold", {}).get("current", 80) > 80,
                      timeout_seconds=60)
    threshold = raised["status"]["threshold"]
    assert threshold["current"] == 82.5
    assert threshold["reason"].startswith("raised: 1 of 1 move(s) were not needed")
    assert "made the KPIs worse" in threshold["reason"]



def rolled_back(migration: dict[str, Any]) -> bool:
    return bool(migration.get("status", {}).get("phase") == "RolledBack")
