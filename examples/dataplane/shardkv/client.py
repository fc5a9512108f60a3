"""Talking to shardkv nodes over HTTP: the one place that knows the node API's paths and shapes.

A refusal comes back as `Refused` (with the node's reason and view); a node that cannot be
reached raises aiohttp's ClientError or TimeoutError. Callers decide what to retry.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

from shardkv.data import Entry
from shardkv.protocol import Refused


@dataclass(frozen=True)
class Served:
    """Who answered a read or write, in which role and at which epoch; `seq` is the write's
    sequence number, or for a read how far the copy that answered had applied."""

    node: str
    epoch: int
    role: str
    seq: int
    value: str | None


def parse_nodes(text: str) -> dict[str, str]:
    """'node-a=127.0.0.1:7101,node-b=...' as {node: host:port}."""
    pairs = (item.split("=", 1) for item in text.split(",") if item.strip())
    return {name.strip(): address.strip() for name, address in pairs}


class NodeClient:
    def __init__(self, addresses: Mapping[str, str], session: aiohttp.ClientSession) -> None:
        self.addresses = dict(addresses)
        self._session = session

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, addresses: Mapping[str, str],
                   timeout: float = 30.0) -> AsyncIterator[NodeClient]:
        async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=timeout),
                connector=aiohttp.TCPConnector(limit=64)) as session:
            yield cls(addresses, session)

    async def _call(self, method: str, node: str, path: str,
                    params: Mapping[str, Any] | None = None, body: Any = None) -> Any:
        url = f"http://{self.addresses[node]}{path}"
        query = {k: str(v) for k, v in (params or {}).items()}
        async with self._session.request(method, url, params=query, json=body) as response:
            answer = await response.json()
            if response.status != 200:
                raise Refused.from_body(response.status, answer)
            return answer

    @staticmethod
    def _shard(shard: str, *rest: str) -> str:
        return "/".join(("", "shards", quote(shard, safe=""), *rest))

    async def healthy(self, node: str) -> bool:
        try:
            await self._call("GET", node, "/healthz")
        except (Refused, aiohttp.ClientError, TimeoutError):
            return False
        return True

    async def write(self, node: str, shard: str, epoch: int, key: str, value: str) -> Served:
        answer = await self._call("PUT", node, self._shard(shard, "keys", quote(key, safe="")),
                                  {"epoch": epoch}, {"value": value})
        return Served(**answer)

    async def write_many(self, node: str, shard: str, epoch: int,
                         items: Mapping[str, str]) -> Served:
        answer = await self._call("POST", node, self._shard(shard, "batch"), {"epoch": epoch},
                                  {"items": dict(items)})
        return Served(**answer)

    async def read(self, node: str, shard: str, epoch: int, key: str, min_seq: int) -> Served:
        answer = await self._call("GET", node, self._shard(shard, "keys", quote(key, safe="")),
                                  {"epoch": epoch, "min_seq": min_seq})
        return Served(**answer)

    async def snapshot(self, node: str, shard: str, epoch: int) -> tuple[dict[str, str], int]:
        answer = await self._call("GET", node, self._shard(shard, "snapshot"), {"epoch": epoch})
        return dict(answer["items"]), int(answer["seq"])

    async def changes(self, node: str, shard: str, epoch: int, after: int,
                      wait: float) -> list[Entry]:
        answer = await self._call("GET", node, self._shard(shard, "changes"),
                                  {"epoch": epoch, "after": after, "wait": wait})
        return [Entry(int(seq), str(key), str(value)) for seq, key, value in answer["changes"]]

    async def fence(self, node: str, shard: str, uid: str, epoch: int) -> int:
        answer = await self._call("POST", node, self._shard(shard, "fence"),
                                  body={"uid": uid, "epoch": epoch})
        return int(answer["seq"])

    async def replicate(self, node: str, shard: str, uid: str, epoch: int) -> None:
        await self._call("POST", node, self._shard(shard, "replicate"),
                         body={"uid": uid, "epoch": epoch})

    async def prime(self, node: str, shard: str, uid: str, epoch: int, seq: int) -> int:
        answer = await self._call("POST", node, self._shard(shard, "prime"),
                                  body={"uid": uid, "epoch": epoch, "seq": seq})
        return int(answer["seq"])

    async def status(self, node: str, shard: str) -> dict[str, Any]:
        answer: dict[str, Any] = await self._call("GET", node, self._shard(shard, "status"))
        return answer
