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


def test_shard_status_follows_etcd_over_the_declared_node() -> None:
    record = shard.Record(node="node-c", epoch=4, revision=99, moving=None)
    fields, ready = shard.observe(SPEC, 1, WorkloadState(replicas=3, ready_replicas=3), record)
    assert (fields["node"], fields["epoch"], ready.reason) == ("node-c", 4, "Placed")
    message = shard.consensus_status(SPEC, record, None, "now")["message"]
    assert "etcd wins" in message and "node-a" in message


def test_shard_being_moved_is_migrating() -> None:
    record = shard.Record(node="node-a", epoch=1, revision=5, moving="ns/m")
    fields, ready = shard.observe(SPEC, 1, WorkloadState(replicas=1, ready_replicas=1), record)
    assert (fields["phase"], ready.status, ready.reason) == ("Migrating", "True", "Migrating")


POLICY = {"jobs": {"sync": {"template": {}}, "cutover": {"template": {}}}}


def _reason(spec: dict[str, object], node: str | None,
            policy: dict[str, object] | None = POLICY) -> str | None:
    base = {"shard": "s", "source": "node-a", "target": "node-b", "policy": "p"}
    blocked = migration.admission({**base, **spec}, node, policy)
    return blocked[0] if blocked else None


def test_migration_admission_reasons() -> None:
    assert _reason({}, None) == "ShardNotFound"
    assert _reason({}, "node-c") == "SourceMismatch"
    assert _reason({"dryRun": True}, "node-a") == "DryRun"
    assert _reason({}, "node-a") == "AwaitingApproval"
    assert _reason({"approval": "Rejected"}, "node-a") == "Rejected"
    assert _reason({"approval": "Approved"}, "node-a", None) == "PolicyNotFound"
    assert _reason({"approval": "Approved"}, "node-a", {"jobs": {"sync": {}}}) == "NoJobTemplate"
    assert _reason({"approval": "Approved"}, "node-a") is None
