"""A move's target copying its source: one snapshot, then the source's change stream in order.

It keeps following until the source stops serving the epoch (the commit moved the placement, so
the source dropped the shard) or the node cancels it (promotion, or the move was abandoned).
"""

from __future__ import annotations

import asyncio

import aiohttp

from shardcast.consensus.records import Announcement
from shardkv.client import NodeClient
from shardkv.data import ShardData
from shardkv.ownership import Shard
from shardkv.protocol import NOT_OWNER, Refused

PAUSE = 0.2  # between attempts while the source is unreachable or not ready
LONG_POLL = 1.0


async def follow(client: NodeClient, name: str, shard: Shard, move: Announcement) -> None:
    items, seq = await _snapshot(client, name, move)
    data = shard.data = ShardData(items, seq)
    while True:
        try:
            changes = await client.changes(move.source, name, move.epoch, data.seq, LONG_POLL)
        except Refused as refused:
            if refused.status == NOT_OWNER:
                return
            await asyncio.sleep(PAUSE)
            continue
        except (aiohttp.ClientError, TimeoutError):
            await asyncio.sleep(PAUSE)
            continue
        for change in changes:
            data.apply(change)


async def _snapshot(client: NodeClient, name: str,
                    move: Announcement) -> tuple[dict[str, str], int]:
    while True:
        try:
            return await client.snapshot(move.source, name, move.epoch)
        except Refused as refused:
            if refused.status == NOT_OWNER:
                raise
        except (aiohttp.ClientError, TimeoutError):
            pass
        await asyncio.sleep(PAUSE)
