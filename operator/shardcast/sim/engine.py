"""Replay a scenario step by step under one policy. A move copies for size / bandwidth (at
least one step), loading both ends with `copy_overhead` x the shard's load meanwhile; the shard's
own load stays on the source until the move completes."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from shardcast.planner.model import PlannerSettings
from shardcast.sim.scenario import Scenario


@dataclass(frozen=True)
class SimSettings:
    threshold: float = 0.8
    hysteresis: float = 0.05
    cooldown_steps: int = 6  # 30 minutes
    horizon_steps: int = 12  # one hour
    bandwidth_bytes_per_second: float = 100 * 2**20
    copy_overhead: float = 0.25
    max_concurrent: int = 2
    max_per_node: int = 1
    min_relief: float = PlannerSettings.min_relief


@dataclass(frozen=True)
class SimMove:
    shard: int
    source: int
    target: int
    start_step: int
    finish_step: int


@dataclass
class ClusterState:
    scenario: Scenario
    settings: SimSettings
    placement: np.ndarray
    moves: list[SimMove] = field(default_factory=list)

    def in_flight(self, step: int) -> list[SimMove]:
        return [m for m in self.moves if m.finish_step > step]

    def node_load(self, step: int) -> np.ndarray:
        """Load each node carries at `step`, copies in flight included."""
        loads = self.scenario.loads[:, step]
        total = np.bincount(self.placement, weights=loads, minlength=self.scenario.nodes)
        for m in self.in_flight(step):
            extra = self.settings.copy_overhead * loads[m.shard]
            total[m.source] += extra
            total[m.target] += extra
        return total


class Policy(Protocol):
    @property
    def name(self) -> str: ...

    def decide(self, state: ClusterState, step: int) -> list[tuple[int, int]]:
        """Moves to start now: (shard, target node)."""
        ...


@dataclass(frozen=True)
class RunResult:
    policy: str
    scenario: str
    utilization: np.ndarray  # (nodes, scored steps)
    moves: tuple[SimMove, ...]
    moved_bytes: int
    step_seconds: int
    first_step: int  # the scenario step of utilization[:, 0]


def run(scenario: Scenario, policy: Policy, settings: SimSettings,
        progress: Callable[[int], None] | None = None) -> RunResult:
    state = ClusterState(scenario, settings, scenario.placement.copy())
    scored = scenario.steps - scenario.warmup_steps
    utilization = np.empty((scenario.nodes, scored))
    for step in range(scenario.warmup_steps, scenario.steps):
        for move in state.moves:
            if move.finish_step == step:
                state.placement[move.shard] = move.target
        utilization[:, step - scenario.warmup_steps] = state.node_load(step)
        for shard, target in policy.decide(state, step):
            seconds = scenario.sizes_bytes[shard] / settings.bandwidth_bytes_per_second
            finish = step + max(1, math.ceil(seconds / scenario.step_seconds))
            state.moves.append(SimMove(shard, int(state.placement[shard]), target, step, finish))
        if progress is not None:
            progress(step)
    moves = tuple(m for m in state.moves)
    return RunResult(policy.name, scenario.name, utilization, moves,
                     int(sum(int(scenario.sizes_bytes[m.shard]) for m in moves)),
                     scenario.step_seconds, scenario.warmup_steps)
