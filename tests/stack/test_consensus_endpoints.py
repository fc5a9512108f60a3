"""Consensus endpoints by name, as a cluster lists them: resolved to every member's address."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from shardcast.consensus.store import ConsensusStore, ConsensusUnavailable
from shardcast.devstack import stack


def test_members_named_by_host_name_are_reached(endpoints: stack.Endpoints) -> None:
    named = [e.replace("127.0.0.1", "localhost") for e in endpoints.consensus_etcd]

    async def register() -> str:
        async with ConsensusStore.open(named, timeout=3) as store:
            placed = await store.register("names", uuid.uuid4().hex[:8], "node-a")
        return placed.value.node

    assert asyncio.run(register()) == "node-a"


def test_a_member_name_that_does_not_resolve_is_a_clear_error() -> None:
    async def open_store() -> None:
        async with ConsensusStore.open(["etcd-0.invalid:2379", "etcd-1.invalid:2379"]):
            pass

    with pytest.raises(ConsensusUnavailable, match=r"etcd-0\.invalid:2379.*does not resolve"):
        asyncio.run(open_store())
