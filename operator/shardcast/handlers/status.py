"""Writing a derived status back: one merge rule and one Event rule for every kind."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import kopf

from shardcast.api.conditions import Condition, find, merge


def write_status(body: kopf.Body, patch: kopf.Patch, fields: Mapping[str, Any],
                 condition: Condition) -> None:
    """Patch status fields and the condition; post an Event when the condition's reason changes."""
    existing = list(body.get("status", {}).get("conditions") or [])
    for key, value in fields.items():
        patch.status[key] = value
    patch.status["conditions"] = merge(existing, condition, datetime.datetime.now(datetime.UTC))
    previous = find(existing, condition.type)
    if previous.get("reason") != condition.reason or previous.get("status") != condition.status:
        post = kopf.info if condition.status == "True" else kopf.warn
        post(body, reason=condition.reason, message=condition.message)
