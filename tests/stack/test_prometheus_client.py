"""The Prometheus client against the stack's real Prometheus 2.42 and the fixture series that
devstack/history.py backfills from real traces. Positions come from what the backfill recorded,
since every series ends where it ended when it was written, not at "now"."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator, Mapping

import numpy as np
import pytest

from shardcast.api.metrics import ShardQuery, batch_queries
from shardcast.clients.prometheus import (
    RATE_WINDOW_STEPS,
    MetricsUnavailable,
    counter_rate_query,
    query_history,
    query_history_async,
    query_range,
)
from shardcast.clients.prometheus_batch import read_batch
from shardcast.devstack import stack
from shardcast.devstack.history import (
    COUNTER_TRACE,
    FIXTURE_COUNTER,
    FIXTURE_GAUGE,
    GAP_SECONDS,
    TRACE_METRIC,
    fixture_series,
)
from shardcast.devstack.paths import state_dir
from shardcast.devstack.prometheus import Series, backfilled
from shardcast.traces import TRACES, default_traces_dir, load_trace
from tests.stack.ports import free_port

LONG_TRACE = "nab/Twitter_volume_AAPL"  # 15,902 points: more than one query even by default


def written(metric: str, labels: Mapping[str, str]) -> Series:
    """The series as the backfill wrote it: same values, same end."""
    entry = next(e for e in backfilled(state_dir())
                 if e["metric"] == metric and e["labels"] == labels)
    end = int(str(entry["end_seconds"]))
    if metric == TRACE_METRIC:
        trace = load_trace(next(s for s in TRACES if s.name == labels["trace"]),
                           default_traces_dir())
        return Series(metric, labels, trace.values, trace.step_seconds, end)
    return next(s for s in fixture_series(end_seconds=end)
                if s.metric == metric and s.labels == labels)


def span(series: Series) -> tuple[int, int, int]:
    start = series.end_seconds - (len(series.values) - 1) * series.step_seconds
    return start, series.end_seconds, series.step_seconds


def selector(series: Series) -> str:
    return series.metric + "{" + ",".join(f'{k}="{v}"' for k, v in series.labels.items()) + "}"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_a_whole_trace_reads_back_exactly_across_chunks(endpoints: stack.Endpoints) -> None:
    trace = written(TRACE_METRIC, {"trace": LONG_TRACE})
    for max_points in (11_000, 4001):  # 2 and 4 queries, the last ones short
        values = query_range(endpoints.prometheus_url, selector(trace), *span(trace),
                             max_points=max_points)
        np.testing.assert_array_equal(values, trace.values)


def test_rate_of_a_counter_with_a_reset_is_the_trace_never_negative(
        endpoints: stack.Endpoints) -> None:
    counter = written(FIXTURE_COUNTER, {"case": "reset"})
    start, end, step = span(counter)
    raw = query_range(endpoints.prometheus_url, selector(counter), start, end, step)
    assert (np.diff(raw) < 0).sum() == 1  # the reset is there, once

    # From the 4th step on, every rate window lies inside the series.
    rate = query_range(endpoints.prometheus_url, counter_rate_query(selector(counter), step),
                       start + RATE_WINDOW_STEPS * step, end, step)
    assert np.isfinite(rate).all() and rate.min() >= 0
    # The counter adds one trace value per step, so its rate over 4 steps is the mean of the
    # last 4 values per second, across the reset too. (2.42's windows include their start.)
    requests = load_trace(next(s for s in TRACES if s.name == COUNTER_TRACE),
                          default_traces_dir()).values
    last_four = np.convolve(requests, np.ones(RATE_WINDOW_STEPS), "valid")[1:]
    np.testing.assert_allclose(rate, last_four / RATE_WINDOW_STEPS / step, rtol=1e-9)


def test_a_gap_is_missing_exactly_where_no_samples_were_written(
        endpoints: stack.Endpoints) -> None:
    gap = written(FIXTURE_GAUGE, {"case": "gap"})
    values = query_range(endpoints.prometheus_url, selector(gap), *span(gap), max_points=1000)
    expected = gap.values.copy()
    first = int(np.flatnonzero(np.isnan(expected))[0])
    # Prometheus 2.x looks back 5 minutes for the latest sample, including a sample exactly 5
    # minutes old: one step (300 s) into the gap the last sample before it still shows. Were
    # the gap NaN samples rather than no samples, this point would be NaN too.
    expected[first] = expected[first - 1]
    np.testing.assert_array_equal(values, expected)
    assert np.isnan(values).sum() == GAP_SECONDS // gap.step_seconds - 1


def test_a_series_that_stopped_reporting_is_refused_as_stale(
        endpoints: stack.Endpoints) -> None:
    stale = written(FIXTURE_GAUGE, {"case": "stale"})
    history = query_history(endpoints.prometheus_url, selector(stale), *span(stale))
    assert history.end_seconds == stale.end_seconds
    quiet = GAP_SECONDS // stale.step_seconds - 1  # the first silent step still looks back
    silent = np.isnan(history.values)
    assert silent[-quiet:].all() and not silent[:-quiet].any()
    assert history.staleness_seconds == quiet * stale.step_seconds
    reason = history.refusal(max_missing_fraction=0.05, max_staleness_seconds=3600)
    assert reason is not None and reason.startswith("stale: the newest sample is 21300 s old")

    gap = written(FIXTURE_GAUGE, {"case": "gap"})
    gappy = query_history(endpoints.prometheus_url, selector(gap), *span(gap))
    assert gappy.staleness_seconds == 0
    reason = gappy.refusal(max_missing_fraction=0.01, max_staleness_seconds=3600)
    assert reason is not None and reason.startswith("too gappy: 2% of 4032 points")


def test_two_series_where_one_is_expected_are_refused_by_name(
        endpoints: stack.Endpoints) -> None:
    one = written(FIXTURE_GAUGE, {"case": "pair", "n": "1"})
    with pytest.raises(MetricsUnavailable, match="returned 2 series") as error:
        query_range(endpoints.prometheus_url, f'{FIXTURE_GAUGE}{{case="pair"}}', *span(one))
    assert f'{FIXTURE_GAUGE}{{case="pair", n="1"}}' in str(error.value)
    assert f'{FIXTURE_GAUGE}{{case="pair", n="2"}}' in str(error.value)


def test_one_failing_chunk_fails_the_whole_query(endpoints: stack.Endpoints) -> None:
    """Dropping label n makes the pair collide, an error only where the pair has samples."""
    one = written(FIXTURE_GAUGE, {"case": "pair", "n": "1"})
    start, end, step = span(one)
    collide = f'label_replace({FIXTURE_GAUGE}{{case="pair"}}, "n", "", "n", ".*")'
    before = query_range(endpoints.prometheus_url, collide, start - 2 * 86400, start - step, step)
    assert np.isnan(before).all()  # the earlier chunks answer: nothing there
    with pytest.raises(MetricsUnavailable, match="same labelset"):
        query_range(endpoints.prometheus_url, collide, start - 2 * 86400, end, step,
                    max_points=288)


def test_bad_promql_fails_with_prometheus_own_parse_error(endpoints: stack.Endpoints) -> None:
    with pytest.raises(MetricsUnavailable,
                       match="HTTP 400, bad_data: 1:5: parse error: unclosed left parenthesis"):
        query_range(endpoints.prometheus_url, "sum(", 1_700_000_000, 1_700_003_000, 300)


def test_http_error_fails_with_the_status(endpoints: stack.Endpoints) -> None:
    with pytest.raises(MetricsUnavailable, match="HTTP 404: 404 page not found"):
        query_range(f"{endpoints.prometheus_url}/nowhere", "up", 1_700_000_000,
                    1_700_003_000, 300)


def test_no_matching_series_is_all_missing(endpoints: stack.Endpoints) -> None:
    values = query_range(endpoints.prometheus_url, f'{FIXTURE_GAUGE}{{case="none"}}',
                         1_700_000_000, 1_700_003_000, 300)
    assert len(values) == 11 and np.isnan(values).all()


def test_an_unreachable_prometheus_fails_fast() -> None:
    port = free_port()  # nothing listens on it
    started = time.monotonic()
    with pytest.raises(MetricsUnavailable, match="Connection refused"):
        query_range(f"http://127.0.0.1:{port}", "up", 1_700_000_000, 1_700_003_000, 300)
    assert time.monotonic() - started < 1  # no retries with backoff


def test_a_silent_prometheus_times_out(silent_port: int) -> None:
    started = time.monotonic()
    with pytest.raises(MetricsUnavailable, match=r"Read timed out. \(read timeout=0.3\)"):
        query_range(f"http://127.0.0.1:{silent_port}", "up", 1_700_000_000, 1_700_003_000,
                    300, timeout_seconds=0.3)
    assert 0.3 <= time.monotonic() - started < 1.5


def test_the_async_wrapper_answers_and_leaves_the_event_loop_free(
        endpoints: stack.Endpoints, silent_port: int) -> None:
    trace = written(TRACE_METRIC, {"trace": LONG_TRACE})

    async def exercise() -> int:
        history = await query_history_async(endpoints.prometheus_url, selector(trace),
                                            *span(trace))
        np.testing.assert_array_equal(history.values, trace.values)
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        with pytest.raises(MetricsUnavailable, match="timed out"):
            await query_history_async(f"http://127.0.0.1:{silent_port}", "up", 1_700_000_000,
                                      1_700_003_000, 300, timeout_seconds=0.5)
        ticker.cancel()
        return ticks

    assert asyncio.run(exercise()) >= 20  # a blocked loop would not have ticked at all


BATCHED_TRACES = ("nab/ec2_cpu_utilization_24ae8d", "nab/ec2_cpu_utilization_53ea38",
                  "nab/ec2_network_in_257a54", "alibaba2018/cpu",  # shorter: NaN at the start
                  "nowhere/never-backfilled")  # no series: all NaN


def trace_queries() -> list[ShardQuery]:
    return [ShardQuery(name, f'{TRACE_METRIC}{{trace="{name}"}}', f"{TRACE_METRIC}{{$labels}}",
                       (("trace", name),)) for name in BATCHED_TRACES]


def test_one_grouped_query_reads_each_trace_as_its_own_query_does(
        endpoints: stack.Endpoints) -> None:
    url = endpoints.prometheus_url
    _, end, step = span(written(TRACE_METRIC, {"trace": BATCHED_TRACES[0]}))
    start = end - 4031 * step
    short_start, *_ = span(written(TRACE_METRIC, {"trace": "alibaba2018/cpu"}))
    before_short = (short_start - start) // step  # grid points before that trace begins
    queries = trace_queries()
    [batch] = batch_queries(queries)
    assert batch.varying == "trace"
    for max_points, requests in ((11_000, 1), (1000, 5)):
        read = asyncio.run(read_batch(url, queries, start, end, step, max_points=max_points))
        assert read.failed == {} and read.requests == requests
        for query in queries:
            alone = query_history(url, query.promql, start, end, step).values
            np.testing.assert_array_equal(read.values[query.shard], alone)
        assert before_short > 0 and np.isnan(read.values["alibaba2018/cpu"][:before_short]).all()
        assert np.isnan(read.values["nowhere/never-backfilled"]).all()
        assert read.samples == sum(int(np.isfinite(v).sum()) for v in read.values.values())

    later = asyncio.run(read_batch(url, queries, end - 2 * step, end, step))
    assert later.requests == 1 and len(later.values[BATCHED_TRACES[0]]) == 3
    assert later.samples == sum(int(np.isfinite(v).sum()) for v in later.values.values()) > 0
    for query in queries:
        np.testing.assert_array_equal(later.values[query.shard], read.values[query.shard][-3:])


def test_real_prometheus_takes_grouped_queries_as_long_as_the_budget(
        endpoints: stack.Endpoints) -> None:
    """Thousands of shards in a few POSTed queries of ~60 kB each, the traces among them."""
    url = endpoints.prometheus_url
    _, end, step = span(written(TRACE_METRIC, {"trace": BATCHED_TRACES[0]}))
    start = end - 287 * step
    absent = [ShardQuery(f"s{n}", f'{TRACE_METRIC}{{trace="nowhere/shard.{n:05d}"}}',
                         f"{TRACE_METRIC}{{$labels}}", (("trace", f"nowhere/shard.{n:05d}"),))
              for n in range(10_000)]
    queries = [*absent, *trace_queries()]
    batches = batch_queries(queries)
    assert 3 <= len(batches) <= 6 and max(len(b.promql) for b in batches) > 50_000
    # (a sample budget that does not bind: only the selector's bounds the batches here)
    read = asyncio.run(read_batch(url, queries, start, end, step, max_samples=10**9))
    assert read.failed == {} and read.requests == len(batches)
    for query in trace_queries():
        alone = query_history(url, query.promql, start, end, step).values
        np.testing.assert_array_equal(read.values[query.shard], alone)
    assert all(np.isnan(read.values[query.shard]).all() for query in absent)
