"""The forecast engine's promises, checked on series whose right answer is known."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from shardcast.forecast import batch, select
from shardcast.forecast.bands import ErrorBands
from shardcast.forecast.calibration import AdaptiveInterval
from shardcast.forecast.candidates import HoltWinters
from shardcast.forecast.context import Context, Event
from shardcast.forecast.history import prepare
from shardcast.forecast.types import ForecastRejected, InsufficientHistory

PERIOD = 48
HORIZON = 6
END = 1_700_000_000 // 300 * 300


def context(**changes: object) -> Context:
    base = {"step_seconds": 300, "period_steps": PERIOD, "horizon_steps": HORIZON,
            "end_seconds": END, "interval_level": 0.9}
    return Context(**{**base, **changes})  # type: ignore[arg-type]


def seasonal(days: int, noise: float, seed: int = 1) -> np.ndarray:
    t = np.arange(days * PERIOD)
    rng = np.random.default_rng(seed)
    return 50 + 20 * np.sin(2 * np.pi * t / PERIOD) + noise * rng.standard_normal(len(t))


def test_holt_winters_learns_a_clean_daily_cycle() -> None:
    values = seasonal(10, noise=0.0)
    fitted = batch.fit(values[None, : -HORIZON], PERIOD, HORIZON, 0.9)
    point, lower, upper = fitted.forecast(HORIZON)
    assert np.allclose(point[0], values[-HORIZON:], atol=0.5)
    assert np.all(lower <= point) and np.all(point <= upper)


def test_cheap_update_matches_replaying_the_history_with_the_same_parameters() -> None:
    values = seasonal(8, noise=2.0)
    fitted = batch.fit(values[None, :-10], PERIOD, HORIZON, 0.9)
    for sample in values[-10:]:
        fitted.update(np.array([sample]))
    state = fitted.holt_winters
    replay = HoltWinters().fit(values[:-10], context())
    replayed = replay.predict(values, context(), np.array([len(values) - 1]))[0]
    assert np.allclose(state.point(HORIZON)[0], replayed)


def test_intervals_cover_about_the_requested_share_of_outcomes() -> None:
    rng = np.random.default_rng(3)
    errors = rng.standard_normal((4000, 1, HORIZON))
    bands = ErrorBands.from_errors(errors, 0.9)
    fresh = rng.standard_normal((4000, HORIZON))
    inside = (fresh >= bands.lower[0]) & (fresh <= bands.upper[0])
    assert 0.88 <= inside.mean() <= 0.92


def test_selection_prefers_holt_winters_when_the_cycle_drifts() -> None:
    values = seasonal(12, noise=1.0) + np.linspace(0, 30, 12 * PERIOD)
    chosen = select.select(values, context(), model="auto")
    assert chosen.model != "seasonal-naive"
    assert chosen.backtest_mase < 1.0
    forecast = select.forecast(chosen, values, context())
    assert np.all(forecast.lower <= forecast.point) and np.all(forecast.point <= forecast.upper)


def test_events_scale_the_forecast_while_they_are_active() -> None:
    values = seasonal(8, noise=1.0)
    plain = context()
    campaign = context(events=(Event("campaign", END + 3 * 300, END + 100 * 300, 3.0),))
    chosen = select.select(values, plain, model="holt-winters")
    before = select.forecast(chosen, values, plain)
    during = select.forecast(chosen, values, campaign)
    assert np.allclose(during.point[:2], before.point[:2])
    assert np.allclose(during.point[2:], 3.0 * before.point[2:])


@dataclass(frozen=True)
class Broken:
    """A model whose fit blows up (as an unstable MLE can) and forecasts `value` everywhere."""

    value: float
    name: str = "broken"

    def fit(self, train: np.ndarray, context: Context) -> Broken:
        return self

    def predict(self, history: np.ndarray, context: Context, origins: np.ndarray) -> np.ndarray:
        return np.full((len(origins), context.horizon_steps), self.value)


@pytest.mark.parametrize(("value", "reason"), [(np.nan, "not finite"), (1e9, "absurd")])
def test_a_broken_model_is_rejected_and_the_reason_kept(
        monkeypatch: pytest.MonkeyPatch, value: float, reason: str) -> None:
    monkeypatch.setitem(select.CANDIDATES, "broken", Broken(value))
    chosen = select.select(seasonal(8, noise=1.0), context(), model="broken")
    assert chosen.model == "seasonal-naive"
    assert chosen.fallback_reason is not None and reason in chosen.fallback_reason


def test_a_forecast_far_below_zero_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    values = seasonal(8, noise=1.0)
    chosen = select.select(values, context(), model="seasonal-naive")
    sinking = select.Selection(**{**chosen.__dict__, "fitted": Broken(-100.0)})
    with pytest.raises(ForecastRejected, match="below zero"):
        select.forecast(sinking, values, context())


@pytest.mark.parametrize(("values", "reason"), [
    (np.ones(10), "need at least"),
    (np.where(np.arange(800) % 3 == 0, np.nan, 1.0), "missing"),
    (np.append(np.ones(800), np.nan), "stale"),
    (np.append(np.ones(800), -1.0), "negative"),
])
def test_bad_histories_are_refused_with_a_reason(values: np.ndarray, reason: str) -> None:
    with pytest.raises(InsufficientHistory, match=reason):
        prepare(values, PERIOD, HORIZON)


def test_short_interior_gaps_are_interpolated() -> None:
    values = np.arange(400, dtype=float)
    values[100:103] = np.nan
    assert np.array_equal(prepare(values, PERIOD, HORIZON), np.arange(400, dtype=float))


def test_the_interval_widens_after_misses_and_narrows_after_hits() -> None:
    errors = np.random.default_rng(5).standard_normal((500, HORIZON))
    interval = AdaptiveInterval(errors, target=0.9, rate=0.05)
    start = interval.bands().upper[0, -1]
    interval.observe(False)
    interval.observe(False)
    wider = interval.bands().upper[0, -1]
    assert wider > start  # two misses
    for _ in range(40):
        interval.observe(True)
    assert interval.bands().upper[0, -1] < wider
