"""shardkv nodes per test, or the session's PostgreSQL servers, each test in its own etcd
namespace of the local stack's consensus etcd (the session's `endpoints` fixture, shared with
tests/stack)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from shardkv.local import Cluster, running

from shardcast.dataplane.postgres.catalog import schema_of
from shardcast.dataplane.postgres.cleanup import drop_schemas
from shardcast.devstack import stack
from shardcast.devstack.postgres import LocalServer, ensure_servers
from tests.dataplane.postgres_plane import PgPlane
from tests.stack.conftest import endpoints  # noqa: F401  (the session's local stack)

NODES = ("node-a", "node-b", "node-c", "node-d")


@pytest.fixture
def cluster(endpoints: stack.Endpoints, tmp_path: Path) -> Iterator[Cluster]:  # noqa: F811
    with running(f"kv-{uuid.uuid4().hex[:8]}", endpoints.consensus_etcd, NODES,
                 tmp_path) as nodes:
        yield nodes


@pytest.fixture(scope="session")
def pg_servers() -> list[LocalServer]:
    """Three local PostgreSQL 15 servers for the session (reused when already running)."""
    return ensure_servers(NODES[:3])


@pytest.fixture
def pg_plane(pg_servers: list[LocalServer],
             endpoints: stack.Endpoints) -> PgPlane:  # noqa: F811
    return PgPlane(f"pg-{uuid.uuid4().hex[:8]}", {s.node: s.dsn for s in pg_servers},
                   endpoints.consensus_etcd)


@pytest.fixture
def pg_shards(pg_plane: PgPlane) -> Iterator[list[str]]:
    """Four shard names of this test only (the servers are shared); their schemas and
    whatever their moves left are dropped afterwards."""
    shards = [f"{pg_plane.namespace}-{i}" for i in range(4)]
    yield shards
    asyncio.run(drop_schemas(pg_plane.nodes, [schema_of(s) for s in shards]))
