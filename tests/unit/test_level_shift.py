"""Level shifts between refits: rows whose samples keep leaving their band follow persistence."""

from __future__ import annotations

import numpy as np

from shardcast.forecast import batch
from shardcast.forecast.shift import SHIFT_MISSES, ShiftWatch

PERIOD = 48
HORIZON = 6


def daily(days: int, level: float, seed: int) -> np.ndarray:
    t = np.arange(days * PERIOD)
    rng = np.random.default_rng(seed)
    return level + 10 * np.sin(2 * np.pi * t / PERIOD) + rng.standard_normal(len(t))


def forecast_and_absorb(fitted: batch.BatchForecaster, samples: np.ndarray) -> None:
    """What a policy cycle does at each step: forecast, then absorb the next sample."""
    for column in samples.T:
        fitted.forecast(HORIZON)
        fitted.update(column)


def test_a_shard_whose_level_jumps_follows_persistence_and_the_others_keep_their_model() -> None:
    history = np.stack([daily(8, 20, seed=1), daily(8, 20, seed=2)])
    fitted = batch.fit(history, PERIOD, HORIZON, 0.9,
                       models=(batch.SEASONAL_NAIVE, batch.HOLT_WINTERS, batch.PERSISTENCE))
    assert (fitted.model != batch.PERSISTENCE).all()
    before = fitted.model.copy()
    ahead = np.stack([daily(1, 20, seed=3)[:10], daily(1, 20, seed=4)[:10]])
    ahead[0, 2:] += 40  # shard 0 jumps by 40 at the third sample
    forecast_and_absorb(fitted, ahead[:, :2 + SHIFT_MISSES - 1])
    assert fitted.model[0] == before[0]  # one miss short of a shift
    forecast_and_absorb(fitted, ahead[:, 2 + SHIFT_MISSES - 1:])
    assert fitted.model[0] == batch.PERSISTENCE
    assert fitted.model[1] == before[1]
    point, lower, upper = fitted.forecast(HORIZON)
    assert np.allclose(point[0], ahead[0, -1])
    assert (lower[0] <= point[0]).all() and (point[0] <= upper[0]).all()


def test_a_policy_that_did_not_allow_persistence_keeps_its_model() -> None:
    history = daily(8, 20, seed=1)[None, :]
    fitted = batch.fit(history, PERIOD, HORIZON, 0.9, models=(batch.HOLT_WINTERS,))
    ahead = daily(1, 60, seed=3)[None, :10]
    forecast_and_absorb(fitted, ahead)
    assert fitted.model[0] == batch.HOLT_WINTERS


def test_a_refit_row_starts_over_and_samples_without_a_forecast_are_not_judged() -> None:
    history = np.stack([daily(8, 20, seed=1), daily(8, 20, seed=2)])
    fitted = batch.fit(history, PERIOD, HORIZON, 0.9)
    fitted.forecast(HORIZON)
    jump = np.array([80.0, 20.0])
    for _ in range(SHIFT_MISSES - 1):
        fitted.update(jump)
    assert fitted.watch.runs[0] == SHIFT_MISSES - 1
    fitted.assign(np.array([1]), batch.fit(history[1:], PERIOD, HORIZON, 0.9))
    assert fitted.watch.runs[0] == SHIFT_MISSES - 1  # kept for the row not refitted
    fitted.update(jump)  # the refit dropped the old forecast's bounds: not judged
    assert fitted.model[0] != batch.PERSISTENCE
    assert fitted.take(np.array([0])).watch.runs.tolist() == [SHIFT_MISSES - 1]


def test_a_run_counts_misses_on_one_side_in_a_row_within_the_forecasts_horizon() -> None:
    horizon = SHIFT_MISSES + 2
    watch = ShiftWatch.empty(3)
    watch.expect(np.zeros((3, horizon)), np.ones((3, horizon)))
    # row 0 above, then inside once; row 1 above and below by turns; row 2 below every time
    above, below, inside = 2.0, -1.0, 0.5
    for step in range(SHIFT_MISSES - 1):
        row0 = inside if step == SHIFT_MISSES - 2 else above
        row1 = below if (SHIFT_MISSES - 2 - step) % 2 == 0 else above  # ends below
        assert not watch.observe(np.array([row0, row1, below])).any()
    assert watch.runs.tolist() == [0, -1, 1 - SHIFT_MISSES]
    assert watch.observe(np.array([above, above, below])).tolist() == [False, False, True]
    assert watch.runs.tolist() == [1, 1, 0]  # row 2's run reset once reported
    watch.observe(np.array([above, above, np.nan]))  # a missing sample keeps the run
    assert watch.runs.tolist() == [2, 2, 0]
    assert not watch.observe(np.array([above, above, above])).any()  # past the horizon
