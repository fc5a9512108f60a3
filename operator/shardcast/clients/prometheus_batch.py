"""One policy cycle's Prometheus reads, for thousands of shards in a handful of range queries.

Shards whose queries differ only in one label's value are read together (api.metrics groups
them) and each result series is given back to its shard by that value. Per shard, everything
else is `query_range`'s contract: no series at all is all NaN; more than one series, or a failed
request, is a reason in `failed` and no values, never a partial series. One request's failure
touches only the shards it was for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException

from shardcast.api.metrics import QueryBatch, ShardQuery, batch_queries
from shardcast.clients.prometheus import (
    DEFAULT_TIMEOUT_SECONDS,
    MAX_POINTS_PER_QUERY,
    MetricsUnavailable,
    _iso,
    _reason,
    _selector,
    connect,
    grid_points,
    on_grid,
)


@dataclass(frozen=True)
class BatchRead:
    """What one `read_batch` got: every shard it was asked for is in `values` or `failed`."""

    values: dict[str, np.ndarray]  # shard -> samples on start + k * step, k < points; NaN: none
    failed: dict[str, str]  # shard -> why it has no values
    requests: int  # HTTP requests sent to Prometheus, failed ones included
    samples: int  # samples received in the answers


# Samples one answer may hold. A whole week of 1,000 shards is 2 million samples, 70 MB of JSON
# that takes Prometheus seconds to render and Python 1.5 s to decode in one call holding the
# GIL, which stalls the event loop (kopf's liveness answers late); 50,000 (~2 MB) decode in
# tens of milliseconds, and the batches' requests run side by side.
MAX_SAMPLES_PER_REQUEST = 50_000


async def read_batch(url: str, queries: Sequence[ShardQuery], start_seconds: int,
                     end_seconds: int, step_seconds: int, *, concurrency: int = 8,
                     timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
                     max_points: int = MAX_POINTS_PER_QUERY,
                     max_samples: int = MAX_SAMPLES_PER_REQUEST) -> BatchRead:
    """Every shard's series on the grid start + k * step up to end, with as few requests as the
    queries allow and at most `concurrency` of them in flight.

    The requests run in worker threads, so the event loop is never blocked, on one HTTP session
    (requests keeps 10 connections per host; a concurrency above 10 opens and drops extra ones).
    Each request covers at most `max_points` points of the grid and, where shards share a
    query, at most `max_samples` samples (shards x points), within `timeout_seconds`.
    """
    if max_points < 1 or concurrency < 1:
        raise ValueError(f"max_points and concurrency must be at least 1, got {max_points} "
                         f"and {concurrency}")
    if len({query.shard for query in queries}) != len(queries):
        raise ValueError("a shard may be asked for only once per read")
    points = grid_points(start_seconds, end_seconds, step_seconds)
    windows = list(_windows(start_seconds, step_seconds, points, max_points))
    members = max(1, max_samples // min(points, max_points))
    gate = asyncio.Semaphore(concurrency)
    with connect(url, timeout_seconds) as prom:
        reads = await asyncio.gather(*(_read(prom, batch, windows, step_seconds, points, gate)
                                       for batch in batch_queries(queries,
                                                                  max_members=members)))
    return BatchRead({shard: v for read in reads for shard, v in read.values.items()},
                     {shard: why for read in reads for shard, why in read.failed.items()},
                     sum(read.requests for read in reads), sum(read.samples for read in reads))


def _windows(start: int, step: int, points: int,
             max_points: int) -> Iterator[tuple[int, int, int]]:
    """(first grid index, begin, finish) of each request's part of the grid, as query_range."""
    for first in range(0, points, max_points):
        begin = start + first * step
        yield first, begin, begin + (min(max_points, points - first) - 1) * step


async def _read(prom: PrometheusConnect, batch: QueryBatch,
                windows: Sequence[tuple[int, int, int]], step: int, points: int,
                gate: asyncio.Semaphore) -> BatchRead:
    """One batch, its time chunks one after the other: after a failed one all of the batch's
    shards are failed, so its remaining chunks are not asked for."""
    values = {member.shard: np.full(points, np.nan) for member in batch.members}
    series: dict[str, set[str]] = {member.shard: set() for member in batch.members}
    owners = _owners(batch)
    samples = 0
    for requests, (first, begin, finish) in enumerate(windows, start=1):
        try:
            async with gate:
                result = await asyncio.to_thread(_post_on_grid, prom, batch.promql, begin,
                                                 finish, step)
        except MetricsUnavailable as error:
            return BatchRead({}, _failed(prom.url, batch, begin, finish, step, str(error)),
                             requests, samples)
        count = (finish - begin) // step + 1
        for labels, grid, received in result:
            samples += received
            # A label Prometheus leaves out has the empty value, as a matcher `key=""` sees it.
            for shard in owners.get(labels.get(batch.varying, "") if batch.varying else "", ()):
                series[shard].add(_selector(labels))
                values[shard][first:first + count] = grid
    return _settled(batch, values, series, len(windows), samples)


