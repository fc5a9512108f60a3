"""Each shard's recent history held in memory between cycles, so a cycle reads from Prometheus
only the samples since the last one.

A shard the store has not seen is first read over its most recent `prime_points` only (enough
for the baselines), so that a fleet's first forecasts come within seconds; the older part of
its window follows over the next cycles, at most `backfill_samples` samples a cycle, newest
first. Reading whole weeks of 10,000 shards at once costs Prometheus and the decoding a
minute."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

import numpy as np


class ReadKind(Enum):
    FRESH = "fresh"  # shards not held: their latest prime_points
    NEWER = "newer"  # shards held: the samples since the store's end
    OLDER = "older"  # shards held whose window is not yet filled: the samples before it


@dataclass(frozen=True)
class Read:
    """One range read the store needs: these shards, start..end on the step grid."""

    shards: tuple[str, ...]
    start_seconds: int
    end_seconds: int
    kind: ReadKind


@dataclass
class HistoryStore:
    """Rows of shards x `window_points` samples ending at `end_seconds`, float32 (utilization
    needs no more digits, and it halves the memory of 10,000 week-long windows).

    The columns are a ring: `head` is the column of the oldest sample, so a new sample
    overwrites one column instead of shifting the whole window. `since` is each row's oldest
    instant read: the columns before it are NaN, not yet read."""

    step_seconds: int
    window_points: int
    prime_points: int | None = None  # None: a new shard's whole window at once
    backfill_samples: int = 2_000_000
    end_seconds: int | None = None
    names: list[str] = field(default_factory=list)
    values: np.ndarray = field(default_factory=lambda: np.empty((0, 0), np.float32))
    since: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    head: int = 0

    def __post_init__(self) -> None:
        if self.values.size == 0:
            self.values = np.empty((0, self.window_points), np.float32)
        self._rows = {name: row for row, name in enumerate(self.names)}

    def rows(self, names: Iterable[str]) -> np.ndarray:
        return np.array([self._rows[name] for name in names], dtype=int)

    def __contains__(self, name: object) -> bool:
        return name in self._rows

    def reads(self, shards: Iterable[str], end_seconds: int) -> list[Read]:
        """What to read to hold `shards` up to `end_seconds`: the new samples of the shards
        held, the latest `prime_points` of the others, and older samples of windows not yet
        filled, within `backfill_samples`. Nothing when the grid has not advanced and every
        window is filled."""
        wanted = sorted(shards)
        unseen = tuple(s for s in wanted if s not in self._rows)
        held = tuple(s for s in wanted if s in self._rows)
        step = self.step_seconds
        window_start = self.window_start(end_seconds)
        reads = []
        if self.end_seconds is not None and end_seconds > self.end_seconds and held:
            reads.append(Read(held, max(self.end_seconds + step, window_start), end_seconds,
                              ReadKind.NEWER))
        if unseen:
            prime = self.prime_points or self.window_points
            reads.append(Read(unseen, max(window_start, end_seconds - (prime - 1) * step),
                              end_seconds, ReadKind.FRESH))
        return reads + self._older(held, window_start)

    def _older(self, held: tuple[str, ...], window_start: int) -> list[Read]:
        """The samples before the oldest held, newest first, rows that have read as far back
        together, within the backfill budget."""
        if not held:
            return []
        since = self.since[self.rows(held)]
        budget, reads = self.backfill_samples, []
        for oldest in sorted(set(since[since > window_start].tolist()), reverse=True):
            group = tuple(s for s, t in zip(held, since, strict=True) if t == oldest)
            points = min((oldest - window_start) // self.step_seconds, budget // len(group))
            if points < 1:
                break
            reads.append(Read(group, oldest - points * self.step_seconds,
                              oldest - self.step_seconds, ReadKind.OLDER))
            budget -= points * len(group)
        return reads

    def window_start(self, end_seconds: int) -> int:
        return end_seconds - (self.window_points - 1) * self.step_seconds

    def filled(self, names: Iterable[str]) -> np.ndarray:
        """Whether each shard's window has been read back to its start."""
        if self.end_seconds is None:
            return np.zeros(len(list(names)), bool)
        return np.asarray(self.since[self.rows(names)] <= self.window_start(self.end_seconds))

    def unread_points(self, rows: np.ndarray) -> int:
        """How many of the window's oldest columns some of `rows` have not read yet."""
        if self.end_seconds is None or not len(rows):
            return 0
        oldest = int(self.since[rows].max())
        return max(0, (oldest - self.window_start(self.end_seconds)) // self.step_seconds)

    def window(self, rows: np.ndarray) -> np.ndarray:
        """The rows' samples in time order, oldest first (a copy)."""
        return np.concatenate([self.values[rows, self.head:], self.values[rows, :self.head]],
                              axis=1)

    def newest(self, rows: np.ndarray, k: int) -> np.ndarray:
        """The rows' last `k` samples, oldest first."""
        columns = (self.head - k + np.arange(k)) % self.window_points
        return np.asarray(self.values[np.ix_(rows, columns)])

    def latest(self, names: Iterable[str]) -> np.ndarray:
        """Each shard's sample at `end_seconds` (NaN when it has none: the series is stale)."""
        column = (self.head - 1) % self.window_points
        return np.asarray(self.values[self.rows(names), column], dtype=float)

    def retain(self, shards: Iterable[str]) -> None:
        """Forget every shard not in `shards` (deselected, deleted, or to be read afresh)."""
        wanted = set(shards)
        keep = [name for name in self.names if name in wanted]
        if len(keep) != len(self.names):
            rows = self.rows(keep)
            self.values, self.since = self.values[rows], self.since[rows]
            self._reindex(keep)

    def advance(self, end_seconds: int, samples: Mapping[str, np.ndarray]) -> None:
        """Slide the window to `end_seconds`; `samples` holds the new points of held shards
        (a shard without them gets NaN: no sample)."""
        if self.end_seconds is None or end_seconds <= self.end_seconds:
            self.end_seconds = max(end_seconds, self.end_seconds or end_seconds)
            return
        k = min((end_seconds - self.end_seconds) // self.step_seconds, self.window_points)
        columns = (self.head + np.arange(k)) % self.window_points
        self.values[:, columns] = np.nan
        if samples:
            rows = self.rows(samples)
            self.values[np.ix_(rows, columns)] = np.stack(
                [np.asarray(new[-k:], np.float32) for new in samples.values()])
        self.head = int((self.head + k) % self.window_points)
        self.end_seconds = end_seconds

    def add(self, end_seconds: int, names: Sequence[str], block: np.ndarray,
            since_seconds: int) -> None:
        """Hold new shards: `block` (len(names) x window_points) holds their windows in time
        order, ending at `end_seconds` (the store's end, after `advance`), read back to
        `since_seconds` (NaN before it)."""
        if not names:
            return
        if self.end_seconds != end_seconds:
            raise ValueError(f"windows end at {end_seconds}, the store at {self.end_seconds}")
        block = np.roll(np.asarray(block, np.float32), self.head, axis=1)  # onto the ring
        self.values = block if not self.names else np.concatenate([self.values, block])
        self.since = np.concatenate([self.since, np.full(len(names), since_seconds, np.int64)])
        self._reindex(self.names + list(names))

    def fill(self, start_seconds: int, samples: Mapping[str, np.ndarray]) -> None:
        """Older samples of held shards, each on the grid from `start_seconds` up to just
        before its `since`; what has slid out of the window meanwhile is dropped."""
        if not samples or self.end_seconds is None:
            return
        window_start = self.window_start(self.end_seconds)
        for name, values in samples.items():
            row = self._rows[name]
            times = start_seconds + self.step_seconds * np.arange(len(values))
            keep = (times >= window_start) & (times < self.since[row])
            offsets = (times[keep] - window_start) // self.step_seconds
            self.values[row, (self.head + offsets) % self.window_points] = \
                np.asarray(values, np.float32)[keep]
            self.since[row] = min(int(self.since[row]), start_seconds)

    def _reindex(self, names: list[str]) -> None:
        self.names = names
        self._rows = {name: row for row, name in enumerate(names)}
