"""Each cost term against a value computed by hand."""

from __future__ import annotations

import pytest

from shardcast.planner.cost import cost, recent_moves, transfer_seconds, unavailability
from shardcast.planner.model import CostWeights, MoveRecord, PlannerSettings


def test_transfer_is_size_over_bandwidth() -> None:
    assert transfer_seconds(10 * 2**30, 100 * 2**20) == pytest.approx(102.4)


def test_unavailability_is_cutover_seconds_times_the_load_share() -> None:
    assert unavailability(5.0, load_now=2.0, capacity=8.0) == pytest.approx(1.25)


def test_recent_moves_count_within_four_cooldowns() -> None:
    moves = (MoveRecord("a", "n1", "n2", 0, 100), MoveRecord("a", "n2", "n3", 5_000, 5_100),
             MoveRecord("b", "n1", "n2", 7_000, 7_100))
    assert recent_moves("a", moves, now_seconds=7_300, cooldown_seconds=1_800) == 1
    assert recent_moves("a", moves, now_seconds=7_000, cooldown_seconds=1_800) == 2


def test_total_weights_each_term() -> None:
    settings = PlannerSettings(threshold=0.8, bandwidth_bytes_per_second=2**30,
                               cutover_seconds=4.0, weights=CostWeights(1, 10, 5, 5))
    total = cost(size_bytes=60 * 2**30, load_now=2.0, source_capacity=8.0,
                 cascade_minutes=10.0, recent=2, settings=settings)
    # 60 s of copying + 10 x (4 s x 25%) + 5 x 10 expected minutes over + 5 x 2 recent moves
    assert total.transfer_seconds == 60
    assert total.unavailability == pytest.approx(1.0)
    assert total.cascade_minutes == pytest.approx(10.0)
    assert total.total == pytest.approx(60 + 10 + 50 + 10)
