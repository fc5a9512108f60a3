"""Kubernetes-style conditions: a summary `Ready` (and named problems such as `Overlapping`),
transition times that only move on change."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["True", "False", "Unknown"]


@dataclass(frozen=True)
class Condition:
    type: str
    status: Status
    reason: str  # CamelCase, machine-readable
    message: str  # for humans: what is wrong and what to do
    observed_generation: int
    # The status that is good news: "True" for Ready, "False" for a condition that names a
    # problem (Overlapping). An Event about the condition is a Warning in the other one.
    healthy_status: Status = "True"

    @property
    def healthy(self) -> bool:
        return self.status == self.healthy_status

    def to_dict(self, last_transition_time: str) -> dict[str, Any]:
        return {"type": self.type, "status": self.status, "reason": self.reason,
                "message": self.message, "observedGeneration": self.observed_generation,
                "lastTransitionTime": last_transition_time}


def find(conditions: Sequence[Mapping[str, Any]], type_: str) -> Mapping[str, Any]:
    """The condition of `type_`, or an empty mapping when there is none yet."""
    return next((c for c in conditions if c.get("type") == type_), {})


def merge(existing: Sequence[Mapping[str, Any]], new: Condition,
          now: datetime.datetime) -> list[dict[str, Any]]:
    """Replace the condition of `new.type`, keeping lastTransitionTime unless the status flips."""
    previous = find(existing, new.type)
    if previous and previous.get("status") == new.status:
        since = str(previous.get("lastTransitionTime") or rfc3339(now))
    else:
        since = rfc3339(now)
    others = [dict(c) for c in existing if c.get("type") != new.type]
    return sorted([*others, new.to_dict(since)], key=lambda c: str(c["type"]))


def rfc3339(moment: datetime.datetime) -> str:
    """The timestamp form the API server stores for `format: date-time` fields."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(value: str) -> datetime.datetime:
    """A `format: date-time` field back as an aware datetime."""
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
