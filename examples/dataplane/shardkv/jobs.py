"""What the sync and cutover Jobs share: the environment the operator sets, the move they serve
as etcd records it, and retrying a node until it agrees or the Job's time runs out.

A Job acts only on the move etcd holds now for its shard, with the migration, source, target and
epoch it was started for; a Job re-run after that move ended (abandoned, committed, replaced)
finds no such move and fails without touching a node.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp

from shardcast.consensus.records import Announcement
from shardcast.consensus.store import ConsensusStore
from shardkv.client import parse_nodes
from shardkv.protocol import NOT_OWNER, Refused

LOG = logging.getLogger("shardkv.jobs")
PAUSE = 0.05
Result = TypeVar("Result")


class JobFailed(Exception):
    pass


@dataclass(frozen=True)
class JobEnv:
    namespace: str
    migration: str
    shard: str
    source: str
    target: str
    epoch: int
    nodes: dict[str, str]
    etcd: list[str]
    timeout: float

    @classmethod
    def of(cls, environ: Mapping[str, str]) -> JobEnv:
        """From the operator's SHARDCAST_* variables and the data plane's SHARDKV_NODES,
        SHARDCAST_ETCD_ENDPOINTS and SHARDKV_JOB_TIMEOUT (seconds, default 60)."""
        missing = [name for name in ("SHARDCAST_NAMESPACE", "SHARDCAST_MIGRATION",
                                     "SHARDCAST_SHARD", "SHARDCAST_SOURCE", "SHARDCAST_TARGET",
                                     "SHARDCAST_EPOCH", "SHARDKV_NODES",
                                     "SHARDCAST_ETCD_ENDPOINTS") if not environ.get(name)]
        if missing:
            raise JobFailed(f"missing environment: {', '.join(missing)}")
        return cls(namespace=environ["SHARDCAST_NAMESPACE"],
                   migration=environ["SHARDCAST_MIGRATION"], shard=environ["SHARDCAST_SHARD"],
                   source=environ["SHARDCAST_SOURCE"], target=environ["SHARDCAST_TARGET"],
                   epoch=int(environ["SHARDCAST_EPOCH"]),
                   nodes=parse_nodes(environ["SHARDKV_NODES"]),
                   etcd=environ["SHARDCAST_ETCD_ENDPOINTS"].split(","),
                   timeout=float(environ.get("SHARDKV_JOB_TIMEOUT", "60")))


async def claimed_move(env: JobEnv) -> Announcement:
    """The announcement etcd holds for this Job's move (its uid names the move to the nodes)."""
    async with ConsensusStore.open(env.etcd) as store:
        held = await store.announcement(env.namespace, env.shard)
    move = None if held is None else held.value
    wanted = (env.migration, env.source, env.target, env.epoch)
    if move is None or (move.migration, move.source, move.target, move.epoch) != wanted:
        raise JobFailed(f"etcd holds no move {env.migration} of {env.namespace}/{env.shard} "
                        f"{env.source} -> {env.target} from epoch {env.epoch} (holds {move})")
    return move


async def until(deadline: float, what: str,
                attempt: Callable[[], Awaitable[Result]]) -> Result:
    """Retry `attempt` while nodes answer "not yet" or cannot be reached; a node that says it
    will never do it (410: not its shard, not its move) fails the Job at once."""
    while True:
        try:
            return await attempt()
        except Refused as refused:
            if refused.status == NOT_OWNER:
                raise JobFailed(f"{what}: {refused}") from refused
            last: Exception = refused
        except (aiohttp.ClientError, TimeoutError) as error:
            last = error
        if time.monotonic() > deadline:
            raise JobFailed(f"{what}: gave up ({last})")
        await asyncio.sleep(PAUSE)


def run(job: Callable[[JobEnv], Coroutine[Any, Any, str]]) -> int:
    """Exit status for the operator: 0 with what was done on stdout, 1 with why not on stderr."""
    logging.basicConfig(level=logging.WARNING)
    try:
        print(asyncio.run(job(JobEnv.of(os.environ))))
    except JobFailed as error:
        print(f"failed: {error}", file=sys.stderr)
        return 1
    return 0
