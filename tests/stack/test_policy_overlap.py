"""Two policies in one namespace select the same shards: the older governs them, the younger
leaves them alone and says so, on the real API server with the operator running."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from kopf.testing import KopfRunner

from tests.stack.kube import apply, condition, get, wait_for
from tests.stack.test_planning import crowded_node_a, migrations, policy

RESYNC_SECONDS = 2  # the operator fixture's SHARDCAST_RESYNC_SECONDS


def named(name: str) -> dict[str, Any]:
    body = policy("propose-only")
    body["metadata"]["name"] = name
    return body


def overlapping(obj: dict[str, Any]) -> dict[str, Any]:
    return condition(obj, "Overlapping")


def test_the_older_of_two_overlapping_policies_plans_and_the_younger_leaves_the_shards_alone(
        operator: KopfRunner, kubeconfig: Path, namespace: str) -> None:
    """zeta is created a second before alpha, so age, not the name, decides. Both policies exist
    (and are indexed) before the shards, so both would plan the crowded node-a without the rule."""
    apply(kubeconfig, namespace, named("zeta"))
    time.sleep(1.1)  # creationTimestamp has whole seconds
    apply(kubeconfig, namespace, named("alpha"))
    for name in ("zeta", "alpha"):
        wait_for(kubeconfig, namespace, f"migrationpolicy/{name}",
                 lambda o: overlapping(o).get("reason") == "NoOverlap")
    apply(kubeconfig, namespace, *crowded_node_a())

    older = wait_for(kubeconfig, namespace, "migrationpolicy/zeta",
                     lambda o: bool(o.get("status", {}).get("decisions")), timeout_seconds=90)
    decision = older["status"]["decisions"][0]
    assert (decision["action"], decision["shard"], decision["from"]) == ("move", "hot", "node-a")
    assert older["status"]["lastEvaluation"]["shardsEvaluated"] == 3
    assert overlapping(older)["reason"] == "AmbiguousSelector"
    assert "hot, mild, warm (also selected by alpha)" in overlapping(older)["message"]

    younger = wait_for(kubeconfig, namespace, "migrationpolicy/alpha",
                       lambda o: overlapping(o).get("status") == "True")
    assert overlapping(younger)["reason"] == "AmbiguousSelector"
    assert "hot, mild, warm (governed by zeta)" in overlapping(younger)["message"]
    assert {"shard": "hot", "governedBy": "zeta", "yieldedBy": ["alpha"]} in (
        younger["status"]["overlaps"])
    assert condition(younger)["reason"] == "NoShardsGoverned"

    time.sleep(3 * RESYNC_SECONDS + 1)  # a few more cycles of both
    younger = get(kubeconfig, namespace, "migrationpolicy/alpha")
    evaluation = younger["status"]["lastEvaluation"]
    assert (evaluation["shardsEvaluated"], evaluation["shardsYielded"]) == (0, 3)
    assert not younger["status"].get("decisions")
    moves = [m for m in migrations(kubeconfig, namespace) if m["spec"]["shard"] == "hot"]
    assert [m["metadata"]["name"] for m in moves] == [decision["migration"]]
    assert moves[0]["spec"]["policy"] == "zeta"
    assert get(kubeconfig, namespace, "shard/hot")["status"]["prediction"]["policy"] == "zeta"
