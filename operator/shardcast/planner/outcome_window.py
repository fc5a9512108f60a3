"""What the operator learns between two threshold adjustments, one evaluation at a time.

The simulator sees every step of the replay; the operator sees the cluster once per cycle. So a
window accumulates: nodes that went over capacity with no move off them (missed peaks, each node
once), the highest utilization seen, and each move that finished, judged once, at the first
cycle after it: had the source kept the shard, would it still be under the threshold?
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace

from shardcast.planner.threshold import Outcomes


@dataclass(frozen=True)
class FinishedMove:
    name: str
    source: str
    shard_load: float  # the shard's load now, as a fraction of the source's capacity


@dataclass(frozen=True)
class Window:
    started_seconds: float
    missed: frozenset[str] = field(default_factory=frozenset)
    peak: float = 0.0
    judged: frozenset[str] = field(default_factory=frozenset)
    unnecessary: int = 0

    def observe(self, utilization: Mapping[str, float], relieved: Collection[str],
                finished: Sequence[FinishedMove], threshold: float) -> Window:
        """One evaluation: node utilization now (fractions), nodes with a move off them in
        flight or recently done, and the moves finished so far."""
        over = {node for node, used in utilization.items() if used > 1.0 and node not in relieved}
        fresh = [m for m in finished if m.name not in self.judged]
        needless = sum(1 for m in fresh
                       if utilization.get(m.source, 0.0) + m.shard_load <= threshold)
        return replace(self, missed=self.missed | over,
                       peak=max(self.peak, *utilization.values(), 0.0),
                       judged=self.judged | {m.name for m in fresh},
                       unnecessary=self.unnecessary + needless)

    def outcomes(self) -> Outcomes:
        return Outcomes(missed_peaks=len(self.missed), unnecessary_moves=self.unnecessary,
                        moves=len(self.judged), peak_utilization=self.peak)
