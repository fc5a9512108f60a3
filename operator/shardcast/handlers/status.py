"""Writing a derived status back: one merge rule and one Event rule for every kind."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import kopf

from shardcast.api.conditions import Condition, find, merge


def write_status(body: kopf.Body, patch: kopf.Patch, fields: Mapping[str, Any],
                 *conditions: Condition) -> None:
    """Patch status fields and the conditions; post an Event for each condition whose reason or
    status changes (Normal when it is healthy, a Warning otherwise)."""
    existing = list(body.get("status", {}).get("conditions") or [])
    for key, value in fields.items():
        patch.status[key] = value
    now = datetime.datetime.now(datetime.UTC)
    merged = existing
    for condition in conditions:
        merged = merge(merged, condition, now)
        previous = find(existing, condition.type)
        if (previous.get("reason"), previous.get("status")) != (condition.reason,
                                                                 condition.status):
            post = kopf.info if condition.healthy else kopf.warn
            post(body, reason=condition.reason, message=condition.message)
    patch.status["conditions"] = merged
