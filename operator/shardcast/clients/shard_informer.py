"""One list-and-watch of every Shard, feeding the operator's ShardIndex.

The official client is synchronous, so the list and the watch run in a daemon thread (it
cannot hold up the process's exit) and parse each Shard there; the index itself is changed
only on the event loop, so handlers read it without locks. A watch that falls too far behind
(410 Gone) lists again and replaces the index, so a Shard deleted meanwhile does not linger."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException

from shardcast.api.kinds import GROUP, SHARDS, VERSION
from shardcast.api.shard import IndexedShard
from shardcast.api.shard_index import ShardIndex
from shardcast.clients.kubernetes import REQUEST_TIMEOUT

LOG = logging.getLogger(__name__)
PAGE = 500  # Shards per list request: bounded responses, however many there are
WATCH_SECONDS = 30  # each watch request ends by then, so a stop is noticed that soon
RETRY_SECONDS = 1.0


class ShardInformer:
    """`listed` is set once the index holds every served Shard; `error` says why it may be
    behind (None while it is current). `changed(namespace, name)` is called on the event loop
    after each Shard the index took in or let go (every one of a fresh list)."""

    def __init__(self, index: ShardIndex, serves: Callable[[str], bool],
                 changed: Callable[[str, str], None] = lambda namespace, name: None) -> None:
        self.index = index
        self.serves = serves
        self.changed = changed
        self.listed = asyncio.Event()
        self.error: str | None = "not yet listed"
        self._stop = threading.Event()

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        threading.Thread(target=self._run, args=(loop,), name="shard-informer",
                         daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        api = kubernetes.client.CustomObjectsApi()  # its own client: one long-lived watch
        while not self._stop.is_set():
            try:
                shards, version = self._list(api)
                loop.call_soon_threadsafe(self._replaced, shards)
                self._follow(api, version, loop)
            except ApiException as error:
                if error.status != 410:  # 410: the watch fell behind; list again at once
                    self._failed(loop, f"the API server answered {error.status} {error.reason}")
            except Exception as error:  # network errors and surprises alike: list again
                if loop.is_closed():
                    return  # the operator is gone
                self._failed(loop, f"{type(error).__name__}: {error}")

    def _list(self, api: Any) -> tuple[list[IndexedShard], str]:
        shards: list[IndexedShard] = []
        token = None
        while True:
            page = api.list_cluster_custom_object(GROUP, VERSION, SHARDS, limit=PAGE,
                                                  _continue=token,
                                                  _request_timeout=REQUEST_TIMEOUT)
            shards.extend(self._parsed(page.get("items", [])))
            token = page["metadata"].get("continue")
            if not token:
                return shards, page["metadata"]["resourceVersion"]

    def _follow(self, api: Any, version: str, loop: asyncio.AbstractEventLoop) -> None:
        """Watch from `version` until told to stop; raises on a 410 or a failure."""
        watch = kubernetes.watch.Watch()  # type: ignore[no-untyped-call]
        while not self._stop.is_set():
            for event in watch.stream(  # type: ignore[no-untyped-call]
                    api.list_cluster_custom_object, GROUP, VERSION, SHARDS,
                    resource_version=version, timeout_seconds=WATCH_SECONDS,
                    allow_watch_bookmarks=True,
                    _request_timeout=(REQUEST_TIMEOUT[0], WATCH_SECONDS + 10)):
                body = event["object"]
                version = body["metadata"]["resourceVersion"]
                if event["type"] == "DELETED":
                    meta = body["metadata"]
                    loop.call_soon_threadsafe(self._drop, meta["namespace"], meta["name"])
                elif event["type"] in ("ADDED", "MODIFIED"):
                    parsed = next(self._parsed([body]), None)
                    meta = body["metadata"]
                    loop.call_soon_threadsafe(*(
                        (self._put, parsed) if parsed is not None
                        else (self._drop, meta["namespace"], meta["name"])))
                if self._stop.is_set():
                    return

    def _parsed(self, bodies: list[dict[str, Any]]) -> Iterator[IndexedShard]:
        for body in bodies:
            meta = body["metadata"]
            if not self.serves(meta["namespace"]):
                continue
            try:
                yield IndexedShard.from_object(body)
            except (KeyError, TypeError, ValueError) as error:
                LOG.warning("Shard %s/%s is left out of the index: its spec does not parse "
                            "(%s: %s)", meta["namespace"], meta["name"], type(error).__name__,
                            error)

    def _replaced(self, shards: list[IndexedShard]) -> None:
        self.index.replace(shards)
        self.error = None
        self.listed.set()
        for shard in shards:
            self.changed(shard.namespace, shard.name)

    def _put(self, shard: IndexedShard) -> None:
        self.index.put(shard)
        self.changed(shard.namespace, shard.name)

    def _drop(self, namespace: str, name: str) -> None:
        self.index.drop(namespace, name)
        self.changed(namespace, name)

    def _failed(self, loop: asyncio.AbstractEventLoop, why: str) -> None:
        LOG.warning("the Shard informer is behind (%s); retrying", why)
        loop.call_soon_threadsafe(setattr, self, "error", why)
        self._stop.wait(RETRY_SECONDS)
