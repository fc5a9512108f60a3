"""Utilization history from Prometheus, on a fixed grid, as floats.

Every way Prometheus can fail to answer (unreachable, HTTP error, PromQL error, timeout, more than
one series) raises `MetricsUnavailable`, never a partial or guessed series: a forecast from data
that is not there could move shards for nothing. prometheus-api-client is synchronous; kopf
handlers call `query_history_async`, which runs it in a worker thread off the event loop.
"""

from __future__ import annotations

import ast
import asyncio
import datetime as dt
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util import Retry

from shardcast.config import PrometheusCredentials

MAX_POINTS_PER_QUERY = 11_000  # Prometheus refuses range queries resolving to more points
DEFAULT_TIMEOUT_SECONDS = 10.0
RATE_WINDOW_STEPS = 4  # see counter_rate_query
# How prometheus-api-client reports a non-200 answer: the status and the repr of the body.
_HTTP_ERROR = re.compile(r"HTTP Status Code (\d+) \((b(?:'.*'|\".*\"))\)\Z", re.DOTALL)


class MetricsUnavailable(RuntimeError):
    """Prometheus could not answer; no forecast, and therefore no move, may come from this."""


@dataclass(frozen=True)
class History:
    """One series on the grid `end_seconds - k * step_seconds`; NaN where there is no sample."""

    values: np.ndarray
    step_seconds: int
    end_seconds: int

    @property
    def missing_fraction(self) -> float:
        return float(np.isnan(self.values).mean()) if len(self.values) else 1.0

    @property
    def staleness_seconds(self) -> int:
        """How long before `end_seconds` the newest sample is (the whole span when none is)."""
        present = np.flatnonzero(~np.isnan(self.values))
        newest = int(present[-1]) if len(present) else -1
        return (len(self.values) - 1 - newest) * self.step_seconds

    def refusal(self, *, max_missing_fraction: float, max_staleness_seconds: int) -> str | None:
        """Why no forecast may come from this history, or None when one may."""
        if self.staleness_seconds > max_staleness_seconds:
            return (f"stale: the newest sample is {self.staleness_seconds} s old (limit "
                    f"{max_staleness_seconds} s); has the series stopped reporting?")
        if self.missing_fraction > max_missing_fraction:
            return (f"too gappy: {self.missing_fraction:.0%} of {len(self.values)} points are "
                    f"missing (limit {max_missing_fraction:.0%})")
        return None


def counter_rate_query(selector: str, step_seconds: int) -> str:
    """PromQL for a counter's per-second rate on a grid `step_seconds` apart.

    rate(), not delta() or deriv() of the raw counter, because it takes a drop as a restart from
    zero: a restarted pod resets its counters, and that must not look like negative load. The
    window is 4 steps because rate() returns nothing with fewer than two samples in it: with at
    least a sample per step (scrape intervals are shorter than our steps), 4 steps still hold two
    after a few lost scrapes, and a window no shorter than a step leaves no increase unseen.
    """
    if step_seconds <= 0:
        raise ValueError(f"step_seconds must be positive, got {step_seconds}")
    return f"rate({selector}[{RATE_WINDOW_STEPS * step_seconds}s])"


def grid_points(start_seconds: int, end_seconds: int, step_seconds: int) -> int:
    """How many grid points start + k * step fall within start..end (both inclusive)."""
    if step_seconds <= 0 or end_seconds < start_seconds:
        raise ValueError(f"bad grid: start {start_seconds}, end {end_seconds}, "
                         f"step {step_seconds} (need step > 0 and end >= start)")
    return (end_seconds - start_seconds) // step_seconds + 1


def on_grid(samples: Iterable[Sequence[Any]], start_seconds: int, step_seconds: int,
            points: int) -> np.ndarray:
    """Prometheus samples `[unix seconds, "value"]` on the grid start + k * step, k < points.

    Each sample goes to its nearest grid point and samples beyond the grid's ends are dropped.
    Values arrive as strings; NaN and +-Inf become NaN, the same as no sample.
    """
    values = np.full(points, np.nan)
    pairs = np.asarray(samples, dtype=float).reshape(-1, 2)  # numpy parses "NaN" and "+Inf"
    k = np.rint((pairs[:, 0] - start_seconds) / step_seconds).astype(int)
    keep = (k >= 0) & (k < points) & np.isfinite(pairs[:, 1])
    values[k[keep]] = pairs[keep, 1]
    return values


def connect(url: str, timeout_seconds: float) -> PrometheusConnect:
    """A client with the credentials the environment names (config.PrometheusCredentials:
    files, as mounted from a Secret). Read per call, so a rotated Secret is picked up, and the
    commands, which run no operator startup, get them the same way."""
    credentials = PrometheusCredentials.from_env(os.environ)
    headers, auth = None, None
    if credentials.bearer_token_file is not None:
        token = credentials.bearer_token_file.read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}
    if credentials.username is not None and credentials.password_file is not None:
        auth = (credentials.username, credentials.password_file.read_text().strip())
    # No retries: the next reconcile retries anyway, and each retry would add a whole timeout.
    return PrometheusConnect(url=url, headers=headers, auth=auth, retry=Retry(total=0),
                             timeout=timeout_seconds)


