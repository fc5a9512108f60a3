"""The PostgreSQL data plane under load: shard schemas on real local servers, writers and
readers through the router, moves by the operator's contract (tests.dataplane.driver) with the
real Job commands and the real janitor, and every check a move must pass.

Shared by tests/dataplane/test_postgres_*.py (short seeded campaigns) and
bench/migration_postgres.py (bigger shards, timings).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from psycopg import sql

from shardcast.consensus.store import ConsensusStore
from shardcast.dataplane.postgres import catalog
from shardcast.dataplane.postgres.router import PostgresRouter
from tests.dataplane.driver import KILL_CUTOVER, Driver, Move

ACCOUNTS = 20
KILL_AFTER_FENCE = "kill-cutover-after-fence"


@dataclass(frozen=True)
class PgPlane:
    namespace: str
    nodes: dict[str, str]  # node -> DSN
    etcd: tuple[str, ...]
    job_timeout: float = 60.0  # seconds; the bench's big shards need longer copies

    def env(self) -> dict[str, str]:
        return {"SHARDCAST_PG_NODES": ",".join(f"{n}={d}" for n, d in self.nodes.items()),
                "SHARDCAST_ETCD_ENDPOINTS": ",".join(self.etcd),
                "SHARDCAST_PG_JOB_TIMEOUT": str(self.job_timeout)}


def job_command(kind: str) -> list[str]:
    return [sys.executable, "-m", "shardcast", "dataplane", "postgres", kind]


async def create_shard(dsn: str, schema: str, rows: int = 0) -> None:
    """The shard's tables (a sequence each, a foreign key), `rows` orders to start with."""
    conn = await catalog.connect(dsn)
    async with conn:
        s = sql.Identifier(schema)
        await conn.execute(sql.SQL("CREATE SCHEMA {}").format(s))
        await conn.execute(sql.SQL(
            "CREATE TABLE {}.accounts (id int PRIMARY KEY, balance bigint NOT NULL)").format(s))
        await conn.execute(sql.SQL(
            "CREATE TABLE {}.orders (id bigserial PRIMARY KEY, txn uuid NOT NULL UNIQUE, "
            "account int NOT NULL REFERENCES {}.accounts, amount int NOT NULL, "
            "note text NOT NULL DEFAULT '')").format(s, s))
        await conn.execute(sql.SQL(
            "CREATE TABLE {}.events (id bigserial PRIMARY KEY, txn uuid NOT NULL, "
            "kind text NOT NULL)").format(s))
        await conn.execute(sql.SQL("CREATE INDEX ON {}.events (txn)").format(s))
        await conn.execute(sql.SQL(
            "INSERT INTO {}.accounts SELECT g, 0 FROM generate_series(1, %s) g").format(s),
            (ACCOUNTS,))
        if rows:
            # Rows that predate the moves: their txn ids are the seeded ones, balances match.
            await conn.execute(sql.SQL(
                "INSERT INTO {}.orders (txn, account, amount, note) SELECT gen_random_uuid(), "
                "1 + g %% %s, 1, repeat('x', 64) FROM generate_series(1, %s) g").format(s),
                (ACCOUNTS, rows))
            await conn.execute(sql.SQL(
                "UPDATE {}.accounts a SET balance = o.total FROM (SELECT account, sum(amount) "
                "AS total FROM {}.orders GROUP BY account) o WHERE o.account = a.id").format(s, s))
            await conn.execute(sql.SQL("INSERT INTO {}.events (txn, kind) SELECT txn, 'order' "
                                       "FROM {}.orders").format(s, s))


@dataclass
class Ledger:
    """What the writers were told, per shard: acknowledged transactions and those whose
    commit's answer was lost (they may or may not have committed)."""

    acked: dict[str, set[str]] = field(default_factory=dict)
    uncertain: dict[str, set[str]] = field(default_factory=dict)
    ack_times: dict[str, list[float]] = field(default_factory=dict)
    reads: int = 0
    errors: list[str] = field(default_factory=list)


