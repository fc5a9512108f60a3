"""One shard's challenge: do statsmodels' costlier models (ETS, SARIMAX) beat the batch's own
models on this shard's recent history? Run in a worker process (seconds of CPU per shard), it
returns only the winner's compact state, or nothing when the batch model stays.

The batch scores its models on recent origins with parameters chosen on the whole window; a
challenger is fitted before its backtest window and scored out of sample. Those numbers do not
compare, so every contender, the batch's models included, is backtested here on the same origins
(`select.backtest`: fitted on the prefix, forecasting from every 6th step of the last days)."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from shardcast.forecast import batch
from shardcast.forecast.bands import ErrorBands
from shardcast.forecast.candidates import Compactable
from shardcast.forecast.compact import CompactState
from shardcast.forecast.context import Context
from shardcast.forecast.history import prepare
from shardcast.forecast.select import CANDIDATES, REJECTIONS, Backtest, backtest, backtest_origins

STRIDE = 6  # steps between backtest origins, as `select` uses
# A challenger must beat the batch's best by this share of its error: a smaller win on a few
# days of bursty history is as likely luck as skill, and a wrong switch costs a retrain interval.
MARGIN = 0.05


@dataclass(frozen=True)
class Challenge:
    """What a worker gets: one shard's window (float32, oldest first, NaN where missing), the
    batch models the policy allows and the challengers to try against them."""

    history: np.ndarray
    context: Context  # ends at the window's last sample
    incumbents: tuple[str, ...]
    challengers: tuple[str, ...]


@dataclass(frozen=True)
class Challenger:
    """A challenger that won: its state, the error bands and MASE of its backtest, and the grid
    instant the state has absorbed."""

    model: str
    state: CompactState
    lower: np.ndarray  # (H,) offsets added to the point forecast
    upper: np.ndarray
    backtest_mase: float
    end_seconds: int

    def advanced(self, values: np.ndarray, context: Context) -> Challenger:
        """After the samples `values` ending at context.end_seconds."""
        return replace(self, state=self.state.advanced(values, context),
                       end_seconds=context.end_seconds)

    def forecast(self, context: Context) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Point, lower and upper bound (H,), never below zero, as the batch's are."""
        point = self.state.point(context)
        return (np.maximum(point, 0.0), np.maximum(point + self.lower, 0.0),
                np.maximum(point + self.upper, 0.0))


@dataclass(frozen=True)
class Challenged:
    """A worker's answer: the winner, if a challenger won, and the CPU the challenge took."""

    winner: Challenger | None
    cpu_seconds: float


def run_challenge(challenge: Challenge) -> Challenged:
    began = time.process_time()
    return Challenged(_winner(challenge), time.process_time() - began)


def _winner(challenge: Challenge) -> Challenger | None:
    context = challenge.context
    history = prepare(challenge.history, context.period_steps, context.horizon_steps)
    origins = backtest_origins(len(history), context, STRIDE)
    bar = min((b.mae() for b in _backtests(challenge.incumbents, history, context, origins)),
              default=np.inf)
    contenders = _backtests(challenge.challengers, history, context, origins)
    best = min(contenders, key=Backtest.mae, default=None)
    if best is None or not best.mae() < (1.0 - MARGIN) * bar:
        return None
    fitted = best.fitted
    if not isinstance(fitted, Compactable):
        raise TypeError(f"{best.model} cannot be kept as a compact state")
    bands = ErrorBands.from_errors(best.errors[:, None, :], context.interval_level)
    scale = float(batch.naive_scale(history[None, :], context.period_steps)[0])
    return Challenger(best.model, fitted.compact(history, context), bands.lower[0],
                      bands.upper[0], best.mae() / scale if scale > 0 else float("nan"),
                      context.end_seconds)


def _backtests(names: tuple[str, ...], history: np.ndarray, context: Context,
               origins: np.ndarray) -> list[Backtest]:
    """The backtests of `names` that were not rejected (a rejected model cannot win)."""
    done = []
    for name in names:
        try:
            done.append(backtest(CANDIDATES[name], history, context, origins))
        except REJECTIONS:
            continue
    return done
