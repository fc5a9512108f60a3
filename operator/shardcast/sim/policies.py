"""The policies a run compares. Reactive, predictive and oracle are the same planner fed
different information (the load now as if it were the forecast, shardcast's forecasts, the true
future); greedy-reactive and greedy-oracle are a fixed reference rule fed the load now or the
true next hour, so a weak planner cannot hide behind a weak oracle."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from shardcast.forecast import batch
from shardcast.planner.model import (
    CostWeights,
    MoveRecord,
    NodeView,
    PlannerSettings,
    ShardView,
    Snapshot,
)
from shardcast.planner.plan import plan
from shardcast.sim.engine import ClusterState
from shardcast.sim.scenario import DAY_STEPS, Scenario

View = Callable[[ClusterState, int], tuple[np.ndarray, np.ndarray]]
"""(load, upper), each (shards, 1 + horizon): what a policy believes about now and the future."""


@dataclass
class NoOp:
    name: str = "no-op"

    def decide(self, state: ClusterState, step: int) -> list[tuple[int, int]]:
        return []


def persistence(state: ClusterState, step: int) -> tuple[np.ndarray, np.ndarray]:
    now = state.scenario.loads[:, step, None]
    series = np.repeat(now, state.settings.horizon_steps + 1, axis=1)
    return series, series


def truth(state: ClusterState, step: int) -> tuple[np.ndarray, np.ndarray]:
    loads = state.scenario.loads
    end = step + state.settings.horizon_steps + 1
    window = loads[:, step:end]
    if window.shape[1] < end - step:
        window = np.pad(window, ((0, 0), (0, end - step - window.shape[1])), mode="edge")
    return window, window


@dataclass
class Forecasts:
    """shardcast's batch forecaster, refitted daily on the last `history_days`, updated with
    every new sample in between; scheduled events scale the forecast like the policy's
    expectedEffect does."""

    scenario: Scenario
    horizon: int
    history_days: int = 4
    level: float = 0.9
    _model: batch.BatchForecaster | None = field(default=None, init=False)
    _fitted_at: int = field(default=-1, init=False)

    def __call__(self, state: ClusterState, step: int) -> tuple[np.ndarray, np.ndarray]:
        # The model learns the load without announced events (observed / expectedEffect);
        # the event's effect is multiplied back into the forecast, now and ahead.
        baseline = self.scenario.loads / self._factors(np.arange(self.scenario.steps))
        if self._model is None or step - self._fitted_at >= DAY_STEPS:
            start = max(0, step + 1 - self.history_days * DAY_STEPS)
            self._model = batch.fit(baseline[:, start:step + 1], DAY_STEPS, self.horizon,
                                    self.level)
            self._fitted_at = step
        else:
            self._model.update(baseline[:, step])
        point, _, upper = self._model.forecast(self.horizon)
        ahead = self._factors(step + 1 + np.arange(self.horizon))
        now = self.scenario.loads[:, step, None]
        return np.hstack([now, point * ahead]), np.hstack([now, upper * ahead])

    def _factors(self, steps: np.ndarray) -> np.ndarray:
        """(shards, len(steps)) multipliers of the scenario's announced event."""
        factors = np.ones((self.scenario.loads.shape[0], len(steps)))
        spike = self.scenario.spike
        if spike is not None:
            active = (steps >= spike.start_step) & (steps < spike.end_step)
            factors[np.ix_(spike.shards, active)] = spike.factor
        return factors


@dataclass
class Planned:
    """shardcast's planner on top of a view."""

    name: str
    view: View
    trigger: str = "point"
    weights: CostWeights = field(default_factory=CostWeights)
    threshold: float | None = None  # overrides the settings' (adaptive thresholds set it)

    def decide(self, state: ClusterState, step: int) -> list[tuple[int, int]]:
        scenario, settings = state.scenario, state.settings
        load, upper = self.view(state, step)
        seconds = scenario.step_seconds
        snapshot = Snapshot(
            now_seconds=step * seconds,
            nodes=tuple(NodeView(str(n), 1.0) for n in range(scenario.nodes)),
            shards=tuple(ShardView(str(i), str(int(state.placement[i])),
                                   int(scenario.sizes_bytes[i]), load[i], upper[i])
                         for i in range(len(load))),
            moves=tuple(MoveRecord(str(m.shard), str(m.source), str(m.target),
                                   m.start_step * seconds, m.finish_step * seconds)
                        for m in state.moves
                        if step - m.start_step < 4 * settings.cooldown_steps
                        or m.finish_step > step))
        chosen = planner_settings(state, self.weights, self.trigger)
        if self.threshold is not None:
            chosen = replace(chosen, threshold=self.threshold)
        result = plan(snapshot, chosen)
        return [(int(m.shard), int(m.target)) for m in result.moves]


def planner_settings(state: ClusterState, weights: CostWeights,
                     trigger: str = "point") -> PlannerSettings:
    s = state.settings
    return PlannerSettings(
        threshold=s.threshold, hysteresis=s.hysteresis,
        cooldown_seconds=s.cooldown_steps * state.scenario.step_seconds,
        step_seconds=state.scenario.step_seconds,
        bandwidth_bytes_per_second=s.bandwidth_bytes_per_second, weights=weights,
        copy_load=s.copy_overhead, trigger=trigger, min_relief=s.min_relief,
        max_concurrent=s.max_concurrent, max_per_node=s.max_per_node)


@dataclass
class Greedy:
    """The reference rule: the most loaded node over the threshold gives its largest shard to
    the least loaded node, if that node stays under the threshold; limits as the planner's."""

    name: str
    view: View

    def decide(self, state: ClusterState, step: int) -> list[tuple[int, int]]:
        load, _ = self.view(state, step)
        peak = load.max(axis=1)
        nodes = state.scenario.nodes
        per_node = np.bincount(state.placement, weights=peak, minlength=nodes)
        flying = state.in_flight(step)
        busy = np.zeros(nodes, dtype=int)
        for m in flying:
            busy[m.source] += 1
            busy[m.target] += 1
        moving = {m.shard for m in flying}
        budget = state.settings.max_concurrent - len(flying)
        moves: list[tuple[int, int]] = []
        for node in np.argsort(-per_node):
            if budget <= 0 or per_node[node] <= state.settings.threshold:
                break
            if busy[node] >= state.settings.max_per_node:
                continue
            mine = [s for s in np.flatnonzero(state.placement == node) if s not in moving]
            if not mine:
                continue
            shard = max(mine, key=lambda s: peak[s])
            free = [n for n in np.argsort(per_node) if n != node
                    and busy[n] < state.settings.max_per_node]
            if not free or per_node[free[0]] + peak[shard] > state.settings.threshold:
                continue
            target = int(free[0])
            moves.append((int(shard), target))
            per_node[node] -= peak[shard]
            per_node[target] += peak[shard]
            busy[node] += 1
            busy[target] += 1
            budget -= 1
        return moves
