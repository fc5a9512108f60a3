"""CSV trace -> evenly spaced series. Timestamps in the raw files drift and skip, so samples are
placed on a fixed grid (last sample wins in a cell) and short gaps are filled linearly."""

from __future__ import annotations

import csv
import datetime
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shardcast.traces.catalog import TraceSpec


@dataclass(frozen=True)
class Trace:
    name: str
    step_seconds: int
    values: np.ndarray  # float64, one per grid step, no NaN

    @property
    def duration_seconds(self) -> int:
        return len(self.values) * self.step_seconds


def load_trace(spec: TraceSpec, traces_dir: Path) -> Trace:
    path = traces_dir / spec.path
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"trace {spec.name}: {path} has no rows")
    values = np.array([float(row[spec.column]) for row in rows])
    if spec.timestamp_column is None:
        return Trace(spec.name, spec.step_seconds, values)
    seconds = np.array([_seconds(row[spec.timestamp_column]) for row in rows])
    return Trace(spec.name, spec.step_seconds, _on_grid(seconds, values, spec.step_seconds))


def _seconds(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        return datetime.datetime.fromisoformat(raw).replace(tzinfo=datetime.UTC).timestamp()


def _on_grid(seconds: np.ndarray, values: np.ndarray, step: int) -> np.ndarray:
    order = np.argsort(seconds, kind="stable")
    seconds, values = seconds[order], values[order]
    cells = np.round((seconds - seconds[0]) / step).astype(np.int64)
    grid = np.full(int(cells[-1]) + 1, np.nan)
    grid[cells] = values
    missing = np.isnan(grid)
    if missing.any():
        known = np.flatnonzero(~missing)
        grid[missing] = np.interp(np.flatnonzero(missing), known, grid[known])
    return grid
