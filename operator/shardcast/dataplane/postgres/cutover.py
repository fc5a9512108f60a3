"""The cutover Job: the source stops taking writes, the target applies everything the source
committed, and the target's sequences continue past the source's.

    shardcast dataplane postgres cutover    (environment: settings.PostgresEnv)

Runs while etcd records the move as CuttingOver, so routers already hold the shard's writes;
the fence makes the source itself refuse them too, so a router with a stale view cannot write
where nobody will read. Then: wait until the subscription has confirmed the source's WAL
position taken after the fence, set the sequences, record the cutover on the target, drop the
subscription (and with it the slot) and the publication. The operator then commits epoch + 1
and routers write to the target.

Resumable: fencing, waiting and setting sequences are idempotent; a re-run after the
subscription was dropped finds the cutover recorded on the target and only finishes cleanup.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from shardcast.dataplane.jobs import JobFailed, claimed_move
from shardcast.dataplane.postgres import catalog
from shardcast.dataplane.postgres.settings import PostgresEnv

PAUSE = 0.02
CUTTING_OVER = "CuttingOver"


async def cutover(environ: Mapping[str, str]) -> str:
    env = PostgresEnv.of(environ)
    move = await claimed_move(env.move)
    if move.phase != CUTTING_OVER:
        raise JobFailed(f"etcd records the move as {move.phase}, not {CUTTING_OVER}: routers "
                        "may still write to the source")
    deadline = time.monotonic() + env.timeout
    name = catalog.subscription_name(env.schema, move.uid)
    source = await catalog.connect(env.source_dsn)
    target = await catalog.connect(env.target_dsn)
    async with source, target:
        if name not in await catalog.subscriptions(target, env.schema):
            if not await catalog.cut_over(target, move.uid):
                raise JobFailed(f"{env.move.target} has no subscription {name}: the sync Job "
                                "did not run for this move")
            await catalog.drop_publication(source, env.schema)
            return f"move {move.uid} was already cut over to {env.move.target}"
        await catalog.fence(source, env.schema)
        fenced_at = await catalog.current_lsn(source)
        while not await catalog.confirmed_past(source, name, fenced_at):
            if time.monotonic() > deadline:
                raise JobFailed(f"{env.move.target} did not apply {env.move.source}'s WAL up to "
                                f"{fenced_at} within {env.timeout:.0f}s")
            await asyncio.sleep(PAUSE)
        next_values = await catalog.sequences(source, env.schema)
        await catalog.advance_sequences(target, env.schema, next_values, env.sequence_margin)
        await catalog.record_cutover(target, env.schema, move.uid, fenced_at)
        await catalog.drop_subscription(target, name)
        await catalog.drop_publication(source, env.schema)
    return (f"{env.move.source} fenced at {fenced_at}; {env.move.target} applied it, "
            f"{len(next_values)} sequence(s) carried over (+{env.sequence_margin})")
