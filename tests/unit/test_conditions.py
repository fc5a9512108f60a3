import datetime

from shardcast.api.conditions import Condition, merge

T0 = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)
T1 = T0 + datetime.timedelta(minutes=5)


def test_transition_time_moves_only_when_status_flips() -> None:
    first = merge([], Condition("Ready", "False", "WorkloadNotFound", "x", 1), T0)
    same = merge(first, Condition("Ready", "False", "WorkloadNotReady", "y", 2), T1)
    flipped = merge(same, Condition("Ready", "True", "Placed", "z", 2), T1)
    assert first[0]["lastTransitionTime"] == "2026-01-01T12:00:00Z"
    assert same[0]["lastTransitionTime"] == "2026-01-01T12:00:00Z"
    assert same[0]["reason"] == "WorkloadNotReady" and same[0]["observedGeneration"] == 2
    assert flipped[0]["lastTransitionTime"] == "2026-01-01T12:05:00Z"


def test_other_condition_types_are_kept() -> None:
    existing = [{"type": "Synced", "status": "True", "reason": "Ok", "message": "",
                 "observedGeneration": 1, "lastTransitionTime": "2025-12-31T00:00:00Z"}]
    merged = merge(existing, Condition("Ready", "True", "Placed", "", 1), T0)
    assert [c["type"] for c in merged] == ["Ready", "Synced"]
    assert merged[1] == existing[0]
