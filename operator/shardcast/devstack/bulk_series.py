"""Backfilling many series at once (benchmarks: thousands of shards, a week of 5-minute samples).

`prometheus.backfill` suits the stack's few dozen series: one OpenMetrics file, Prometheus
stopped and restarted around it, every series recorded. At 10,000 series x 2016 samples that
path is slow twice over: promtool re-reads its whole input once per 2-hour block it writes (84
passes over ~2 GB for a week), and each restart of a shared Prometheus interrupts whoever else is
querying it. Here the input is split by series into chunks, promtool writes blocks as large as
the largest compaction range of the stack's Prometheus (`--max-block-duration`, so one pass per
chunk), the next chunk is written while promtool works on the last, and the blocks are moved
into the data directory of the running Prometheus, which loads them at its next block reload
(about once a minute; `part` restarts it instead, so they are queryable at once).

The series are not recorded in backfill.json: they are meant to be named per run (a benchmark's
namespace label), are never backfilled again, and thousands of entries would only slow down the
record every `up` reads.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import IO

import numpy as np

from shardcast.devstack import packages, process
from shardcast.devstack.process import Part, StackError
from shardcast.devstack.prometheus import Series, data_dir

# The largest compaction range of the stack's Prometheus (2h x 3^k up to a tenth of its 120-day
# retention): blocks of this size are never split and rarely rewritten by its compactor.
BLOCK_HOURS = 162
CHUNK_SERIES = 2000


@dataclass(frozen=True)
class BulkBackfill:
    """What one bulk backfill wrote and how long each part took (seconds)."""

    series: int
    samples: int
    blocks: int
    write_seconds: float  # formatting OpenMetrics text (overlaps promtool's work)
    promtool_seconds: float  # promtool busy, summed over chunks
    total_seconds: float


def backfill_bulk(state: Path, series: Iterable[Series], *, chunk_series: int = CHUNK_SERIES,
                  block_hours: int = BLOCK_HOURS, part: Part | None = None) -> BulkBackfill:
    """Write `series` as TSDB blocks into the stack's Prometheus data directory.

    Without `part` Prometheus keeps running and picks the blocks up at its next reload (see
    `wait_queryable` in callers); with it, Prometheus is restarted so they are queryable at once.
    Blocks are made in a staging directory and only moved in once every chunk succeeded."""
    began = time.monotonic()
    staging = state / "prometheus" / f"staging-bulk-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    try:
        counts, write_s, promtool_s = _make_blocks(staging, series, chunk_series, block_hours)
        blocks = _move_blocks(staging, data_dir(state))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if part is not None:
        process.stop(part, state)
        process.start(part, state)
    return BulkBackfill(counts[0], counts[1], blocks, write_s, promtool_s,
                        time.monotonic() - began)


def _make_blocks(staging: Path, series: Iterable[Series], chunk_series: int,
                 block_hours: int) -> tuple[tuple[int, int], float, float]:
    """One promtool run per chunk, each started as soon as its input is written, while the next
    chunk's input is written. Returns ((series, samples), write seconds, promtool seconds)."""
    n_series = n_samples = 0
    write_s = promtool_s = 0.0
    running: _Promtool | None = None
    try:
        for index, chunk in enumerate(_chunks(series, chunk_series)):
            t0 = time.monotonic()
            path, samples = _write_chunk(staging, chunk)
            write_s += time.monotonic() - t0
            n_series, n_samples = n_series + len(chunk), n_samples + samples
            if running is not None:
                promtool_s += running.wait()
            running = _Promtool(path, staging / f"blocks-{index}", block_hours)
        if running is not None:
            promtool_s += running.wait()
            running = None
    finally:
        if running is not None:  # interrupted: its blocks would be thrown away anyway
            running.proc.kill()
            running.proc.wait()
    return (n_series, n_samples), write_s, promtool_s


class _Promtool:
    """`promtool tsdb create-blocks-from openmetrics` on one input file, in the background."""

    def __init__(self, source: Path, out: Path, block_hours: int) -> None:
        self.source, self.began = source, time.monotonic()
        self.proc = subprocess.Popen(
            [packages.PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", "--quiet",
             f"--max-block-duration={block_hours}h", str(source), str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def wait(self) -> float:
        _, stderr = self.proc.communicate()
        self.source.unlink(missing_ok=True)
        if self.proc.returncode != 0:
            raise StackError(f"promtool backfill failed: {stderr.strip()[-2000:]}")
        return time.monotonic() - self.began


def _chunks(series: Iterable[Series], size: int) -> Iterator[list[Series]]:
    it = iter(series)
    while chunk := list(islice(it, size)):
        yield chunk


def _write_chunk(staging: Path, chunk: Sequence[Series]) -> tuple[Path, int]:
    """One OpenMetrics file: a `# TYPE` per family, its series after it. Returns the file and
    how many samples it holds (NaN values are no sample, as in `Series`)."""
    samples = 0
    with tempfile.NamedTemporaryFile("w", suffix=".om", dir=staging, delete=False) as f:
        families: dict[str, list[Series]] = {}
        for s in chunk:
            families.setdefault(s.family, []).append(s)
        for family, members in families.items():
            f.write(f"# TYPE {family} {members[0].metric_type}\n")
            for s in members:
                samples += _write_series(f, s)
        f.write("# EOF\n")
    return Path(f.name), samples


def _write_series(out: IO[str], s: Series) -> int:
    labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(s.labels.items()))
    prefix = f"{s.metric}{{{labels}}} "
    start = s.end_seconds - (len(s.values) - 1) * s.step_seconds
    present = np.flatnonzero(~np.isnan(s.values))
    times = (start + present * s.step_seconds).tolist()
    values = s.values[present].tolist()
    out.write("".join([f"{prefix}{v!r} {t}\n" for v, t in zip(values, times, strict=True)]))
    return len(values)


def _move_blocks(staging: Path, target: Path) -> int:
    target.mkdir(parents=True, exist_ok=True)
    blocks = [b for out in sorted(staging.glob("blocks-*")) for b in out.iterdir()
              if (b / "meta.json").exists()]
    for block in blocks:
        block.rename(target / block.name)
    return len(blocks)


def overlapping_blocks(state: Path) -> int:
    """How many blocks in Prometheus' data directory overlap another in time, plus how many
    compactions are under way (their temporary directories): 0 once its compactor has merged
    everything a backfill added. Vertical compaction of overlapping blocks costs Prometheus CPU
    that would otherwise be charged to whatever is being measured."""
    metas = []
    busy = 0
    for entry in data_dir(state).iterdir() if data_dir(state).exists() else []:
        if entry.name.endswith(".tmp-for-creation") or entry.name.endswith(".tmp-for-deletion"):
            busy += 1
        elif (entry / "meta.json").exists():
            try:
                meta = json.loads((entry / "meta.json").read_text())
            except (OSError, ValueError):
                busy += 1  # being written or removed right now
                continue
            metas.append((int(meta["minTime"]), int(meta["maxTime"])))
    metas.sort()
    overlapping: set[int] = set()
    reach: tuple[int, int] | None = None  # the furthest maxTime so far, and its block
    for i, (lo, hi) in enumerate(metas):
        if reach is not None and lo < reach[0]:
            overlapping.update((reach[1], i))
        if reach is None or hi > reach[0]:
            reach = (hi, i)
    return len(overlapping) + busy


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
