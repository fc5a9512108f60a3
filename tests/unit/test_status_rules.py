"""What each kind's status says, decided without a cluster."""

from shardcast.api import migration, shard
from shardcast.api.shard import ShardSpec, WorkloadState

SPEC = ShardSpec.from_dict({"workload": {"name": "kv"}, "placement": {"node": "node-a"},
                            "sizeBytes": 10})


def test_shard_without_workload_is_pending() -> None:
    fields, ready = shard.observe(SPEC, 3, None)
    assert (fields["phase"], ready.status, ready.reason) == ("Pending", "False", "WorkloadNotFound")
    assert ready.observed_generation == 3 and "spec.workload.name" in ready.message


def test_shard_with_unready_workload_is_degraded() -> None:
    fields, ready = shard.observe(SPEC, 1, WorkloadState(replicas=3, ready_replicas=1))
    assert (fields["phase"], ready.reason) == ("Degraded", "WorkloadNotReady")
    assert "1/3" in ready.message


def test_shard_with_ready_workload_is_placed_on_its_node() -> None:
    fields, ready = shard.observe(SPEC, 1, WorkloadState(replicas=3, ready_replicas=3))
    assert (fields["phase"], fields["node"], ready.status) == ("Placed", "node-a", "True")


def _reason(spec: dict[str, object], node: str | None) -> str:
    base = {"shard": "s", "source": "node-a", "target": "node-b"}
    return migration.observe({**base, **spec}, 1, node, "2026-01-01T00:00:00Z")[1].reason


def test_migration_admission_reasons() -> None:
    assert _reason({}, None) == "ShardNotFound"
    assert _reason({}, "node-c") == "SourceMismatch"
    assert _reason({"dryRun": True}, "node-a") == "DryRun"
    assert _reason({}, "node-a") == "AwaitingApproval"
    assert _reason({"approval": "Rejected"}, "node-a") == "Rejected"
    assert _reason({"approval": "Approved"}, "node-a") == "ExecutorUnavailable"
