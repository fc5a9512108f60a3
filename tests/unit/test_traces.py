from pathlib import Path

import numpy as np

from shardcast.traces import TRACES, TraceSpec, default_traces_dir, load_trace


def test_every_catalogued_trace_loads_on_a_regular_grid() -> None:
    for spec in TRACES:
        trace = load_trace(spec, default_traces_dir())
        assert len(trace.values) > 2000, spec.name
        assert np.isfinite(trace.values).all(), spec.name


def test_irregular_timestamps_are_put_on_the_grid(tmp_path: Path) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text("timestamp,value\n2020-01-01 00:00:00,1\n2020-01-01 00:05:10,2\n"
                   "2020-01-01 00:15:00,4\n")
    trace = load_trace(TraceSpec("t", "t.csv", "value", "timestamp"), tmp_path)
    np.testing.assert_allclose(trace.values, [1, 2, 3, 4])  # 00:10 missing: interpolated
