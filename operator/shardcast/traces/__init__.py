"""Real workload traces (../shared/traces) as fixed-grid series for tests, benchmarks and demos."""

from shardcast.traces.catalog import TRACES, TraceSpec, default_traces_dir, discover
from shardcast.traces.load import Trace, load_trace

__all__ = ["TRACES", "Trace", "TraceSpec", "default_traces_dir", "discover", "load_trace"]
