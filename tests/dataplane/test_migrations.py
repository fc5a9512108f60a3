"""Shards of the reference data plane moved again and again under writes and reads, some moves
rolled back at every stage: no acknowledged write lost or duplicated, no read from a node that
had lost the shard, no copy left behind."""

from __future__ import annotations

import asyncio

import pytest

from tests.dataplane.campaign import campaign
from tests.dataplane.cluster import Cluster
from tests.dataplane.driver import FAILURES

pytestmark = pytest.mark.stack


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
