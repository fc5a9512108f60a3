"""Batched reads: which shards share a query (pure), and read_batch against a fake Prometheus
that understands bare selectors with `=` and `=~` matchers, so that grouped queries, their
escaping and the mapping back to shards are checked end to end without a real server."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from shardcast.api.metrics import QueryBatch, ShardQuery, batch_queries, query_of, shard_query
from shardcast.clients.prometheus_batch import read_batch

CPU = {"type": "cpu"}
STEP = 300
START = 1_700_000_100  # on the grid, so that samples fall on it
END = START + 9 * STEP  # 10 points


def cpu(*names: str) -> list[ShardQuery]:
    return [query_of(name, {}, CPU) for name in names]


def labelled(name: str, **labels: str) -> ShardQuery:
    return query_of(name, {"metrics": {"cpu": {"labels": labels}}}, CPU)


def shards_of(batch: QueryBatch) -> list[str]:
    return [member.shard for member in batch.members]


# Grouping

def test_query_of_is_what_shard_query_returns_with_its_parts() -> None:
    spec = {"metrics": {"cpu": {"labels": {"shard": "orders-0", "app": 'we"b'}}}}
    query = query_of("orders-0", spec, CPU)
    assert query == ShardQuery(
        "orders-0", 'shardcast_shard_cpu_cores{app="we\\"b",shard="orders-0"}',
        "shardcast_shard_cpu_cores{$labels}", (("app", 'we"b'), ("shard", "orders-0")))
    assert shard_query("orders-0", spec, CPU) == query.promql
    own = query_of("s1", {"metrics": {"cpu": {"query": "sum(x)"}}}, CPU)
    assert (own.promql, own.template, own.labels) == ("sum(x)", None, ())


def test_shards_of_a_built_in_template_share_one_query() -> None:
    [batch] = batch_queries(cpu("s0", "s1", "s2"))
    assert batch.promql == 'shardcast_shard_cpu_cores{shard=~"s0|s1|s2"}'
    assert batch.varying == "shard" and shards_of(batch) == ["s0", "s1", "s2"]


def test_own_queries_other_templates_and_groups_of_one_are_read_alone() -> None:
    own = query_of("own", {"metrics": {"cpu": {"query": 'sum(x{shard="own"})'}}}, CPU)
    rate = query_of("r", {}, {"type": "custom", "query": "rate(requests_total{$labels}[5m])"})
    lone = query_of("m", {}, {"type": "memory"})
    batches = batch_queries([own, rate, lone, *cpu("a", "b")])
    singles = {b.promql: (b.varying, shards_of(b)) for b in batches if len(b.members) == 1}
    assert singles == {'sum(x{shard="own"})': (None, ["own"]),
                       'rate(requests_total{shard="r"}[5m])': (None, ["r"]),
                       'shardcast_shard_memory_bytes{shard="m"}': (None, ["m"])}
    assert [b.promql for b in batches if len(b.members) > 1] == [
        'shardcast_shard_cpu_cores{shard=~"a|b"}']


def test_fixed_labels_that_differ_split_the_group() -> None:
    queries = [labelled(f"{cluster}-{n}", cluster=cluster, shard=str(n))
               for cluster in ("east", "west") for n in range(3)]
    queries.append(labelled("other", app="web"))  # other label names: another family
    promqls = sorted(b.promql for b in batch_queries(queries))
    assert promqls == ['shardcast_shard_cpu_cores{app="web"}',
                       'shardcast_shard_cpu_cores{cluster="east",shard=~"0|1|2"}',
                       'shardcast_shard_cpu_cores{cluster="west",shard=~"0|1|2"}']


def test_the_label_that_varies_is_the_one_giving_fewest_queries() -> None:
    queries = [labelled(f"s{n}", cluster="east", shard=f"s{n}") for n in range(4)]
    [batch] = batch_queries(queries)
    assert batch.varying == "shard"
    assert batch.promql == 'shardcast_shard_cpu_cores{cluster="east",shard=~"s0|s1|s2|s3"}'


def test_shards_reading_the_same_series_share_its_value() -> None:
    queries = [labelled("a", shard="x"), labelled("b", shard="x"), labelled("c", shard="y")]
    [batch] = batch_queries(queries)
    assert batch.promql == 'shardcast_shard_cpu_cores{shard=~"x|y"}'
    assert shards_of(batch) == ["a", "b", "c"]


def test_the_byte_budget_splits_groups_into_chunks() -> None:
    queries = cpu(*(f"s{n}" for n in range(10)))
    base = len('shardcast_shard_cpu_cores{shard=~""}')
    # Room for exactly four values ("s0|s1|s2|s3" is 11 bytes).
    batches = batch_queries(queries, max_selector_bytes=base + 11)
    assert [shards_of(b) for b in batches] == [
        ["s0", "s1", "s2", "s3"], ["s4", "s5", "s6", "s7"], ["s8", "s9"]]
    assert all(len(b.promql) <= base + 11 for b in batches)
    # A chunk of one is read with the shard's own query.
    [*_, last] = batch_queries(queries, max_selector_bytes=base + 8)  # 3 + 3 + 3 + 1
    assert last.promql == 'shardcast_shard_cpu_cores{shard="s9"}' and last.varying is None


def test_a_member_bound_splits_groups_into_chunks_of_at_most_that_many() -> None:
    batches = batch_queries(cpu(*(f"s{n}" for n in range(7))), max_members=3)
    assert [shards_of(b) for b in batches] == [["s0", "s1", "s2"], ["s3", "s4", "s5"], ["s6"]]


def test_ten_thousand_shards_take_a_handful_of_queries_within_the_budget() -> None:
    queries = cpu(*(f"orders-eu-west-{n:05d}" for n in range(10_000)))
    batches = batch_queries(queries)
    assert 3 <= len(batches) <= 6
    assert all(len(b.promql.encode()) <= 60_000 for b in batches)
    assert [s for b in batches for s in shards_of(b)] == [q.shard for q in queries]


def test_values_are_escaped_for_the_regex_and_then_for_the_string() -> None:
    [batch] = batch_queries(cpu("a.b", "x|y", 'q"z', "back\\slash", "orders-0"))
    assert batch.promql == ('shardcast_shard_cpu_cores{shard=~'
                            '"a\\\\.b|x\\\\|y|q\\"z|back\\\\\\\\slash|orders-0"}')


# read_batch against a fake Prometheus

Series = tuple[dict[str, str], Callable[[int], float]]
MATCHER = re.compile(r'(\w+)(=~|=)"((?:[^"\\]|\\.)*)"')


@dataclass
class FakePrometheus:
    """Answers /api/v1/query_range (POST only) for selectors over `series`; `canned` answers
    any other query with (status, body). Records each request and the most ever in flight."""

    url: str = ""
    series: list[Series] = field(default_factory=list)
    canned: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    delay: float = 0.0
    received: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        query = form["query"]
        if query in self.canned:
            return self.canned[query]
        name, matchers = query.split("{", 1)
        wanted = [(k, op, re.sub(r"\\(.)", r"\1", v)) for k, op, v in MATCHER.findall(matchers)]
        start, end, step = int(form["start"]), int(form["end"]), int(form["step"])
        result = [{"metric": labels,
                   "values": [[t, str(value(t))] for t in range(start, end + 1, step)]}
                  for labels, value in self.series
                  if labels["__name__"] == name and all(
                      re.fullmatch(v, labels.get(k, "")) if op == "=~" else labels.get(k, "") == v
                      for k, op, v in wanted)]
        return 200, {"status": "success", "data": {"resultType": "matrix", "result": result}}


@pytest.fixture
def prometheus() -> Iterator[FakePrometheus]:
    fake = FakePrometheus()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            with fake.lock:
                fake.in_flight += 1
                fake.most_in_flight = max(fake.most_in_flight, fake.in_flight)
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            form = {k: v[0] for k, v in parse_qs(body).items()}
            fake.received.append({"path": self.path, "form": form,
                                  "authorization": self.headers.get("Authorization")})
            time.sleep(fake.delay)
            status, answer = fake.answer(form)
            with fake.lock:
                fake.in_flight -= 1
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


def gauge(shard: str, offset: float, **labels: str) -> Series:
    return ({"__name__": "shardcast_shard_cpu_cores", "shard": shard, **labels},
            lambda t: offset + (t - START) / STEP)


def expected(offset: float, points: int = 10) -> np.ndarray:
    return offset + np.arange(points, dtype=float)


def test_each_shard_gets_its_own_series_back_from_one_query(
        prometheus: FakePrometheus) -> None:
    odd = ["a.b", "x|y", 'q"z', "orders-0"]
    prometheus.series = [gauge(name, 10.0 * n) for n, name in enumerate(odd)]
    prometheus.series.append(gauge("aXb", 99))  # what an unescaped "a.b" would also match
    prometheus.series.append(({"__name__": "own"}, lambda t: 5.0))
    own = query_of("mine", {"metrics": {"cpu": {"query": "own{}"}}}, CPU)
    read = asyncio.run(read_batch(prometheus.url, [*cpu(*odd, "silent"), own],
                                  START, END, STEP))
    assert read.failed == {}
    for n, name in enumerate(odd):
        np.testing.assert_array_equal(read.values[name], expected(10.0 * n))
    assert np.isnan(read.values["silent"]).all()  # no series: all missing, not refused
    np.testing.assert_array_equal(read.values["mine"], np.full(10, 5.0))
    assert read.requests == 2 and read.samples == 5 * 10
    assert all(r["path"] == "/api/v1/query_range" for r in prometheus.received)


def test_a_shard_with_two_series_is_refused_alone(prometheus: FakePrometheus) -> None:
    prometheus.series = [gauge("dup", 0, pod="p1"), gauge("dup", 1, pod="p2"), gauge("ok", 7)]
    read = asyncio.run(read_batch(prometheus.url, cpu("dup", "ok"), START, END, STEP))
    assert read.failed == {"dup": (
        "'shardcast_shard_cpu_cores{shard=\"dup\"}' returned 2 series, expected one: "
        'shardcast_shard_cpu_cores{pod="p1", shard="dup"}, '
        'shardcast_shard_cpu_cores{pod="p2", shard="dup"}; '
        "aggregate them (sum, max, ...) or select one")}
    np.testing.assert_array_equal(read.values["ok"], expected(7))
    assert "dup" not in read.values


def test_a_failed_request_fails_only_its_own_shards(prometheus: FakePrometheus) -> None:
    prometheus.series = [gauge("a", 0), gauge("b", 1)]
    error = {"status": "error", "errorType": "bad_data",
             "error": "1:5: parse error: unclosed left parenthesis"}
    prometheus.canned["sum("] = (400, error)
    prometheus.canned['shardcast_shard_memory_bytes{shard=~"m1|m2"}'] = (
        503, {"status": "error", "errorType": "unavailable", "error": "overloaded"})
    broken = query_of("broken", {"metrics": {"cpu": {"query": "sum("}}}, CPU)
    memory = [query_of(name, {}, {"type": "memory"}) for name in ("m1", "m2")]
    read = asyncio.run(read_batch(prometheus.url, [*cpu("a", "b"), broken, *memory],
                                  START, END, STEP))
    assert sorted(read.values) == ["a", "b"]
    assert read.failed["broken"] == (
        f"Prometheus at {prometheus.url} could not answer 'sum(' over "
        "2023-11-14T22:15:00Z..2023-11-14T23:00:00Z step 300s: "
        "HTTP 400, bad_data: 1:5: parse error: unclosed left parenthesis")
    assert read.failed["m1"].endswith(
        "HTTP 503, unavailable: overloaded (read in one query with 1 other shards)")
    assert "'shardcast_shard_memory_bytes{shard=\"m2\"}'" in read.failed["m2"]
    assert read.requests == 3


def test_requests_and_samples_are_counted_across_time_chunks(
        prometheus: FakePrometheus) -> None:
    prometheus.series = [gauge("a", 0), gauge("b", 100)]
    read = asyncio.run(read_batch(prometheus.url, cpu("a", "b", "c"), START, END, STEP,
                                  max_points=4))  # 4 + 4 + 2 points
    assert read.requests == 3 and read.samples == 2 * 10
    np.testing.assert_array_equal(read.values["a"], expected(0))
    np.testing.assert_array_equal(read.values["b"], expected(100))
    windows = [(r["form"]["start"], r["form"]["end"]) for r in prometheus.received]
    assert sorted(windows) == [(str(START + k * STEP), str(START + min(k + 3, 9) * STEP))
                               for k in (0, 4, 8)]


def test_an_answer_holds_at_most_the_sample_budget(prometheus: FakePrometheus) -> None:
    """Whole windows of many shards come in several answers (each decoded in moments), the
    few new samples of a later cycle in one."""
    names = [f"s{n}" for n in range(7)]
    prometheus.series = [gauge(name, 10.0 * n) for n, name in enumerate(names)]
    read = asyncio.run(read_batch(prometheus.url, cpu(*names), START, END, STEP,
                                  max_samples=25))  # 10 points: 2 shards per answer
    assert read.failed == {} and read.requests == 4 and read.samples == 70
    for n, name in enumerate(names):
        np.testing.assert_array_equal(read.values[name], expected(10.0 * n))
    later = asyncio.run(read_batch(prometheus.url, cpu(*names), END, END, STEP,
                                   max_samples=25))
    assert later.requests == 1 and later.samples == 7


def test_a_later_window_reads_only_its_points(prometheus: FakePrometheus) -> None:
    prometheus.series = [gauge("a", 0)]
    read = asyncio.run(read_batch(prometheus.url, cpu("a", "b"), END - 2 * STEP, END, STEP))
    np.testing.assert_array_equal(read.values["a"], [7.0, 8.0, 9.0])
    assert read.requests == 1 and read.samples == 3


def test_no_more_requests_than_the_concurrency_are_in_flight_and_the_loop_stays_free(
        prometheus: FakePrometheus) -> None:
    prometheus.delay = 0.2
    own = [query_of(f"s{n}", {"metrics": {"cpu": {"query": f"own{n}{{}}"}}}, CPU)
           for n in range(6)]

    async def exercise() -> int:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        read = await read_batch(prometheus.url, own, START, END, STEP, concurrency=2)
        ticker.cancel()
        assert read.requests == 6 and read.failed == {}
        return ticks

    started = time.monotonic()
    assert asyncio.run(exercise()) >= 20
    assert prometheus.most_in_flight == 2
    assert 0.6 <= time.monotonic() - started < 1.2  # three rounds of two


def test_queries_go_in_a_form_body_with_the_bearer_token(
        prometheus: FakePrometheus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "token").write_text("t0ken\n")
    monkeypatch.setenv("SHARDCAST_PROMETHEUS_BEARER_TOKEN_FILE", str(tmp_path / "token"))
    queries = cpu(*(f"shard-{n:04d}" for n in range(2000)))  # ~22 kB: too long for a URL
    read = asyncio.run(read_batch(prometheus.url, queries, START, END, STEP))
    [request] = prometheus.received
    assert urlsplit(request["path"]).query == ""
    assert request["form"]["query"] == batch_queries(queries)[0].promql
    assert request["authorization"] == "Bearer t0ken"
    assert len(read.values) == 2000 and read.requests == 1


def test_an_unreachable_prometheus_fails_every_shard() -> None:
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    read = asyncio.run(read_batch(f"http://127.0.0.1:{port}", cpu("a", "b"), START, END, STEP))
    assert read.values == {} and sorted(read.failed) == ["a", "b"]
    assert all("Connection refused" in why for why in read.failed.values())
    assert read.requests == 1 and read.samples == 0


def test_a_shard_asked_for_twice_is_an_error() -> None:
    with pytest.raises(ValueError, match="only once"):
        asyncio.run(read_batch("http://127.0.0.1:1", cpu("a", "a"), START, END, STEP))
