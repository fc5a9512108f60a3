"""The history every fresh stack starts with: each real trace as one Prometheus series."""

from __future__ import annotations

from pathlib import Path

from shardcast.devstack.prometheus import Series, aligned_now
from shardcast.traces import TRACES, default_traces_dir, load_trace

TRACE_METRIC = "shardcast_trace_value"


def trace_series(traces_dir: Path | None = None, end_seconds: int | None = None) -> list[Series]:
    """`shardcast_trace_value{trace="<name>"}` per trace, all ending at the same aligned instant."""
    directory = traces_dir or default_traces_dir()
    series = []
    for spec in TRACES:
        trace = load_trace(spec, directory)
        end = end_seconds if end_seconds is not None else aligned_now(trace.step_seconds)
        series.append(Series(TRACE_METRIC, {"trace": trace.name}, trace.values,
                             trace.step_seconds, end))
    return series
