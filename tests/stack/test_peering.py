"""Two operator replicas with peering: exactly one handles resources, the other stands by
(Shard statuses aside: every replica derives the same ones from the same views)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shardcast.devstack.kubectl import kubectl
from tests.stack.kube import apply, condition, wait_for
from tests.stack.test_migrations import policy

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def two_replicas(kubeconfig: Path, crds: None, tmp_path: Path) -> Iterator[list[Path]]:
    kubectl(kubeconfig, "apply", "-f", str(REPO / "manifests" / "peering.yaml"))
    logs, procs = [], []
    for i, priority in enumerate((100, 200)):
        log = tmp_path / f"replica-{i}.log"
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "SHARDCAST_RESYNC_SECONDS": "2",
               "SHARDCAST_PEERING_PRIORITY": str(priority)}
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "shardcast", "run", "--verbose",
             f"--liveness=http://127.0.0.1:{18090 + i}/healthz"],
            env=env, stdout=log.open("w"), stderr=subprocess.STDOUT))
        logs.append(log)
        time.sleep(3)  # the second replica finds the first already in the peering
    yield logs
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=30)


HANDLED = "Handler 'evaluate_policy' succeeded"


def test_only_the_higher_priority_replica_handles_policies(
        two_replicas: list[Path], kubeconfig: Path, namespace: str) -> None:
    low, high = two_replicas
    deadline = time.monotonic() + 30
    while "Pausing operations in favour of" not in low.read_text():
        assert time.monotonic() < deadline, "the lower-priority replica never stood by"
        time.sleep(0.5)
    before = [log.read_text().count(HANDLED) for log in (low, high)]
    shard = {"apiVersion": "shardcast.io/v1alpha1", "kind": "Shard",
             "metadata": {"name": "peered", "labels": {"app": "peered"}},
             "spec": {"workload": {"name": "none"}, "placement": {"node": "node-a"},
                      "sizeBytes": 1}}
    apply(kubeconfig, namespace, shard, {**policy(), "spec": {
        **policy()["spec"], "shardSelector": {"matchLabels": {"app": "peered"}}}})
    ready = wait_for(kubeconfig, namespace, "shard/peered", lambda o: bool(condition(o)))
    assert condition(ready)["reason"] == "WorkloadNotFound"
    wait_for(kubeconfig, namespace, "migrationpolicy/kv", lambda o: bool(condition(o)))
    time.sleep(3)  # a few resync periods: a paused replica would have handled it by now
    after = [log.read_text().count(HANDLED) for log in (low, high)]
    assert after[0] == before[0], "the standby replica handled a policy"
    assert after[1] > before[1]
