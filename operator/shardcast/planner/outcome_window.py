"""What the operator learns between two threshold adjustments, one evaluation at a time.

The simulator sees every step of the replay; the operator sees the cluster once per cycle. So a
window accumulates: nodes that went over capacity, between the previous cycle and this one,
from just under the threshold, with no move off them (missed peaks, each node once), and each
move that finished, judged once, at the first cycle after it: had the source kept the shard,
would it still be under the threshold? A move rolled back because its traffic shift made the
KPIs worse was not worth making either. The previous cycle's utilization carries over to the
next window.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace

from shardcast.planner.threshold import Outcomes, lower_would_flag


@dataclass(frozen=True)
class FinishedMove:
    name: str
    source: str
    shard_load: float  # the shard's load now, as a fraction of the source's capacity
    kpi_regression: bool = False  # rolled back because the shift made the KPIs worse


@dataclass(frozen=True)
class Window:
    started_seconds: float
    previous: Mapping[str, float] = field(default_factory=dict)  # the last cycle's
    missed: frozenset[str] = field(default_factory=frozenset)
    judged: frozenset[str] = field(default_factory=frozenset)  # in this or an earlier window
    moves: int = 0  # judged in this window
    unnecessary: int = 0

    def observe(self, utilization: Mapping[str, float], relieved: Collection[str],
                finished: Sequence[FinishedMove], threshold: float, max_step: float) -> Window:
        """One evaluation: node utilization now (fractions), nodes with a move off them in
        flight or recently done, the moves finished so far, and how far the threshold may
        move in one adjustment."""
        over = {node for node, used in utilization.items()
                if used > 1.0 and node not in relieved
                and lower_would_flag(self.previous.get(node), threshold, max_step)}
        fresh = [m for m in finished if m.name not in self.judged]
        needless = sum(1 for m in fresh if m.kpi_regression
                       or utilization.get(m.source, 0.0) + m.shard_load <= threshold)
        return replace(self, previous={**self.previous, **utilization},
                       missed=self.missed | over,
                       judged=self.judged | {m.name for m in fresh},
                       moves=self.moves + len(fresh), unnecessary=self.unnecessary + needless)

    def outcomes(self) -> Outcomes:
        return Outcomes(missed_peaks=len(self.missed), unnecessary_moves=self.unnecessary,
                        moves=self.moves)

    def next(self, now: float) -> Window:
        """The window after an adjustment: counts start afresh; the last cycle stays, and so do
        the moves already judged, so that none is judged twice."""
        return Window(now, previous=self.previous, judged=self.judged)
