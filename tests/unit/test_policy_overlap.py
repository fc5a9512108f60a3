"""One policy per shard: the oldest of the policies that select a shard governs it, and every
policy involved says so in its Overlapping condition and status.overlaps."""

from __future__ import annotations

import datetime
from typing import Any

import kopf
import pytest

from shardcast.api import policy
from shardcast.api.conditions import Condition
from shardcast.api.policy_overlap import Contender, Overlap, overlap_status, resolve
from shardcast.handlers import status

T0 = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)
KV = {"matchLabels": {"app": "kv"}}
LABELS = {"hot": {"app": "kv", "tier": "gold"}, "warm": {"app": "kv"},
          "cache": {"app": "cache"}}


def contender(name: str, minutes: int, selector: dict[str, Any] | None = None) -> Contender:
    return Contender(name, T0 + datetime.timedelta(minutes=minutes), KV if selector is None
                     else selector)


def test_the_oldest_policy_governs_the_shards_both_select_and_the_younger_leaves_them() -> None:
    old, young = contender("zeta", 0), contender("alpha", 5)
    governing = resolve(old, [old, young], LABELS)
    yielding = resolve(young, [old, young], LABELS)
    assert governing.governed == ("hot", "warm") and yielding.governed == ()
    shared = (Overlap("hot", "zeta", ("alpha",)), Overlap("warm", "zeta", ("alpha",)))
    assert governing.shared == yielding.shared == shared
    assert governing.kept == shared and governing.yielded == ()
    assert yielding.yielded == shared and yielding.kept == ()


def test_policies_created_in_the_same_second_are_ordered_by_name() -> None:
    first, second = contender("kv-a", 0), contender("kv-b", 0)
    assert resolve(second, [first], LABELS).yielded == (
        Overlap("hot", "kv-a", ("kv-b",)), Overlap("warm", "kv-a", ("kv-b",)))
    assert resolve(first, [second], LABELS).governed == ("hot", "warm")


def test_of_three_policies_each_shard_has_exactly_one_governor() -> None:
    """a (oldest) selects kv, b selects everything, c (youngest) only the gold tier: a governs
    hot and warm, b only cache, c nothing; hot's yielders are listed oldest first."""
    a, b, c = contender("a", 0), contender("b", 1, {}), contender("c", 2, {
        "matchLabels": {"tier": "gold"}})
    everyone = [a, b, c]
    outcomes = {p.name: resolve(p, everyone, LABELS) for p in everyone}
    assert {n: o.governed for n, o in outcomes.items()} == {
        "a": ("hot", "warm"), "b": ("cache",), "c": ()}
    assert outcomes["a"].kept == (Overlap("hot", "a", ("b", "c")), Overlap("warm", "a", ("b",)))
    assert outcomes["b"].yielded == outcomes["a"].kept
    assert outcomes["c"].yielded == (Overlap("hot", "a", ("b", "c")),)
    assert outcomes["b"].kept == ()  # nobody else selects cache: not an overlap
    governed = [s for o in outcomes.values() for s in o.governed]
    assert sorted(governed) == sorted(LABELS)


def test_the_index_entry_of_the_policy_itself_is_not_a_rival() -> None:
    """The index may still hold the policy's previous spec; it must not compete with itself."""
    me = contender("kv", 0)
    stale = Contender("kv", me.created, {})
    assert resolve(me, [stale], LABELS) == resolve(me, [], LABELS)
    assert resolve(me, [stale], LABELS).shared == ()


def test_a_shard_whose_labels_leave_the_overlap_goes_back_to_the_younger_policy() -> None:
    old = contender("old", 0, {"matchLabels": {"tier": "gold"}})
    young = contender("young", 5)
    assert resolve(young, [old], LABELS).governed == ("warm",)
    relabelled = {**LABELS, "hot": {"app": "kv", "tier": "silver"}}
    back = resolve(young, [old], relabelled)
    assert back.governed == ("hot", "warm") and back.shared == ()
    assert resolve(old, [young], relabelled).governed == ()


def test_a_yielding_policy_names_the_shards_it_leaves_alone_and_who_governs_them() -> None:
    old, young = contender("zeta", 0), contender("alpha", 5)
    overlaps = resolve(young, [old], LABELS)
    fields, condition = overlap_status(overlaps, 4)
    assert fields == {"overlaps": [{"shard": "hot", "governedBy": "zeta", "yieldedBy": ["alpha"]},
                                   {"shard": "warm", "governedBy": "zeta",
                                    "yieldedBy": ["alpha"]}]}
    assert (condition.type, condition.status, condition.reason) == (
        "Overlapping", "True", "AmbiguousSelector")
    assert condition.observed_generation == 4 and not condition.healthy
    assert condition.message.startswith(
        "Leaves 2 selected shard(s) alone, governed by older policies that select them too: "
        "hot, warm (governed by zeta).")
    assert "The oldest policy that selects a shard governs it" in condition.message

    evaluation, ready = policy.observe("propose-only", 4, overlaps.governed,
                                       "2026-01-01T12:00:00Z", yielded=len(overlaps.yielded))
    assert evaluation["lastEvaluation"]["shardsEvaluated"] == 0
    assert evaluation["lastEvaluation"]["shardsYielded"] == 2
    assert evaluation["decisions"] == [] and evaluation["nodes"] == []  # no plan stays listed
    assert (ready.status, ready.reason) == ("True", "NoShardsGoverned")
    assert ready.message == ("mode propose-only: 2 shard(s) selected, 2 of them left to older "
                             "policies; older policies govern every selected shard (see the "
                             "Overlapping condition)")


