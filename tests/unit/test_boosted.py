"""The boosted model learnt across a batch: what it sees, what it keeps, and where it travels."""

from __future__ import annotations

import numpy as np

from shardcast.forecast import batch
from shardcast.forecast.boosted import Boosted, anchor_steps
from shardcast.forecast.fleet import FleetModel

PERIOD = 48
HORIZON = 12


def shards(n: int, days: int, seed: int = 1) -> np.ndarray:
    """Daily cycles of different phases and sizes with bursts that jump and then decay: a shape
    every shard shows now and then, which one shard's history alone teaches poorly (Holt-Winters
    and seasonal-naive carry the burst forward, persistence keeps it)."""
    rng = np.random.default_rng(seed)
    t = np.arange(days * PERIOD)
    cycle = 50 + rng.uniform(5, 20, (n, 1)) * np.sin(2 * np.pi * t / PERIOD
                                                     + rng.uniform(0, 2 * np.pi, (n, 1)))
    jumps = 30.0 * (rng.random((n, len(t))) < 0.03)
    burst = np.zeros((n, len(t)))
    for i in range(1, len(t)):
        burst[:, i] = 0.85 * burst[:, i - 1] + jumps[:, i]
    return np.asarray(cycle + burst + rng.standard_normal((n, len(t))))


def test_anchors_run_from_the_next_step_to_the_horizon() -> None:
    anchors = anchor_steps(HORIZON)
    assert anchors[0] == 1 and anchors[-1] == HORIZON and np.all(np.diff(anchors) > 0)


def test_what_comes_after_the_training_end_never_reaches_the_model() -> None:
    history, scale = shards(8, 8), np.ones(8)
    end = 5 * PERIOD
    later = history.copy()
    later[:, end:] += 100.0  # a different future
    models = [Boosted.train(h, scale, PERIOD, HORIZON, end, np.random.default_rng(0))
              for h in (history, later)]
    assert models[0] is not None and models[1] is not None
    rows, origins = np.arange(8), np.full(8, end - 1)
    assert np.array_equal(models[0].predict(history, rows, origins, scale),
                          models[1].predict(history, rows, origins, scale))


def test_too_short_a_history_trains_no_model() -> None:
    history = shards(4, 2)
    assert Boosted.train(history, np.ones(4), PERIOD, HORIZON, PERIOD + 20,
                         np.random.default_rng(0)) is None


def test_on_decaying_bursts_the_batch_learns_to_beat_every_per_shard_model_out_of_sample() -> None:
    fitted = batch.fit(shards(40, 14), PERIOD, HORIZON, 0.9)
    assert len(fitted.boosters) == 1
    boosted = np.mean(fitted.mae[:, batch.BOOSTED])
    for other in batch.PER_SHARD_MODELS:
        assert boosted < 0.8 * np.mean(fitted.mae[:, other])
    assert np.sum(fitted.model == batch.BOOSTED) > 30


def test_no_rows_give_an_empty_forecast() -> None:
    history, scale = shards(8, 8), np.ones(8)
    model = Boosted.train(history, scale, PERIOD, HORIZON, 5 * PERIOD, np.random.default_rng(0))
    assert model is not None
    none = np.array([], dtype=int)
    assert model.predict(history, none, none, scale).shape == (0, HORIZON)


def test_a_boosted_forecast_is_the_model_run_on_the_season_kept() -> None:
    history = shards(20, 14)
    fitted = batch.fit(history[:, :-5], PERIOD, HORIZON, 0.9)
    for sample in history[:, -5:].T:  # the cheap per-sample update the operator runs
        fitted.update(sample)
    rows = np.flatnonzero(fitted.model == batch.BOOSTED)
    point, _, _ = fitted.forecast(HORIZON)
    direct = fitted.boosters[0].predict(history, rows, np.full(len(rows), history.shape[1] - 1),
                                        fitted.scale)
    assert len(rows) and np.allclose(point[rows], np.maximum(direct, 0.0))


def test_taking_joining_and_assigning_rows_keep_each_rows_model() -> None:
    first, second = shards(20, 14, seed=1), shards(20, 14, seed=2)
    a = batch.fit(first, PERIOD, HORIZON, 0.9)
    b = batch.fit(second, PERIOD, HORIZON, 0.9)
    joined = a.join(b)
    assert len(joined.boosters) == 2
    assert np.allclose(joined.forecast(HORIZON)[0],
                       np.vstack([a.forecast(HORIZON)[0], b.forecast(HORIZON)[0]]))
    persistent = np.flatnonzero(a.model != batch.BOOSTED)
    alone = a.take(persistent)
    assert alone.boosters == () and np.all(alone.booster == -1)  # an unused model is dropped
    rows = np.arange(5)
    joined.assign(rows, b.take(rows))
    assert np.allclose(joined.forecast(HORIZON)[0][rows], b.forecast(HORIZON)[0][rows])
    assert len(joined.boosters) == 2  # a's model still serves a's other rows


def test_without_boosted_among_the_models_no_model_is_trained() -> None:
    fitted = batch.fit(shards(10, 14), PERIOD, HORIZON, 0.9,
                       models=(batch.SEASONAL_NAIVE, batch.PERSISTENCE))
    assert fitted.boosters == () and not np.any(fitted.model == batch.BOOSTED)


def test_a_policy_trains_its_boosted_model_once_per_retrain_interval_and_shares_it() -> None:
    history = shards(24, 10)
    end, hour = history.shape[1] * 300, 3600.0
    model = FleetModel()

    def fit(rows: slice, now: float, window: int = history.shape[1]) -> None:
        names = [f"s{i}" for i in range(24)][rows]
        model.fit(names, history[rows, -window:], end, PERIOD, HORIZON, 0.9, now, hour,
                  batch.ALL_MODELS)

    fit(slice(0, 12), 0.0)
    first = model.boosted
    assert first is not None and first.held_out is not first.current
    fit(slice(12, 24), 60.0)  # the next chunk, within the interval: the same model
    assert model.boosted is first
    forecaster = model.forecaster
    assert forecaster is not None and forecaster.boosters == (first.current,)
    assert np.all((forecaster.booster == 0) == (forecaster.model == batch.BOOSTED))
    fit(slice(0, 12), hour)  # the interval has passed: trained again
    assert model.boosted is not first


def test_a_longer_window_than_the_model_was_trained_on_trains_it_again() -> None:
    history = shards(8, 10)
    end = history.shape[1] * 300
    model = FleetModel()
    names = [f"s{i}" for i in range(8)]
    model.fit(names[:4], history[:4, -8 * PERIOD:], end, PERIOD, HORIZON, 0.9, 0.0, 3600.0,
              batch.ALL_MODELS)
    first = model.boosted
    model.fit(names[4:], history[4:], end, PERIOD, HORIZON, 0.9, 1.0, 3600.0, batch.ALL_MODELS)
    assert first is not None and model.boosted is not first


def test_origins_without_an_error_are_left_out_of_the_weighted_error() -> None:
    errors = np.full((4, 2, 3), np.nan)
    errors[1, 0] = [1.0, -1.0, 1.0]
    errors[3, 0] = [-3.0, 3.0, 3.0]
    weights = np.array([8.0, 1.0, 8.0, 3.0])
    mae = batch._weighted_mae(errors, weights)
    assert mae[0] == (1.0 * 1 + 3.0 * 3) / 4 and np.isinf(mae[1])
