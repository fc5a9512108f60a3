"""A policy deletes the ShardMigrations it created once they have ended and their TTL has run
out, on the real API server; their Jobs follow through the controller-manager's garbage
collector. A migration made by hand stays."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from shardcast.devstack.kubectl import kubectl
from shardcast.devstack.manifests import statefulset
from tests.stack.kube import apply, wait_for
from tests.stack.test_migrations import ended, move, policy, shard

pytestmark = pytest.mark.usefixtures("operator")


def _names(kubeconfig: Path, namespace: str, kind: str) -> set[str]:
    listed = json.loads(kubectl(kubeconfig, "-n", namespace, "get", kind, "-o", "json"))
    return {item["metadata"]["name"] for item in listed["items"]}


def _gone(kubeconfig: Path, namespace: str, kind: str, names: set[str],
          timeout_seconds: float) -> set[str]:
    """Of `names`, those still there after waiting up to `timeout_seconds` for them to go."""
    deadline = time.monotonic() + timeout_seconds
    while (left := names & _names(kubeconfig, namespace, kind)) and time.monotonic() < deadline:
        time.sleep(1)
    return left


def test_a_policy_deletes_its_ended_migrations_with_their_jobs_and_keeps_hand_made_ones(
        kubeconfig: Path, namespace: str) -> None:
    keep_nothing: dict[str, Any] = policy()
    keep_nothing["spec"] |= {"cooldown": "0s", "history": {"ttlAfterFinished": "0s"}}
    ours = move("planned", "kv-0", "node-a", "node-b")
    ours["metadata"]["labels"] = {"shardcast.io/policy": "kv"}
    apply(kubeconfig, namespace, statefulset("kv", 2), shard("kv-0", "node-a"),
          shard("kv-1", "node-a"), keep_nothing, ours,
          move("by-hand", "kv-1", "node-a", "node-zz"))
    assert wait_for(kubeconfig, namespace, "shardmigration/by-hand", ended,
                    60)["status"]["phase"] == "Failed"
    # The planned move walks every phase, runs both Jobs, then goes with them.
    jobs = {"planned-sync", "planned-cutover"}
    assert _gone(kubeconfig, namespace, "shardmigrations", {"planned"}, 120) == set()
    assert wait_for(kubeconfig, namespace, "shard/kv-0",
                    lambda o: o.get("status", {}).get("node") == "node-b")["status"]["epoch"] == 2
    assert _gone(kubeconfig, namespace, "jobs", jobs, 60) == set()
    # Several policy cycles later (2 s each here) the hand-made one is still there.
    time.sleep(8)
    assert "by-hand" in _names(kubeconfig, namespace, "shardmigrations")
