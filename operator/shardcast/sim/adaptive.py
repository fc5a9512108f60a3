"""The planner with an adaptive threshold, judged on what actually happened in the replay."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from shardcast.planner.threshold import (
    Outcomes,
    Threshold,
    ThresholdBounds,
    adapt,
    lower_would_flag,
)
from shardcast.sim.engine import ClusterState, SimMove
from shardcast.sim.policies import Planned


@dataclass
class Adaptive:
    """Every `interval_steps`, counts missed peaks and unnecessary moves since the last
    adjustment and lets `adapt` move the planner's threshold; `history` keeps each change."""

    planned: Planned
    bounds: ThresholdBounds = field(default_factory=ThresholdBounds)
    interval_steps: int = 72  # six hours
    history: list[tuple[int, Threshold]] = field(default_factory=list)
    _node_load: dict[int, np.ndarray] = field(default_factory=dict)
    _since: int | None = None

    @property
    def name(self) -> str:
        return self.planned.name

    def decide(self, state: ClusterState, step: int) -> list[tuple[int, int]]:
        if self.planned.threshold is None:
            self.planned.threshold = state.settings.threshold
            self.history.append((step, Threshold(state.settings.threshold)))
            self._since = step
        self._node_load[step] = state.node_load(step)
        if self._since is not None and step - self._since >= self.interval_steps:
            outcomes = self._outcomes(state, self._since, step)
            current = Threshold(self.planned.threshold, self.history[-1][1].reason)
            changed = adapt(current, outcomes, self.bounds)
            if changed is not current:
                self.planned.threshold = changed.current
                self.history.append((step, changed))
            self._since = step
        return self.planned.decide(state, step)

    def _outcomes(self, state: ClusterState, start: int, end: int) -> Outcomes:
        horizon = state.settings.horizon_steps
        moves = [m for m in state.moves if start <= m.start_step < end]
        threshold = self.planned.threshold or state.settings.threshold
        missed = 0
        for step in range(max(start, 1), end):
            before = self._node_load.get(step - 1)
            for node in np.flatnonzero(self._node_load[step] > 1.0):
                if (before is not None and lower_would_flag(
                        float(before[node]), threshold, self.bounds.max_step)
                        and not any(m.source == node and step - horizon <= m.start_step <= step
                                    for m in state.moves)):
                    missed += 1
        unnecessary = sum(1 for m in moves if self._unneeded(state, m, end))
        return Outcomes(missed, unnecessary, len(moves))

    def _unneeded(self, state: ClusterState, move: SimMove, end: int) -> bool:
        """The source, had it kept the shard, would have stayed under the threshold."""
        steps = [s for s in range(move.finish_step, min(end, move.finish_step
                                                        + state.settings.horizon_steps))
                 if s in self._node_load]
        if not steps:
            return False
        kept = [self._node_load[s][move.source] + state.scenario.loads[move.shard, s]
                for s in steps]
        return bool(max(kept) <= (self.planned.threshold or state.settings.threshold))
