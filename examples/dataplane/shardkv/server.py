"""One shardkv node: shards in memory behind HTTP on 127.0.0.1, owned as etcd says.

    python -m shardkv.server --node node-a --port 7101 --namespace NS \
        --nodes node-a=127.0.0.1:7101,node-b=127.0.0.1:7102 --etcd 127.0.0.1:32379,...

--nodes and --etcd default to SHARDKV_NODES and SHARDCAST_ETCD_ENDPOINTS. The node answers
nothing but /healthz (503) until it has read the consensus record once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from shardcast.consensus.records import MIGRATION, PLACEMENT
from shardcast.consensus.store import ConsensusStore
from shardkv.client import NodeClient, Served, parse_nodes
from shardkv.follower import follow
from shardkv.ownership import OWNER, Node
from shardkv.protocol import Refused
from shardkv.view import follow_record

LOG = logging.getLogger("shardkv.server")
MAX_CHANGES = 5000  # per answer to a follower
MAX_WAIT = 5.0  # longest a request may wait for a copy to catch up

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def refusals(handler: Handler) -> Handler:
    """A `Refused` becomes its HTTP status with the node's reason and view as the body."""
    @functools.wraps(handler)
    async def answer(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except Refused as refused:
            return web.json_response(refused.body(), status=refused.status)
    return answer


class Api:
    def __init__(self, node: Node, ready: asyncio.Event) -> None:
        self.node = node
        self.ready = ready

    def routes(self) -> list[web.RouteDef]:
        shard = "/shards/{shard}"
        return [web.get("/healthz", self.healthz),
                web.put(shard + "/keys/{key}", refusals(self.write)),
                web.post(shard + "/batch", refusals(self.write_many)),
                web.get(shard + "/keys/{key}", refusals(self.read)),
                web.get(shard + "/snapshot", refusals(self.snapshot)),
                web.get(shard + "/changes", refusals(self.changes)),
                web.post(shard + "/fence", refusals(self.fence)),
                web.post(shard + "/replicate", refusals(self.replicate)),
                web.post(shard + "/prime", refusals(self.prime)),
                web.get(shard + "/status", refusals(self.status))]

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"node": self.node.name, "ready": self.ready.is_set()},
                                 status=200 if self.ready.is_set() else 503)

    def _served(self, epoch: int, role: str, seq: int, value: str | None) -> web.Response:
        return web.json_response(Served(self.node.name, epoch, role, seq, value).__dict__)

    async def write(self, request: web.Request) -> web.Response:
        epoch = int(request.query["epoch"])
        value = str((await request.json())["value"])
        data = self.node.owned(request.match_info["shard"], epoch)  # checked after the body
        return self._served(epoch, OWNER, data.put(request.match_info["key"], value), value)

    async def write_many(self, request: web.Request) -> web.Response:
        epoch = int(request.query["epoch"])
        items: dict[str, Any] = (await request.json())["items"]
        data = self.node.owned(request.match_info["shard"], epoch)
        for key, value in items.items():
            data.put(key, str(value))
        return self._served(epoch, OWNER, data.seq, None)

    async def read(self, request: web.Request) -> web.Response:
        epoch = int(request.query["epoch"])
        data, role = await self.node.readable(request.match_info["shard"], epoch,
                                              int(request.query.get("min_seq", 0)), MAX_WAIT)
        return self._served(epoch, role, data.seq, data.items.get(request.match_info["key"]))

    async def snapshot(self, request: web.Request) -> web.Response:
        data = self.node.owned(request.match_info["shard"], int(request.query["epoch"]),
                               fenced_ok=True)
        return web.json_response({"items": data.items, "seq": data.seq})

    async def changes(self, request: web.Request) -> web.Response:
        name, epoch = request.match_info["shard"], int(request.query["epoch"])
        after = int(request.query["after"])
        data = self.node.owned(name, epoch, fenced_ok=True)
        await data.reached(after + 1, min(float(request.query.get("wait", 0)), MAX_WAIT))
        data = self.node.owned(name, epoch, fenced_ok=True)  # may have been dropped meanwhile
        try:
            entries = data.after(after, MAX_CHANGES)
        except LookupError as error:
            raise Refused(410, "log-truncated", detail=str(error)) from error
        return web.json_response({"changes": [[e.seq, e.key, e.value] for e in entries]})

    async def fence(self, request: web.Request) -> web.Response:
        body = await request.json()
        seq = self.node.fence(request.match_info["shard"], str(body["uid"]), int(body["epoch"]))
        return web.json_response({"seq": seq})

    async def replicate(self, request: web.Request) -> web.Response:
        body = await request.json()
        name = request.match_info["shard"]
        self.node.replicate(name, str(body["uid"]), int(body["epoch"]))
        return web.json_response(self.node.status(name))

    async def prime(self, request: web.Request) -> web.Response:
        body = await request.json()
        seq = await self.node.prime(request.match_info["shard"], str(body["uid"]),
                                    int(body["epoch"]), int(body["seq"]), MAX_WAIT)
        return web.json_response({"seq": seq})

    async def status(self, request: web.Request) -> web.Response:
        return web.json_response(self.node.status(request.match_info["shard"]))


async def serve(name: str, port: int, namespace: str, nodes: dict[str, str],
                etcd: list[str]) -> None:
    """Until SIGTERM/SIGINT, or until following the consensus record fails."""
    async with ConsensusStore.open(etcd) as store, NodeClient.open(nodes) as client:
        node = Node(name, functools.partial(follow, client))
        ready = asyncio.Event()
        runner = web.AppRunner(_app(Api(node, ready)), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        record = asyncio.create_task(
            follow_record(store, namespace, (PLACEMENT, MIGRATION), node.apply, ready))
        stopped = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({record, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if record.done():
                record.result()  # following the record failed: the node must not keep serving
        finally:
            for task in (record, stopped):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await record
            await runner.cleanup()


def _app(api: Api) -> web.Application:
    app = web.Application(client_max_size=256 * 1024 * 1024)
    app.add_routes(api.routes())
    return app


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--namespace", required=True, help="the shardcast namespace served")
    parser.add_argument("--nodes", default=os.environ.get("SHARDKV_NODES", ""))
    parser.add_argument("--etcd", default=os.environ.get("SHARDCAST_ETCD_ENDPOINTS", ""))
    args = parser.parse_args(argv)
    if not args.etcd:
        parser.error("--etcd or SHARDCAST_ETCD_ENDPOINTS is required")
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {args.node} %(message)s")
    asyncio.run(serve(args.node, args.port, args.namespace, parse_nodes(args.nodes),
                      args.etcd.split(",")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
