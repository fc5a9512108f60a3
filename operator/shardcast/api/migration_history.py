"""Which ended ShardMigrations a policy deletes: those it created, once they have been over for
`spec.history.ttlAfterFinished`.

A policy creates a ShardMigration per move and each owns its Jobs, so at thousands of shards
they would pile up without end in the API server, in every watch and in the operator's index.
Nothing is deleted that the policy still reads: the planner's cooldowns, no-return rule and
flapping cost look back FLAP_WINDOWS cooldowns from a move's start, and an adaptive threshold
judges a finished move in the window (one cooldown) after it ended; so a migration stays at least
FLAP_WINDOWS cooldowns after it ended, whatever the TTL. Migrations made by hand carry no
policy label and are left to their owner.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shardcast.api import durations
from shardcast.api.decisions import KnownMigration
from shardcast.api.policy_settings import cooldown_seconds
from shardcast.planner.cost import FLAP_WINDOWS

DEFAULT_TTL = "24h"
# Deletions per policy cycle: a backlog (an upgrade from a version that kept everything) drains
# over a few cycles instead of in one burst of API calls.
MAX_DELETIONS_PER_CYCLE = 100


@dataclass(frozen=True)
class Retention:
    ttl_seconds: float  # after the migration ended
    memory_seconds: float  # after it ended, at least: what the policy still reads

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> Retention:
        ttl = (spec.get("history") or {}).get("ttlAfterFinished", DEFAULT_TTL)
        return cls(durations.seconds(ttl), FLAP_WINDOWS * cooldown_seconds(spec))

    def expired(self, migration: KnownMigration, now_seconds: float) -> bool:
        ended = migration.ended_seconds
        return ended is not None and now_seconds - ended >= max(self.ttl_seconds,
                                                                self.memory_seconds)


def expired(migrations: Mapping[str, KnownMigration], policy: str, retention: Retention,
            now_seconds: float, limit: int = MAX_DELETIONS_PER_CYCLE) -> list[str]:
    """Names of the policy's migrations past their retention, longest ended first."""
    due = [(m.ended_seconds or 0.0, name) for name, m in migrations.items()
           if m.created_by == policy and retention.expired(m, now_seconds)]
    return [name for _, name in sorted(due)[:limit]]
