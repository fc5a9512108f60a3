"""The consensus record in etcd (aetcd): every change is a transaction fenced by what was read.

A writer passes back the `Versioned` record it read; the transaction compares that record's
mod_revision, so an actor that read an older state — a second operator, a second policy, a replica
that lost its lease — is refused (`Fenced`) instead of merged. Announcements live under this
process's lease: if the process dies and nobody adopts its move within the TTL, the announcement
vanishes and the source, whose placement never changed, stays authoritative.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import aetcd
import aetcd.exceptions

from shardcast.consensus import records
from shardcast.consensus.records import (
    MIGRATION,
    PLACEMENT,
    ROUTE,
    Announcement,
    Placement,
    Route,
    Versioned,
)
from shardcast.consensus.tls import EtcdTls, TlsClient

LOG = logging.getLogger(__name__)
DEFAULT_LEASE_SECONDS = 15
Decoded = TypeVar("Decoded", Placement, Announcement, Route)


class ConsensusUnavailable(Exception):
    """etcd cannot be reached or has no quorum: nothing may start, nothing was changed."""


class Fenced(Exception):
    """The record changed since it was read: this writer is stale and its change was refused."""


@dataclass(frozen=True)
class Change:
    """One watched change: the new value, or None when the key was deleted."""

    kind: str
    namespace: str
    shard: str
    value: Placement | Announcement | Route | None
    revision: int


DECODERS: dict[str, Callable[[bytes], Any]] = {
    PLACEMENT: records.decode_placement, MIGRATION: records.decode_announcement,
    ROUTE: records.decode_route}


def client_for(endpoints: Sequence[str], timeout: float,
               tls: EtcdTls | None = None) -> aetcd.Client:
    """One gRPC channel over every member, so a dead member costs a retry, not an outage;
    TLS when `tls` is given, plaintext otherwise.

    Over TLS gRPC checks each member's certificate against the channel's authority, which for a
    list of addresses is the whole list and matches no certificate; the first member's host
    stands in for it, so every member's certificate must name that host (a shared or wildcard
    name). A single member needs no override: its own host is the authority.
    """
    if len(endpoints) == 1:  # gRPC resolves a lone name itself (all its addresses)
        host, port = endpoints[0].rsplit(":", 1)
        return _client(host, int(port), timeout, tls, {})
    *others, (last_host, last_port) = _literal_addresses(endpoints)
    target = "ipv4:" + ",".join(f"{h}:{p}" for h, p in others) + f",{last_host}"
    options = {"grpc.ssl_target_name_override": endpoints[0].rsplit(":", 1)[0]} if tls else {}
    return _client(target, int(last_port), timeout, tls, options)


def _client(host: str, port: int, timeout: float, tls: EtcdTls | None,
            options: dict[str, str]) -> aetcd.Client:
    if tls is None:
        return aetcd.Client(host=host, port=port, timeout=timeout)
    return TlsClient(tls, host=host, port=port, timeout=timeout, options=options)


def _literal_addresses(endpoints: Sequence[str]) -> list[tuple[str, str]]:
    """(IPv4 address, port) of every member. gRPC's address-list target takes only literals, so
    names (a StatefulSet's members, say) are resolved here, when the client is made."""
    addresses = []
    for endpoint in endpoints:
        host, port = endpoint.rsplit(":", 1)
        try:
            addresses.append((str(ipaddress.IPv4Address(host)), port))
            continue
        except ValueError:
            pass
        try:
            found = socket.getaddrinfo(host, int(port), socket.AF_INET, socket.SOCK_STREAM)
        except socket.gaierror as error:
            raise ConsensusUnavailable(f"etcd member {endpoint!r} does not resolve: {error}") \
                from error
        addresses += [(ip, port) for ip in sorted({str(info[4][0]) for info in found})]
    return addresses


class ConsensusStore:
    def __init__(self, client: aetcd.Client, lease_seconds: int) -> None:
        self._client = client
        self._lease_seconds = lease_seconds
        self._lease: Any = None
        self._keeper: asyncio.Task[None] | None = None
        self._held: set[str] = set()  # UIDs of the migrations whose claims are under our lease

    @classmethod
    async def connect(cls, endpoints: Sequence[str], timeout: float = 5.0,
                      lease_seconds: int = DEFAULT_LEASE_SECONDS,
                      tls: EtcdTls | None = None) -> ConsensusStore:
        """A store for the life of the process (the operator's)."""
        client = client_for(endpoints, timeout, tls)
        await client.connect()
        return cls(client, lease_seconds)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, endpoints: Sequence[str], timeout: float = 5.0,
                   lease_seconds: int = DEFAULT_LEASE_SECONDS,
                   tls: EtcdTls | None = None) -> AsyncIterator[ConsensusStore]:
        async with client_for(endpoints, timeout, tls) as client:
            store = cls(client, lease_seconds)
            try:
                yield store
            finally:
                if store._keeper:
                    store._keeper.cancel()

    # -- reads ---------------------------------------------------------------------------------

    async def placement(self, namespace: str, shard: str) -> Versioned[Placement] | None:
        return await self._read(PLACEMENT, namespace, shard, records.decode_placement)

    async def announcement(self, namespace: str, shard: str) -> Versioned[Announcement] | None:
        return await self._read(MIGRATION, namespace, shard, records.decode_announcement)

    async def route(self, namespace: str, shard: str) -> Versioned[Route] | None:
        return await self._read(ROUTE, namespace, shard, records.decode_route)

    async def _read(self, kind: str, namespace: str, shard: str,
                    decode: Callable[[bytes], Decoded]) -> Versioned[Decoded] | None:
        got = await self._call(self._client.get(records.key(kind, namespace, shard)))
        return None if got is None else Versioned(decode(got.value), got.mod_revision)

    async def snapshot(self, kind: str) -> tuple[dict[tuple[str, str], Any], int]:
        """Every value of one kind, keyed by (namespace, shard), and the revision read at: a
        watcher starts from here and watches from revision + 1."""
        versioned, revision = await self.versioned_snapshot(kind)
        return {key: value.value for key, value in versioned.items()}, revision

    async def versioned_snapshot(self, kind: str,
                                 ) -> tuple[dict[tuple[str, str], Versioned[Any]], int]:
        """`snapshot` with each value's own revision (when it was last written)."""
        got = await self._call(self._client.get_prefix(records.prefix(kind)))
        values = {}
        for kv in got:
            _, namespace, shard = records.parse_key(kv.key)
            values[(namespace, shard)] = Versioned(DECODERS[kind](kv.value), kv.mod_revision)
        return values, int(got.header.revision)

    # -- transitions ---------------------------------------------------------------------------

    async def register(self, namespace: str, shard: str, node: str) -> Versioned[Placement]:
        """The shard's placement, created at epoch 1 on `node` if etcd has none yet."""
        key = records.key(PLACEMENT, namespace, shard)
        tx = self._client.transactions
        await self._call(self._client.transaction(
            compare=[tx.create(key) == 0],
            success=[tx.put(key, records.encode(Placement(node=node, epoch=1)))], failure=[]))
        placed = await self.placement(namespace, shard)
        assert placed is not None, "a placement just created or already present"
        return placed

    async def announce(self, namespace: str, shard: str, placement: Versioned[Placement],
                       announcement: Announcement) -> Versioned[Announcement]:
        """Claim the shard for one move. Refused if anyone else holds it or the placement moved.

        Traffic starts fully on the source, so routers see the move before any weight shifts.
        """
        place_key = records.key(PLACEMENT, namespace, shard)
        move_key = records.key(MIGRATION, namespace, shard)
        tx = self._client.transactions
        lease = await self._current_lease()
        ok, _ = await self._call(self._client.transaction(
            compare=[tx.mod(place_key) == placement.revision, tx.create(move_key) == 0],
            success=[tx.put(move_key, records.encode(announcement), lease=lease),
                     tx.put(records.key(ROUTE, namespace, shard), records.encode(
                         Route(epoch=announcement.epoch, weights={announcement.source: 100})),
                            lease=lease)],
            failure=[]))
        if not ok:
            raise Fenced(await self._holder(namespace, shard))
        claimed = await self.announcement(namespace, shard)
        if claimed is None or claimed.value.uid != announcement.uid:
            raise Fenced(await self._holder(namespace, shard))
        self._held.add(announcement.uid)
        return claimed

    async def advance(self, namespace: str, shard: str, held: Versioned[Announcement],
                      phase: str, weights: dict[str, int] | None = None) -> Versioned[Announcement]:
        """Record the move's phase (and traffic weights) if the announcement is still the one
        read; renews its lease to this process, which is how a restarted operator adopts it."""
        move_key = records.key(MIGRATION, namespace, shard)
        tx = self._client.transactions
        lease = await self._current_lease()
        updated = dataclasses.replace(held.value, phase=phase)
        puts = [tx.put(move_key, records.encode(updated), lease=lease)]
        if weights is not None:
            puts.append(tx.put(records.key(ROUTE, namespace, shard),
                               records.encode(Route(epoch=held.value.epoch, weights=weights)),
                               lease=lease))
        ok, _ = await self._call(self._client.transaction(
            compare=[tx.mod(move_key) == held.revision], success=puts, failure=[]))
        if not ok:
            raise Fenced(await self._holder(namespace, shard))
        self._held.add(held.value.uid)
        current = await self.announcement(namespace, shard)
        assert current is not None
        return current

    def holds(self, held: Versioned[Announcement]) -> bool:
        """Whether the claim is under this process's lease (False after a restart)."""
        return held.value.uid in self._held

    async def adopt(self, namespace: str, shard: str,
                    held: Versioned[Announcement]) -> Versioned[Announcement]:
        """Move a claim (and its traffic weights) made by an earlier process onto this
        process's lease, before the earlier lease expires and takes them away."""
        route = await self.route(namespace, shard)
        return await self.advance(namespace, shard, held, held.value.phase,
                                  route.value.weights if route else None)

    async def commit(self, namespace: str, shard: str,
                     held: Versioned[Announcement]) -> Versioned[Placement]:
        """The move's one atomic step: target owns the shard at epoch + 1, the move is over.

        Fenced unless the announcement is the one read and the source still owns the shard at
        the epoch the move started from."""
        place_key = records.key(PLACEMENT, namespace, shard)
        move_key = records.key(MIGRATION, namespace, shard)
        tx = self._client.transactions
        moved = Placement(node=held.value.target, epoch=held.value.epoch + 1)
        ok, _ = await self._call(self._client.transaction(
            compare=[tx.mod(move_key) == held.revision,
                     tx.value(place_key) == records.encode(Placement(
                         node=held.value.source, epoch=held.value.epoch))],
            success=[tx.put(place_key, records.encode(moved)), tx.delete(move_key),
                     tx.delete(records.key(ROUTE, namespace, shard))],
            failure=[]))
        if not ok:
            raise Fenced(await self._holder(namespace, shard))
        committed = await self.placement(namespace, shard)
        assert committed is not None
        return committed

    async def abandon(self, namespace: str, shard: str, uid: str) -> bool:
        """End this migration's claim, leaving placement untouched; False if it held none."""
        move_key = records.key(MIGRATION, namespace, shard)
        held = await self.announcement(namespace, shard)
        if held is None or held.value.uid != uid:
            return False
        tx = self._client.transactions
        ok, _ = await self._call(self._client.transaction(
            compare=[tx.mod(move_key) == held.revision],
            success=[tx.delete(move_key), tx.delete(records.key(ROUTE, namespace, shard))],
            failure=[]))
        return bool(ok)

    async def remove(self, namespace: str, shard: str, revision: int | None = None) -> bool:
        """Delete a gone Shard's placement and route; refused (False) while a move claims it,
        or, given `revision`, if the placement changed since it was read (a Shard of the same
        name registered again)."""
        place_key = records.key(PLACEMENT, namespace, shard)
        tx = self._client.transactions
        compare = [tx.create(records.key(MIGRATION, namespace, shard)) == 0]
        if revision is not None:
            compare.append(tx.mod(place_key) == revision)
        ok, _ = await self._call(self._client.transaction(
            compare=compare,
            success=[tx.delete(place_key), tx.delete(records.key(ROUTE, namespace, shard))],
            failure=[]))
        return bool(ok)

    async def forget(self, namespace: str) -> None:
        """Delete every record of a namespace: for starting a demo or test over, never in
        operation (placements of live shards would be re-registered from their specs)."""
        for kind in (MIGRATION, ROUTE, PLACEMENT):
            await self._call(self._client.delete_prefix(records.prefix(kind, namespace)))

    async def _holder(self, namespace: str, shard: str) -> str:
        held = await self.announcement(namespace, shard)
        placed = await self.placement(namespace, shard)
        where = (f"placement is {placed.value.node} at epoch {placed.value.epoch}"
                 if placed else "no placement")
        if held is None:
            return f"the record changed since it was read ({where})"
        return (f"{held.value.migration} holds the shard ({held.value.source} -> "
                f"{held.value.target}, {held.value.phase}); {where}")

    # -- watching ------------------------------------------------------------------------------

    async def watch(self, kinds: Sequence[str] = (PLACEMENT, ROUTE, MIGRATION),
                    start_revision: int | None = None,
                    on_state: Callable[[str | None], None] | None = None,
                    ) -> AsyncIterator[Change]:
        """Every change under shardcast's prefix, resumed from the last revision seen + 1 when
        the stream breaks (a member died), so a watcher never misses or repeats a change.
        `on_state` hears why the stream broke, and None once it is following again."""
        last = (start_revision - 1) if start_revision else None
        while True:
            try:
                stream = await self._client.watch_prefix(
                    records.PREFIX.encode(), start_revision=None if last is None else last + 1)
                if on_state is not None:
                    on_state(None)
                async for event in stream:
                    last = event.kv.mod_revision
                    kind, namespace, shard = records.parse_key(event.kv.key)
                    if kind not in kinds:
                        continue
                    value = None if event.kind == "DELETE" else DECODERS[kind](event.kv.value)
                    yield Change(kind, namespace, shard, value, last)
            except aetcd.exceptions.ClientError as error:
                LOG.warning("etcd watch broke (%s); resuming after revision %s", error, last)
                if on_state is not None:
                    on_state(f"etcd watch broke: {error or type(error).__name__}")
                await asyncio.sleep(0.5)

    # -- lease ---------------------------------------------------------------------------------

    async def _current_lease(self) -> Any:
        if self._lease is None:
            self._lease = await self._call(self._client.lease(self._lease_seconds))
            self._keeper = asyncio.create_task(self._keep_alive())
        return self._lease

    async def _keep_alive(self) -> None:
        """Refresh well inside the TTL; a lease that expired anyway (no quorum for longer than
        the TTL) is replaced, and the moves it held are gone — their migrations roll back."""
        while True:
            await asyncio.sleep(self._lease_seconds / 3)
            try:
                remaining = await self._lease.remaining_ttl()
                if remaining <= 0:
                    self._lease = await self._client.lease(self._lease_seconds)
                    self._held.clear()
                else:
                    await self._lease.refresh()
            except aetcd.exceptions.ClientError as error:
                LOG.warning("etcd lease refresh failed: %s", error)

    async def _call(self, pending: Any) -> Any:
        """Every way etcd can fail to answer is ConsensusUnavailable. Without quorum it is not
        only a timeout: a member may answer "context deadline exceeded" (a bare ClientError),
        which must also stop the step, not crash the handler."""
        try:
            return await pending
        except aetcd.exceptions.InvalidArgumentError:
            raise  # a request shardcast built wrong: a bug, not an outage
        except aetcd.exceptions.ClientError as error:
            raise ConsensusUnavailable(
                f"etcd unreachable or without quorum: {error or type(error).__name__}") from error