async def write_one(router: PostgresRouter, schema: str, shard: str, txn: str,
                    rng: random.Random) -> None:
    account, amount = rng.randint(1, ACCOUNTS), rng.randint(1, 100)
    s = sql.Identifier(schema)

    async def work(conn: catalog.Conn) -> None:
        await conn.execute(sql.SQL("INSERT INTO {}.orders (txn, account, amount) VALUES "
                                   "(%s, %s, %s)").format(s), (txn, account, amount))
        await conn.execute(sql.SQL("UPDATE {}.accounts SET balance = balance + %s WHERE id = %s"
                                   ).format(s), (amount, account))
        await conn.execute(sql.SQL("INSERT INTO {}.events (txn, kind) VALUES (%s, 'order')"
                                   ).format(s), (txn,))

    await router.write(shard, work)


async def writer(router: PostgresRouter, shard: str, ledger: Ledger, stop: asyncio.Event,
                 interval: float, seed: int) -> None:
    """Transactions on one shard until `stop`, at most one every `interval` seconds."""
    rng = random.Random(seed)
    schema = catalog.schema_of(shard)
    acked = ledger.acked.setdefault(shard, set())
    uncertain = ledger.uncertain.setdefault(shard, set())
    times = ledger.ack_times.setdefault(shard, [])
    while not stop.is_set():
        txn = str(uuid.UUID(int=rng.getrandbits(128)))
        try:
            await write_one(router, schema, shard, txn, rng)
        except Exception as error:
            uncertain.add(txn)
            ledger.errors.append(f"write {shard} {txn}: {type(error).__name__}: {error}")
            continue
        acked.add(txn)
        times.append(time.monotonic())
        await asyncio.sleep(interval)


async def reader(router: PostgresRouter, shards: Sequence[str], ledger: Ledger,
                 stop: asyncio.Event, seed: int) -> None:
    rng = random.Random(seed)
    while not stop.is_set():
        shard = rng.choice(shards)
        query = sql.SQL("SELECT count(*) FROM {}.orders").format(
            sql.Identifier(catalog.schema_of(shard)))

        async def work(conn: catalog.Conn, query: sql.Composed = query) -> None:
            await conn.execute(query)

        try:
            await router.read(shard, work)
            ledger.reads += 1
        except Exception as error:
            ledger.errors.append(f"read {shard}: {type(error).__name__}: {error}")
        await asyncio.sleep(0.01)


async def txns(dsn: str, schema: str) -> list[str]:
    conn = await catalog.connect(dsn)
    async with conn:
        cursor = await conn.execute(sql.SQL("SELECT txn::text FROM {}.orders").format(
            sql.Identifier(schema)))
        return [str(row[0]) for row in await cursor.fetchall()]


async def invariants(dsn: str, schema: str) -> list[str]:
    """Within one snapshot: an event per order, balances that add up to the orders."""
    conn = await catalog.connect(dsn)
    s = sql.Identifier(schema)
    async with conn, conn.transaction():
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor = await conn.execute(sql.SQL(
            "SELECT (SELECT count(*) FROM {}.orders), (SELECT count(*) FROM {}.events), "
            "(SELECT COALESCE(sum(amount), 0) FROM {}.orders), "
            "(SELECT sum(balance) FROM {}.accounts)").format(s, s, s, s))
        row = await cursor.fetchone()
    assert row is not None
    orders, events, amounts, balances = row
    problems = []
    if orders != events:
        problems.append(f"{schema}: {orders} orders but {events} events")
    if amounts != balances:
        problems.append(f"{schema}: orders add up to {amounts}, balances to {balances}")
    return problems


async def leftovers(nodes: Mapping[str, str], schema: str) -> list[str]:
    """Publications, subscriptions and replication slots of the schema's moves, anywhere."""
    found = []
    for node, dsn in nodes.items():
        conn = await catalog.connect(dsn)
        async with conn:
            found += [f"{node}: subscription {n}" for n in
                      await catalog.subscriptions(conn, schema)]
            found += [f"{node}: slot {n}" for n, _ in await catalog.slots(conn, schema)]
            cursor = await conn.execute("SELECT pubname FROM pg_publication WHERE pubname = %s",
                                        (catalog.publication_name(schema),))
            found += [f"{node}: publication {row[0]}" for row in await cursor.fetchall()]
    return found


