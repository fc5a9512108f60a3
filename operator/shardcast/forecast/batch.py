"""Forecasting many shards at once: Holt-Winters, seasonal-naive, persistence, cycle-naive (a
shorter cycle found in the shard's own history, `cycle.py`) and one boosted model across the
batch side by side, the best chosen per shard by its errors on recent history.

Persistence (the load now, carried forward) is what every reactive rebalancer assumes; at short
horizons it is the baseline to beat, and on a shard whose regime just changed it often wins.

A full fit replays the whole history once (for every grid parameter at the same time); after it,
each new sample costs one vectorised recursion step, so a cycle over 10,000 shards is a handful of
array operations rather than 10,000 model refits. Between refits a row whose samples keep
leaving its band on one side (a level shift, `shift.py`) forecasts with persistence until they
are back inside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from shardcast.forecast import cycle
from shardcast.forecast.bands import ErrorBands
from shardcast.forecast.boosted import Boosted, BoostedPair
from shardcast.forecast.holt_winters import GRID, HoltWintersState, initial_state
from shardcast.forecast.shift import ShiftWatch

MAX_ERROR_CELLS = 2_000_000  # errors per model kept at once while calibrating (float64: 16 MB)
RECENT_BAND_SEASONS = 2  # intervals from the errors of the last two seasons' origins
# The boosted model is backtested from every fourth origin only: its forecasts cost more than
# the recursions', and 72 origins a day at 5-minute steps still calibrate a band.
BOOSTED_ORIGIN_STRIDE = 4
SEASONAL_NAIVE, HOLT_WINTERS, PERSISTENCE, BOOSTED, CYCLE_NAIVE = 0, 1, 2, 3, 4
MODEL_NAMES = ("seasonal-naive", "holt-winters", "persistence", "boosted",
               "cycle-naive")  # by the codes above
ALL_MODELS = (SEASONAL_NAIVE, HOLT_WINTERS, PERSISTENCE, BOOSTED, CYCLE_NAIVE)
FITTED_MODELS = (HOLT_WINTERS, BOOSTED)  # the rest (the baselines) need no fit
# Those a single shard's history can be backtested with (`challenge`); the boosted model learns
# from a whole batch.
PER_SHARD_MODELS = (SEASONAL_NAIVE, HOLT_WINTERS, PERSISTENCE, CYCLE_NAIVE)


@dataclass
class BatchForecaster:
    """Fitted state of n shards sharing one time grid (all histories end at the same instant)."""

    holt_winters: HoltWintersState
    recent: np.ndarray  # (n, m): the last season of samples, slot-indexed like the season state
    last: np.ndarray  # (n,): the latest observed sample, persistence's forecast
    model: np.ndarray  # (n,) int: the code (MODEL_NAMES) of the model that won the backtest
    # (a row whose load shifted level since forecasts with persistence: `effective_model`)
    bands: ErrorBands  # the chosen model's error quantiles, per shard and step
    fallback: ErrorBands  # persistence's, for rows handed to it after a level shift
    mae: np.ndarray  # (n, len(MODEL_NAMES)): each model's backtest mean absolute error
    scale: np.ndarray  # in-sample seasonal-naive MAE: the denominator of MASE
    cycle: np.ndarray  # (n,) int: the cycle in steps cycle-naive repeats (`cycle.detect`)
    interval_level: float
    boosters: tuple[Boosted, ...] = ()  # the boosted models rows use (one per retrain interval)
    booster: np.ndarray = field(default_factory=lambda: np.empty(0, int))  # index, -1: none
    watch: ShiftWatch = field(default_factory=lambda: ShiftWatch.empty(0))

    def __post_init__(self) -> None:
        if len(self.booster) != self.size:
            self.booster = np.full(self.size, -1)
        if len(self.watch.runs) != self.size:
            self.watch = ShiftWatch.empty(self.size)

    @property
    def size(self) -> int:
        return len(self.scale)

    @property
    def effective_model(self) -> np.ndarray:
        """The code of the model each row forecasts with now."""
        return np.where(self.watch.shifted, PERSISTENCE, self.model)

    @property
    def model_names(self) -> list[str]:
        return [MODEL_NAMES[code] for code in self.effective_model]

    def shifted_from(self, row: int) -> str | None:
        """The model `row` chose, while a level shift has it forecast with persistence (None:
        no shift)."""
        return MODEL_NAMES[self.model[row]] if self.watch.shifted[row] else None

    @property
    def backtest_mase(self) -> np.ndarray:
        """MASE of the model in use on recent history (below 1 beats seasonal-naive's scale)."""
        chosen = self.mae[np.arange(self.size), self.effective_model]
        return np.asarray(chosen / np.where(self.scale > 0, self.scale, np.nan))

    def update(self, observed: np.ndarray) -> np.ndarray:
        """Absorb the next sample of every shard (NaN where a shard has none). Rows whose
        samples have left their model's band (a level shift) forecast with persistence until
        they are back inside it, where persistence was among their candidates (scored in the
        backtest); those that left it now are returned."""
        eligible = (self.model != PERSISTENCE) & np.isfinite(self.mae[:, PERSISTENCE])
        shifted = np.flatnonzero(self.watch.observe(observed, eligible))
        slot = self.holt_winters.phase
        known = ~np.isnan(observed)
        self.recent[:, slot] = np.where(known, observed, self.recent[:, slot])
        self.last = np.where(known, observed, self.last)
        self.holt_winters.step(observed)
        return shifted

    def forecast(self, steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Point, lower and upper bound, each (n, steps), never below zero (utilization).
        Each row's own model's bounds are kept for judging the samples that follow."""
        slots = (self.holt_winters.phase + np.arange(steps)) % self.recent.shape[1]
        persistence = np.repeat(self.last[:, None], steps, axis=1)
        point = np.select(
            [self.model[:, None] == HOLT_WINTERS, self.model[:, None] == PERSISTENCE],
            [self.holt_winters.point(steps), persistence], self.recent[:, slots])
        self._cycle_point(point)
        self._boosted_point(point)
        self.watch.expect(np.maximum(point + self.bands.lower[:, :steps], 0.0),
                          np.maximum(point + self.bands.upper[:, :steps], 0.0))
        point = np.where(self.watch.shifted[:, None], persistence, point)
        bands = ErrorBands.choose(self.watch.shifted, self.fallback, self.bands)
        lower = np.maximum(point + bands.lower[:, :steps], 0.0)
        upper = np.maximum(point + bands.upper[:, :steps], 0.0)
        return np.maximum(point, 0.0), lower, upper

    def _cycle_point(self, point: np.ndarray) -> None:
        """Overwrite the rows that chose cycle-naive with the latest samples at the same points
        of their cycles (all within the season of samples kept)."""
        rows = np.flatnonzero(self.model == CYCLE_NAIVE)
        ahead = np.arange(point.shape[1])
        back = cycle.lags(self.cycle[rows], point.shape[1])
        slots = (self.holt_winters.phase + ahead[None, :] - back) % self.recent.shape[1]
        point[rows] = self.recent[rows[:, None], slots]

    def _boosted_point(self, point: np.ndarray) -> None:
        """Overwrite the rows that chose the boosted model with its forecast, from the season
        of samples kept (oldest first), each row with the model its fit trained."""
        season = None
        for index in np.unique(self.booster[self.model == BOOSTED]):
            if season is None:
                season = np.roll(self.recent, -self.holt_winters.phase, axis=1)
            rows = np.flatnonzero((self.model == BOOSTED) & (self.booster == index))
            booster = self.boosters[index]
            ahead = booster.predict(season, rows, np.full(len(rows), season.shape[1] - 1),
                                    self.scale)
            point[rows] = ahead[:, :point.shape[1]]

    def take(self, rows: np.ndarray) -> BatchForecaster:
        """The forecaster of a subset of the shards (copies)."""
        return BatchForecaster(self.holt_winters.take(rows), self.recent[rows], self.last[rows],
                               self.model[rows], self.bands.take(rows),
                               self.fallback.take(rows), self.mae[rows], self.scale[rows],
                               self.cycle[rows], self.interval_level, self.boosters,
                               self.booster[rows],
                               self.watch.take(rows))._pruned()

    def _pruned(self) -> BatchForecaster:
        """The boosted models no row uses any longer dropped, one copy of each kept (a refit
        assigned back brings its model again), the rows' indexes renumbered."""
        kept: list[Boosted] = []
        renumber = np.full(len(self.boosters) + 1, -1)  # the last entry maps -1 to itself
        for index in np.unique(self.booster[self.booster >= 0]):
            model = self.boosters[index]
            same = [k for k, other in enumerate(kept) if other is model]
            renumber[index] = same[0] if same else len(kept)
            kept += [] if same else [model]
        self.booster, self.boosters = renumber[self.booster], tuple(kept)
        return self

    def rephased(self, phase: int) -> BatchForecaster:
        """The same state with season slots renumbered so the next sample falls in `phase`.
        A fit numbers slots from the start of its window; windows slide, so two fits ending at
        the same instant agree on slots only after this."""
        shift = phase - self.holt_winters.phase
        state = replace(self.holt_winters, season=np.roll(self.holt_winters.season, shift, 0),
                        phase=phase % self.holt_winters.period)
        return replace(self, holt_winters=state, recent=np.roll(self.recent, shift, -1))

    def join(self, other: BatchForecaster) -> BatchForecaster:
        """This batch followed by `other`'s rows (fitted to the same instant)."""
        return _concatenate([self, other.rephased(self.holt_winters.phase)])

    def assign(self, rows: np.ndarray, other: BatchForecaster) -> None:
        """Replace the state of `rows` with `other`'s (a refit of those shards, fitted to the
        instant this batch has absorbed)."""
        other = other.rephased(self.holt_winters.phase)
        mine, theirs = self.holt_winters, other.holt_winters
        for name in ("alpha", "beta", "gamma", "level", "trend"):
            getattr(mine, name)[rows] = getattr(theirs, name)
        mine.season[:, rows] = theirs.season
        self.recent[rows], self.last[rows], self.model[rows] = (other.recent, other.last,
                                                                other.model)
        self.bands.lower[rows], self.bands.upper[rows] = other.bands.lower, other.bands.upper
        self.fallback.lower[rows] = other.fallback.lower
        self.fallback.upper[rows] = other.fallback.upper
        self.watch.forget(rows)
        self.mae[rows], self.scale[rows], self.cycle[rows] = other.mae, other.scale, other.cycle
        self.booster[rows] = np.where(other.booster >= 0, other.booster + len(self.boosters), -1)
        self.boosters = self.boosters + other.boosters
        self._pruned()


def fit(history: np.ndarray, period: int, horizon_steps: int, interval_level: float,
        calibration_origins: int | None = None, models: tuple[int, ...] = ALL_MODELS,
        boosted: BoostedPair | None = None) -> BatchForecaster:
    """Fit every row of `history` (n, T): gap-free, on one grid, T > period + horizon; each
    row gets whichever of `models` (codes) backtests best. The boosted model is `boosted`
    when given (trained on this window or an earlier one, see `train_boosted`), else trained
    here on `history`."""
    if BOOSTED in models and boosted is None:
        boosted = train_boosted(history, period, horizon_steps, calibration_origins)
    held_out = boosted.held_out if boosted is not None and BOOSTED in models else None
    rows = max(1, MAX_ERROR_CELLS // (_origins(history, period, horizon_steps,
                                                calibration_origins) * horizon_steps))
    parts = [_fit_chunk(history[i:i + rows], period, horizon_steps, interval_level,
                        calibration_origins, models, held_out)
             for i in range(0, len(history), rows)]
    fitted = parts[0] if len(parts) == 1 else _concatenate(parts)
    if held_out is not None and boosted is not None:  # scored by one copy, forecast by the other
        fitted.boosters = (boosted.current,)
        fitted.booster = np.where(fitted.model == BOOSTED, 0, -1)
    return fitted._pruned()


