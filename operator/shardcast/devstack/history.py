"""The history every stack has: each real trace as one Prometheus series, plus fixture series made
from real traces for the cases a Prometheus client must survive (counter reset, gap, stale, two
series where one is expected)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shardcast.devstack.prometheus import MetricType, Series, aligned_now, backfilled
from shardcast.traces import TRACES, Trace, default_traces_dir, load_trace

TRACE_METRIC = "shardcast_trace_value"
FIXTURE_COUNTER = "shardcast_fixture_requests_total"
FIXTURE_GAUGE = "shardcast_fixture_value"
COUNTER_TRACE = "nab/elb_request_count_8c0756"  # requests per 5 minutes: a counter's increments
GAUGE_TRACE = "nab/ec2_cpu_utilization_5f5533"
PAIR_TRACES = ("nab/ec2_cpu_utilization_24ae8d", "nab/ec2_cpu_utilization_53ea38")
GAP_SECONDS = 6 * 3600  # the gap, and how long before the end the stale series stopped
PAIR_SECONDS = 24 * 3600  # the pair covers only its last day, so older chunks hold no data


def stack_series(traces_dir: Path | None = None, end_seconds: int | None = None) -> list[Series]:
    """Every series the stack's Prometheus should hold."""
    return trace_series(traces_dir, end_seconds) + fixture_series(traces_dir, end_seconds)


def trace_series(traces_dir: Path | None = None, end_seconds: int | None = None) -> list[Series]:
    """`shardcast_trace_value{trace="<name>"}` per trace, all ending at the same aligned instant."""
    return [_series(TRACE_METRIC, {"trace": trace.name}, trace.values, trace, end_seconds)
            for trace in _traces(traces_dir, [spec.name for spec in TRACES])]


def fixture_series(traces_dir: Path | None = None,
                   end_seconds: int | None = None) -> list[Series]:
    """Edge cases from real traces, step 300 s, ending at the same instant as trace_series:

    - `shardcast_fixture_requests_total{case="reset"}`: the cumulative sum of a request-count
      trace, restarting from zero halfway (a restarted process);
    - `shardcast_fixture_value{case="gap"}`: a CPU trace with GAP_SECONDS missing from its middle;
    - `shardcast_fixture_value{case="stale"}`: the same trace, silent for its last GAP_SECONDS;
    - `shardcast_fixture_value{case="pair", n="1"|"2"}`: two traces' last PAIR_SECONDS.
    """
    counter, gauge, *pair = _traces(traces_dir, [COUNTER_TRACE, GAUGE_TRACE, *PAIR_TRACES])
    half = len(counter.values) // 2
    requests = np.concatenate([np.cumsum(counter.values[:half]), np.cumsum(counter.values[half:])])
    gap_points = GAP_SECONDS // gauge.step_seconds
    middle = len(gauge.values) // 2
    gap, stale = gauge.values.copy(), gauge.values.copy()
    gap[middle:middle + gap_points] = np.nan
    stale[-gap_points:] = np.nan
    return [
        _series(FIXTURE_COUNTER, {"case": "reset"}, requests, counter, end_seconds, "counter"),
        _series(FIXTURE_GAUGE, {"case": "gap"}, gap, gauge, end_seconds),
        _series(FIXTURE_GAUGE, {"case": "stale"}, stale, gauge, end_seconds),
        *(_series(FIXTURE_GAUGE, {"case": "pair", "n": str(n)},
                  trace.values[-(PAIR_SECONDS // trace.step_seconds):], trace, end_seconds)
          for n, trace in enumerate(pair, start=1)),
    ]


def _traces(traces_dir: Path | None, names: list[str]) -> list[Trace]:
    specs = {spec.name: spec for spec in TRACES}
    return [load_trace(specs[name], traces_dir or default_traces_dir()) for name in names]


def _series(metric: str, labels: dict[str, str], values: np.ndarray, trace: Trace,
            end_seconds: int | None, metric_type: MetricType = "gauge") -> Series:
    end = end_seconds if end_seconds is not None else aligned_now(trace.step_seconds)
    return Series(metric, labels, values, trace.step_seconds, end, metric_type)


def replay_query(trace: str, state: Path) -> str:
    """PromQL for a backfilled trace shifted so its last sample is now: the stack's stand-in for
    a shard's live usage. The shift is fixed when this is called, so the series goes stale
    again a few minutes later; call it when creating the Shard that uses it."""
    entry = next((e for e in backfilled(state) if e["metric"] == TRACE_METRIC
                  and e["labels"] == {"trace": trace}), None)
    if entry is None:
        raise KeyError(f"trace {trace} was never backfilled into the stack's Prometheus")
    step = int(str(entry["step_seconds"]))
    age = aligned_now(step) - int(str(entry["end_seconds"]))
    selector = f'{TRACE_METRIC}{{trace="{trace}"}}'
    # Right after a backfill the last sample is already now, and PromQL refuses "offset 0s".
    return f"{selector} offset {age}s" if age > 0 else selector
