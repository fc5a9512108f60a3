"""ETS and SARIMAX challenging the batch model per shard, in the background: on real traces,
with the real process pool (one worker) where the pool is the point, with a queue that holds
challenges until the test runs them where the timing is."""

from __future__ import annotations

import pickle
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from shardcast.api.policy_spec import PolicySpec
from shardcast.forecast import batch
from shardcast.forecast.challenge import Challenge, run_challenge
from shardcast.forecast.context import Context
from shardcast.forecast.select import CANDIDATES, backtest, backtest_origins
from shardcast.forecast.shift import SHIFT_MISSES
from shardcast.reconcile.challenge_pool import ChallengePool
from shardcast.reconcile.challengers import Challengers
from shardcast.reconcile.policy_cycle import PolicyState
from shardcast.reconcile.policy_forecast import PolicyForecaster

from .conftest import HeldChallenges
from .test_policy_cycle import END, SPEC, STEP, Sink, TraceMetrics, cycle, traces

WINS, LOSES = "s0", "s1"  # against the batch, on their traces as served below (auto and ets)


@pytest.fixture(scope="module")
def pool() -> Iterator[ChallengePool]:
    started = ChallengePool(workers=1)
    yield started
    started.shutdown()


def spec_of(model: str) -> dict[str, Any]:
    return {**SPEC, "forecast": {**SPEC["forecast"], "model": model}}


def state_with(queue: Any, spec: Mapping[str, Any] = SPEC) -> PolicyState:
    settings = PolicySpec.from_dict(spec)
    return PolicyState(forecaster=PolicyForecaster(settings.forecast, settings.metric,
                                                   challengers=Challengers(queue)))


def one_trace(name: str) -> TraceMetrics:
    return TraceMetrics({name: traces()[name]})


def test_a_winning_challenger_replaces_the_batch_model_and_later_cycles_forecast_from_it(
        pool: ChallengePool) -> None:
    metrics, state, sink = one_trace(WINS), state_with(pool), Sink()
    cycle(metrics, state, [WINS], sink)  # the baselines' prediction goes out first
    first = cycle(metrics, state, [WINS], sink)  # then the fits, and the challenge
    forecaster = state.forecaster
    assert forecaster is not None
    assert first.models[WINS][0] != "sarimax"
    forecaster.challengers.pending[WINS].result(timeout=60)
    metrics.advanced = 1
    won = cycle(metrics, state, [WINS], sink)
    assert won.cost.challenges.won == 1
    assert won.models[WINS][0] == "sarimax" and sink.writes[-1][WINS]["model"] == "sarimax"
    metrics.advanced = 4  # three samples later: the challenger absorbed them, nothing refitted
    later = cycle(metrics, state, [WINS], sink)
    winner = forecaster.challengers.winners[WINS]
    assert later.models[WINS][0] == "sarimax" and winner.end_seconds == END + 4 * STEP
    assert forecaster.last is not None
    point, _, _ = winner.forecast(PolicySpec.from_dict(SPEC).forecast.context(END + 4 * STEP))
    assert np.allclose(forecaster.last.forecast[WINS].forecast.point, point)


def test_a_level_shift_drops_the_challenger_and_the_load_now_is_forecast(
        pool: ChallengePool) -> None:
    metrics, state, sink = one_trace(WINS), state_with(pool), Sink()
    for _ in range(2):
        cycle(metrics, state, [WINS], sink)
    forecaster = state.forecaster
    assert forecaster is not None
    forecaster.challengers.pending[WINS].result(timeout=60)
    metrics.advanced = 1
    assert cycle(metrics, state, [WINS], sink).models[WINS][0] == "sarimax"
    shifted = metrics.series[WINS].copy()
    shifted[len(shifted) - 199:] += 4.0  # four more cores from END + 2 steps on
    metrics.series[WINS] = shifted
    for advanced in range(2, 2 + SHIFT_MISSES):  # one cycle per sample, as on the grid
        metrics.advanced = advanced
        after = cycle(metrics, state, [WINS], sink)
    assert after.models[WINS][0] == "persistence"
    reason = sink.writes[-1][WINS]["fallbackReason"]
    assert "(a level shift)" in reason and "sarimax" not in reason  # the batch's model left
    assert WINS not in forecaster.challengers.winners
    assert forecaster.last is not None
    now = shifted[len(shifted) - 201 + 1 + SHIFT_MISSES]  # the sample at END + advanced
    assert np.allclose(forecaster.last.forecast[WINS].forecast.point, now)


