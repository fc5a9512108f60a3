"""A policy's ended ShardMigrations deleted once past their retention
(api/migration_history.py); their Jobs follow through their owner reference."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from shardcast.api.decisions import KnownMigration
from shardcast.api.migration_history import Retention, expired
from shardcast.reconcile.ports import MigrationWriter

log = logging.getLogger(__name__)


async def collect(policy: str, spec: Mapping[str, Any],
                  migrations: Mapping[str, KnownMigration], now_seconds: float,
                  writer: MigrationWriter) -> list[str]:
    """Delete the policy's expired migrations (a bounded number per call); the names deleted.
    A deletion that fails stops this call's round and is retried at the next evaluation: it
    never holds back the policy's status."""
    retention = Retention.of(spec)
    deleted: list[str] = []
    for name in expired(migrations, policy, retention, now_seconds):
        try:
            await writer.delete(name)
        except Exception as error:  # any API failure: the next cycle retries
            log.warning("policy %s could not delete ShardMigration %s: %s", policy, name, error)
            break
        deleted.append(name)
    if deleted:
        log.info("policy %s deleted %d ShardMigration(s) ended more than %.0fs ago: %s",
                 policy, len(deleted), retention.ttl_seconds, ", ".join(deleted[:5]))
    return deleted
