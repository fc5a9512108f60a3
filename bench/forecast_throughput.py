"""Forecast throughput at scale: steady-state cycles and full refits for 10,000 and 100,000
shards, against fitting statsmodels' ETSModel shard by shard, all measured in this run.

Each shard's 14 days of 5-minute history is one real trace from ../shared/traces, rolled in time
and scaled by a seeded random factor. A steady-state cycle absorbs one new sample per shard and
forecasts the next hour with intervals; a full refit re-estimates every shard from its history.
The one-by-one baseline is timed on a sample of shards and scaled to the fleet.

    python bench/forecast_throughput.py [TRACES_DIR] [--sizes 10000 100000] [--seed 7]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from shardcast.forecast import batch
from shardcast.traces import default_traces_dir, discover, load_trace

STEP_SECONDS = 300
PERIOD = 288
DAYS = 14
HISTORY = DAYS * PERIOD
HORIZON = 12  # one hour
CYCLES = 12  # one hour of steady state, one sample per cycle
CHUNK = 10_000
BASELINE_SAMPLE = 50


def shard_histories(pool: list[np.ndarray], count: int, seed: int) -> Iterator[np.ndarray]:
    """Chunks of (rows, HISTORY + CYCLES) histories: trace, roll and scale drawn per shard."""
    rng = np.random.default_rng(seed)
    length = HISTORY + CYCLES
    for start in range(0, count, CHUNK):
        rows = min(CHUNK, count - start)
        picks = rng.integers(len(pool), size=rows)
        shifts = rng.integers(length, size=rows)
        scales = rng.lognormal(0.0, 0.5, size=rows)
        yield np.stack([np.roll(pool[p], s) * k for p, s, k in zip(picks, shifts, scales,
                                                                    strict=True)])


def load_pool(traces: Path) -> list[np.ndarray]:
    """Every trace tiled or cut to exactly HISTORY + CYCLES samples of 5 minutes."""
    pool = []
    for spec in discover(traces):
        trace = load_trace(spec, traces)
        if trace.step_seconds != STEP_SECONDS:
            continue
        values = trace.values[-(HISTORY + CYCLES):]
        pool.append(np.resize(values, HISTORY + CYCLES))
    return pool


def fit_fleet(pool: list[np.ndarray], count: int, seed: int) -> tuple[
        list[batch.BatchForecaster], list[np.ndarray], float]:
    """Fit every shard; returns the fitted chunks, their future samples and the fit seconds."""
    fitted, future, seconds = [], [], 0.0
    for chunk in shard_histories(pool, count, seed):
        began = time.perf_counter()
        fitted.append(batch.fit(chunk[:, :HISTORY], PERIOD, HORIZON, 0.9))
        seconds += time.perf_counter() - began
        future.append(chunk[:, HISTORY:].copy())
    return fitted, future, seconds


def steady_state(fitted: list[batch.BatchForecaster], future: list[np.ndarray]) -> float:
    """Mean seconds per cycle: absorb the next sample of every shard, forecast the horizon."""
    began = time.perf_counter()
    for cycle in range(CYCLES):
        for model, samples in zip(fitted, future, strict=True):
            model.update(samples[:, cycle])
            point, lower, upper = model.forecast(HORIZON)
            assert np.isfinite(point).all() and (lower <= upper).all()
    return (time.perf_counter() - began) / CYCLES


def one_by_one_seconds(pool: list[np.ndarray], seed: int) -> float:
    """Mean seconds to fit statsmodels' ETSModel and forecast, one shard at a time."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    sample = next(shard_histories(pool, BASELINE_SAMPLE, seed))
    began = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for row in sample:
            model = ETSModel(row[:HISTORY], error="add", trend="add", damped_trend=True,
                             seasonal="add", seasonal_periods=PERIOD,
                             initialization_method="heuristic")
            model.fit(disp=False).forecast(HORIZON)
    return (time.perf_counter() - began) / len(sample)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("traces", nargs="?", type=Path, default=default_traces_dir())
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    pool = load_pool(args.traces)
    if not pool:
        parser.error(f"no 5-minute traces under {args.traces}")
    baseline = one_by_one_seconds(pool, args.seed)
    print(f"baseline: statsmodels ETSModel fit + forecast one shard at a time: "
          f"{baseline * 1000:.0f} ms/shard (mean of {BASELINE_SAMPLE})")
    print(f"{'shards':>8} {'cycle s':>9} {'shards/s':>11} {'vs 1-by-1':>10} "
          f"{'refit s':>9} {'refit ms/shard':>15} {'peak RSS MiB':>13}")
    for size in args.sizes:
        fitted, future, refit = fit_fleet(pool, size, args.seed)
        cycle = steady_state(fitted, future)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{size:>8} {cycle:>9.3f} {size / cycle:>11,.0f} {baseline * size / cycle:>9,.0f}x "
              f"{refit:>9.1f} {refit / size * 1000:>15.2f} {peak:>13,.0f}")
        del fitted, future
    print("targets: cycle <= 1 s at 10,000 shards (>= 500x one-by-one); <= 10 s at 100,000 "
          "with peak memory <= 2 GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