def test_a_losing_challenger_changes_nothing(pool: ChallengePool,
                                             held_challenges: HeldChallenges) -> None:
    challenged, unchallenged = state_with(pool), state_with(held_challenges)
    metrics = one_trace(LOSES)
    for state in (challenged, unchallenged):
        for _ in range(2):  # the baselines' prediction first, then the fits and challenge
            cycle(metrics, state, [LOSES])
    assert challenged.forecaster is not None and unchallenged.forecaster is not None
    challenged.forecaster.challengers.pending[LOSES].result(timeout=60)
    metrics.advanced = 1
    lost = cycle(metrics, challenged, [LOSES])
    kept = cycle(metrics, unchallenged, [LOSES])
    assert lost.cost.challenges.lost == 1 and not challenged.forecaster.challengers.winners
    assert lost.models == kept.models
    assert challenged.forecaster.last is not None and unchallenged.forecaster.last is not None
    assert np.array_equal(challenged.forecaster.last.forecast[LOSES].forecast.point,
                          unchallenged.forecaster.last.forecast[LOSES].forecast.point)


def test_a_cycle_never_waits_for_an_unfinished_challenge(
        held_challenges: HeldChallenges) -> None:
    metrics, state = TraceMetrics(traces()), state_with(held_challenges)
    names = sorted(metrics.series)
    cycle(metrics, state, names)
    assert not held_challenges.held  # the first cycle's CPU goes to the predictions
    cycle(metrics, state, names)
    assert state.forecaster is not None and state.forecaster.model.forecaster is not None
    # every shard queued, none finished, but those the batch gave its boosted model (learnt
    # across shards, it has no per-shard backtest to be challenged on)
    boosted = int(np.sum(state.forecaster.model.forecaster.model == batch.BOOSTED))
    assert len(held_challenges.held) == len(names) - boosted
    metrics.advanced = 1
    began = time.perf_counter()
    done = cycle(metrics, state, names)
    assert time.perf_counter() - began < 2.0
    assert done.outcome.forecast == len(names) and done.cost.challenges.won == 0
    assert {m for m, _ in done.models.values()} <= {"seasonal-naive", "holt-winters",
                                                    "persistence", "boosted"}
    assert len(held_challenges.held) == len(names) - boosted  # nothing queued twice


def test_an_ets_policy_says_the_batch_stands_in_until_its_challenger_wins(
        held_challenges: HeldChallenges) -> None:
    metrics, sink, spec = TraceMetrics(traces()), Sink(), spec_of("ets")
    state = state_with(held_challenges, spec)
    names = sorted(metrics.series)
    for _ in range(2):  # the baselines' prediction first, then the fits
        cycle(metrics, state, names, sink, spec=spec)
    for prediction in sink.writes[-1].values():
        assert prediction["model"] == "holt-winters"
        assert "ets is fitted in the background" in prediction["fallbackReason"]
    held_challenges.run()
    metrics.advanced = 1
    cycle(metrics, state, names, sink, spec=spec)
    written = sink.writes[-1]
    assert written[WINS]["model"] == "ets" and written[WINS]["fallbackReason"] == ""
    assert written[LOSES]["model"] == "holt-winters"
    assert "ets did not beat the batch holt-winters" in written[LOSES]["fallbackReason"]


WINDOW = 3 * 288  # a compact state's size grows with the season (ETS), never with the window


@pytest.mark.parametrize("model", ["ets", "sarimax"])
def test_a_challenger_is_compact_and_its_updates_match_statsmodels_on_the_longer_history(
        model: str) -> None:
    """A winner keeps under 50 KiB, and three samples absorbed one by one forecast what
    statsmodels forecasts from the whole longer history."""
    values = traces()[WINS][-WINDOW - 4:].astype(float)
    longer = Context(STEP, 288, 6, END)
    context = replace(longer, end_seconds=END - 3 * STEP)
    answer = run_challenge(Challenge(values[:-3].astype(np.float32), context, (), (model,)))
    winner = answer.winner
    assert winner is not None and winner.model == model  # nothing to beat: it wins
    assert len(pickle.dumps(winner)) <= 50 * 1024
    history = values[:-3].astype(np.float32).astype(float)
    fitted = backtest(CANDIDATES[model], history, context,
                      backtest_origins(len(history), context, 6)).fitted
    whole = np.concatenate([history, values[-3:]])
    expected = fitted.predict(whole, longer, np.array([len(whole) - 1]))[0]
    updated = winner.advanced(values[-3:], longer)
    assert np.allclose(updated.state.point(longer), expected, rtol=1e-5, atol=1e-6)
