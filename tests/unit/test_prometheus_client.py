"""The Prometheus client's pure parts: grid placement, the counter query, history checks."""

import numpy as np
import pytest

from shardcast.clients.prometheus import History, counter_rate_query, grid_points, on_grid

NAN = np.nan


def test_samples_snap_to_the_nearest_grid_point_and_off_grid_ones_are_dropped() -> None:
    samples = [[820, "9"],  # before the grid (nearest point would be k = -1)
               [1000, "1"], [1299.9, "2"], [1610, "3"], [1900.0, "4"],
               [2150, "5"]]  # after it (k = 4 when only 0..3 exist)
    np.testing.assert_array_equal(on_grid(samples, 1000, 300, 4), [1, 2, 3, 4])


def test_values_are_cast_from_strings_and_non_finite_ones_are_missing() -> None:
    samples = [[0, "0.1"], [60, "NaN"], [120, "+Inf"], [180, "-Inf"], [240, "1e300"]]
    np.testing.assert_array_equal(on_grid(samples, 0, 60, 6), [0.1, NAN, NAN, NAN, 1e300, NAN])


def test_no_samples_is_all_missing() -> None:
    assert np.isnan(on_grid([], 0, 60, 3)).all()


def test_grid_counts_both_ends_and_rejects_an_empty_or_backwards_grid() -> None:
    assert grid_points(0, 600, 300) == 3
    assert grid_points(0, 599, 300) == 2  # the end need not be on the grid
    assert grid_points(5, 5, 300) == 1
    with pytest.raises(ValueError, match="end >= start"):
        grid_points(600, 0, 300)
    with pytest.raises(ValueError, match="step > 0"):
        grid_points(0, 600, 0)


def test_counter_rate_window_is_four_steps() -> None:
    assert counter_rate_query('requests_total{shard="a"}', 300) == \
        'rate(requests_total{shard="a"}[1200s])'
    with pytest.raises(ValueError):
        counter_rate_query("requests_total", 0)


def test_history_measures_gaps_and_staleness() -> None:
    history = History(np.array([1, NAN, 3, 4, NAN, NAN]), step_seconds=60, end_seconds=600)
    assert history.missing_fraction == pytest.approx(0.5)
    assert history.staleness_seconds == 120
    fresh = History(np.array([NAN, 2.0]), step_seconds=60, end_seconds=600)
    assert fresh.staleness_seconds == 0
    empty = History(np.full(4, NAN), step_seconds=60, end_seconds=600)
    assert empty.staleness_seconds == 240  # older than anything the window can show
    assert empty.missing_fraction == 1.0


def test_history_refuses_stale_before_gappy_and_accepts_within_limits() -> None:
    history = History(np.array([1, NAN, 3, 4, NAN, NAN]), step_seconds=60, end_seconds=600)
    stale = history.refusal(max_missing_fraction=0.1, max_staleness_seconds=60)
    assert stale is not None and stale.startswith("stale: the newest sample is 120 s old")
    gappy = history.refusal(max_missing_fraction=0.4, max_staleness_seconds=120)
    assert gappy == "too gappy: 50% of 6 points are missing (limit 40%)"
    assert history.refusal(max_missing_fraction=0.5, max_staleness_seconds=120) is None