def _owners(batch: QueryBatch) -> dict[str, list[str]]:
    """The shards each value of the varying label is read for (several when shards share one
    series); without a varying label, the one member owns whatever the query returns."""
    owners: dict[str, list[str]] = {}
    for member in batch.members:
        value = dict(member.labels)[batch.varying] if batch.varying else ""
        owners.setdefault(value, []).append(member.shard)
    return owners


def _failed(url: str, batch: QueryBatch, begin: int, finish: int, step: int,
            reason: str) -> dict[str, str]:
    """Each shard's failure worded as if its own query had failed (and saying it did not)."""
    window = f"{_iso(begin)}..{_iso(finish)} step {step}s"
    shared = f" (read in one query with {len(batch.members) - 1} other shards)" \
        if batch.varying else ""
    return {member.shard: f"Prometheus at {url} could not answer {member.promql!r} over "
                          f"{window}: {reason}{shared}" for member in batch.members}


def _settled(batch: QueryBatch, values: Mapping[str, np.ndarray],
             series: Mapping[str, set[str]], requests: int, samples: int) -> BatchRead:
    """Values for the shards with at most one series, a refusal for the others."""
    kept, failed = {}, {}
    for member in batch.members:
        names = sorted(series[member.shard])
        if len(names) > 1:
            failed[member.shard] = (
                f"{member.promql!r} returned {len(names)} series, expected one: "
                f"{', '.join(names[:5])}{', ...' if len(names) > 5 else ''}; "
                f"aggregate them (sum, max, ...) or select one")
        else:
            kept[member.shard] = values[member.shard]
    return BatchRead(kept, failed, requests, samples)


def _post_on_grid(prom: PrometheusConnect, promql: str, begin: int, finish: int,
                  step: int) -> list[tuple[Mapping[str, str], np.ndarray, int]]:
    """`_post_range` with every series put on the grid, all in the calling (worker) thread:
    thousands of series of thousands of samples must not be parsed on the event loop."""
    count = (finish - begin) // step + 1
    return [(labels, on_grid(chunk, begin, step, count), len(chunk))
            for labels, chunk in _post_range(prom, promql, begin, finish, step)]


def _post_range(prom: PrometheusConnect, promql: str, begin: int, finish: int,
                step: int) -> list[tuple[Mapping[str, str], Sequence[Sequence[Any]]]]:
    """(labels, samples) per series of one /api/v1/query_range, the query in a form body: a
    selector listing thousands of shards does not fit a URL. The client's own session,
    credentials and timeout; any failure is MetricsUnavailable with Prometheus' words."""
    try:
        response = prom._session.post(
            f"{prom.url}/api/v1/query_range",
            data={"query": promql, "start": begin, "end": finish, "step": step},
            headers=prom.headers, auth=prom.auth, timeout=prom._timeout)
        if response.status_code != 200:  # worded as the client's own error, which _reason reads
            raise PrometheusApiClientException(
                f"HTTP Status Code {response.status_code} ({response.content!r})")
        return [(s["metric"], s["values"]) for s in response.json()["data"]["result"]]
    # requests' errors (unreachable, timeout, bad JSON) are OSErrors or ValueErrors.
    except (PrometheusApiClientException, OSError, ValueError, KeyError, TypeError) as error:
        raise MetricsUnavailable(_reason(error)) from error


@dataclass(frozen=True)
class PrometheusSource:
    """The policy cycle's MetricsSource: batched reads of one Prometheus."""

    url: str
    concurrency: int = 8

    async def read(self, queries: Sequence[ShardQuery], start_seconds: int, end_seconds: int,
                   step_seconds: int) -> BatchRead:
        return await read_batch(self.url, queries, start_seconds, end_seconds, step_seconds,
                                concurrency=self.concurrency)
