"""What every data plane's Jobs share: the environment the operator sets, the move etcd holds
for it, and the exit status the operator reads.

A Job acts only on the move etcd holds now for its shard, with the migration, source, target and
epoch it was started for; a Job re-run after that move ended (abandoned, committed, replaced)
finds no such move and fails without touching a node.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from shardcast.consensus.records import Announcement
from shardcast.consensus.store import ConsensusStore


class JobFailed(Exception):
    pass


@dataclass(frozen=True)
class MoveEnv:
    """The operator's SHARDCAST_* variables of one migration's Job."""

    namespace: str
    migration: str
    shard: str
    source: str
    target: str
    epoch: int
    etcd: tuple[str, ...]

    @classmethod
    def of(cls, environ: Mapping[str, str]) -> MoveEnv:
        names = ("SHARDCAST_NAMESPACE", "SHARDCAST_MIGRATION", "SHARDCAST_SHARD",
                 "SHARDCAST_SOURCE", "SHARDCAST_TARGET", "SHARDCAST_EPOCH",
                 "SHARDCAST_ETCD_ENDPOINTS")
        missing = [name for name in names if not environ.get(name)]
        if missing:
            raise JobFailed(f"missing environment: {', '.join(missing)}")
        try:
            epoch = int(environ["SHARDCAST_EPOCH"])
        except ValueError as error:
            raise JobFailed(f"SHARDCAST_EPOCH is not an integer: {error}") from error
        return cls(namespace=environ["SHARDCAST_NAMESPACE"],
                   migration=environ["SHARDCAST_MIGRATION"], shard=environ["SHARDCAST_SHARD"],
                   source=environ["SHARDCAST_SOURCE"], target=environ["SHARDCAST_TARGET"],
                   epoch=epoch, etcd=tuple(environ["SHARDCAST_ETCD_ENDPOINTS"].split(",")))


async def claimed_move(env: MoveEnv) -> Announcement:
    """The announcement etcd holds for this Job's move (its uid names the move's objects)."""
    async with ConsensusStore.open(env.etcd) as store:
        held = await store.announcement(env.namespace, env.shard)
    move = None if held is None else held.value
    wanted = (env.migration, env.source, env.target, env.epoch)
    if move is None or (move.migration, move.source, move.target, move.epoch) != wanted:
        raise JobFailed(f"etcd holds no move {env.migration} of {env.namespace}/{env.shard} "
                        f"{env.source} -> {env.target} from epoch {env.epoch} (holds {move})")
    return move


def run_job(job: Callable[[Mapping[str, str]], Coroutine[Any, Any, str]]) -> int:
    """Exit status for the operator: 0 with what was done on stdout, 1 with why not on stderr."""
    logging.basicConfig(level=logging.WARNING)
    try:
        print(asyncio.run(job(os.environ)), flush=True)
    except JobFailed as error:
        print(f"failed: {error}", file=sys.stderr, flush=True)
        return 1
    return 0
