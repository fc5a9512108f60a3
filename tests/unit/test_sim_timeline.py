"""The run-over-time figures `shardcast simulate --plot` draws."""

from __future__ import annotations

import numpy as np

from shardcast.sim.engine import RunResult, SimMove
from shardcast.sim.timeline import GIB, timeline, widest_gap


def _result(utilization: list[list[float]], moves: tuple[SimMove, ...] = ()) -> RunResult:
    return RunResult("p", "s", np.array(utilization), moves, 0, 300, first_step=100)


def test_overload_and_bytes_accumulate_per_step() -> None:
    result = _result([[0.5, 1.2, 1.1, 0.9], [1.3, 0.2, 1.5, 0.4]],
                     (SimMove(0, 0, 1, 101, 103), SimMove(1, 1, 0, 103, 104)))
    line = timeline(result, np.array([2 * GIB, GIB]))
    assert line.hours.tolist() == [0, 5 / 60, 10 / 60, 15 / 60]
    assert line.overload_node_minutes.tolist() == [5, 10, 20, 20]  # nodes over 100% x 5 min
    assert line.moved_gib.tolist() == [0, 2, 2, 3]  # counted when each move starts


def test_the_widest_gap_is_where_the_overloads_grow_apart() -> None:
    calm = [[0.5] * 12]
    a = timeline(_result(calm), np.array([GIB]))
    b = timeline(_result([[0.5] * 6 + [1.2, 1.2, 0.5, 0.5, 0.5, 0.5]]), np.array([GIB]))
    assert widest_gap(a, b, 3) == slice(5, 8)  # the first window holding both overloaded steps
    assert widest_gap(b, a, 3) == slice(5, 8)  # either way round
    assert widest_gap(a, b, 20) == slice(0, 12)  # a window longer than the run is all of it
