"""Migrations of the reference data plane (examples/dataplane) under continuous writes and reads:
per shard size, how long each phase of a move takes, and whether any acknowledged write was lost.

Four shardkv nodes on loopback, the local stack's consensus etcd (`shardcast devstack up`), moves
driven exactly as the operator drives them (tests/dataplane/driver.py), the Job commands run as
processes. Needs the local stack running.

    python bench/migration_dataplane.py [--migrations 120] [--sizes 1000 10000 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "dataplane"))

from shardkv.local import running
from tests.dataplane.campaign import Outcome, campaign

from shardcast.devstack.stack import CONSENSUS_ETCD_PORTS

PHASES = ("sync", "shift", "cutover", "commit")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--migrations", type=int, default=120)
    parser.add_argument("--sizes", nargs="+", type=int, default=[1_000, 10_000, 100_000])
    parser.add_argument("--shards-per-size", type=int, default=2)
    parser.add_argument("--lanes", type=int, default=3, help="moves under way at once")
    parser.add_argument("--hold", type=float, default=0.2, help="seconds per traffic step")
    parser.add_argument("--fail-every", type=int, default=0,
                        help="every n-th move rolls back (0: none)")
    args = parser.parse_args(argv)
    if args.lanes > len(args.sizes) * args.shards_per_size:
        parser.error("--lanes must not exceed the number of shards (sizes x shards-per-size): "
                     "a lane moves one shard at a time")
    sizes = {f"k{size}-{i}": size for size in args.sizes for i in range(args.shards_per_size)}
    etcd = [f"127.0.0.1:{port}" for port in CONSENSUS_ETCD_PORTS]
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as logs, running(
            f"bench-{uuid.uuid4().hex[:8]}", etcd, ("node-a", "node-b", "node-c", "node-d"),
            Path(logs)) as cluster:
        outcome = asyncio.run(campaign(cluster, sizes, args.migrations, args.lanes, args.hold,
                                       args.fail_every))
    _table(outcome, args.sizes)
    print(f"\n  ({time.perf_counter() - began:.0f}s)", file=sys.stderr)
    return 0 if not outcome.errors else 1


def _table(outcome: Outcome, sizes: list[int]) -> None:
    print(f"{'keys/shard':>10} {'moves':>5} {'rolled':>6} "
          + " ".join(f"{phase + ' mean/p95 s':>20}" for phase in PHASES))
    for size in sizes:
        moves = [m for m in outcome.moves if outcome.sizes[m.shard] == size]
        done = [m for m in moves if m.committed]
        cells = []
        for phase in PHASES:
            took = sorted(m.phases[phase] for m in done)
            cells.append(f"{statistics.fmean(took):.3f} / {_p95(took):.3f}" if took else "-")
        print(f"{size:>10} {len(moves):>5} {len(moves) - len(done):>6} "
              + " ".join(f"{cell:>20}" for cell in cells))
    print(f"\nwrites acknowledged during the moves: {outcome.acknowledged}; reads: "
          f"{outcome.reads}\nkeys checked at their latest acknowledged value: "
          f"{outcome.checked}; lost or stale: {outcome.lost}")
    for error in outcome.errors:
        print(f"  ERROR {error}")


def _p95(values: list[float]) -> float:
    return values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
