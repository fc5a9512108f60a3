import pytest

from shardcast.api.policy import selected_shards
from shardcast.api.selector import matches

LABELS = {"tier": "web", "zone": "z1"}


@pytest.mark.parametrize(("selector", "expected"), [
    (None, True),
    ({}, True),
    ({"matchLabels": {"tier": "web"}}, True),
    ({"matchLabels": {"tier": "batch"}}, False),
    ({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z1", "z2"]}]}, True),
    ({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["z1"]}]}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, False),
    ({"matchLabels": {"tier": "web"},
      "matchExpressions": [{"key": "gpu", "operator": "Exists"}]}, False),
])
def test_label_selector_semantics(selector: dict[str, object] | None, expected: bool) -> None:
    assert matches(selector, LABELS) is expected


def test_policy_selects_sorted_shard_names() -> None:
    shards = {"b": {"tier": "web"}, "a": {"tier": "web"}, "c": {"tier": "batch"}}
    assert selected_shards({"matchLabels": {"tier": "web"}}, shards) == ["a", "b"]
