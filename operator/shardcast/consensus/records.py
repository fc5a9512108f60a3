"""The etcd layout, as plain values: the keys, what each holds, and how it is encoded.

Every value carries the placement epoch it belongs to, so a router or data-plane node that reads
a value can tell which owner it refers to without a second read.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Generic, TypeVar

PREFIX = "/shardcast/v1/"
PLACEMENT, MIGRATION, ROUTE = "placement", "migration", "route"


def key(kind: str, namespace: str, shard: str) -> bytes:
    return f"{PREFIX}{kind}/{namespace}/{shard}".encode()


def prefix(kind: str, namespace: str | None = None) -> bytes:
    """All keys of one kind, or of one kind in one namespace."""
    return f"{PREFIX}{kind}/{namespace + '/' if namespace else ''}".encode()


def parse_key(raw: bytes) -> tuple[str, str, str]:
    """(kind, namespace, shard) of a shardcast key."""
    kind, namespace, shard = raw.decode().removeprefix(PREFIX).split("/", 2)
    return kind, namespace, shard


@dataclass(frozen=True)
class Placement:
    """The node that is authoritative for a shard; the epoch rises by one with every move."""

    node: str
    epoch: int


@dataclass(frozen=True)
class Announcement:
    """A move under way. It exists for exactly one migration at a time and names it by UID."""

    migration: str  # namespace/name of the ShardMigration
    uid: str
    source: str
    target: str
    epoch: int  # the placement epoch the move started from; the move commits epoch + 1
    phase: str


@dataclass(frozen=True)
class Route:
    """Share of the shard's traffic (percent) each node serves while a move shifts it."""

    epoch: int
    weights: dict[str, int] = field(default_factory=dict)


Value = TypeVar("Value", Placement, Announcement, Route)


@dataclass(frozen=True)
class Versioned(Generic[Value]):
    """A value with the etcd mod_revision it was read at: what a compare-and-swap compares."""

    value: Value
    revision: int


def encode(value: Placement | Announcement | Route) -> bytes:
    return json.dumps(asdict(value), sort_keys=True).encode()


def decode_placement(raw: bytes) -> Placement:
    data = json.loads(raw)
    return Placement(node=str(data["node"]), epoch=int(data["epoch"]))


def decode_announcement(raw: bytes) -> Announcement:
    return Announcement(**json.loads(raw))


def decode_route(raw: bytes) -> Route:
    data = json.loads(raw)
    return Route(epoch=int(data["epoch"]),
                 weights={str(k): int(v) for k, v in data["weights"].items()})
