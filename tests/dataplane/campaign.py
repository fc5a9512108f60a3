"""Many migrations under continuous traffic, then every check: shared by the tests and
bench/migration_dataplane.py."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from shardkv.client import NodeClient
from shardkv.local import Cluster
from shardkv.router import Router

from shardcast.consensus.store import ConsensusStore
from tests.dataplane.driver import FAILURES, Driver, Move
from tests.dataplane.workload import (
    Ledger,
    leftovers,
    lost_writes,
    misplaced_reads,
    read,
    write,
)

PRELOAD_CHUNK = 10_000


@dataclass
class Outcome:
    moves: list[Move]
    sizes: dict[str, int]  # preloaded keys per shard
    acknowledged: int  # writes acknowledged during the moves (preload not counted)
    checked: int  # keys whose latest value was checked in the owners' copies
    lost: int  # of those, missing or older than acknowledged
    reads: int
    errors: list[str]


def failure_plan(migrations: int, fail_every: int) -> list[str | None]:
    """Every `fail_every`-th move rolls back, cycling through the ways a move can fail."""
    return [FAILURES[(i // fail_every) % len(FAILURES)]
            if fail_every and i % fail_every == fail_every - 1 else None
            for i in range(migrations)]


async def campaign(cluster: Cluster, sizes: dict[str, int], migrations: int, lanes: int,
                   hold: float, fail_every: int, writers: int = 2, readers: int = 2,
                   seed: int = 1) -> Outcome:
    rng = random.Random(seed)
    nodes = list(cluster.addresses)
    async with ConsensusStore.open(cluster.etcd) as store, \
            NodeClient.open(cluster.addresses) as client:
        driver = Driver(store, cluster, hold, rng)
        for i, shard in enumerate(sizes):
            await driver.register(shard, nodes[i % len(nodes)])
        async with Router.open(store, cluster.namespace, client) as router:
            preloaded = await _preload(router, sizes)
            ledger, stop = Ledger(), asyncio.Event()
            traffic = [asyncio.create_task(write(router, ledger, list(sizes), w, stop,
                                                 random.Random(seed * 100 + w)))
                       for w in range(writers)]
            traffic += [asyncio.create_task(read(router, ledger, stop,
                                                 random.Random(seed * 200 + r)))
                        for r in range(readers)]
            plan, busy = failure_plan(migrations, fail_every), set[str]()

            async def lane() -> None:
                while plan:
                    fail = plan.pop()
                    shard = rng.choice([s for s in sizes if s not in busy])
                    busy.add(shard)
                    placed = router.placement(shard)
                    assert placed is not None
                    target = rng.choice([n for n in nodes if n != placed.node])
                    try:
                        await driver.migrate(shard, target, fail)
                    finally:
                        busy.discard(shard)

            try:
                await asyncio.gather(*(lane() for _ in range(lanes)))
                await asyncio.sleep(0.5)  # the last placements reach the router's view
            finally:
                stop.set()
                await asyncio.gather(*traffic)
            errors = list(ledger.errors)
            errors += misplaced_reads(ledger, driver.history)
            lost, wrong = await lost_writes(client, router, ledger, preloaded)
            errors += wrong
            errors += await leftovers(client, router, list(sizes))
            return Outcome(driver.history.moves, sizes, len(ledger.seqs),
                           len(preloaded | ledger.acked), lost, len(ledger.reads), errors)


async def _preload(router: Router, sizes: dict[str, int]) -> dict[tuple[str, str], str]:
    loaded = {}
    for shard, size in sizes.items():
        for start in range(0, size, PRELOAD_CHUNK):
            chunk = {f"pre-{i}": f"p{i}" for i in range(start, min(size, start + PRELOAD_CHUNK))}
            await router.write_many(shard, chunk)
            loaded.update({(shard, key): value for key, value in chunk.items()})
    return loaded
