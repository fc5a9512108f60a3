"""Shards of the reference data plane moved again and again under writes and reads, some moves
rolled back at every stage: no acknowledged write lost or duplicated, no read from a node that
had lost the shard, no copy left behind."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import pytest
from shardkv.client import NodeClient, Served
from shardkv.local import Cluster
from shardkv.protocol import NOT_OWNER, RETRY, Refused

from shardcast.consensus.store import ConsensusStore
from tests.dataplane.campaign import campaign
from tests.dataplane.driver import FAILURES, Driver


def test_sixty_four_moves_lose_no_writes(cluster: Cluster) -> None:
    sizes = {f"s{i}": 200 for i in range(8)}
    outcome = asyncio.run(campaign(cluster, sizes, migrations=64, lanes=4, hold=0.15,
                                   fail_every=4))
    assert outcome.errors == []
    committed = [m for m in outcome.moves if m.committed]
    rolled_back = [m for m in outcome.moves if not m.committed]
    assert len(outcome.moves) == 64
    assert {m.fail for m in rolled_back} == set(FAILURES)
    assert all(m.fail is None for m in committed)
    assert outcome.acknowledged > 1000 and outcome.reads > 1000
    assert {r for m in committed for r in (m.source, m.target)} == set(cluster.addresses)


def test_refusals_reruns_and_unfence(cluster: Cluster) -> None:
    """Nodes refuse stale epochs and shards they do not own; both Jobs may run twice; an abandon
    after a cutover unfences the source and drops the target's copy; a commit hands over."""
    asyncio.run(_refusals_reruns_and_unfence(cluster))


async def _refusals_reruns_and_unfence(cluster: Cluster) -> None:
    async with ConsensusStore.open(cluster.etcd) as store, \
            NodeClient.open(cluster.addresses) as client:
        driver = Driver(store, cluster, hold=0.0, rng=random.Random(3))
        await driver.register("s", "node-a")
        await _until(lambda: client.write("node-a", "s", 1, "k", "1"))
        with pytest.raises(Refused) as refused:
            await client.write("node-b", "s", 1, "k", "2")
        assert (refused.value.status, refused.value.detail) == (
            NOT_OWNER, {"owner": "node-a", "epoch": 1})
        with pytest.raises(Refused) as refused:
            await client.write("node-a", "s", 2, "k", "2")
        assert (refused.value.status, refused.value.reason) == (RETRY, "stale-epoch")

        move, held, env = await driver.announce("s", "node-b")
        for kind in ("sync", "sync", "cutover", "cutover"):
            assert await driver.job(move, kind, env), move.jobs
        with pytest.raises(Refused) as refused:
            await client.write("node-a", "s", 1, "k", "2")
        assert refused.value.reason == "fenced"
        assert (await client.status("node-b", "s"))["primed_for"] == 2
        await driver.abandon(move, held.value.uid)
        assert (await _until(lambda: client.write("node-a", "s", 1, "k", "2"))).seq == 2
        assert (await client.status("node-b", "s"))["seq"] is None
        assert not await driver.job(move, "cutover", env)  # the move is gone: nothing to do

        moved = await driver.migrate("s", "node-c")
        assert moved.committed, moved.jobs
        served = await _until(lambda: client.write("node-c", "s", 2, "k", "3"))
        assert (served.node, served.epoch, served.seq) == ("node-c", 2, 3)
        with pytest.raises(Refused) as refused:
            await client.read("node-a", "s", 1, "k", 0)
        assert (refused.value.status, refused.value.detail) == (
            NOT_OWNER, {"owner": "node-c", "epoch": 2})


async def _until(attempt: Callable[[], Awaitable[Served]]) -> Served:
    """The node's view of etcd may trail the change just made: retry for a few seconds."""
    for _ in range(100):
        try:
            return await attempt()
        except Refused:
            await asyncio.sleep(0.05)
    return await attempt()
