"""The sync and cutover Jobs of a migration, built from the policy's templates.

Names are deterministic (one Job per migration and kind), so creating one is idempotent: a pass
repeated after a crash finds the Job it created and follows it instead of starting a second copy.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from typing import Any

MAX_NAME = 63


def job_name(migration: str, kind: str) -> str:
    name = f"{migration}-{kind}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{migration[:MAX_NAME - len(kind) - 10]}-{digest}-{kind}"


def job_env(namespace: str, migration: str, shard: str, source: str, target: str,
            epoch: int, size_bytes: int) -> dict[str, str]:
    """What every Job command is told: which shard goes where, the epoch it moves from, and
    how much data to expect."""
    return {"SHARDCAST_NAMESPACE": namespace, "SHARDCAST_MIGRATION": f"{namespace}/{migration}",
            "SHARDCAST_SHARD": shard, "SHARDCAST_SOURCE": source, "SHARDCAST_TARGET": target,
            "SHARDCAST_EPOCH": str(epoch), "SHARDCAST_SIZE_BYTES": str(size_bytes)}


def job_manifest(name: str, kind: str, job_spec: Mapping[str, Any], env: Mapping[str, str],
                 owner: Mapping[str, Any]) -> dict[str, Any]:
    """A batch/v1 Job from the policy's `jobs.<kind>`, owned by the ShardMigration so it is
    garbage-collected with it; the environment goes into every container."""
    template = copy.deepcopy(dict(job_spec["template"]))
    pod = template.setdefault("spec", {})
    pod.setdefault("restartPolicy", "Never")
    for container in pod.get("containers", []):
        given = [e for e in container.get("env", []) if e.get("name") not in env]
        container["env"] = [*given, *({"name": k, "value": v} for k, v in env.items())]
    labels = {"app.kubernetes.io/managed-by": "shardcast", "shardcast.io/migration": owner["name"],
              "shardcast.io/job": kind}
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "labels": labels, "ownerReferences": [{
            "apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["name"],
            "uid": owner["uid"], "controller": True, "blockOwnerDeletion": True}]},
        "spec": {"backoffLimit": int(job_spec.get("backoffLimit", 2)),
                 "activeDeadlineSeconds": int(job_spec.get("activeDeadlineSeconds", 3600)),
                 "template": template},
    }
