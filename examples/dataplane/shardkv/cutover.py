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

from shardcast.dataplane.jobs import claimed_move
from shardkv.client import NodeClient
from shardkv.jobs import JobEnv, run, until


async def cutover(env: JobEnv) -> str:
    move, shard = await claimed_move(env.move), env.move.shard
    deadline = time.monotonic() + env.timeout
    async with NodeClient.open(env.nodes) as client:
        fenced = await until(deadline, "fence the source", lambda: client.fence(
            move.source, shard, move.uid, move.epoch))
        applied = await until(deadline, "target applies what the source acknowledged",
                              lambda: client.prime(move.target, shard, move.uid, move.epoch,
                                                   fenced))
    return (f"{move.source} fenced at {fenced} for {env.move.namespace}/{shard} (move {move.uid}); "
            f"{move.target} applied {applied}, ready to own epoch {move.epoch + 1}")


if __name__ == "__main__":
    sys.exit(run(cutover))
