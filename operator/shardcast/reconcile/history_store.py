"""Each shard's recent history held in memory between cycles, so a cycle reads from Prometheus
only the samples since the last one (and whole windows only for shards it has not seen)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Read:
    """One range read the store needs: these shards, start..end on the step grid."""

    shards: tuple[str, ...]
    start_seconds: int
    end_seconds: int


@dataclass
class HistoryStore:
    """Rows of shards x `window_points` samples ending at `end_seconds`, float32 (utilization
    needs no more digits, and it halves the memory of 10,000 week-long windows).

    The columns are a ring: `head` is the column of the oldest sample, so a new sample
    overwrites one column instead of shifting the whole window."""

    step_seconds: int
    window_points: int
    end_seconds: int | None = None
    names: list[str] = field(default_factory=list)
    values: np.ndarray = field(default_factory=lambda: np.empty((0, 0), np.float32))
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
        held, whole windows of the others. Nothing when the grid has not advanced."""
        wanted = sorted(shards)
        unseen = tuple(s for s in wanted if s not in self._rows)
        held = tuple(s for s in wanted if s in self._rows)
        window_start = end_seconds - (self.window_points - 1) * self.step_seconds
        reads = []
        if self.end_seconds is not None and end_seconds > self.end_seconds and held:
            reads.append(Read(held, max(self.end_seconds + self.step_seconds, window_start),
                              end_seconds))
        if unseen:
            reads.append(Read(unseen, window_start, end_seconds))
        return reads

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
            self.values = self.values[self.rows(keep)]
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

    def add(self, end_seconds: int, names: Sequence[str], block: np.ndarray) -> None:
        """Hold new shards: `block` (len(names) x window_points) holds their whole windows in
        time order, ending at `end_seconds` (the store's end, after `advance`)."""
        if not names:
            return
        if self.end_seconds != end_seconds:
            raise ValueError(f"windows end at {end_seconds}, the store at {self.end_seconds}")
        block = np.roll(np.asarray(block, np.float32), self.head, axis=1)  # onto the ring
        self.values = block if not self.names else np.concatenate([self.values, block])
        self._reindex(self.names + list(names))

    def _reindex(self, names: list[str]) -> None:
        self.names = names
        self._rows = {name: row for row, name in enumerate(names)}
