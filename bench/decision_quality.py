"""Decision quality on real traces: no-op, reactive, predictive and oracle (one planner, fed
the load now, shardcast's forecasts, or the true future) and two fixed greedy reference rules.

Scenarios: 8 nodes / 60 shards and 16 nodes / 150 shards at ~60% mean utilization, and an
event spike (a fifth of the shards at 2.5x for three hours, announced like a policy event) on
the traces in TRACES_DIR; then 8 nodes / 60 shards on each per-VM set below it (`--per-vm`,
default azure_vm2017 and bitbrains_rnd: one VM per shard, closer to what one shard sees than
the cluster averages). Each with several seeds; 4 days of warm-up history, 10 scored days,
5-minute steps.

    python bench/decision_quality.py [TRACES_DIR] [--seeds 1 2 3 4 5] [--per-vm azure_vm2017]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from shardcast.planner.threshold import ThresholdBounds
from shardcast.sim.compare import Compared, compare, standard_policies
from shardcast.sim.engine import SimSettings
from shardcast.sim.report import table
from shardcast.sim.scenario import build
from shardcast.traces import default_traces_dir, discover, load_trace

SCENARIOS = (("8 nodes / 60 shards", 8, 60, False), ("16 nodes / 150 shards", 16, 150, False),
             ("event spike, 8 nodes / 60 shards", 8, 60, True))
PER_VM_SETS = ("azure_vm2017", "bitbrains_rnd")
PER_VM_SCENARIO = (8, 60)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("traces", nargs="?", type=Path, default=default_traces_dir())
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4, 5])
    parser.add_argument("--per-vm", nargs="*", default=list(PER_VM_SETS),
                        help="per-VM trace folders under TRACES_DIR, one scenario each")
    args = parser.parse_args(argv)
    runs_on = [(title, _traces(parser, args.traces), nodes, shards, spike)
               for title, nodes, shards, spike in SCENARIOS]
    nodes, shards = PER_VM_SCENARIO
    runs_on += [(f"{folder}, {nodes} nodes / {shards} shards",
                 _traces(parser, args.traces / folder), nodes, shards, False)
                for folder in args.per_vm]
    settings = SimSettings()
    began = time.perf_counter()
    summary: dict[str, list[dict[str, Compared]]] = {}
    for title, traces, nodes, shards, spike in runs_on:
        for seed in args.seeds:
            scenario = build(title, traces, nodes, shards, seed, spike=spike)
            runs = compare(scenario, settings, standard_policies(
                scenario, settings, adaptive=ThresholdBounds()))
            summary.setdefault(title, []).append(runs)
            print("\n" + table(f"{title}, seed {seed}", runs))
            print(f"  ({time.perf_counter() - began:.0f}s)", file=sys.stderr)
    _targets(summary)
    return 0


def _traces(parser: argparse.ArgumentParser, directory: Path) -> list[np.ndarray]:
    traces = [load_trace(spec, directory).values for spec in discover(directory)]
    if not traces:
        parser.error(f"no CSV traces under {directory}")
    return traces


def _targets(summary: dict[str, list[dict[str, Compared]]]) -> None:
    print("\ntargets (overload = node-minutes over 100%), per scenario over its seeds:")
    for title, runs in summary.items():
        def of(name: str, field: str, runs: list[dict[str, Compared]] = runs) -> np.ndarray:
            return np.array([float(getattr(r[name].score, field)) for r in runs])

        reactive, oracle = of("reactive", "overload_node_minutes"), of(
            "oracle", "overload_node_minutes")
        predictive, noop = of("predictive", "overload_node_minutes"), of(
            "no-op", "overload_node_minutes")
        gap = (reactive - predictive) / np.where(reactive > oracle, reactive - oracle, np.nan)
        bytes_ratio = of("predictive", "moved_bytes").sum() / max(
            of("reactive", "moved_bytes").sum(), 1)
        flaps = of("predictive", "flaps").sum(), of("reactive", "flaps").sum()
        greedy = of("greedy-oracle", "overload_node_minutes")
        print(f"  {title}:")
        total = ((reactive.sum() - predictive.sum()) / (reactive.sum() - oracle.sum())
                 if reactive.sum() > oracle.sum() else float("nan"))
        print(f"    gap reactive->oracle captured by predictive: {total:.0%} over the seeds "
              f"(target >= 50%); per seed {', '.join(f'{g:.0%}' for g in gap)}")
        print(f"    predictive below reactive and no-op on every seed: "
              f"{bool(np.all(predictive < reactive) and np.all(predictive < noop))}")
        print(f"    predictive bytes / reactive bytes: {bytes_ratio:.2f} (target <= 0.50)")
        print(f"    flaps predictive / reactive: {flaps[0]:.0f} / {flaps[1]:.0f} "
              "(target <= 1/10)")
        p99 = of("predictive", "p99_utilization"), of("reactive", "p99_utilization")
        print(f"    p99 node utilization predictive below reactive's: "
              f"{int((p99[0] < p99[1]).sum())} of {len(p99[0])} seeds (mean {p99[0].mean():.3f} "
              f"vs {p99[1].mean():.3f})")
        print(f"    oracle below greedy-oracle on every seed: {bool(np.all(oracle < greedy))} "
              f"({oracle.sum():.0f} vs {greedy.sum():.0f} node-minutes)")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
