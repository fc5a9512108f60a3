"""Small kubectl helpers for stack tests: apply manifests and wait for what the operator writes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from shardcast.api.conditions import find
from shardcast.devstack.kubectl import kubectl


def apply(kubeconfig: Path, namespace: str, *objects: dict[str, Any]) -> None:
    kubectl(kubeconfig, "-n", namespace, "apply", "-f", "-",
            stdin="---\n".join(yaml.safe_dump(o) for o in objects))


def get(kubeconfig: Path, namespace: str, ref: str) -> dict[str, Any]:
    return dict(json.loads(kubectl(kubeconfig, "-n", namespace, "get", ref, "-o", "json")))


def wait_for(kubeconfig: Path, namespace: str, ref: str,
             predicate: Callable[[dict[str, Any]], bool],
             timeout_seconds: float = 60) -> dict[str, Any]:
    """Poll until `predicate(object)` holds; on timeout fail with the last object seen."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        obj = get(kubeconfig, namespace, ref)
        if predicate(obj):
            return obj
        if time.monotonic() > deadline:
            raise AssertionError(f"{ref} never satisfied the condition; last seen:\n"
                                 f"{json.dumps(obj.get('status'), indent=1)}")
        time.sleep(0.5)


def condition(obj: dict[str, Any], type_: str = "Ready") -> dict[str, Any]:
    return dict(find(obj.get("status", {}).get("conditions", []), type_))
