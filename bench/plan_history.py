"""The planning pass at 10,000 shards with a long migration history: the operator's path
(`api.decisions.snapshot` + `planner.plan`, what `reconcile/policy_plan.py` runs each cycle),
with the snapshot holding only the moves the planner reads (in flight, or started within four
cooldowns) against the same pass holding every finished migration, as it did before ended
migrations were deleted and pruned. Both run here, in this process.

Each shard's load is a real trace from the traces folder at a seeded instant, its forecast the
trace's next hour; the cluster is scaled so that a tenth of the nodes is over the threshold.

    python bench/plan_history.py TRACES_DIR [--shards 10000] [--nodes 100] [--finished 20000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from shardcast.api.decisions import KnownMigration, ShardForecast, snapshot
from shardcast.forecast.types import Forecast
from shardcast.planner.cost import FLAP_WINDOWS
from shardcast.planner.model import PlannerSettings
from shardcast.planner.plan import plan
from shardcast.traces import discover, load_trace

NOW = 1_800_000_000.0
HORIZON = 12


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("traces", type=Path)
    parser.add_argument("--shards", type=int, default=10_000)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--finished", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    traces = [load_trace(spec, args.traces).values for spec in discover(args.traces)]
    if not traces:
        parser.error(f"no CSV traces under {args.traces}")
    rng = np.random.default_rng(args.seed)
    settings = PlannerSettings()
    shards = _shards(traces, args.shards, args.nodes, rng, settings.threshold)
    capacities = {f"node-{n}": 1.0 for n in range(args.nodes)}
    history = [KnownMigration(f"shard-{rng.integers(args.shards)}", "node-0", "node-1", "Active",
                              NOW - rng.uniform(0.2, 7) * 86_400, NOW - 3 * 3600, False,
                              created_by="bench")
               for _ in range(args.finished)]
    window = FLAP_WINDOWS * settings.cooldown_seconds
    print(f"{args.shards} shards on {args.nodes} nodes, {args.finished} finished migrations, "
          f"{len(traces)} traces from {args.traces}")
    timings = {}
    for label, memory in (("every finished migration (before)", float("inf")),
                          ("moves within 4 cooldowns (operator)", window)):
        began = time.perf_counter()
        for _ in range(args.repeat):
            seen = snapshot(shards, capacities, history, NOW, memory)
            chosen = plan(seen, settings)
        timings[label] = (time.perf_counter() - began) / args.repeat
        print(f"  {label:38s} {timings[label]:7.2f} s a pass  {len(seen.moves):6d} moves in "
              f"the snapshot, {len(chosen.moves)} planned")
    before, after = timings.values()
    print(f"  ratio: {before / after:.1f}x faster with the window")
    return 0


def _shards(traces: list[np.ndarray], count: int, nodes: int, rng: np.random.Generator,
            threshold: float) -> list[ShardForecast]:
    """Shards round-robin on the nodes, the first tenth of the nodes loaded past the threshold
    and the rest to three quarters of it."""
    loads = np.empty((count, HORIZON + 1))
    for i in range(count):
        trace = traces[rng.integers(len(traces))]
        start = int(rng.integers(len(trace) - HORIZON - 1))
        loads[i] = trace[start:start + HORIZON + 1] / max(float(trace.max()), 1e-12)
    node = np.arange(count) % nodes
    per_node = np.bincount(node, weights=loads[:, 0], minlength=nodes)
    target = np.where(np.arange(nodes) < max(1, nodes // 10), threshold * 1.15, threshold * 0.75)
    loads *= (target / np.maximum(per_node, 1e-12))[node][:, None]
    return [ShardForecast(f"shard-{i}", f"node-{node[i]}", int(rng.uniform(20, 200) * 2**30),
                          False, float(loads[i, 0]),
                          Forecast("persistence", 300, loads[i, 1:], loads[i, 1:] * 0.9,
                                   loads[i, 1:] * 1.1, 0.9), int(NOW))
            for i in range(count)]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
