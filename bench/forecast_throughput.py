"""The operator's own policy cycle in process (history store -> batch forecast -> plan, no I/O)
at 10,000 and 100,000 shards, against the per-shard path it replaced, measured in this run.

Each shard's history is a real trace from the traces folder, rolled in time and scaled by a
seeded factor, served by an in-memory metrics source on the policy's grid; predictions go to a
sink that only counts them. The cycle is `reconcile.policy_cycle.run_cycle` itself: the first
cycle reads whole windows and gives every shard a forecast (baselines, plus the full fits its
CPU budget allows), warm-up cycles finish the full fits within that budget, then steady cycles
each bring one new sample per shard. The per-shard baseline
(`forecast.select.select` + `forecast`, as the operator ran it before) is timed on a sample of
shards and scaled to the fleet.

    python bench/forecast_throughput.py TRACES_DIR [--sizes 10000 100000] [--cycles 6] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shardcast.api.metrics import ShardQuery
from shardcast.api.nodes import NodeState
from shardcast.api.policy_spec import PolicySpec
from shardcast.clients.prometheus_batch import BatchRead
from shardcast.forecast.select import forecast, select
from shardcast.reconcile.policy_cycle import CycleInputs, PolicyState, Ports, run_cycle
from shardcast.traces import discover, load_trace

STEP = 300
END = 1_750_000_000 // STEP * STEP
SHARDS_PER_NODE = 1000
BASELINE_SAMPLE = 12
SPEC = {"mode": "dry-run", "metric": {"type": "cpu"},
        "forecast": {"model": "auto", "horizon": "30m", "historyWindow": "168h"},
        "threshold": {"utilization": 80}, "capacity": {"source": "Fixed", "value": "60"}}


@dataclass
class Fleet:
    """Shard i reads trace pick[i], shifted by shift[i] and scaled by scale[i]; `advanced`
    moves every series' newest sample one step on."""

    pool: np.ndarray  # (traces, L)
    pick: np.ndarray
    shift: np.ndarray
    scale: np.ndarray
    index: dict[str, int]
    advanced: int = 0

    async def read(self, queries: Sequence[ShardQuery], start_seconds: int, end_seconds: int,
                   step_seconds: int) -> BatchRead:
        rows = np.array([self.index[q.shard] for q in queries])
        t = (np.arange(start_seconds, end_seconds + 1, step_seconds) - END) // step_seconds
        columns = (t[None, :] + self.shift[rows, None]) % self.pool.shape[1]
        values = self.pool[self.pick[rows, None], columns] * self.scale[rows, None]
        return BatchRead({q.shard: values[i] for i, q in enumerate(queries)}, {}, 1, values.size)


@dataclass
class Counting:
    written: int = 0
    calls: list[int] = field(default_factory=list)

    async def write(self, shards: Mapping[str, Mapping[str, Any]]) -> None:
        self.written += len(shards)


@dataclass
class NoMigrations:
    async def create(self, body: Mapping[str, Any]) -> bool:
        return True


def load_pool(traces: Path) -> np.ndarray:
    """Every 5-minute trace, tiled or cut to two weeks (a CPU percentage or any load)."""
    length = 14 * 288
    pool = [np.resize(load_trace(spec, traces).values[-length:], length)
            for spec in discover(traces) if spec.step_seconds == STEP]
    return np.stack([p / max(float(np.nanmax(p)), 1e-9) for p in pool])


def fleet(pool: np.ndarray, count: int, seed: int) -> Fleet:
    rng = np.random.default_rng(seed)
    names = [f"s{i:06d}" for i in range(count)]
    return Fleet(pool, rng.integers(len(pool), size=count),
                 rng.integers(pool.shape[1], size=count), rng.lognormal(-2.5, 0.5, size=count),
                 {n: i for i, n in enumerate(names)})


