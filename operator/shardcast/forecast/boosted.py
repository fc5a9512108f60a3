"""One gradient-boosted model across many shards: what the load does next, learnt from every
shard of a batch at once.

Per-shard models see one history; a shard whose cycle changed yesterday, or that bursts every
hour, has too little of it to learn from. Trained on many shards together (lags, rolling means
and the same slot a season ago, each relative to the load now and scaled by the shard's own
seasonal-naive error), one model is cheap per shard and learns shapes that one shard alone has not
shown yet. It predicts the change from the load now, so a shard whose level just moved is carried
from where it is, not from yesterday's regime.

Direct models at a few anchor steps (1 … horizon, geometrically spaced); the steps between are
interpolated, with no change at step 0. LightGBM with an L1 objective (the planner's error is
absolute), one thread and a fixed seed: the fit runs in the policy's worker thread beside others,
and the same data gives the same model.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np

LAGS = (1, 2, 3, 6, 12)  # steps back: the recent slope at several scales
MEANS = (6, 24, 96)  # steps in a rolling mean, besides one whole season
ANCHORS = 4  # direct models per fit
TRAIN_SAMPLES = 20_000  # (row, origin) pairs a fit learns from, drawn at random
TRAIN_ROWS = 1_000  # rows those pairs are drawn from: bounds the copies a fit makes
MIN_TRAIN_ORIGINS = 48  # fewer origins before the backtest window than this: no model
ROUNDS = 100
PARAMS = {"objective": "l1", "learning_rate": 0.1, "num_leaves": 31, "min_data_in_leaf": 50,
          "num_threads": 1, "deterministic": True, "force_col_wise": True, "seed": 7,
          "verbose": -1}


def anchor_steps(horizon: int) -> np.ndarray:
    """Steps ahead with a direct model of their own: 1 and the horizon, geometric between."""
    return np.unique(np.round(np.geomspace(1, horizon, ANCHORS)).astype(int))


def lookback(period: int) -> int:
    """Samples before an origin its features read (the origin itself included): one season,
    so the season of samples a batch keeps is all a forecast needs."""
    return period


def _lags(period: int) -> tuple[int, ...]:
    return tuple(k for k in LAGS if k < period)


def _widths(period: int) -> tuple[int, ...]:
    return (*(w for w in MEANS if w < period), period)


@dataclass(frozen=True)
class BoostedPair:
    """The model a batch is scored with and the one it forecasts with. Trained once per
    retrain interval for a whole policy and shared by its fits: training costs about the same
    for ten shards as for ten thousand, and fits are made a few hundred shards at a time."""

    held_out: Boosted  # learnt from targets before the backtest window: honest errors
    current: Boosted  # refitted on the whole window: the regime the forecast continues


@dataclass(frozen=True)
class Boosted:
    """Direct models at `anchors`, predicting (y[t+h] - y[t]) / scale from `features`."""

    anchors: np.ndarray
    models: tuple[lgb.Booster, ...]
    period: int
    horizon: int

    @classmethod
    def train(cls, history: np.ndarray, scale: np.ndarray, period: int, horizon: int,
              end: int, rng: np.random.Generator) -> Boosted | None:
        """Learn from origins whose targets all end before `end` (the backtest window's start),
        on rows with a positive scale; None when too few origins are there."""
        first, last = lookback(period) - 1, end - 1 - horizon
        usable = np.flatnonzero(scale > 0)
        if last - first < MIN_TRAIN_ORIGINS or not len(usable):
            return None
        if len(usable) > TRAIN_ROWS:
            usable = np.sort(rng.choice(usable, TRAIN_ROWS, replace=False))
        pairs = len(usable) * (last - first + 1)
        pick = rng.choice(pairs, size=min(TRAIN_SAMPLES, pairs), replace=False)
        rows, origins = usable[pick // (last - first + 1)], first + pick % (last - first + 1)
        anchors = anchor_steps(horizon)
        common = _common(history, rows, origins, scale, period)
        models = []
        for h in anchors:
            x = np.hstack([common, _seasonal(history, rows, origins, scale, period, int(h))])
            target = (history[rows, origins + h] - history[rows, origins]) / scale[rows]
            models.append(lgb.train(PARAMS, lgb.Dataset(x, target), ROUNDS))
        return cls(anchors, tuple(models), period, horizon)

    def predict(self, history: np.ndarray, rows: np.ndarray, origins: np.ndarray,
                scale: np.ndarray) -> np.ndarray:
        """Forecasts (len(rows), horizon) made at history[rows, origins] for the next steps;
        no rows give an empty (0, horizon) forecast rather than failing in np.stack."""
        if not len(rows):
            return np.empty((0, self.horizon))
        safe = np.where(scale > 0, scale, 1.0)
        common = _common(history, rows, origins, safe, self.period)
        change = np.empty((len(rows), len(self.anchors) + 1))
        change[:, 0] = 0.0
        for k, (h, model) in enumerate(zip(self.anchors, self.models, strict=True)):
            x = np.hstack([common, _seasonal(history, rows, origins, safe, self.period, int(h))])
            change[:, k + 1] = np.asarray(model.predict(x)) * np.where(scale[rows] > 0,
                                                                        safe[rows], 0.0)
        steps = np.arange(1, self.horizon + 1)
        knots = np.concatenate([[0], self.anchors])
        interpolated = np.stack([np.interp(steps, knots, c) for c in change])
        return np.asarray(history[rows, origins][:, None] + interpolated)


def _common(history: np.ndarray, rows: np.ndarray, origins: np.ndarray, scale: np.ndarray,
            period: int) -> np.ndarray:
    """Features that do not depend on the step ahead, relative to the load now."""
    now = history[rows, origins]
    s = scale[rows]
    columns = [(now - history[rows, origins - k]) / s for k in _lags(period)]
    distinct = np.unique(rows)
    sums = np.cumsum(history[distinct], axis=1)
    at = np.searchsorted(distinct, rows)
    for width in _widths(period):
        before = np.where(origins >= width, sums[at, origins - width], 0.0)
        columns.append(((sums[at, origins] - before) / width - now) / s)
    return np.stack(columns, axis=1)


def _seasonal(history: np.ndarray, rows: np.ndarray, origins: np.ndarray, scale: np.ndarray,
              period: int, h: int) -> np.ndarray:
    """The same slot in the latest season before the target, against the load now and against
    the slot one season before now: yesterday's change over the same hours."""
    now = history[rows, origins]
    same = history[rows, origins + h - period * -(-h // period)]
    before = history[rows, origins + 1 - period]
    s = scale[rows]
    return np.stack([(same - now) / s, (same - before) / s], axis=1)
