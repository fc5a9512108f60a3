"""Prometheus for the stack, with days of history backfilled from real traces.

Backfill goes through `promtool tsdb create-blocks-from openmetrics` into the data directory while
Prometheus is stopped, so the blocks are queryable the moment it starts again (a live server would
only pick them up at its next compaction, about a minute later).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from shardcast.devstack import packages, probes, process
from shardcast.devstack.process import Part, StackError

RETENTION = "120d"  # the longest trace spans 55 days; backfilled data ends at "now"
MetricType = Literal["gauge", "counter"]
CONFIG = "global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\nscrape_configs: []\n"


@dataclass(frozen=True)
class Series:
    """One backfilled time series: samples `step_seconds` apart ending at `end_seconds`.

    A NaN value is no sample at all, so gaps in `values` are real gaps in the TSDB (promtool would
    store NaN as a sample, which Prometheus returns like any other value).
    """

    metric: str
    labels: Mapping[str, str]
    values: np.ndarray
    step_seconds: int
    end_seconds: int
    metric_type: MetricType = "gauge"

    def __post_init__(self) -> None:
        if self.metric_type == "counter" and not self.metric.endswith("_total"):
            raise ValueError(f"counter {self.metric} must end in _total (OpenMetrics)")

    @property
    def family(self) -> str:
        """The OpenMetrics family name: a counter's samples are `<family>_total`."""
        return self.metric.removesuffix("_total") if self.metric_type == "counter" else self.metric

    def openmetrics_lines(self) -> Iterable[str]:
        labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(self.labels.items()))
        start = self.end_seconds - (len(self.values) - 1) * self.step_seconds
        for i, value in enumerate(self.values):
            if not np.isnan(value):
                yield f"{self.metric}{{{labels}}} {float(value)!r} {start + i * self.step_seconds}"


def prometheus_part(state: Path, port: int) -> Part:
    config = state / "prometheus" / "prometheus.yml"
    config.parent.mkdir(parents=True, exist_ok=True)
    if not config.exists():
        config.write_text(CONFIG)
    return Part("prometheus", [
        packages.PROMETHEUS, f"--config.file={config}",
        f"--storage.tsdb.path={data_dir(state)}", f"--storage.tsdb.retention.time={RETENTION}",
        f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle",
    ], ready=lambda: probes.http_ok(f"http://127.0.0.1:{port}/-/ready"), timeout_seconds=60)


def data_dir(state: Path) -> Path:
    return state / "prometheus" / "data"


def aligned_now(step_seconds: int) -> int:
    """The latest grid point: backfilled series end here so range queries align exactly."""
    return int(time.time()) // step_seconds * step_seconds


def backfill(state: Path, part: Part, series: list[Series]) -> None:
    """Write `series` as TSDB blocks and (re)start Prometheus so they are queryable at once.

    Blocks are made in a staging directory and moved into the data directory just before they
    are recorded: a backfill interrupted earlier leaves nothing behind, where blocks of an
    unrecorded backfill would be written again at other timestamps and interleave with them."""
    was_running = process.running_pid(part, state) is not None
    process.stop(part, state)
    staging = state / "prometheus" / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with tempfile.NamedTemporaryFile("w", suffix=".om", delete=False) as f:
        f.writelines(line + "\n" for line in _openmetrics(series))
    proc = subprocess.run([packages.PROMTOOL, "tsdb", "create-blocks-from", "openmetrics",
                           f.name, str(staging)], capture_output=True, text=True)
    Path(f.name).unlink()
    if proc.returncode != 0:
        raise StackError(f"promtool backfill failed: {proc.stderr.strip()[-2000:]}")
    data_dir(state).mkdir(parents=True, exist_ok=True)
    for block in staging.iterdir():
        block.rename(data_dir(state) / block.name)
    _record(state, series)
    staging.rmdir()
    if was_running:
        process.start(part, state)


def backfilled(state: Path) -> list[dict[str, object]]:
    """What has been backfilled so far: metric, labels, step, points and end time per series."""
    path = state / "prometheus" / "backfill.json"
    return list(json.loads(path.read_text())) if path.exists() else []


def not_backfilled(state: Path, series: list[Series]) -> list[Series]:
    """The series of `series` that no backfill has written yet (by metric name and labels)."""
    done = {_identity(e["metric"], e["labels"]) for e in backfilled(state)}
    return [s for s in series if _identity(s.metric, dict(s.labels)) not in done]


def _identity(metric: object, labels: object) -> str:
    return json.dumps([metric, labels], sort_keys=True)


def _openmetrics(series: list[Series]) -> Iterable[str]:
    """One `# TYPE` per family with all its series after it, as OpenMetrics wants."""
    families: dict[str, list[Series]] = {}
    for s in series:
        families.setdefault(s.family, []).append(s)
    for family, members in families.items():
        yield f"# TYPE {family} {members[0].metric_type}"
        for s in members:
            yield from s.openmetrics_lines()
    yield "# EOF"


def _record(state: Path, series: list[Series]) -> None:
    entries = backfilled(state) + [
        {"metric": s.metric, "labels": dict(s.labels), "step_seconds": s.step_seconds,
         "points": len(s.values), "end_seconds": s.end_seconds} for s in series]
    (state / "prometheus" / "backfill.json").write_text(json.dumps(entries, indent=1))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