def query_range(url: str, promql: str, start_seconds: int, end_seconds: int,
                step_seconds: int, *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
                max_points: int = MAX_POINTS_PER_QUERY) -> np.ndarray:
    """One series on the grid start + k * step up to end; NaN where Prometheus has no sample.

    Queried in chunks of at most `max_points` points, each within `timeout_seconds`. No match at
    all gives all NaN; any failed chunk or more than one series raises MetricsUnavailable.
    """
    if max_points < 1:
        raise ValueError(f"max_points must be at least 1, got {max_points}")
    points = grid_points(start_seconds, end_seconds, step_seconds)
    series: dict[str, list[Sequence[Any]]] = {}
    with connect(url, timeout_seconds) as prom:
        for first in range(0, points, max_points):
            begin = start_seconds + first * step_seconds
            finish = begin + (min(max_points, points - first) - 1) * step_seconds
            for labels, samples in _query_chunk(prom, promql, begin, finish, step_seconds).items():
                series.setdefault(labels, []).extend(samples)
            if len(series) > 1:
                names = sorted(series)
                raise MetricsUnavailable(
                    f"{promql!r} returned {len(series)} series, expected one: "
                    f"{', '.join(names[:5])}{', ...' if len(names) > 5 else ''}; "
                    f"aggregate them (sum, max, ...) or select one")
    return on_grid(next(iter(series.values()), []), start_seconds, step_seconds, points)


def query_history(url: str, promql: str, start_seconds: int, end_seconds: int,
                  step_seconds: int, *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
                  max_points: int = MAX_POINTS_PER_QUERY) -> History:
    """`query_range` with its grid, so the caller can check staleness and gaps before use."""
    values = query_range(url, promql, start_seconds, end_seconds, step_seconds,
                         timeout_seconds=timeout_seconds, max_points=max_points)
    return History(values, step_seconds, start_seconds + (len(values) - 1) * step_seconds)


async def query_history_async(url: str, promql: str, start_seconds: int, end_seconds: int,
                              step_seconds: int, *,
                              timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
                              max_points: int = MAX_POINTS_PER_QUERY) -> History:
    """`query_history` in a worker thread, for kopf handlers: the event loop stays free."""
    return await asyncio.to_thread(query_history, url, promql, start_seconds, end_seconds,
                                   step_seconds, timeout_seconds=timeout_seconds,
                                   max_points=max_points)


def _query_chunk(prom: PrometheusConnect, promql: str, begin: int, finish: int,
                 step: int) -> dict[str, list[Sequence[Any]]]:
    """Samples per series (keyed by its labels, as PromQL writes them) of one range query."""
    try:
        result = prom.custom_query_range(
            promql, start_time=dt.datetime.fromtimestamp(begin, dt.UTC),
            end_time=dt.datetime.fromtimestamp(finish, dt.UTC), step=str(step))
        return {_selector(s["metric"]): s["values"] for s in result}
    # requests' errors (unreachable, timeout, bad JSON) are OSErrors or ValueErrors.
    except (PrometheusApiClientException, OSError, ValueError, KeyError, TypeError) as error:
        window = f"{_iso(begin)}..{_iso(finish)} step {step}s"
        raise MetricsUnavailable(f"Prometheus at {prom.url} could not answer {promql!r} over "
                                 f"{window}: {_reason(error)}") from error


def _reason(error: Exception) -> str:
    """Prometheus' own words where it sent some (the `error` of its JSON body), else the error."""
    match = _HTTP_ERROR.match(str(error))
    if match is None:
        # requests wraps what went wrong (refused, timed out) in urllib3's "Max retries exceeded".
        cause = getattr(error.args[0], "reason", None) if error.args else None
        error = cause if isinstance(cause, Exception) else error
        return f"{type(error).__name__}: {error}"
    status, body = match[1], match[2]
    try:
        body = ast.literal_eval(body).decode(errors="replace")
        detail = json.loads(body)
        return f"HTTP {status}, {detail['errorType']}: {detail['error']}"
    except (ValueError, SyntaxError, KeyError, TypeError, AttributeError):
        return f"HTTP {status}: {body.strip()[:500]}"


def _selector(labels: Mapping[str, str]) -> str:
    name = labels.get("__name__", "")
    rest = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{rest}}}"


def _iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def instant_value(url: str, promql: str, *,
                  timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> float:
    """One number now (a KPI): exactly one finite sample, else MetricsUnavailable."""
    with connect(url, timeout_seconds) as prom:
        try:
            result = prom.custom_query(promql)
        except (PrometheusApiClientException, OSError, ValueError, KeyError,
                TypeError) as error:
            raise MetricsUnavailable(f"Prometheus at {prom.url} could not answer {promql!r}: "
                                     f"{_reason(error)}") from error
    if len(result) != 1:
        raise MetricsUnavailable(f"{promql!r} returned {len(result)} series, expected one")
    value = float(result[0]["value"][1])
    if not math.isfinite(value):
        raise MetricsUnavailable(f"{promql!r} is {value} now")
    return value