def inputs(metrics: Fleet, names: list[str]) -> CycleInputs:
    nodes = [f"node-{i:03d}" for i in range(max(2, len(names) // SHARDS_PER_NODE))]
    shards = {n: {"workload": {"name": "kv"}, "placement": {"node": nodes[i % len(nodes)]},
                  "sizeBytes": 1 << 30} for i, n in enumerate(names)}
    return CycleInputs("bench", PolicySpec.from_dict(SPEC), {}, shards,
                       {n: s["placement"]["node"] for n, s in shards.items()},
                       {n: NodeState({"cpu": "60"}) for n in nodes}, frozenset(), [],
                       END + metrics.advanced * STEP + 7)


def measure(pool: np.ndarray, count: int, cycles: int, seed: int) -> dict[str, float]:
    metrics = fleet(pool, count, seed)
    names = sorted(metrics.index)
    sink, state = Counting(), PolicyState()
    ports = Ports(metrics, sink, NoMigrations())
    began = time.perf_counter()
    first = asyncio.run(run_cycle(inputs(metrics, names), state, ports))
    first_seconds = time.perf_counter() - began
    assert first.outcome.forecast == count, first.outcome.failed
    forecaster = state.forecaster
    assert forecaster is not None

    def step() -> tuple[float, int]:
        metrics.advanced += 1
        written = sink.written
        began = time.perf_counter()
        asyncio.run(run_cycle(inputs(metrics, names), state, ports))
        return time.perf_counter() - began, sink.written - written

    warm_up = []  # cycles that still spend their budget on full fits
    while not np.isfinite(forecaster.model.fitted_at).all():
        warm_up.append(step())
    steady = [step() for _ in range(cycles)]
    fitted = int(np.isfinite(forecaster.model.fitted_at).sum())
    model = forecaster.model.forecaster
    assert model is not None
    state_bytes = sum(a.nbytes for a in (
        model.recent, model.last, model.model, model.bands.lower, model.bands.upper, model.mae,
        model.scale, *(getattr(model.holt_winters, k) for k in (
            "alpha", "beta", "gamma", "level", "trend", "season"))))
    return {"first": first_seconds, "warm": len(warm_up),
            "warm_max": max((s for s, _ in warm_up), default=0.0),
            "steady": float(np.mean([s for s, _ in steady])),
            "kib": (state_bytes + forecaster.store.values.nbytes) / count / 1024,
            "steady_max": max(s for s, _ in steady),
            "writes": float(np.mean([w for _, w in steady])), "fitted": fitted,
            "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def per_shard_seconds(pool: np.ndarray, seed: int) -> tuple[float, float]:
    """The replaced path, per shard: select over every candidate (a refit) and one forecast
    from fixed parameters (a steady cycle replays the history)."""
    metrics = fleet(pool, BASELINE_SAMPLE, seed)
    spec = PolicySpec.from_dict(SPEC).forecast
    window = spec.history_window_seconds
    fit = cycle = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in sorted(metrics.index):
            values = asyncio.run(metrics.read([ShardQuery(name, "", None, ())], END - window,
                                              END, STEP)).values[name]
            context = spec.context(END)
            began = time.perf_counter()
            chosen = select(values, context, "auto")
            fit += time.perf_counter() - began
            began = time.perf_counter()
            forecast(chosen, values, context)
            cycle += time.perf_counter() - began
    return fit / BASELINE_SAMPLE, cycle / BASELINE_SAMPLE


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("traces", type=Path)
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000])
    parser.add_argument("--cycles", type=int, default=6)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    pool = load_pool(args.traces)
    fit, cycle = per_shard_seconds(pool, args.seed)
    print(f"per-shard path (replaced): select {fit * 1000:.0f} ms + forecast "
          f"{cycle * 1000:.1f} ms per shard (mean of {BASELINE_SAMPLE})")
    print(f"{'shards':>8} {'first s':>8} {'vs old':>8} {'warm-up':>13} {'steady s':>9} "
          f"{'max s':>6} {'vs old':>8} {'writes':>7} {'full fits':>9} {'KiB/shard':>9} "
          f"{'peak RSS MiB':>12}")
    for count in args.sizes:
        got = measure(pool, count, args.cycles, args.seed)
        print(f"{count:8,} {got['first']:8.2f} {fit * count / got['first']:7.0f}x "
              f"{got['warm']:3.0f} x <={got['warm_max']:5.1f}s "
              f"{got['steady']:9.3f} {got['steady_max']:6.2f} "
              f"{cycle * count / got['steady']:7.0f}x {got['writes']:7.0f} "
              f"{got['fitted']:9,} {got['kib']:9.1f} {got['rss']:12.0f}")
    print("targets: history update + forecast + plan at 100,000 shards <= 10 s and <= 2 GiB; "
          "<= 50 KiB of state per shard (history window and model); 'vs old' is the per-shard "
          "path's time for the same shards over this one's")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
