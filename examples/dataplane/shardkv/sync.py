"""The sync Job: the move's target copies the shard and keeps following the source's changes.

    python -m shardkv.sync    (environment: see shardkv.jobs.JobEnv)

Exit 0 once the target follows the source and has applied at least what the source had
acknowledged when the target was last asked. Re-running is safe: a target already following
this move keeps its copy.
"""

from __future__ import annotations

import asyncio
import sys
import time

from shardcast.dataplane.jobs import JobFailed, claimed_move
from shardkv.client import NodeClient
from shardkv.jobs import PAUSE, JobEnv, run, until


async def sync(env: JobEnv) -> str:
    move, shard = await claimed_move(env.move), env.move.shard
    deadline = time.monotonic() + env.timeout
    async with NodeClient.open(env.nodes) as client:
        await until(deadline, "target starts following the source",
                    lambda: client.replicate(move.target, shard, move.uid, move.epoch))
        while True:
            source = await until(deadline, "source status",
                                 lambda: client.status(move.source, shard))
            target = await until(deadline, "target status",
                                 lambda: client.status(move.target, shard))
            if target["replica_of"] != move.uid:
                raise JobFailed(f"{move.target} no longer follows move {move.uid}: {target}")
            if target["following"] and target["seq"] is not None and (
                    source["seq"] is None or target["seq"] >= source["seq"]):
                return (f"{move.target} follows {move.source} for {env.move.namespace}/{shard} "
                        f"(move {move.uid}), applied through {target['seq']}")
            if time.monotonic() > deadline:
                raise JobFailed(f"{move.target} did not catch up with {move.source}: "
                                f"{target['seq']} of {source['seq']}")
            await asyncio.sleep(PAUSE)


if __name__ == "__main__":
    sys.exit(run(sync))
