"""What the demo and the stack tests install into the local cluster: the CRDs and workloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shardcast.devstack.kubectl import kubectl

CRDS = Path(__file__).resolve().parents[3] / "crds"
SHARDCAST_CRDS = ("shards.shardcast.io", "migrationpolicies.shardcast.io",
                  "shardmigrations.shardcast.io")


def install_crds(kubeconfig: Path) -> None:
    """Server-side apply of crds/ (idempotent), then wait until the API server serves them."""
    kubectl(kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", str(CRDS))
    kubectl(kubeconfig, "wait", "--for=condition=Established", "--timeout=60s",
            *(f"crd/{name}" for name in SHARDCAST_CRDS))


def statefulset(name: str, replicas: int, image: str = "registry.example.com/kv:1"
                ) -> dict[str, Any]:
    """A StatefulSet whose pods kwok runs on the fake nodes (the image is never pulled)."""
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
            "spec": {"serviceName": name, "replicas": replicas,
                     "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "kv", "image": image}]}}}}
