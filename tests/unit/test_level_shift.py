"""Level shifts between refits: rows whose samples keep leaving their band follow persistence."""

from __future__ import annotations

import numpy as np

from shardcast.forecast import batch
from shardcast.forecast.shift import SHIFT_HITS, SHIFT_MISSES, ShiftWatch

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


def test_a_shard_whose_level_jumps_follows_persistence_until_it_is_back_in_its_band() -> None:
    history = np.stack([daily(8, 20, seed=1), daily(8, 20, seed=2)])
    # Seasonal-naive forecasts from yesterday's samples, so it is right again as soon as the
    # load is back (Holt-Winters' state learns part of a jump and takes longer to unlearn it).
    fitted = batch.fit(history, PERIOD, HORIZON, 0.9,
                       models=(batch.SEASONAL_NAIVE, batch.PERSISTENCE))
    chosen = fitted.model.copy()
    assert (chosen == batch.SEASONAL_NAIVE).all()
    ahead = np.stack([daily(2, 20, seed=3)[:40], daily(2, 20, seed=4)[:40]])
    ahead[0, 2:20] += 40  # shard 0 jumps by 40 at the third sample, for 18 samples
    forecast_and_absorb(fitted, ahead[:, :2 + SHIFT_MISSES - 1])
    assert fitted.model_names[0] == batch.MODEL_NAMES[chosen[0]]  # one miss short of a shift
    forecast_and_absorb(fitted, ahead[:, 2 + SHIFT_MISSES - 1:20])
    assert fitted.model_names == ["persistence", batch.MODEL_NAMES[chosen[1]]]
    assert fitted.shifted_from(0) == batch.MODEL_NAMES[chosen[0]]
    point, lower, upper = fitted.forecast(HORIZON)
    assert np.allclose(point[0], ahead[0, 19])
    assert (lower[0] <= point[0]).all() and (point[0] <= upper[0]).all()
    # Back at the old level: once SHIFT_HITS samples in a row fall inside its model's band
    # (a 90% band: now and then one does not), the shard returns to it.
    returned_after = None
    for k, column in enumerate(ahead[:, 20:].T, start=1):
        forecast_and_absorb(fitted, column[:, None])
        if fitted.shifted_from(0) is None:
            returned_after = k
            break
    assert returned_after is not None and SHIFT_HITS <= returned_after <= 3 * SHIFT_HITS
    assert (fitted.effective_model == chosen).all() and fitted.shifted_from(0) is None


def test_a_policy_that_did_not_allow_persistence_keeps_its_model() -> None:
    history = daily(8, 20, seed=1)[None, :]
    fitted = batch.fit(history, PERIOD, HORIZON, 0.9, models=(batch.HOLT_WINTERS,))
    ahead = daily(1, 60, seed=3)[None, :2 * SHIFT_MISSES]
    forecast_and_absorb(fitted, ahead)
    assert fitted.model_names == ["holt-winters"]


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
    assert len(fitted.update(jump)) == 0  # the refit dropped the old forecast's bounds
    assert fitted.shifted_from(0) is None
    assert fitted.take(np.array([0])).watch.runs.tolist() == [SHIFT_MISSES - 1]


def test_a_run_counts_misses_on_one_side_in_a_row_within_the_forecasts_horizon() -> None:
    horizon = SHIFT_MISSES + 2
    watch = ShiftWatch.empty(3)
    watch.expect(np.zeros((3, horizon)), np.ones((3, horizon)))
    everyone = np.ones(3, bool)
    # row 0 above, then inside once; row 1 above and below by turns; row 2 below every time
    above, below, inside = 2.0, -1.0, 0.5
    for step in range(SHIFT_MISSES - 1):
        row0 = inside if step == SHIFT_MISSES - 2 else above
        row1 = below if (SHIFT_MISSES - 2 - step) % 2 == 0 else above  # ends below
        assert not watch.observe(np.array([row0, row1, below]), everyone).any()
    assert watch.runs.tolist() == [0, -1, 1 - SHIFT_MISSES]
    entered = watch.observe(np.array([above, above, below]), everyone)
    assert entered.tolist() == [False, False, True] and watch.shifted.tolist() == entered.tolist()
    assert watch.runs.tolist() == [1, 1, 0]  # row 2's run reset once reported
    watch.observe(np.array([above, above, np.nan]), everyone)  # a missing sample keeps runs
    assert watch.runs.tolist() == [2, 2, 0]
    assert not watch.observe(np.array([above, above, above]), everyone).any()  # past horizon


def test_only_eligible_rows_shift_and_a_shift_ends_after_as_many_samples_inside() -> None:
    watch = ShiftWatch.empty(2)
    steps = SHIFT_MISSES + SHIFT_HITS
    watch.expect(np.zeros((2, steps)), np.ones((2, steps)))
    for _ in range(SHIFT_MISSES):
        watch.observe(np.array([2.0, 2.0]), np.array([True, False]))
    assert watch.shifted.tolist() == [True, False]
    for _ in range(SHIFT_HITS - 1):
        watch.observe(np.array([0.5, 0.5]), np.ones(2, bool))
    assert watch.shifted.tolist() == [True, False]
    watch.observe(np.array([0.5, 0.5]), np.ones(2, bool))
    assert watch.shifted.tolist() == [False, False]
