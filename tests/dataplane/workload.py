"""Traffic through a router while shards move, and the checks that nothing was lost.

Writers write unique keys and overwrite one counter key per shard with increasing values,
recording every acknowledged write. Readers read keys already acknowledged and record who served
them; a read must see at least the value acknowledged before it started.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field

from shardkv.client import NodeClient, Served
from shardkv.ownership import OWNER, REPLICA
from shardkv.router import Router, Unavailable

from tests.dataplane.driver import History


@dataclass(frozen=True)
class Read:
    shard: str
    key: str
    served: Served
    started: float


@dataclass
class Ledger:
    acked: dict[tuple[str, str], str] = field(default_factory=dict)  # latest acknowledged value
    seqs: list[tuple[str, int]] = field(default_factory=list)  # (shard, seq) of every ack
    reads: list[Read] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # writes the router gave up on: maybe applied, never acknowledged (until a later ack)
    maybe: set[tuple[str, str]] = field(default_factory=set)
    unavailable: list[str] = field(default_factory=list)  # why each give-up happened

    def ack(self, shard: str, key: str, value: str, served: Served) -> None:
        self.acked[(shard, key)] = value
        self.maybe.discard((shard, key))
        self.seqs.append((shard, served.seq))


def counter(shard: str, writer: int) -> str:
    return f"counter-{shard}-{writer}"


async def write(router: Router, ledger: Ledger, shards: list[str], writer: int,
                stop: asyncio.Event, rng: random.Random, tolerate: bool = False) -> None:
    """`tolerate`: a write the router gives up on (the shard unavailable past its patience)
    is recorded as maybe applied, and writing goes on; otherwise it ends the run."""
    counts: Counter[str] = Counter()
    n = 0
    while not stop.is_set():
        shard, n = rng.choice(shards), n + 1
        if n % 4 == 0:
            counts[shard] += 1
            key, value = counter(shard, writer), str(counts[shard])
        else:
            key, value = f"w{writer}-{n}", f"v{n}"
        try:
            ledger.ack(shard, key, value, await router.write(shard, key, value))
        except Unavailable as error:
            if not tolerate:
                raise
            ledger.maybe.add((shard, key))
            ledger.unavailable.append(str(error))


async def read(router: Router, ledger: Ledger, stop: asyncio.Event,
               rng: random.Random, tolerate: bool = False) -> None:
    while not stop.is_set():
        if not ledger.acked:
            await asyncio.sleep(0.01)
            continue
        shard, key = rng.choice(list(ledger.acked)) if rng.random() < 0.02 else _recent(ledger)
        floor, started = ledger.acked[(shard, key)], time.monotonic()
        try:
            served = await router.read(shard, key)
        except Unavailable as error:
            if not tolerate:
                raise
            ledger.unavailable.append(str(error))
            continue
        ledger.reads.append(Read(shard, key, served, started))
        if not _at_least(served.value, floor):
            ledger.errors.append(f"stale read of {shard}/{key}: {served} before which "
                                 f"{floor!r} was acknowledged")


def _recent(ledger: Ledger) -> tuple[str, str]:
    return next(reversed(ledger.acked))


def _at_least(value: str | None, floor: str) -> bool:
    if value is None:
        return False
    if floor.isdigit() and value.isdigit():
        return int(value) >= int(floor)
    return value == floor


async def lost_writes(client: NodeClient, router: Router, ledger: Ledger,
                      expected_extra: dict[tuple[str, str], str] | None = None
                      ) -> tuple[int, list[str]]:
    """Every acknowledged write, at its latest value, in the owner's copy (and nothing else);
    sequence numbers never reused; a sample read back through the router. The number of keys
    lost or at an older value, and what went wrong."""
    errors, lost = [], 0
    expected = {**(expected_extra or {}), **ledger.acked}
    duplicated = [seq for seq, count in Counter(ledger.seqs).items() if count > 1]
    if duplicated:
        errors.append(f"sequence numbers acknowledged twice: {duplicated[:10]}")
    shards = {shard for shard, _ in expected}
    for shard in sorted(shards):
        placed = router.placement(shard)
        assert placed is not None
        items, _ = await client.snapshot(placed.node, shard, placed.epoch)
        want = {key: value for (s, key), value in expected.items() if s == shard}
        maybe = {key for s, key in ledger.maybe if s == shard}  # given up on: either is right
        missing = [k for k, v in want.items() if items.get(k) != v and k not in maybe]
        extra = sorted(set(items) - set(want) - maybe)
        lost += len(missing)
        if missing or extra:
            errors.append(f"{shard} at {placed.node}/{placed.epoch}: {len(missing)} lost or "
                          f"wrong (e.g. {missing[:5]}), {len(extra)} unexpected ({extra[:5]})")
    sample = random.Random(7).sample(sorted(set(expected) - ledger.maybe),
                                     min(500, len(expected)))
    for (shard, key) in sample:
        served = await router.read(shard, key)
        if served.value != expected[(shard, key)]:
            errors.append(f"router read {shard}/{key} = {served}, want {expected[(shard, key)]}")
    return lost, errors


def misplaced_reads(ledger: Ledger, history: History) -> list[str]:
    """Reads served by a node in a role it did not have: an owner read from a node that was not
    the placement at that epoch, or that started after the next epoch was committed; a replica
    read from a node that was not the target of a move from that epoch."""
    targets = {(m.shard, m.epoch, m.target) for m in history.moves}
    errors = []
    for r in ledger.reads:
        s = r.served
        if s.role == OWNER:
            owner = history.owners[r.shard].get(s.epoch)
            superseded = history.superseded_at.get((r.shard, s.epoch))
            if owner != s.node or (superseded is not None and r.started > superseded):
                errors.append(f"{r.shard}/{r.key} read from {s.node} as owner at epoch "
                              f"{s.epoch}: owner was {owner}, superseded at {superseded}, "
                              f"read started {r.started}")
        elif s.role != REPLICA or (r.shard, s.epoch, s.node) not in targets:
            errors.append(f"{r.shard}/{r.key} read from {s.node} as {s.role} at {s.epoch}")
    return errors


async def leftovers(client: NodeClient, router: Router, shards: list[str]) -> list[str]:
    """Once moves settle, only the owner holds a shard, unfenced: abandoned targets dropped
    their copies, committed sources dropped theirs, abandoned sources took writes again."""
    deadline = time.monotonic() + 10
    while True:
        errors = []
        for shard in shards:
            placed = router.placement(shard)
            assert placed is not None
            for node in client.addresses:
                status = await client.status(node, shard)
                owner = node == placed.node
                if owner and (status["owned_epoch"] != placed.epoch or status["fenced_by"]):
                    errors.append(f"owner {node} of {shard}: {status}")
                if not owner and status["seq"] is not None:
                    errors.append(f"{node} still holds {shard}: {status}")
        if not errors or time.monotonic() > deadline:
            return errors
        await asyncio.sleep(0.2)
