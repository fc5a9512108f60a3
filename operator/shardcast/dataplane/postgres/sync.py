"""The sync Job: the target gets the shard's schema and follows the source by logical
replication.

    shardcast dataplane postgres sync    (environment: settings.PostgresEnv)

The schema (tables, indexes, sequences, constraints) is copied with `pg_dump --schema-only`;
a publication for the schema's tables on the source and a subscription on the target make the
initial copy, then stream every later change. Exit 0 once every table's copy is done and the
target is within SHARDCAST_PG_MAX_LAG_BYTES of the source.

Resumable: a re-run finds this move's subscription and only waits again. A run killed before
the subscription existed left at most a partial schema on the target, which is not the owner
(etcd says the source is), so it is dropped and copied afresh.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from shardcast.dataplane.jobs import JobFailed, claimed_move
from shardcast.dataplane.postgres import catalog
from shardcast.dataplane.postgres.settings import PostgresEnv

PAUSE = 0.1
DEBIAN_BIN = Path("/usr/lib/postgresql/15/bin")


async def sync(environ: Mapping[str, str]) -> str:
    env = PostgresEnv.of(environ)
    move = await claimed_move(env.move)
    deadline = time.monotonic() + env.timeout
    name = catalog.subscription_name(env.schema, move.uid)
    source = await catalog.connect(env.source_dsn)
    target = await catalog.connect(env.target_dsn)
    async with source, target:
        if not await catalog.schema_exists(source, env.schema):
            raise JobFailed(f"{env.move.source} holds no schema {env.schema}")
        if name not in await catalog.subscriptions(target, env.schema):
            for stale in await catalog.subscriptions(target, env.schema):
                await catalog.drop_subscription(target, stale)
            await catalog.drop_schema(target, env.schema)
            await asyncio.to_thread(copy_schema, env.source_dsn, env.target_dsn, env.schema)
            await catalog.ensure_publication(source, env.schema)
            await catalog.create_slot(source, name)
            await catalog.create_subscription(target, name, env.source_dsn, env.schema)
        while True:
            ready, total = await catalog.copied(target, name)
            lag = await catalog.slot_lag(source, name)
            if total and ready == total and lag is not None and lag <= env.max_lag_bytes:
                return (f"{env.move.target} follows {env.move.source} for schema {env.schema} "
                        f"(move {move.uid}): {total} table(s) copied, {lag} byte(s) behind")
            if time.monotonic() > deadline:
                raise JobFailed(f"{env.move.target} did not catch up with {env.move.source} "
                                f"within {env.timeout:.0f}s: {ready} of {total} table(s) "
                                f"copied, lag {lag} byte(s)")
            await asyncio.sleep(PAUSE)


def copy_schema(source_dsn: str, target_dsn: str, schema: str) -> None:
    """The schema's definitions, without rows (the subscription copies those)."""
    dump = subprocess.run([_tool("pg_dump"), "--schema-only", "--no-owner", "--no-privileges",
                           "--schema", schema, "--dbname", source_dsn],
                          capture_output=True, text=True, check=False)
    if dump.returncode != 0:
        raise JobFailed(f"pg_dump of schema {schema} failed: {dump.stderr.strip()}")
    load = subprocess.run([_tool("psql"), "--no-psqlrc", "--quiet", "-v", "ON_ERROR_STOP=1",
                           "--single-transaction", "--dbname", target_dsn],
                          input=dump.stdout, capture_output=True, text=True, check=False)
    if load.returncode != 0:
        raise JobFailed(f"loading schema {schema} on the target failed: {load.stderr.strip()}")


def _tool(name: str) -> str:
    """PostgreSQL 15's client tools: SHARDCAST_PG_BIN, Debian's directory, or the PATH."""
    for directory in (os.environ.get("SHARDCAST_PG_BIN"), str(DEBIAN_BIN)):
        if directory and (Path(directory) / name).exists():
            return str(Path(directory) / name)
    found = shutil.which(name)
    if found is None:
        raise JobFailed(f"{name} not found (install postgresql-client-15 or set "
                        "SHARDCAST_PG_BIN)")
    return found
