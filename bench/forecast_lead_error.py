"""How well the simulator's predictive policy sees an hour ahead, against persistence (the load
now, which is what the reactive policy acts on): the error that decides how much of the gap to
the oracle predictive can close in bench/decision_quality.py.

Per seed of the 8 nodes / 60 shards scenario, every scored step: the forecast made then for
`--ahead` steps later against the load that came. Errors are relative to the mean shard load;
"busiest 5%" is the mean error over each shard's busiest 5% of target steps, relative to the
load there.

    python bench/forecast_lead_error.py [TRACES_DIR] [--seeds 1 2 3] [--ahead 12]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from shardcast.sim.engine import ClusterState, SimSettings
from shardcast.sim.policies import Forecasts
from shardcast.sim.scenario import build
from shardcast.traces import default_traces_dir, discover, load_trace


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("traces", nargs="?", type=Path, default=default_traces_dir())
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--ahead", type=int, default=12, help="steps of 5 minutes")
    args = parser.parse_args(argv)
    traces = [load_trace(spec, args.traces).values for spec in discover(args.traces)]
    if not traces:
        parser.error(f"no CSV traces under {args.traces}")
    print(f"{'seed':>4}  {'method':<12} {'MAE':>6} {'RMSE':>6} {'busiest 5%':>11}")
    for seed in args.seeds:
        scenario = build("8 nodes / 60 shards", traces, 8, 60, seed)
        settings = SimSettings()
        state = ClusterState(scenario, settings, scenario.placement.copy())
        forecasts = Forecasts(scenario, args.ahead)
        origins = range(scenario.warmup_steps, scenario.steps - args.ahead)
        predicted = np.empty((scenario.loads.shape[0], len(origins)))
        for column, step in enumerate(origins):
            point, _ = forecasts(state, step)
            predicted[:, column] = point[:, args.ahead]
        actual = scenario.loads[:, scenario.warmup_steps + args.ahead:]
        persisted = scenario.loads[:, scenario.warmup_steps:scenario.steps - args.ahead]
        for method, guess in (("forecast", predicted), ("persistence", persisted)):
            print(f"{seed:>4}  {method:<12} " + " ".join(
                f"{value:>{width}.0%}" for value, width in zip(
                    _errors(guess, actual), (6, 6, 11), strict=True)))
    return 0


def _errors(guess: np.ndarray, actual: np.ndarray) -> tuple[float, float, float]:
    error = guess - actual
    mean = float(actual.mean())
    busiest = actual >= np.quantile(actual, 0.95, axis=1, keepdims=True)
    peak_error = float((np.abs(error) * busiest).sum() / (actual * busiest).sum())
    return (float(np.abs(error).mean()) / mean, float(np.sqrt((error ** 2).mean())) / mean,
            peak_error)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
