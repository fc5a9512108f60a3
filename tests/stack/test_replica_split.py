"""More replicas for more shards: two operator replicas, each serving its own namespace (as two
chart releases with disjoint watchNamespaces run them), each with its own peering there. Each
runs its namespace's auto policy and moves that namespace's hot shard; neither touches the
other's, and no shard is moved twice."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shardcast.devstack import stack
from shardcast.devstack.kubectl import kubectl
from shardcast.devstack.manifests import statefulset
from tests.stack.consensus import record
from tests.stack.kube import apply
from tests.stack.operator_process import operators
from tests.stack.test_migration_faults import sleeping_job
from tests.stack.test_planning import crowded_node_a, migrations, policy

PEERING = {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": "shardcast"}}


@pytest.fixture
def other_namespace(kubeconfig: Path, crds: None) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    kubectl(kubeconfig, "create", "namespace", name)
    yield name
    kubectl(kubeconfig, "delete", "namespace", name, "--wait=false")


def auto_policy() -> dict[str, Any]:
    body = policy("auto")
    body["spec"]["jobs"] = {"sync": sleeping_job(1), "cutover": sleeping_job(1)}
    body["spec"]["trafficShift"] = {"steps": [100], "gateWindow": "1s"}
    return body


def test_two_replicas_each_move_only_their_own_namespaces_shards(
        kubeconfig: Path, namespace: str, other_namespace: str, endpoints: stack.Endpoints,
        tmp_path: Path) -> None:
    spaces = (namespace, other_namespace)
    with operators(endpoints, namespace, tmp_path) as running:
        for ns in spaces:
            apply(kubeconfig, ns, PEERING, statefulset("kv", 3), *crowded_node_a(),
                  auto_policy())
            running.start(ns, peering=True, verbose=True)
        # A move's decision is in status only for the cycle that made it, so wait for the
        # migration itself: the other namespace's move may be over by the time it is looked at.
        for ns in spaces:
            deadline = time.monotonic() + 120
            while not any(m.get("status", {}).get("phase") == "Active"
                          for m in migrations(kubeconfig, ns)):
                assert time.monotonic() < deadline, f"no move became Active in {ns}"
                time.sleep(1)
        active = {ns: [m["spec"]["shard"] for m in migrations(kubeconfig, ns)
                       if m.get("status", {}).get("phase") == "Active"] for ns in spaces}
        # read before the Shards go: a deleted Shard takes its etcd records with it
        placed = {ns: record(endpoints.consensus_etcd, ns, "hot")[0] for ns in spaces}
        for ns in spaces:  # while their operators still run to release the finalizers
            kubectl(kubeconfig, "-n", ns, "delete", "shardcast", "--all", "--timeout=30s")
        logs = [running.log(i).read_text() for i in range(2)]
    for mine, theirs, log in ((spaces[0], spaces[1], logs[0]), (spaces[1], spaces[0], logs[1])):
        assert f"watch-stream for shardmigrations.v1alpha1.shardcast.io in '{mine}'" in log
        assert f"in '{theirs}'" not in log  # never watched, so never handled, the other's
    for ns in spaces:
        assert active[ns] == ["hot"]  # moved once, by one replica
        assert placed[ns] is not None and placed[ns].epoch == 2
        assert record(endpoints.consensus_etcd, ns, "hot") == (None, None, None)
