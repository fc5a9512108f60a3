"""Faults during migrations, with real operator processes (killed with SIGKILL), real etcd
members stopped and started, and the Jobs run as local processes so each phase lasts seconds."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shardcast.devstack import process, stack
from shardcast.devstack.manifests import statefulset
from shardcast.devstack.paths import state_dir
from tests.stack.consensus import record
from tests.stack.kube import apply, condition, get, wait_for
from tests.stack.operator_process import operators
from tests.stack.test_migrations import ended, move, shard

Start = Callable[[], subprocess.Popen[bytes]]


def sleeping_job(seconds: float) -> dict[str, Any]:
    return {"template": {"spec": {"containers": [
        {"name": "step", "image": "none", "command": ["sleep", str(seconds)]}]}}}


POLICY = {"apiVersion": "shardcast.io/v1alpha1", "kind": "MigrationPolicy",
          "metadata": {"name": "kv"},
          "spec": {"mode": "propose-only", "shardSelector": {"matchLabels": {"app": "none"}},
                   "metric": {"type": "cpu"},
                   "jobs": {"sync": sleeping_job(4), "cutover": sleeping_job(4)},
                   "trafficShift": {"steps": [50, 100], "gateWindow": "3s"}}}


@pytest.fixture
def start_operator(endpoints: stack.Endpoints, namespace: str,
                   tmp_path: Path) -> Iterator[Start]:
    with operators(endpoints, namespace, tmp_path) as running:
        yield running.start


def phase(obj: dict[str, Any]) -> str:
    return str(obj.get("status", {}).get("phase", ""))


@pytest.mark.parametrize("killed_in", ["Syncing", "Redirecting", "CuttingOver"])
def test_an_operator_killed_mid_move_is_resumed_by_the_next_one(
        killed_in: str, start_operator: Start, kubeconfig: Path, namespace: str,
        endpoints: stack.Endpoints, tmp_path: Path) -> None:
    first = start_operator()
    apply(kubeconfig, namespace, statefulset("kv", 1), shard("kv-0", "node-a"), POLICY,
          move("kv-0-to-b", "kv-0", "node-a", "node-b"))
    wait_for(kubeconfig, namespace, "shardmigration/kv-0-to-b",
             lambda o: phase(o) == killed_in, 60)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    start_operator()
    done = wait_for(kubeconfig, namespace, "shardmigration/kv-0-to-b", ended, 90)
    assert phase(done) == "Active", done["status"]
    phases = [t["phase"] for t in done["status"]["phaseTimes"]]
    assert phases == ["Pending", "Syncing", "Redirecting", "CuttingOver", "Active"]
    placed, claim, route = record(endpoints.consensus_etcd, namespace, "kv-0")
    assert (placed and placed.node, placed and placed.epoch, claim, route) == (
        "node-b", 2, None, None)
    # Each Job ran once: the restarted operator followed the one it found.
    assert sorted(p.name for p in (tmp_path / "jobs").glob("*.pid")) == [
        f"{namespace}.kv-0-to-b-cutover.pid", f"{namespace}.kv-0-to-b-sync.pid"]


def test_etcd_member_loss_and_quorum_loss(start_operator: Start, kubeconfig: Path,
                                          namespace: str, endpoints: stack.Endpoints) -> None:
    members = stack.consensus_members()
    state = state_dir()
    start_operator()
    apply(kubeconfig, namespace, statefulset("kv", 2), POLICY, shard("kv-0", "node-a"),
          shard("kv-1", "node-a"))
    wait_for(kubeconfig, namespace, "shard/kv-1", lambda o: "epoch" in o.get("status", {}))
    try:
        process.stop(members[0], state)
        apply(kubeconfig, namespace, move("kv-0-to-b", "kv-0", "node-a", "node-b"))
        one_down = wait_for(kubeconfig, namespace, "shardmigration/kv-0-to-b", ended, 90)
        assert phase(one_down) == "Active", one_down["status"]

        process.stop(members[1], state)
        apply(kubeconfig, namespace, move("kv-1-to-c", "kv-1", "node-a", "node-c"))
        refused = wait_for(kubeconfig, namespace, "shardmigration/kv-1-to-c",
                           lambda o: condition(o).get("reason") == "ConsensusUnavailable", 60)
        assert phase(refused) == "Pending"
        assert "no step is taken" in condition(refused)["message"]
        time.sleep(5)
        assert phase(get(kubeconfig, namespace, "shardmigration/kv-1-to-c")) == "Pending"
    finally:
        for member in members[:2]:
            process.start(member, state)
    resumed = wait_for(kubeconfig, namespace, "shardmigration/kv-1-to-c", ended, 120)
    assert phase(resumed) == "Active", resumed["status"]
    placed, _, _ = record(endpoints.consensus_etcd, namespace, "kv-1")
    assert placed is not None and (placed.node, placed.epoch) == ("node-c", 2)


def test_two_operators_without_peering_never_move_a_shard_twice(
        start_operator: Start, kubeconfig: Path, namespace: str,
        endpoints: stack.Endpoints) -> None:
    """Peering keeps a second replica idle; etcd's fencing must hold even when both act."""
    start_operator()
    start_operator()
    apply(kubeconfig, namespace, statefulset("kv", 2), POLICY, shard("kv-0", "node-a"),
          shard("kv-1", "node-b"), move("a-to-c", "kv-0", "node-a", "node-c"),
          move("a-to-d", "kv-0", "node-a", "node-d"), move("b-to-c", "kv-1", "node-b", "node-c"),
          move("b-to-d", "kv-1", "node-b", "node-d"))
    outcome = {name: phase(wait_for(kubeconfig, namespace, f"shardmigration/{name}",
                                    lambda o: phase(o) in {"Active", "Failed"}, 120))
               for name in ("a-to-c", "a-to-d", "b-to-c", "b-to-d")}
    for shard_name, pair in (("kv-0", ("a-to-c", "a-to-d")), ("kv-1", ("b-to-c", "b-to-d"))):
        assert sorted(outcome[n] for n in pair) == ["Active", "Failed"], outcome
        placed, claim, _ = record(endpoints.consensus_etcd, namespace, shard_name)
        assert placed is not None and placed.epoch == 2 and claim is None
        winner = next(n for n in pair if outcome[n] == "Active")
        assert placed.node == f"node-{winner[-1]}"
