"""Cycles shorter than a season: found in a shard's history and forecast from the last cycle."""

from __future__ import annotations

import numpy as np

from shardcast.forecast import batch, cycle
from shardcast.forecast.context import Context
from shardcast.forecast.history import prepare
from shardcast.forecast.select import CANDIDATES, backtest, backtest_origins, best_of

PERIOD = 288  # a day at 5-minute steps
HORIZON = 12  # an hour
HOUR = 12


def hourly_job(days: int, seed: int) -> np.ndarray:
    """A daily base load plus a job in the first 10 minutes of every hour whose size drifts
    over days (its work grows and shrinks), so yesterday's hour is not today's."""
    t = np.arange(days * PERIOD)
    rng = np.random.default_rng(seed)
    size = 30 + 20 * np.sin(2 * np.pi * t / (PERIOD * 1.37))
    job = np.where(t % HOUR < 2, size, 0.0)
    return 20 + 5 * np.sin(2 * np.pi * t / PERIOD) + job + 0.5 * rng.standard_normal(len(t))


def daily(days: int, seed: int) -> np.ndarray:
    t = np.arange(days * PERIOD)
    rng = np.random.default_rng(seed)
    return 40 + 15 * np.sin(2 * np.pi * t / PERIOD) + rng.standard_normal(len(t))


def test_the_cycles_tried_divide_the_season() -> None:
    tried = cycle.candidates(PERIOD)
    assert HOUR in tried and 2 in tried and PERIOD // 2 in tried
    assert 5 not in tried and PERIOD not in tried  # a season's divisors, the season excluded
    assert (PERIOD % tried == 0).all()
    assert cycle.candidates(7).size == 0  # a prime season has none: seasonal-naive stands in
    assert (cycle.detect(daily(3, 1)[None, :], 7, 3) == 7).all()


def test_the_lag_is_the_next_whole_cycle_at_or_past_each_step() -> None:
    assert cycle.lags(np.array([3, 12]), 7).tolist() == [[3, 3, 3, 6, 6, 6, 9],
                                                         [12, 12, 12, 12, 12, 12, 12]]


def test_an_hourly_job_is_found_and_forecast_from_its_last_hour() -> None:
    history = np.stack([hourly_job(7, seed=1), daily(7, seed=2)])
    fitted = batch.fit(history, PERIOD, HORIZON, 0.9,
                       models=(batch.SEASONAL_NAIVE, batch.HOLT_WINTERS, batch.PERSISTENCE,
                               batch.CYCLE_NAIVE))
    assert fitted.cycle[0] == HOUR
    assert fitted.model_names[0] == "cycle-naive"
    assert fitted.model_names[1] != "cycle-naive"  # a smooth daily load has no shorter cycle
    mae = dict(zip(batch.MODEL_NAMES, fitted.mae[0], strict=True))
    assert mae["cycle-naive"] < 0.5 * min(mae["persistence"], mae["seasonal-naive"])
    point, lower, upper = fitted.forecast(HORIZON)
    assert np.allclose(point[0], history[0, -HOUR:])  # the same minute of the last hour
    assert (lower[0] <= point[0]).all() and (point[0] <= upper[0]).all()
    fitted.update(np.array([99.0, 40.0]))
    point, _, _ = fitted.forecast(HORIZON)
    assert point[0, HOUR - 1] == 99.0  # an hour after the newest sample: the newest sample
    assert np.allclose(point[0, :HOUR - 1], history[0, -HOUR + 1:])


def test_a_cycle_survives_taking_and_joining_rows() -> None:
    history = np.stack([daily(7, seed=2), hourly_job(7, seed=1)])
    fitted = batch.fit(history, PERIOD, HORIZON, 0.9,
                       models=(batch.SEASONAL_NAIVE, batch.PERSISTENCE, batch.CYCLE_NAIVE))
    alone = fitted.take(np.array([1]))
    joined = alone.join(fitted.take(np.array([0])))
    assert joined.cycle.tolist() == [HOUR, fitted.cycle[0]]
    assert np.allclose(joined.forecast(HORIZON)[0][0], fitted.forecast(HORIZON)[0][1])


def test_the_per_shard_selection_finds_it_too() -> None:
    """`shardcast forecast` and the challengers' incumbents backtest it like any model (ETS
    and SARIMAX, seconds per fit, are left out here)."""
    context = Context(step_seconds=300, horizon_steps=HORIZON, period_steps=PERIOD,
                      end_seconds=14 * PERIOD * 300)
    history = prepare(hourly_job(14, seed=3), PERIOD, HORIZON)
    origins = backtest_origins(len(history), context, 6)
    results = [backtest(CANDIDATES[name], history, context, origins)
               for name in batch.MODEL_NAMES if name in CANDIDATES]
    assert {r.model for r in results} == {"seasonal-naive", "holt-winters", "persistence",
                                          "cycle-naive"}
    assert best_of(results).model == "cycle-naive"