def test_the_governing_policy_names_the_shards_it_shares_and_the_policies_that_yield() -> None:
    a, b, c = contender("a", 0), contender("b", 1), contender("c", 2, {
        "matchLabels": {"tier": "gold"}})
    overlaps = resolve(a, [b, c], LABELS)
    _, condition = overlap_status(overlaps, 1)
    assert condition.status == "True" and condition.reason == "AmbiguousSelector"
    assert condition.message.startswith(
        "Governs 2 shard(s) that younger policies select too and leave alone: "
        "hot (also selected by b, c); warm (also selected by b).")

    fields, ready = policy.observe("auto", 1, overlaps.governed, "2026-01-01T12:00:00Z",
                                   policy.ForecastOutcome(forecast=2, failed={}))
    assert fields["lastEvaluation"]["shardsEvaluated"] == 2
    assert fields["lastEvaluation"]["shardsYielded"] == 0
    assert ready.reason == "Evaluated" and ready.message.startswith(
        "mode auto: 2 shard(s) selected; 2 forecast")


def test_a_policy_that_governs_some_shards_and_yields_others_says_both() -> None:
    a, b, c = contender("a", 0, {"matchLabels": {"tier": "gold"}}), contender("b", 1, {}), \
        contender("c", 2, {"matchLabels": {"app": "cache"}})
    _, condition = overlap_status(resolve(b, [a, c], LABELS), 1)
    assert condition.message.startswith(
        "Leaves 1 selected shard(s) alone, governed by older policies that select them too: "
        "hot (governed by a). Governs 1 shard(s) that younger policies select too and leave "
        "alone: cache (also selected by c).")
    _, ready = policy.observe("dry-run", 1, ["cache", "warm"], "2026-01-01T12:00:00Z",
                              yielded=1)
    assert ready.message.startswith("mode dry-run: 3 shard(s) selected, 1 of them left to older "
                                    "policies; no Prometheus is configured")


def test_without_an_overlap_the_condition_is_false_and_the_list_empty() -> None:
    alone = contender("kv", 0)
    cache = contender("cache", 1, {"matchLabels": {"app": "cache"}})
    fields, condition = overlap_status(resolve(alone, [cache], LABELS), 2)
    assert fields == {"overlaps": []}  # written empty, so an overlap that ended is cleared
    assert (condition.status, condition.reason) == ("False", "NoOverlap")
    assert condition.healthy


def test_many_overlaps_keep_the_message_and_the_list_within_their_limits() -> None:
    labels = {f"shard-{i:03d}-{'x' * 200}": {"app": "kv"} for i in range(60)}
    rivals = [contender(f"old-{i}-{'y' * 200}", -i, {"matchExpressions": [
        {"key": "app", "operator": "In", "values": ["kv"]}]} if i % 2 else KV) for i in range(8)]
    overlaps = resolve(contender("young", 5), rivals, labels)
    fields, condition = overlap_status(overlaps, 1)
    assert len(overlaps.yielded) == 60 and len(fields["overlaps"]) == 20
    assert all(len(entry["yieldedBy"]) == 8 for entry in fields["overlaps"])
    assert len(condition.message) <= 1024
    assert condition.message.endswith("so that each shard has one policy.")
    few = {f"s{i}": {"app": "kv"} for i in range(8)}
    _, short = overlap_status(resolve(contender("young", 5), [contender("old", 0)], few), 1)
    assert "s0, s1, s2, s3, s4 and 3 more (governed by old)." in short.message


class Posted:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def poster(self, kind: str) -> Any:
        def post(_body: Any, *, reason: str, message: str) -> None:
            self.events.append((kind, reason))
        return post


def test_write_status_merges_every_condition_and_posts_an_event_for_each_that_changed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    posted = Posted()
    monkeypatch.setattr(kopf, "info", posted.poster("Normal"))
    monkeypatch.setattr(kopf, "warn", posted.poster("Warning"))
    body = kopf.Body({"metadata": {"name": "kv"}, "status": {"conditions": [
        {"type": "Ready", "status": "True", "reason": "Evaluated", "message": "",
         "observedGeneration": 1, "lastTransitionTime": "2026-01-01T12:00:00Z"},
        {"type": "Overlapping", "status": "False", "reason": "NoOverlap", "message": "",
         "observedGeneration": 1, "lastTransitionTime": "2026-01-01T12:00:00Z"}]}})
    patch = kopf.Patch()
    status.write_status(body, patch, {"whyNothingMoved": ""},
                        Condition("Ready", "True", "Evaluated", "again", 2),
                        Condition("Overlapping", "True", "AmbiguousSelector", "hot", 2,
                                  healthy_status="False"))
    conditions = patch["status"]["conditions"]
    assert [(c["type"], c["reason"]) for c in conditions] == [
        ("Overlapping", "AmbiguousSelector"), ("Ready", "Evaluated")]
    assert conditions[1]["lastTransitionTime"] == "2026-01-01T12:00:00Z"  # status kept
    assert patch["status"]["whyNothingMoved"] == ""
    assert posted.events == [("Warning", "AmbiguousSelector")]
