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

from shardkv.client import NodeClient
from shardkv.jobs import PAUSE, JobEnv, JobFailed, claimed_move, run, until


async def sync(env: JobEnv) -> str:
    move = await claimed_move(env)
    deadline = time.monotonic() + env.timeout
    async with NodeClient.open(env.nodes) as client:
        await until(deadline, "target starts following the source",
                    lambda: client.replicate(env.target, env.shard, move.uid, move.epoch))
        while True:
            source = await until(deadline, "source status",
                                 lambda: client.status(env.source, env.shard))
            target = await until(deadline, "target status",
                                 lambda: client.status(env.target, env.shard))
            if target["replica_of"] != move.uid:
                raise JobFailed(f"{env.target} no longer follows move {move.uid}: {target}")
            if target["following"] and target["seq"] is not None and (
                    source["seq"] is None or target["seq"] >= source["seq"]):
                return (f"{env.target} follows {env.source} for {env.namespace}/{env.shard} "
                        f"(move {move.uid}), applied through {target['seq']}")
            if time.monotonic() > deadline:
                raise JobFailed(f"{env.target} did not catch up with {env.source}: "
                                f"{target['seq']} of {source['seq']}")
            await asyncio.sleep(PAUSE)


if __name__ == "__main__":
    sys.exit(run(sync))