def train_boosted(history: np.ndarray, period: int, horizon_steps: int,
                  calibration_origins: int | None = None) -> BoostedPair | None:
    """The boosted model of a policy from its shards' windows `history` (n, T): one learnt
    before the calibration origins `fit` backtests from, one on everything; None when the
    windows are too short. Reused by later fits, the first stays out of sample: their windows
    end later, so their calibration origins start later still."""
    length = history.shape[1]
    start = length - _origins(history, period, horizon_steps, calibration_origins) - horizon_steps
    scale = naive_scale(history, period)
    held_out = Boosted.train(history, scale, period, horizon_steps, start,
                             np.random.default_rng(0))
    current = Boosted.train(history, scale, period, horizon_steps, length,
                            np.random.default_rng(0))
    return None if held_out is None or current is None else BoostedPair(held_out, current)


def _origins(history: np.ndarray, period: int, horizon: int, requested: int | None) -> int:
    """Calibration origins: seven seasons, never more than half of what follows the first."""
    wanted = requested if requested is not None else 7 * period
    return max(1, min(wanted, (history.shape[1] - period - horizon) // 2 or 1))


def _fit_chunk(history: np.ndarray, period: int, horizon: int, interval_level: float,
               calibration_origins: int | None, models: tuple[int, ...],
               booster: Boosted | None) -> BatchForecaster:
    n, length = history.shape
    origins = _origins(history, period, horizon, calibration_origins)
    start = length - origins - horizon  # first calibration origin
    # The cycle is found before the calibration origins, so its backtest stays out of sample.
    cycles = (cycle.detect(history[:, :start], period, horizon) if CYCLE_NAIVE in models
              else np.full(n, period))
    errors = {SEASONAL_NAIVE: _naive_errors(history, np.full(n, period), horizon, start, origins),
              PERSISTENCE: _persistence_errors(history, horizon, start, origins)}
    if CYCLE_NAIVE in models:
        errors[CYCLE_NAIVE] = _naive_errors(history, cycles, horizon, start, origins)
    scale = naive_scale(history, period)
    if booster is not None:
        errors[BOOSTED] = _boosted_errors(history, booster, scale, start, origins)
    if HOLT_WINTERS in models:
        state, errors[HOLT_WINTERS] = _fit_holt_winters(history, period, horizon, start)
    else:  # the baselines alone need no fit; the state only keeps the season slots in step
        state = initial_state(history, period, GRID[:1]).take((np.arange(n), np.zeros(n, int)))
        state.phase = length % period
    # Recent origins weigh more (half-life: one season), so a level shift in the last day
    # outweighs a week of the old regime and the model that follows it wins.
    weights = 0.5 ** ((origins - 1 - np.arange(origins)) / period)
    mae = np.full((n, len(MODEL_NAMES)), np.inf)
    # Every model is scored on the same origins: those the boosted model was backtested from
    # when it is in the running (a model scored on easier days would win by that alone).
    scored = (np.flatnonzero(~np.isnan(errors[BOOSTED][:, 0, 0])) if BOOSTED in errors
              else np.arange(origins))
    for code in errors.keys() & set(models):
        mae[:, code] = _weighted_mae(errors[code][scored], weights[scored])
    # A tie (a flat series) goes to the lower code: seasonal-naive, the long-standing baseline.
    model = np.argmin(mae, axis=1)
    chosen_errors = np.empty((origins, n, horizon))
    for code in errors.keys() & set(models):
        rows = model == code
        chosen_errors[:, rows] = errors[code][:, rows]
    recent = np.empty((n, period))
    recent[:, (length - period + np.arange(period)) % period] = history[:, -period:]
    banded = -min(origins, RECENT_BAND_SEASONS * period)
    return BatchForecaster(
        holt_winters=state, recent=recent, last=history[:, -1].astype(float), model=model,
        bands=ErrorBands.from_errors(chosen_errors[banded:], interval_level),
        fallback=ErrorBands.from_errors(errors[PERSISTENCE][banded:], interval_level),
        mae=mae, scale=scale, cycle=cycles, interval_level=interval_level)


def _weighted_mae(errors: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mean |error| per row (n,) from errors (origins, n, horizon), origins weighted; origins
    with no error known (NaN) left out, inf for a row with none."""
    known = ~np.isnan(errors)
    count = known.sum(axis=2)
    per_origin = np.where(known, np.abs(errors), 0.0).sum(axis=2) / np.maximum(count, 1)
    weight = np.where(count > 0, weights[:, None], 0.0)
    total = weight.sum(axis=0)
    return np.where(total > 0, (per_origin * weight).sum(axis=0) / np.where(total > 0, total, 1),
                    np.inf)


def _boosted_errors(history: np.ndarray, booster: Boosted, scale: np.ndarray, start: int,
                    origins: int) -> np.ndarray:
    """actual - the boosted forecast, (origins, n, horizon) for the origins start...: out of
    sample, since the model learnt only from targets before `start`. Known at every
    BOOSTED_ORIGIN_STRIDE-th origin (counted back from the newest), NaN at the rest."""
    n, horizon = len(history), booster.horizon
    errors = np.full((origins, n, horizon), np.nan)
    picked = np.arange(origins - 1, -1, -BOOSTED_ORIGIN_STRIDE)[::-1]
    at = start + picked
    rows, origin = np.repeat(np.arange(n), len(at)), np.tile(at, n)
    steps = np.arange(1, horizon + 1)
    predicted = booster.predict(history, rows, origin, scale).reshape(n, len(at), horizon)
    errors[picked] = (history[:, at[:, None] + steps[None, :]] - predicted).transpose(1, 0, 2)
    return errors


def _fit_holt_winters(history: np.ndarray, period: int, horizon: int,
                      start: int) -> tuple[HoltWintersState, np.ndarray]:
    """The grid row with the lowest one-step plus horizon-step error per series, its state at
    the end of `history`, and its errors from the calibration origins start..."""
    n, length = history.shape
    state = initial_state(history, period, GRID)
    criterion = np.zeros(state.level.shape)
    snapshot = state
    for t in range(length - horizon):
        if t == start:
            snapshot = state.copy()
        state.step(history[:, t, None])
        if t >= period:
            criterion += np.abs(history[:, t + 1, None] - state.point_at(1))
            criterion += np.abs(history[:, t + horizon, None] - state.point_at(horizon))
    chosen = snapshot.take((np.arange(n), np.argmin(criterion, axis=1)))
    errors = np.empty((length - horizon - start, n, horizon))
    for k, t in enumerate(range(start, length - horizon)):
        chosen.step(history[:, t])
        errors[k] = history[:, t + 1:t + 1 + horizon] - chosen.point(horizon)
    for t in range(length - horizon, length):
        chosen.step(history[:, t])
    return chosen, errors


def _naive_errors(history: np.ndarray, cycles: np.ndarray, horizon: int, start: int,
                  origins: int) -> np.ndarray:
    """actual - the naive forecast made at each origin t for t+1..t+horizon: the latest sample
    at the same point of each row's cycle (n,) (the season: seasonal-naive)."""
    steps = np.arange(1, horizon + 1)
    back = cycle.lags(cycles, horizon)  # same point, latest cycle before t
    rows = np.arange(len(history))[:, None]
    errors = np.empty((origins, len(history), horizon))
    for k in range(origins):
        t = start + k
        errors[k] = history[:, t + steps] - history[rows, t + steps - back]
    return errors


def _persistence_errors(history: np.ndarray, horizon: int, start: int,
                        origins: int) -> np.ndarray:
    """actual - the value at each origin t, for t+1..t+horizon."""
    steps = np.arange(1, horizon + 1)
    errors = np.empty((origins, len(history), horizon))
    for k in range(origins):
        t = start + k
        errors[k] = history[:, t + steps] - history[:, t, None]
    return errors


def naive_scale(history: np.ndarray, period: int) -> np.ndarray:
    """Mean |y_t - y_(t-m)| in sample: MASE's denominator, the error of seasonal-naive."""
    return np.asarray(np.nanmean(np.abs(history[:, period:] - history[:, :-period]), axis=1))


def _concatenate(parts: list[BatchForecaster]) -> BatchForecaster:
    def cat(arrays: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(arrays, axis=0)

    hw = [p.holt_winters for p in parts]
    return BatchForecaster(
        holt_winters=HoltWintersState(
            cat([s.alpha for s in hw]), cat([s.beta for s in hw]), cat([s.gamma for s in hw]),
            cat([s.level for s in hw]), cat([s.trend for s in hw]),
            np.concatenate([s.season for s in hw], axis=1), hw[0].phase),
        recent=cat([p.recent for p in parts]), last=cat([p.last for p in parts]),
        model=cat([p.model for p in parts]),
        bands=ErrorBands.concatenate([p.bands for p in parts]),
        fallback=ErrorBands.concatenate([p.fallback for p in parts]),
        mae=cat([p.mae for p in parts]), scale=cat([p.scale for p in parts]),
        cycle=cat([p.cycle for p in parts]), interval_level=parts[0].interval_level,
        boosters=tuple(b for p in parts for b in p.boosters),
        booster=cat([np.where(p.booster >= 0, p.booster + offset, -1)
                     for p, offset in zip(parts, np.cumsum([0] + [len(p.boosters) for p in parts]),
                                          strict=False)]),
        watch=ShiftWatch.concatenate([p.watch for p in parts]))._pruned()
