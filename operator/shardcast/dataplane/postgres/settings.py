"""The PostgreSQL data plane's environment, parsed once: which node is which server, and the
bounds of a Job."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shardcast.dataplane.jobs import JobFailed, MoveEnv
from shardcast.dataplane.postgres.catalog import schema_of


def parse_nodes(text: str) -> dict[str, str]:
    """`node-a=postgresql://...,node-b=...`: each Kubernetes node name and its server's DSN (a
    Secret's values mapped into the Job's environment, in a cluster)."""
    nodes = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, dsn = item.partition("=")
        if not sep or not name or not dsn:
            raise JobFailed(f"SHARDCAST_PG_NODES: {item!r} is not node=dsn")
        nodes[name] = dsn
    return nodes


@dataclass(frozen=True)
class PostgresEnv:
    move: MoveEnv
    nodes: dict[str, str]
    schema: str
    timeout: float  # seconds a Job waits for the copy or the catch-up before it fails
    max_lag_bytes: int  # the sync Job succeeds once the target is this close to the source
    sequence_margin: int  # values the target's sequences skip past the source's

    @classmethod
    def of(cls, environ: Mapping[str, str]) -> PostgresEnv:
        """SHARDCAST_* of the move, SHARDCAST_PG_NODES, and optionally SHARDCAST_PG_SCHEMA
        (default: the shard's name with '_' for '-'), SHARDCAST_PG_JOB_TIMEOUT (120 s),
        SHARDCAST_PG_MAX_LAG_BYTES (1 MiB), SHARDCAST_PG_SEQUENCE_MARGIN (1000)."""
        move = MoveEnv.of(environ)
        nodes = parse_nodes(environ.get("SHARDCAST_PG_NODES", ""))
        for node in (move.source, move.target):
            if node not in nodes:
                raise JobFailed(f"SHARDCAST_PG_NODES names no server for node {node}")
        try:
            return cls(move, nodes, environ.get("SHARDCAST_PG_SCHEMA") or schema_of(move.shard),
                       float(environ.get("SHARDCAST_PG_JOB_TIMEOUT", "120")),
                       int(environ.get("SHARDCAST_PG_MAX_LAG_BYTES", str(1 << 20))),
                       int(environ.get("SHARDCAST_PG_SEQUENCE_MARGIN", "1000")))
        except ValueError as error:
            raise JobFailed(f"SHARDCAST_PG_*: {error}") from error

    @property
    def source_dsn(self) -> str:
        return self.nodes[self.move.source]

    @property
    def target_dsn(self) -> str:
        return self.nodes[self.move.target]
