"""One policy per shard. When several MigrationPolicies in a namespace select the same Shard, the
oldest governs it (metadata.creationTimestamp, ties broken by name) and the others leave it
alone: they neither forecast it nor write its prediction, plan it or move it. Without the rule,
two policies with different metrics would take turns moving the shard back and forth.

The selectors are still ambiguous, which the HorizontalPodAutoscaler reports as
AmbiguousSelector; so does every policy involved here, in its Overlapping condition and in
status.overlaps. A newer policy never takes a shard from an older one, so creating a policy
cannot change who moves the shards that already had one."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shardcast.api.conditions import Condition
from shardcast.api.policy import selected_shards
from shardcast.api.selector import matches

MAX_LISTED = 20  # entries of status.overlaps (and names in one yieldedBy), as withoutForecast
NAMES_IN_MESSAGE = 5  # names per group in the condition's message, then "and N more"
GROUPS_IN_MESSAGE = 3
RULE = ("The oldest policy that selects a shard governs it (creationTimestamp, then name); "
        "the others leave it alone. Narrow the selectors so that each shard has one policy.")


@dataclass(frozen=True)
class Contender:
    """A policy as the rule sees it: who it is, how old, what it selects."""

    name: str
    created: datetime.datetime  # metadata.creationTimestamp
    selector: Mapping[str, Any] | None  # spec.shardSelector

    @property
    def seniority(self) -> tuple[datetime.datetime, str]:
        """Sorts oldest first; the name breaks ties (creationTimestamp has whole seconds)."""
        return self.created, self.name


@dataclass(frozen=True)
class Overlap:
    """A shard that several policies select: the one that governs it and, oldest first, the
    ones that yield it (next in line if the governor goes)."""

    shard: str
    governed_by: str
    yielded_by: tuple[str, ...]

    def to_status(self) -> dict[str, Any]:
        return {"shard": self.shard, "governedBy": self.governed_by,
                "yieldedBy": list(self.yielded_by[:MAX_LISTED])}


@dataclass(frozen=True)
class Overlaps:
    """What the rule leaves one policy of the shards it selects."""

    policy: str
    governed: tuple[str, ...]  # what it forecasts, plans and moves, sorted
    shared: tuple[Overlap, ...] = ()  # its selected shards that others select too, sorted

    @property
    def yielded(self) -> tuple[Overlap, ...]:
        """The shards it leaves alone, since an older policy governs them."""
        return tuple(o for o in self.shared if o.governed_by != self.policy)

    @property
    def kept(self) -> tuple[Overlap, ...]:
        """The shards it governs although younger policies select them too."""
        return tuple(o for o in self.shared if o.governed_by == self.policy)


def resolve(policy: Contender, others: Iterable[Contender],
            shard_labels: Mapping[str, Mapping[str, str]]) -> Overlaps:
    """Which of the shards (name -> labels) that `policy` selects it governs, and which it shares
    with the namespace's other policies. An entry of `others` named like `policy` is skipped:
    it is the same policy, possibly as an index still holding its previous spec."""
    rivals = [c for c in others if c.name != policy.name]
    governed, shared = [], []
    for shard in selected_shards(policy.selector, shard_labels):
        selecting = sorted([policy, *(c for c in rivals
                                      if matches(c.selector, shard_labels[shard]))],
                           key=lambda c: c.seniority)
        governor, *yielding = selecting
        if governor is policy:
            governed.append(shard)
        if yielding:
            shared.append(Overlap(shard, governor.name, tuple(c.name for c in yielding)))
    return Overlaps(policy.name, tuple(governed), tuple(shared))


def overlap_status(overlaps: Overlaps, generation: int) -> tuple[dict[str, Any], Condition]:
    """status.overlaps and the Overlapping condition: which shards the policy shares, with whom,
    and who governs them. It is True (a problem: AmbiguousSelector) on every policy involved."""
    fields = {"overlaps": [o.to_status() for o in overlaps.shared[:MAX_LISTED]]}
    if not overlaps.shared:
        return fields, Condition("Overlapping", "False", "NoOverlap",
                                 "no other policy in this namespace selects a shard this policy "
                                 "selects", generation, healthy_status="False")
    parts = []
    if overlaps.yielded:
        parts.append(f"Leaves {len(overlaps.yielded)} selected shard(s) alone, governed by "
                     f"older policies that select them too: "
                     f"{_listing(overlaps.yielded, lambda o: f'governed by {o.governed_by}')}.")
    if overlaps.kept:
        parts.append(f"Governs {len(overlaps.kept)} shard(s) that younger policies select too "
                     f"and leave alone: {_listing(overlaps.kept, _yielders)}.")
    listing = " ".join(parts)[:1024 - len(RULE) - 1]
    return fields, Condition("Overlapping", "True", "AmbiguousSelector", f"{listing} {RULE}",
                             generation, healthy_status="False")


def _yielders(overlap: Overlap) -> str:
    return f"also selected by {_names(overlap.yielded_by)}"


def _listing(overlaps: Sequence[Overlap], party: Callable[[Overlap], str]) -> str:
    """Shards grouped by the policies they are shared with: the first groups, then a count."""
    groups: dict[str, list[str]] = {}
    for overlap in overlaps:
        groups.setdefault(party(overlap), []).append(overlap.shard)
    shown = list(groups.items())[:GROUPS_IN_MESSAGE]
    rest = len(overlaps) - sum(len(shards) for _, shards in shown)
    text = "; ".join(f"{_names(shards)} ({who})" for who, shards in shown)
    return f"{text}; and {rest} more" if rest else text


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:NAMES_IN_MESSAGE])
    rest = len(names) - NAMES_IN_MESSAGE
    return f"{shown} and {rest} more" if rest > 0 else shown
