"""The simulator's promises on a small cluster built from real traces."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from shardcast.planner.threshold import (
    Outcomes,
    Threshold,
    ThresholdBounds,
    adapt,
    lower_would_flag,
)
from shardcast.sim import engine, metrics, policies
from shardcast.sim.adaptive import Adaptive
from shardcast.sim.compare import compare, standard_policies
from shardcast.sim.scenario import DAY_STEPS, Scenario, build
from shardcast.traces import TRACES, default_traces_dir, load_trace

SETTINGS = engine.SimSettings(max_concurrent=2, max_per_node=1, min_relief=0.0)


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    traces = [load_trace(t, default_traces_dir()).values for t in TRACES]
    return build("small", traces, nodes=4, shards=24, seed=11, days=6, warmup_days=4,
                 utilization=0.7, spike=True)


def test_every_policy_keeps_the_limits_and_the_cooldown(scenario: Scenario) -> None:
    runs = compare(scenario, SETTINGS, standard_policies(scenario, SETTINGS))
    assert runs["reactive"].score.moves > 0  # the scenario does make the planner act
    for name, run in runs.items():
        moves = run.result.moves
        for step in range(scenario.warmup_steps, scenario.steps):
            flying = [m for m in moves if m.start_step <= step < m.finish_step]
            assert len(flying) <= SETTINGS.max_concurrent, name
            if name.startswith("greedy"):
                continue
            for node in range(scenario.nodes):
                assert sum(node in (m.source, m.target) for m in flying) <= 1, name
        if not name.startswith("greedy"):
            by_shard: dict[int, list[int]] = {}
            for m in moves:
                by_shard.setdefault(m.shard, []).append(m.start_step)
            for starts in by_shard.values():
                assert all(b - a >= SETTINGS.cooldown_steps
                           for a, b in itertools.pairwise(starts)), name


def test_runs_are_deterministic(scenario: Scenario) -> None:
    first = engine.run(scenario, policies.Planned("p", policies.Forecasts(scenario, 12)),
                       SETTINGS)
    again = engine.run(scenario, policies.Planned("p", policies.Forecasts(scenario, 12)),
                       SETTINGS)
    assert first.moves == again.moves
    assert np.array_equal(first.utilization, again.utilization)


def test_the_oracle_overloads_less_than_doing_nothing() -> None:
    traces = [load_trace(t, default_traces_dir()).values for t in TRACES]
    calm = build("calm", traces, nodes=6, shards=40, seed=5, days=7, warmup_days=4)
    runs = compare(calm, SETTINGS, [policies.NoOp(), policies.Planned("oracle", policies.truth)])
    assert runs["no-op"].score.overload_node_minutes > 0
    assert (runs["oracle"].score.overload_node_minutes
            < runs["no-op"].score.overload_node_minutes)


def test_scores_count_node_minutes_and_flaps() -> None:
    utilization = np.array([[0.5, 1.2, 0.9], [1.1, 0.7, 0.85]])
    moves = (engine.SimMove(1, 0, 1, 10, 12), engine.SimMove(1, 1, 0, 20, 21),
             engine.SimMove(2, 0, 1, 10, 11), engine.SimMove(2, 1, 0, 99, 100))
    result = engine.RunResult("p", "s", utilization, moves, 4 * 2**30, 300, 0)
    score = metrics.score(result, threshold=0.8, flap_window_steps=24)
    assert score.overload_node_minutes == 10  # two node-steps of 5 minutes over 100%
    assert score.above_threshold_node_minutes == 20  # 1.2, 0.9, 1.1 and 0.85
    assert score.flaps == 1  # shard 1 went back within 24 steps; shard 2 after 89


def test_thresholds_drop_after_missed_peaks_and_creep_up_after_needless_moves() -> None:
    bounds = ThresholdBounds(minimum=0.6, maximum=0.9, max_step=0.05)
    lowered = adapt(Threshold(0.8), Outcomes(3, 0, 4), bounds)
    assert lowered.current == pytest.approx(0.75) and "3 node overload" in lowered.reason
    raised = adapt(Threshold(0.8), Outcomes(0, 3, 4), bounds)
    assert raised.current == pytest.approx(0.825) and "3 of 4 move(s)" in raised.reason
    useful = Threshold(0.8)
    assert adapt(useful, Outcomes(0, 2, 4), bounds) is useful  # half were needed: no raise
    floor = adapt(Threshold(0.6), Outcomes(1, 0, 0), bounds)
    assert floor.current == 0.6 and "bound" in floor.reason


def test_only_an_overload_from_just_under_the_threshold_counts_as_missed() -> None:
    assert lower_would_flag(0.78, threshold=0.8, max_step=0.05)
    assert lower_would_flag(0.8, threshold=0.8, max_step=0.05)
    assert not lower_would_flag(0.75, threshold=0.8, max_step=0.05)  # one step lower: still under
    assert not lower_would_flag(0.9, threshold=0.8, max_step=0.05)  # flagged already
    assert not lower_would_flag(None, threshold=0.8, max_step=0.05)  # never seen before
    assert lower_would_flag(0.6501, threshold=0.7, max_step=0.05)
    assert not lower_would_flag(0.65, threshold=0.7, max_step=0.05)  # 0.7 - 0.05 in binary


def test_an_adaptive_threshold_moves_in_the_simulator(scenario: Scenario) -> None:
    adaptive = Adaptive(policies.Planned("adaptive", policies.truth),
                        interval_steps=DAY_STEPS // 4)
    engine.run(scenario, adaptive, SETTINGS)
    changes = adaptive.history[1:]
    assert changes, "the threshold never changed"
    for _, threshold in changes:
        assert 0.5 <= threshold.current <= 0.95
        assert threshold.reason.startswith(("lowered", "raised"))
