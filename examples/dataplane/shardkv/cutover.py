"""The cutover Job: make the commit safe. Fence the source (it stops acknowledging the shard's
writes), wait until the target applied everything the source acknowledged, and mark the target
ready to own the next epoch.

    python -m shardkv.cutover    (environment: see shardkv.jobs.JobEnv)

Re-running is safe: fencing again for the same move returns the same last sequence number, and
priming again confirms the same. If the move is abandoned instead of committed, the source sees
the announcement deleted and lifts the fence itself.
"""

from __future__ import annotations

import sys
import time

from shardkv.client import NodeClient
from shardkv.jobs import JobEnv, claimed_move, run, until


async def cutover(env: JobEnv) -> str:
    move = await claimed_move(env)
    deadline = time.monotonic() + env.timeout
    async with NodeClient.open(env.nodes) as client:
        fenced = await until(deadline, "fence the source", lambda: client.fence(
            env.source, env.shard, move.uid, move.epoch))
        applied = await until(deadline, "target applies what the source acknowledged",
                              lambda: client.prime(env.target, env.shard, move.uid, move.epoch,
                                                   fenced))
    return (f"{env.source} fenced at {fenced} for {env.namespace}/{env.shard} (move {move.uid}); "
            f"{env.target} applied {applied}, ready to own epoch {move.epoch + 1}")


if __name__ == "__main__":
    sys.exit(run(cutover))
