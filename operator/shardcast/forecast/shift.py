"""Level shifts between refits: a shard whose samples keep landing outside its forecast's band,
on the same side, has left the regime its model learnt.

A model is chosen on its backtest and then runs on fixed parameters until the next refit (a
retrain interval in the operator, a day in the simulator). A VM idle for days that jumps to
40% of a node is still forecast near zero, with the narrow band its idle history earned, for
the rest of that interval; its node looks as if it were about to empty. After a level shift
every sample lands outside the band, on the same side, at once. Forecast errors run in streaks,
so a few misses in a row happen without one: at three in a row, about half of a diurnal
cluster's shards were handed to persistence every simulated day, and 1.6 times the bytes moved
for 3% less overload; at six (half an hour at 5-minute steps) the idle VM is still caught and
the cluster's moves stay as they were (docs/forecasting.md). The rows found follow persistence
(the load now, which follows any shift at the next sample) while their model keeps being judged;
as many samples in a row back inside its band (a burst that ended, a level the model caught up
with) give the row back to it. A refit chooses afresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SHIFT_MISSES = 6  # consecutive samples outside the band, on one side, that mark a shift
SHIFT_HITS = SHIFT_MISSES  # and inside it, that end one


@dataclass
class ShiftWatch:
    """The bounds of the latest forecast of each row's own model, and per row: its run of
    misses since (signed: above the upper bound counts up, below the lower one down, a sample
    inside resets it), its run of samples inside, and whether it is shifted."""

    runs: np.ndarray  # (n,) int
    hits: np.ndarray  # (n,) int
    shifted: np.ndarray  # (n,) bool
    lower: np.ndarray | None = field(default=None)  # (n, H): the latest forecast's bounds
    upper: np.ndarray | None = field(default=None)
    seen: int = 0  # samples absorbed since that forecast

    @classmethod
    def empty(cls, size: int) -> ShiftWatch:
        return cls(np.zeros(size, dtype=int), np.zeros(size, dtype=int), np.zeros(size, bool))

    def expect(self, lower: np.ndarray, upper: np.ndarray) -> None:
        """A forecast was made: the next samples are judged against its bounds, step by step."""
        self.lower, self.upper, self.seen = lower, upper, 0

    def observe(self, observed: np.ndarray, eligible: np.ndarray) -> np.ndarray:
        """Judge the next sample of every row (NaN: none); rows `eligible` whose run of misses
        reaches SHIFT_MISSES become shifted (returned), shifted rows whose run inside reaches
        SHIFT_HITS stop being so. Samples beyond the latest forecast's horizon, or with no
        forecast made since the state changed, are not judged."""
        if self.lower is None or self.upper is None or self.seen >= self.lower.shape[1]:
            return np.zeros(len(self.runs), dtype=bool)
        low, high = self.lower[:, self.seen], self.upper[:, self.seen]
        self.seen += 1
        known = ~np.isnan(observed)
        above, below = known & (observed > high), known & (observed < low)
        inside = known & ~above & ~below
        self.runs = np.where(above, np.maximum(self.runs, 0) + 1,
                             np.where(below, np.minimum(self.runs, 0) - 1,
                                      np.where(known, 0, self.runs)))
        self.hits = np.where(inside, self.hits + 1, np.where(known, 0, self.hits))
        entered = ~self.shifted & eligible & (np.abs(self.runs) >= SHIFT_MISSES)
        ended = self.shifted & (self.hits >= SHIFT_HITS)
        self.shifted = (self.shifted | entered) & ~ended
        self.runs[entered] = 0
        return np.asarray(entered)

    def take(self, rows: np.ndarray) -> ShiftWatch:
        """The state of a subset of the rows; the forecast's bounds are dropped (the next
        forecast sets them again)."""
        return ShiftWatch(self.runs[rows].copy(), self.hits[rows].copy(),
                          self.shifted[rows].copy())

    def forget(self, rows: np.ndarray) -> None:
        """Rows refitted: no longer shifted, their runs start over, and no sample is judged
        until the next forecast (the bounds held were the old model's)."""
        self.runs[rows], self.hits[rows], self.shifted[rows] = 0, 0, False
        self.lower = self.upper = None

    @staticmethod
    def concatenate(parts: list[ShiftWatch]) -> ShiftWatch:
        return ShiftWatch(np.concatenate([p.runs for p in parts]),
                          np.concatenate([p.hits for p in parts]),
                          np.concatenate([p.shifted for p in parts]))
