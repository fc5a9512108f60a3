"""A node's projection as a distribution: expected minutes over the threshold."""

from __future__ import annotations

import numpy as np
import pytest

from shardcast.planner.risk import band_z, expected_overload, minutes_over

Z90 = band_z(0.9)


def test_a_90_percent_band_is_1_645_standard_deviations() -> None:
    assert band_z(0.9) == pytest.approx(1.6449, abs=1e-4)
    assert band_z(0.8) == pytest.approx(1.2816, abs=1e-4)


def test_a_node_at_the_threshold_is_over_half_the_time() -> None:
    point, spread = np.full(12, 6.4), np.full(12, 0.5**2)  # threshold 0.8 x 8 cores
    assert minutes_over(point, spread, 8.0, 0.8, Z90, 5.0) == pytest.approx(30.0)


def test_one_standard_deviation_below_counts_the_upper_tail() -> None:
    sigma = 0.4
    point, spread = np.full(12, 6.4 - sigma), np.full(12, (sigma * Z90) ** 2)
    assert minutes_over(point, spread, 8.0, 0.8, Z90, 5.0) == pytest.approx(
        60 * 0.158655, rel=1e-4)


def test_a_busy_node_carries_risk_an_idle_one_does_not() -> None:
    point = np.array([np.full(12, 0.57), np.full(12, 0.0)])
    spread = np.full((2, 12), (0.1 * Z90) ** 2)
    busy, idle = minutes_over(point, spread, np.array([1.0, 1.0]), 0.8, Z90, 5.0)
    assert 0.1 < busy < 2.0
    assert idle < 1e-6


def test_without_spread_only_steps_over_the_threshold_count() -> None:
    point = np.array([0.5, 0.81, 0.9, 0.79])
    assert minutes_over(point, np.zeros(4), 1.0, 0.8, Z90, 5.0) == 10.0


def test_expected_overload_is_the_plain_excess_without_a_band_and_the_mean_excess_with_one(
        ) -> None:
    point = np.array([6.0, 6.4, 7.2, 8.0])  # 8 cores, threshold 80%: 6.4
    plain = expected_overload(point, np.zeros(4), 8.0, 0.8, Z90)
    assert plain == pytest.approx([0.0, 0.0, 0.1, 0.2])
    band = 0.8  # cores: one standard deviation is 0.8 / 1.645 = 0.486 cores, 6.1% of the node
    spread = np.full(4, band**2)
    draws = np.random.default_rng(3).normal(point[:, None], band / Z90, (4, 200_000))
    sampled = np.maximum(draws / 8.0 - 0.8, 0.0).mean(axis=1)
    assert expected_overload(point, spread, 8.0, 0.8, Z90) == pytest.approx(sampled, abs=5e-4)
    # At the threshold the expectation is sigma / sqrt(2 pi), although the point is not over.
    assert expected_overload(point, spread, 8.0, 0.8, Z90)[1] == pytest.approx(
        band / Z90 / 8.0 / np.sqrt(2 * np.pi))
