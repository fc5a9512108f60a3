"""Utilization history from Prometheus, on a fixed grid, as floats.

prometheus-api-client is synchronous; callers on kopf's event loop run it in a worker thread.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
from prometheus_api_client import PrometheusConnect

MAX_POINTS_PER_QUERY = 11_000  # Prometheus refuses range queries resolving to more points


class MetricsUnavailable(RuntimeError):
    """Prometheus could not answer; no forecast, and therefore no move, may come from this."""


def query_range(url: str, promql: str, start_seconds: int, end_seconds: int,
                step_seconds: int) -> np.ndarray:
    """One series on the grid start..end (inclusive); NaN where Prometheus has no sample."""
    prom = PrometheusConnect(url=url, disable_ssl=True)
    grid = np.arange(start_seconds, end_seconds + 1, step_seconds)
    values = np.full(len(grid), np.nan)
    chunk = step_seconds * (MAX_POINTS_PER_QUERY - 1)
    for begin in range(start_seconds, end_seconds + 1, chunk + step_seconds):
        finish = min(begin + chunk, end_seconds)
        try:
            result = prom.custom_query_range(
                promql, start_time=dt.datetime.fromtimestamp(begin, dt.UTC),
                end_time=dt.datetime.fromtimestamp(finish, dt.UTC), step=str(step_seconds))
        except Exception as error:  # the client raises bare exceptions of several kinds
            raise MetricsUnavailable(
                f"Prometheus at {url} failed on {promql!r}: {error}") from error
        if len(result) > 1:
            raise MetricsUnavailable(f"{promql!r} returned {len(result)} series, expected one")
        for timestamp, raw in (result[0]["values"] if result else []):
            value = float(raw)
            if math.isfinite(value):
                values[int((int(timestamp) - start_seconds) // step_seconds)] = value
    return values
