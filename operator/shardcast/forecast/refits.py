"""Staggered refits: a shard's model is re-estimated every retrain interval, but never all shards
in one cycle. Spreading the due refits over the interval keeps each cycle's cost flat."""

from __future__ import annotations

import math
from collections.abc import Mapping


def due_refits(fitted_at: Mapping[str, float | None], now: float, retrain_seconds: float,
               cycle_seconds: float) -> list[str]:
    """Shards to refit this cycle: never-fitted ones first, then the most overdue, at most the
    share of shards one cycle owes the interval (at least one)."""
    overdue = sorted((at if at is not None else -math.inf, name)
                     for name, at in fitted_at.items()
                     if at is None or now - at >= retrain_seconds)
    budget = max(1, math.ceil(len(fitted_at) * cycle_seconds / max(retrain_seconds, 1e-9)))
    never = [name for at, name in overdue if at == -math.inf]
    rest = [name for at, name in overdue if at != -math.inf]
    return never + rest[: max(0, budget - len(never))]
