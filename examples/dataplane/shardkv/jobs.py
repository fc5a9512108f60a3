"""What the sync and cutover Jobs share: the environment the operator sets, the move they serve
as etcd records it, and retrying a node until it agrees or the Job's time runs out.

A Job acts only on the move etcd holds now for its shard, with the migration, source, target and
epoch it was started for; a Job re-run after that move ended (abandoned, committed, replaced)
finds no such move and fails without touching a node.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp

from shardcast.dataplane.jobs import JobFailed, MoveEnv, run_job
from shardkv.client import parse_nodes
from shardkv.protocol import NOT_OWNER, Refused

LOG = logging.getLogger("shardkv.jobs")
PAUSE = 0.05
Result = TypeVar("Result")


@dataclass(frozen=True)
class JobEnv:
    """The operator's move (shardcast's MoveEnv) and shardkv's own settings."""

    move: MoveEnv
    nodes: dict[str, str]
    timeout: float

    @classmethod
    def of(cls, environ: Mapping[str, str]) -> JobEnv:
        """From the operator's SHARDCAST_* variables and the data plane's SHARDKV_NODES and
        SHARDKV_JOB_TIMEOUT (seconds, default 60)."""
        move = MoveEnv.of(environ)
        if not environ.get("SHARDKV_NODES"):
            raise JobFailed("missing environment: SHARDKV_NODES")
        return cls(move=move, nodes=parse_nodes(environ["SHARDKV_NODES"]),
                   timeout=float(environ.get("SHARDKV_JOB_TIMEOUT", "60")))


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
    """shardcast's Job exit contract around a shardkv Job."""
    return run_job(lambda environ: job(JobEnv.of(environ)))
