"""shardkv nodes per test, each test in its own etcd namespace of the local stack's consensus
etcd (the session's `endpoints` fixture, shared with tests/stack)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from shardkv.local import Cluster, running

from shardcast.devstack import stack
from tests.stack.conftest import endpoints  # noqa: F401  (the session's local stack)

NODES = ("node-a", "node-b", "node-c", "node-d")


@pytest.fixture
def cluster(endpoints: stack.Endpoints, tmp_path: Path) -> Iterator[Cluster]:  # noqa: F811
    with running(f"kv-{uuid.uuid4().hex[:8]}", endpoints.consensus_etcd, NODES,
                 tmp_path) as nodes:
        yield nodes
