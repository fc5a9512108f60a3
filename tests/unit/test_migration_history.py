"""A policy deletes the ShardMigrations it created once they have been over for its TTL, never
while the planner still reads them, never one made by hand or still running."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import numpy as np

from shardcast.api.decisions import KnownMigration, ShardForecast, known_migration, snapshot
from shardcast.api.migration_history import Retention, expired
from shardcast.forecast.types import Forecast
from shardcast.reconcile.migration_history import collect

NOW = 1_800_000_000.0
HOUR = 3600.0
SPEC = {"cooldown": "30m", "history": {"ttlAfterFinished": "1h"}}  # planner reads 2 h back


def ended(hours_ago: float, started_hours_ago: float | None = None, phase: str = "Active",
          by: str = "kv") -> KnownMigration:
    started = NOW - HOUR * (started_hours_ago if started_hours_ago is not None
                            else hours_ago + 0.1)
    finished = None if phase == "Syncing" else NOW - HOUR * hours_ago
    return KnownMigration("kv-0", "a", "b", phase, started, finished, False, created_by=by)


def test_a_migration_stays_the_ttl_and_at_least_four_cooldowns_after_it_ended() -> None:
    retention = Retention.of(SPEC)
    assert (retention.ttl_seconds, retention.memory_seconds) == (HOUR, 2 * HOUR)
    assert retention.expired(ended(3), NOW)
    assert not retention.expired(ended(0.5), NOW)  # ended within the TTL
    assert not retention.expired(ended(1.5, started_hours_ago=9), NOW)  # policy still reads it
    assert retention.expired(ended(5, started_hours_ago=5), NOW)
    assert not retention.expired(ended(0.5), NOW + HOUR)  # 1.5 h after its end
    assert retention.expired(ended(2.5, phase="Failed"), NOW)
    assert retention.expired(ended(2.5, phase="RolledBack"), NOW)
    assert not retention.expired(ended(5, phase="Syncing"), NOW)  # still running


def test_the_default_keeps_a_day() -> None:
    retention = Retention.of({})
    assert retention.ttl_seconds == 24 * HOUR
    assert not retention.expired(ended(23), NOW) and retention.expired(ended(25), NOW)


def test_only_the_policys_own_migrations_go_longest_ended_first_and_a_bounded_number() -> None:
    migrations = {"new": ended(1.9), "old": ended(9), "older": ended(10),
                  "by-hand": ended(9, by=""), "other-policy": ended(9, by="web"),
                  "running": ended(9, phase="Syncing")}
    retention = Retention.of(SPEC)
    assert expired(migrations, "kv", retention, NOW) == ["older", "old"]
    assert expired(migrations, "kv", retention, NOW, limit=1) == ["older"]


def test_an_indexed_migration_knows_which_policy_created_it() -> None:
    meta = {"creationTimestamp": "2026-12-01T09:59:00Z",
            "labels": {"shardcast.io/policy": "kv"}}
    status = {"phase": "Failed", "phaseTimes": [{"phase": "Failed",
                                                 "startedAt": "2026-12-01T10:00:00Z"}]}
    known = known_migration({"shard": "kv-0", "source": "a", "target": "b"}, status, meta)
    assert (known.created_by, known.ended_seconds) == ("kv", known.created_seconds + 60)
    by_hand = known_migration({"shard": "kv-0", "source": "a", "target": "b"}, {},
                              {"creationTimestamp": "2026-12-01T09:59:00Z"})
    assert (by_hand.created_by, by_hand.ended_seconds) == ("", None)


@dataclass
class Writer:
    fail_on: str = ""
    deleted: list[str] = field(default_factory=list)

    async def create(self, body: object) -> bool:
        raise AssertionError("collecting creates nothing")

    async def delete(self, name: str) -> None:
        if name == self.fail_on:
            raise RuntimeError("the API server is away")
        self.deleted.append(name)


def test_collect_deletes_the_expired_and_stops_at_a_failure_for_the_next_cycle() -> None:
    migrations = {"a": ended(12), "b": ended(11), "c": ended(10), "kept": ended(0.2)}
    writer = Writer()
    assert asyncio.run(collect("kv", SPEC, migrations, NOW, writer)) == ["a", "b", "c"]
    assert writer.deleted == ["a", "b", "c"]
    failing = Writer(fail_on="b")
    assert asyncio.run(collect("kv", SPEC, migrations, NOW, failing)) == ["a"]


def test_the_planner_sees_moves_in_flight_and_those_within_its_memory_only() -> None:
    forecast = Forecast("persistence", 300, np.full(6, 0.5), np.full(6, 0.4), np.full(6, 0.6),
                        0.9)
    shard = ShardForecast("kv-0", "a", 1 << 30, False, 0.5, forecast, int(NOW))
    migrations = [ended(1), ended(3), ended(30, phase="Syncing")]
    seen = snapshot([shard], {"a": 1.0, "b": 1.0}, migrations, NOW, 2 * HOUR)
    assert sorted(round((NOW - m.started_seconds) / HOUR, 1) for m in seen.moves) == [1.1, 30.1]
