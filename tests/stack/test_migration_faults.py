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
from shardcast.devstack.kubectl import kubectl
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


POLICY: dict[str, Any] = {"apiVersion": "shardcast.io/v1alpha1", "kind": "MigrationPolicy",
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


def counted_job(runs: Path, seconds: float) -> dict[str, Any]:
    """A Job step that leaves one line in `runs` per run: how many times it ran, whoever ran it."""
    return {"template": {"spec": {"containers": [
        {"name": "step", "image": "none",
         "command": ["sh", "-c", f"echo run >> {runs}; sleep {seconds}"]}]}}}


def _runs(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.mark.parametrize("after_seconds", [0.0, 0.3, 0.8])
def test_an_operator_killed_as_the_move_is_approved_is_followed_by_one_that_runs_each_job_once(
        after_seconds: float, start_operator: Start, kubeconfig: Path, namespace: str,
        endpoints: stack.Endpoints, tmp_path: Path) -> None:
    """Killed as Pending turns into Syncing (the claim being written, the sync Job being
    created), at three moments; the next one is killed between the sync Job's success and the
    next phase; the third finishes the move, and no Job ran twice."""
    sync, cutover = tmp_path / "sync.runs", tmp_path / "cutover.runs"
    policy = {**POLICY, "spec": {**POLICY["spec"], "jobs": {
        "sync": counted_job(sync, 2), "cutover": counted_job(cutover, 2)}}}
    pending = move("kv-0-to-b", "kv-0", "node-a", "node-b")
    pending["spec"]["approval"] = "Pending"
    first = start_operator()
    apply(kubeconfig, namespace, statefulset("kv", 1), shard("kv-0", "node-a"), policy, pending)
    wait_for(kubeconfig, namespace, "shardmigration/kv-0-to-b",
             lambda o: condition(o).get("reason") == "AwaitingApproval", 60)
    kubectl(kubeconfig, "-n", namespace, "patch", "shardmigration", "kv-0-to-b",
            "--type=merge", "-p", '{"spec": {"approval": "Approved"}}')
    time.sleep(after_seconds)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    second = start_operator()
    deadline = time.monotonic() + 60
    while not list((tmp_path / "jobs").glob("*sync.rc")):
        assert time.monotonic() < deadline, "the sync Job never ended"
        time.sleep(0.05)
    second.send_signal(signal.SIGKILL)  # the Job succeeded; the next phase not yet taken
    second.wait(timeout=10)
    start_operator()
    done = wait_for(kubeconfig, namespace, "shardmigration/kv-0-to-b", ended, 90)
    assert phase(done) == "Active", done["status"]
    placed, claim, route = record(endpoints.consensus_etcd, namespace, "kv-0")
    assert (placed and placed.node, placed and placed.epoch, claim, route) == (
        "node-b", 2, None, None)
    assert (_runs(sync), _runs(cutover)) == (1, 1)
