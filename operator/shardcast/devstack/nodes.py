"""Fake Nodes that kwok keeps Ready: real scheduling targets for StatefulSet and Job pods."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from shardcast.devstack.kubectl import kubectl


@dataclass(frozen=True)
class FakeNode:
    name: str
    zone: str
    cpu: str = "8"
    memory: str = "32Gi"
    pods: str = "110"


FAKE_NODES = (
    FakeNode("node-a", "zone-1"),
    FakeNode("node-b", "zone-1"),
    FakeNode("node-c", "zone-2"),
    FakeNode("node-d", "zone-2"),
)


def node_manifest(node: FakeNode) -> dict[str, object]:
    resources = {"cpu": node.cpu, "memory": node.memory, "pods": node.pods}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": node.name,
            # kwok only manages nodes carrying this annotation (see the kwok part's flags)
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {"kubernetes.io/hostname": node.name, "kubernetes.io/os": "linux",
                       "topology.kubernetes.io/zone": node.zone, "type": "kwok"},
        },
        # No taint: ordinary StatefulSet and Job pods must schedule here without tolerations.
        "status": {"capacity": resources, "allocatable": resources},
    }


def apply_nodes(kubeconfig: Path) -> None:
    items = [node_manifest(node) for node in FAKE_NODES]
    kubectl(kubeconfig, "apply", "-f", "-",
             stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    # The API server taints every new node not-ready (TaintNodesByCondition) and only the node
    # lifecycle controller lifts that taint once the node is Ready; the stack does not run that
    # controller (see the controller manager's flags), so the taint is lifted here.
    for node in FAKE_NODES:
        kubectl(kubeconfig, "patch", "node", node.name, "--type=merge",
                "-p", '{"spec": {"taints": null}}')


def wait_nodes_ready(kubeconfig: Path, names: list[str], timeout_seconds: int = 60) -> None:
    kubectl(kubeconfig, "wait", "--for=condition=Ready", f"--timeout={timeout_seconds}s",
             *(f"node/{name}" for name in names))