@contextlib.asynccontextmanager
async def janitor(plane: PgPlane) -> AsyncIterator[None]:
    """The real janitor command, for the plane's namespace, sweeping every 2 s."""
    env = {**os.environ, **plane.env(), "SHARDCAST_NAMESPACE": plane.namespace}
    proc = await asyncio.create_subprocess_exec(
        *job_command("janitor"), "--sweep-seconds", "2", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        yield
    finally:
        proc.terminate()
        await proc.wait()


async def until(what: str, check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f}s")
        await asyncio.sleep(0.1)


@dataclass
class Outcome:
    moves: list[Move] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    ledger: Ledger = field(default_factory=Ledger)
    pauses: dict[int, float] = field(default_factory=dict)  # id(move) -> write pause, s
    at_cut: dict[int, dict[str, object]] = field(default_factory=dict)  # id(move) -> figures


class Campaign:
    """Moves of several shards at once, each lane moving its shard again and again."""

    def __init__(self, plane: PgPlane, store: ConsensusStore, seed: int, hold: float) -> None:
        self.plane, self.store = plane, store
        self.rng = random.Random(seed)
        self.outcome = Outcome()
        self.driver = Driver(store, plane, hold, self.rng, command=job_command,
                             kill_when=self._kill_when, on_cut=self._on_cut)
        self._after_fence: set[int] = set()
        self._seeded: dict[str, int] = {}  # per shard: rows present that no writer sent

    async def _kill_when(self, move: Move, kind: str) -> None:
        if id(move) not in self._after_fence:
            await asyncio.sleep(self.rng.uniform(0.0, 0.3) if kind == "sync" else 0.0)
            return
        conn = await catalog.connect(self.plane.nodes[move.source])
        async with conn:
            while not await catalog.fenced(conn, catalog.schema_of(move.shard)):
                await asyncio.sleep(0.005)

    async def _on_cut(self, move: Move) -> None:
        """Writes are held (CuttingOver) and the source is fenced: both copies are equal."""
        schema = catalog.schema_of(move.shard)
        src, tgt = self.plane.nodes[move.source], self.plane.nodes[move.target]
        conns = [await catalog.connect(src), await catalog.connect(tgt)]
        async with conns[0], conns[1]:
            source, target = [await catalog.checksums(c, schema) for c in conns]
            next_values = await catalog.sequences(conns[1], schema)
            cursor = await conns[1].execute(sql.SQL("SELECT max(id) FROM {}.orders").format(
                sql.Identifier(schema)))
            row = await cursor.fetchone()
        if source != target:
            self.outcome.violations.append(f"{move.shard}: copies differ at cutover: "
                                           f"{source} vs {target}")
        highest = int(str(row[0] or 0)) if row else 0  # max(id): a bigint or NULL
        if next_values.get("orders_id_seq", 0) <= highest:
            self.outcome.violations.append(f"{move.shard}: target's orders sequence "
                                           f"{next_values} would collide with id {highest}")
        self.outcome.at_cut[id(move)] = {"rows": sum(n for n, _ in target.values())}

    async def lane(self, shard: str, moves: int, failures: Sequence[str | None]) -> None:
        nodes = list(self.plane.nodes)
        for i in range(moves):
            placed = await self.store.placement(self.plane.namespace, shard)
            assert placed is not None
            target = self.rng.choice([n for n in nodes if n != placed.value.node])
            fail = failures[i % len(failures)]
            if fail == KILL_AFTER_FENCE:
                fail = KILL_CUTOVER
            move, held, env = await self.driver.announce(shard, target, fail)
            if failures[i % len(failures)] == KILL_AFTER_FENCE:
                self._after_fence.add(id(move))
            self.outcome.moves.append(move)
            began = time.monotonic()
            await self.driver.perform(move, held, env)
            await self.check(move, began)

    async def check(self, move: Move, began: float) -> None:
        """After a move: etcd's owner has every acknowledged transaction once, nothing is
        left behind, and a rolled-back source takes writes again."""
        schema = catalog.schema_of(move.shard)
        owner = move.target if move.committed else move.source
        ledger = self.outcome.ledger
        await until(f"{move.shard}: cleanup after {move.fail or 'commit'}",
                    lambda: _none(leftovers(self.plane.nodes, schema)))
        if not move.committed:  # the target's copy is gone, or read-only (an older one)
            await until(f"{move.shard}: target's unfinished copy dropped",
                        lambda: _read_only(self.plane.nodes[move.target], schema))
        acked_before = set(ledger.acked.get(move.shard, ()))
        await until(f"{move.shard}: writes resume on {owner}",
                    lambda: _grew(ledger, move.shard, len(acked_before)))
        present = await txns(self.plane.nodes[owner], schema)
        acked = ledger.acked.get(move.shard, set())
        counted = set(present)
        v = self.outcome.violations
        if len(present) != len(counted):
            v.append(f"{move.shard}: duplicated transactions on {owner}")
        if lost := acked_before - counted:
            v.append(f"{move.shard}: {len(lost)} acknowledged transaction(s) missing on {owner}")
        seeded = {t for t in counted if t not in acked and t not in
                  ledger.uncertain.get(move.shard, set())}
        v += await invariants(self.plane.nodes[owner], schema)
        if move.committed:
            retired = set(await txns(self.plane.nodes[move.source], schema))
            if stray := retired - counted:
                v.append(f"{move.shard}: {len(stray)} write(s) accepted by the fenced source")
            self.outcome.pauses[id(move)] = _pause(ledger.ack_times.get(move.shard, []), began)
        self._seeded.setdefault(move.shard, len(seeded))
        if len(seeded) > self._seeded[move.shard]:
            v.append(f"{move.shard}: {len(seeded) - self._seeded[move.shard]} transaction(s) "
                     "nobody wrote")


async def _none(found: Awaitable[list[str]]) -> bool:
    return not await found


async def _read_only(dsn: str, schema: str) -> bool:
    conn = await catalog.connect(dsn)
    async with conn:
        return (not await catalog.schema_exists(conn, schema)
                or await catalog.fenced(conn, schema))


async def _grew(ledger: Ledger, shard: str, count: int) -> bool:
    return len(ledger.acked.get(shard, ())) > count


def _pause(times: list[float], since: float) -> float:
    """The longest gap between acknowledged writes since `since` (the cutover's pause)."""
    recent = [t for t in times if t >= since]
    return max((b - a for a, b in itertools.pairwise(recent)), default=0.0)


async def run_campaign(plane: PgPlane, placements: Mapping[str, str], moves_per_shard: int,
                       failures: Sequence[str | None], *, rows: int = 0, hold: float = 0.2,
                       interval: float = 0.01, seed: int = 1, warmup: float = 0.0) -> Outcome:
    """Create each shard on its node, then move every shard `moves_per_shard` times at once,
    the i-th move of a lane failing as failures[(i + lane) % len(failures)] says, under one
    writer per shard and a reader, with the janitor running; `warmup` seconds of that load
    come before the first move (the bench's throughput without moves)."""
    async with ConsensusStore.open(plane.etcd) as store:
        campaign = Campaign(plane, store, seed, hold)
        for shard, node in placements.items():
            await create_shard(plane.nodes[node], catalog.schema_of(shard), rows)
            await campaign.driver.register(shard, node)
        ledger, stop = campaign.outcome.ledger, asyncio.Event()
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(janitor(plane))
            routers = [await stack.enter_async_context(
                PostgresRouter.open(plane.namespace, plane.nodes, store)) for _ in
                range(len(placements) + 1)]
            shards = list(placements)
            load = [asyncio.create_task(writer(router, shard, ledger, stop, interval, seed + i))
                    for i, (router, shard) in enumerate(zip(routers, shards, strict=False))]
            load.append(asyncio.create_task(reader(routers[-1], shards, ledger, stop, seed)))
            try:
                await asyncio.sleep(warmup)
                await asyncio.gather(*(
                    campaign.lane(shard, moves_per_shard,
                                  [failures[(i + lane) % len(failures)]
                                   for i in range(len(failures))])
                    for lane, shard in enumerate(shards)))
            finally:
                stop.set()
                await asyncio.gather(*load)
        return campaign.outcome
