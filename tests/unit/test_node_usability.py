"""Which Nodes a shard may go to: existence, Ready, cordon, taints against tolerations, and
the capacity the policy plans by."""

import pytest

from shardcast.api.nodes import NodeState, Taint, Toleration, closed_to_moves, refusal

READY = {"conditions": [{"type": "Ready", "status": "True"}], "allocatable": {"cpu": "4"}}
DEDICATED = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}


def test_a_node_is_parsed_from_its_object() -> None:
    node = NodeState.from_object({"unschedulable": True, "taints": [DEDICATED]}, READY)
    assert node == NodeState({"cpu": "4"}, True, True, (Taint("dedicated", "db", "NoSchedule"),))
    assert not NodeState.from_object({}, {"conditions": []}).ready  # no Ready condition yet


@pytest.mark.parametrize(("spec", "status", "reason", "words"), [
    (None, None, "TargetNotFound", "no Node 'n'"),
    ({"unschedulable": True}, READY, "TargetUnschedulable", "cordoned"),
    ({}, {"conditions": [{"type": "Ready", "status": "False"}]}, "TargetUnschedulable",
     "not Ready"),
    ({"taints": [DEDICATED]}, READY, "TargetUnschedulable", "dedicated=db:NoSchedule"),
    ({}, {**READY, "allocatable": {}}, "TargetUnschedulable", "no allocatable cpu"),
])
def test_refusals_name_what_is_wrong(spec: dict[str, object] | None,
                                     status: dict[str, object] | None, reason: str,
                                     words: str) -> None:
    node = None if spec is None or status is None else NodeState.from_object(spec, status)
    found = refusal("n", node, (), "cpu")
    assert found is not None
    assert found[0] == reason and words in found[1]


@pytest.mark.parametrize(("toleration", "tolerated"), [
    (Toleration("dedicated", "Equal", "db", "NoSchedule"), True),
    (Toleration("dedicated", "Exists"), True),
    (Toleration(operator="Exists"), True),  # tolerates everything
    (Toleration("dedicated", "Equal", "web", "NoSchedule"), False),
    (Toleration("dedicated", "Exists", effect="NoExecute"), False),
    (Toleration("other", "Exists"), False),
])
def test_tolerations_match_the_way_the_scheduler_matches(toleration: Toleration,
                                                         tolerated: bool) -> None:
    node = NodeState.from_object({"taints": [DEDICATED]}, READY)
    assert (refusal("n", node, (toleration,), "cpu") is None) is tolerated


def test_soft_taints_and_fixed_capacity_do_not_refuse() -> None:
    soft = {"key": "k", "effect": "PreferNoSchedule"}
    node = NodeState.from_object({"taints": [soft]}, {**READY, "allocatable": {}})
    assert refusal("n", node, (), None) is None


def test_a_node_one_workload_may_not_use_is_closed_to_the_policy() -> None:
    nodes = {"open": NodeState.from_object({}, READY),
             "tainted": NodeState.from_object({"taints": [DEDICATED]}, READY)}
    tolerant = (Toleration("dedicated", "Exists"),)
    assert closed_to_moves(nodes, [tolerant]) == {}
    assert set(closed_to_moves(nodes, [tolerant, ()])) == {"tainted"}
    assert set(closed_to_moves(nodes, [])) == {"tainted"}
