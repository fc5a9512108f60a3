"""PostgreSQL shards of growing size moved under steady write transactions: per size, how long
the sync takes, how far the target trails before the cutover, how long writers are paused by
it, what the sync costs the writers, and whether any transaction was lost or duplicated.

Three local PostgreSQL 15 servers (`shardcast dataplane postgres local`, started here when
missing), the local stack's consensus etcd (`make up`), moves driven as the operator drives
them (tests/dataplane/driver.py) with the real Job commands, the router and the janitor
(tests/dataplane/postgres_plane.py checks every move as the campaign test does).

    python bench/migration_postgres.py [--sizes 10000 100000 1000000] [--moves 4]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package

from tests.dataplane.postgres_plane import Outcome, PgPlane, run_campaign

from shardcast.dataplane.postgres import catalog
from shardcast.dataplane.postgres.cleanup import drop_schemas
from shardcast.devstack.postgres import ensure_servers
from shardcast.devstack.stack import CONSENSUS_ETCD_PORTS

NODES = ("node-a", "node-b", "node-c")
WARMUP = 5.0  # seconds of writes before the first move: the writers' rate without moves


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000, 1_000_000],
                        help="rows in the shard's orders table (events as many, 20 accounts)")
    parser.add_argument("--moves", type=int, default=4, help="moves of each size's shard")
    parser.add_argument("--interval", type=float, default=0.01,
                        help="seconds between one writer's transactions (steady rate)")
    parser.add_argument("--job-timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    servers = ensure_servers(NODES)
    etcd = tuple(f"127.0.0.1:{port}" for port in CONSENSUS_ETCD_PORTS)
    print(f"{'rows':>9} {'moves':>5} {'sync s p50/max':>15} {'lag KiB p50/max':>16} "
          f"{'pause ms p50/p95/max':>21} {'cutover Job s':>13} {'tx/s before':>11} "
          f"{'tx/s in sync':>12} {'lost':>4} {'dup':>4}")
    failed = False
    for size in args.sizes:
        plane = PgPlane(f"pgbench-{uuid.uuid4().hex[:6]}", {s.node: s.dsn for s in servers},
                        etcd, job_timeout=args.job_timeout)
        shard = f"{plane.namespace}-r{size}"
        try:
            outcome, lags = asyncio.run(_measure(plane, shard, size, args))
        finally:
            asyncio.run(drop_schemas(plane.nodes, [catalog.schema_of(shard)]))
        failed |= _row(size, shard, outcome, lags)
    print("\npause: the longest gap between the writer's acknowledged transactions during a "
          "move, less the bench's own checksums of both copies taken while writes are held;\n"
          "cutover Job: the process's whole run (start, etcd claim, fence, catch-up, "
          "sequences); lag: WAL the target had not confirmed, sampled every 50 ms")
    return 1 if failed else 0


async def _measure(plane: PgPlane, shard: str, size: int,
                   args: argparse.Namespace) -> tuple[Outcome, list[int]]:
    stop = asyncio.Event()
    lags: dict[str, int] = {}
    sampler = asyncio.create_task(_sample_lag(plane.nodes, catalog.schema_of(shard), lags, stop))
    try:
        outcome = await run_campaign(plane, {shard: NODES[0]}, args.moves, (None,), rows=size,
                                     interval=args.interval, warmup=WARMUP)
    finally:
        stop.set()
        await sampler
    return outcome, sorted(lags.values())


async def _sample_lag(nodes: Mapping[str, str], schema: str, lags: dict[str, int],
                      stop: asyncio.Event) -> None:
    """The largest lag seen of each of the schema's slots (one per move)."""
    conns = [await catalog.connect(dsn) for dsn in nodes.values()]
    try:
        while not stop.is_set():
            for conn in conns:
                for slot, _ in await catalog.slots(conn, schema):
                    lag = await catalog.slot_lag(conn, slot)
                    if lag is not None:
                        lags[slot] = max(lags.get(slot, 0), lag)
            await asyncio.sleep(0.05)
    finally:
        for conn in conns:
            await conn.close()


def _row(size: int, shard: str, outcome: Outcome, lags: list[int]) -> bool:
    """Print one size's figures; True when a move failed or a check was violated."""
    ledger = outcome.ledger
    done = [m for m in outcome.moves if m.committed]
    syncs = sorted(m.phases["sync"] for m in done)
    # The campaign's checksums of both copies run while writes are held: not the plane's pause.
    pauses = sorted(1000 * (outcome.pauses[id(m)] - m.phases.get("verify", 0.0)) for m in done)
    cutovers = sorted(m.phases["cutover"] for m in done)
    times = sorted(ledger.ack_times.get(shard, []))
    first_move = min((m.ended_at - sum(m.phases.values()) for m in outcome.moves),
                     default=0.0)
    before = _rate(times, times[0] if times else 0.0, first_move)
    windows = [(m.ended_at - sum(m.phases.values()), m.phases["sync"]) for m in done]
    in_sync = (sum(sum(1 for t in times if start <= t < start + took) for start, took in windows)
               / max(sum(took for _, took in windows), 1e-9))
    lost = sum("missing" in v for v in outcome.violations)
    dup = sum("duplicated" in v for v in outcome.violations)
    print(f"{size:>9} {len(done):>3}/{len(outcome.moves):<1} "
          f"{_pair(syncs, '{:.1f}'):>15} {_pair([b / 1024 for b in lags], '{:.0f}'):>16} "
          f"{_triple(pauses):>21} {_pair(cutovers, '{:.2f}'):>13} {before:>11.0f} "
          f"{in_sync:>12.0f} {lost:>4} {dup:>4}")
    for problem in outcome.violations + ledger.errors + [j for m in outcome.moves
                                                         for j in m.jobs]:
        print(f"  ! {problem}")
    return len(done) < len(outcome.moves) or bool(outcome.violations or ledger.errors)


def _rate(times: list[float], start: float, end: float) -> float:
    return sum(1 for t in times if start <= t < end) / max(end - start, 1e-9)


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def _pair(values: list[float], fmt: str) -> str:
    if not values:
        return "-"
    return f"{fmt.format(statistics.median(values))}/{fmt.format(max(values))}"


def _triple(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{_pct(values, 0.5):.0f}/{_pct(values, 0.95):.0f}/{max(values):.0f}"


if __name__ == "__main__":
    started = time.perf_counter()
    code = main(sys.argv[1:])
    print(f"({time.perf_counter() - started:.0f}s)", file=sys.stderr)
    sys.exit(code)
