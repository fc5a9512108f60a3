"""The models behind one interface. Each is fitted once on a training prefix, then run with
those parameters over any longer history to forecast from many origins (the backtest) or from the
end (production) without refitting: the cheap update between staggered refits."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from shardcast.forecast import batch, cycle
from shardcast.forecast.compact import CompactState, EtsState, SarimaxState
from shardcast.forecast.context import Context
from shardcast.forecast.holt_winters import initial_state
from shardcast.forecast.regressors import Columns
from shardcast.forecast.types import ForecastRejected


class Fitted(Protocol):
    def predict(self, history: np.ndarray, context: Context, origins: np.ndarray) -> np.ndarray:
        """Forecasts (len(origins), H) made after observing history[: origin + 1] each.
        `history` starts with the training data; `context` describes `history`."""
        ...


@runtime_checkable
class Compactable(Fitted, Protocol):
    def compact(self, history: np.ndarray, context: Context) -> CompactState:
        """Parameters and the state at the end of `history` (which starts with the training
        data): all a forecast and an update need, without the fit's results object."""
        ...


class Candidate(Protocol):
    @property
    def name(self) -> str: ...

    def fit(self, train: np.ndarray, context: Context) -> Fitted: ...


def _steps(context: Context) -> np.ndarray:
    return np.arange(1, context.horizon_steps + 1)


def _season_back(context: Context, steps: np.ndarray) -> np.ndarray:
    """How far back the same season slot was last observed, for each forecast step."""
    return cycle.lags(np.array([context.period_steps]), len(steps))


@dataclass(frozen=True)
class SeasonalNaive:
    """Same slot one season earlier: the baseline every model must beat, and the fallback."""

    name: str = "seasonal-naive"

    def fit(self, train: np.ndarray, context: Context) -> Fitted:
        return _NaiveFitted(context.period_steps)


@dataclass(frozen=True)
class CycleNaive:
    """Same point one cycle earlier, for a cycle shorter than the season found in the training
    data (`cycle.py`): an hourly job's next hour."""

    name: str = "cycle-naive"

    def fit(self, train: np.ndarray, context: Context) -> Fitted:
        found = cycle.detect(train[None, :], context.period_steps, context.horizon_steps)
        return _NaiveFitted(int(found[0]))


@dataclass(frozen=True)
class _NaiveFitted:
    cycle_steps: int

    def predict(self, history: np.ndarray, context: Context, origins: np.ndarray) -> np.ndarray:
        steps = _steps(context)
        back = cycle.lags(np.array([self.cycle_steps]), len(steps))
        return np.asarray(history[origins[:, None] + steps[None, :] - back])


@dataclass(frozen=True)
class Persistence:
    """The load now, carried over the horizon: what a reactive rebalancer assumes, and at short
    horizons the baseline to beat."""

    name: str = "persistence"

    def fit(self, train: np.ndarray, context: Context) -> Fitted:
        return _PersistenceFitted()


@dataclass(frozen=True)
class _PersistenceFitted:
    def predict(self, history: np.ndarray, context: Context, origins: np.ndarray) -> np.ndarray:
        return np.repeat(history[origins][:, None], context.horizon_steps, axis=1)


@dataclass(frozen=True)
class HoltWinters:
    """shardcast's vectorised Holt-Winters (additive, damped trend, grid-fitted parameters)."""

    name: str = "holt-winters"

    def fit(self, train: np.ndarray, context: Context) -> Fitted:
        fitted = batch.fit(train[None, :], context.period_steps, context.horizon_steps,
                           context.interval_level, models=(batch.HOLT_WINTERS,))
        state = fitted.holt_winters
        seasonal = float(np.any(state.season != 0))
        return _HoltWintersFitted(
            np.array([[state.alpha[0], state.beta[0], state.gamma[0], seasonal]]))


@dataclass(frozen=True)
class _HoltWintersFitted:
    params: np.ndarray  # (1, 4) one grid row

    def predict(self, history: np.ndarray, context: Context, origins: np.ndarray) -> np.ndarray:
        state = initial_state(history[None, :], context.period_steps, self.params)
        wanted = set(origins.tolist())
        rows = {}
        for t in range(int(origins.max()) + 1):
            state.step(history[None, t, None])
            if t in wanted:
                rows[t] = state.point(context.horizon_steps)[0, 0]
        return np.array([rows[int(o)] for o in origins])


@dataclass(frozen=True)
class Ets:
    """statsmodels ETSModel (additive error, damped trend, daily season), fitted by MLE."""

    name: str = "ets"

    def fit(self, train: np.ndarray, context: Context) -> Fitted:
        model = self._model(train, context)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = model.fit(disp=False, maxiter=200)
        if not np.all(np.isfinite(result.params)):
            raise ForecastRejected("ets: fit produced non-finite parameters")
        return _EtsFitted(self, result.params, result.initial_level, result.initial_trend,
                          np.asarray(result.initial_seasonal))

    @staticmethod
    def _model(values: np.ndarray, context: Context, **known: Any) -> Any:
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel

        init = {"initialization_method": "known", **known} if known else {
            "initialization_method": "heuristic"}
        return ETSModel(values, error="add", trend="add", damped_trend=True, seasonal="add",
                        seasonal_periods=context.period_steps, **init)


@dataclass(frozen=True)
class _EtsFitted:
    spec: Ets
    params: np.ndarray
    initial_level: float
    initial_trend: float
    initial_seasonal: np.ndarray

    def predict(self, history: np.ndarray, context: Context, origins: np.ndarray) -> np.ndarray:
        """One fixed-parameter smoothing pass over the history, then each origin's forecast
        from the states statsmodels records: level + damped slope + the slot's last season."""
        level, slope, season = self._smoothed(history, context)
        phi = float(self.params[3])
        steps = _steps(context)
        damping = np.cumsum(phi ** steps)
        slots = origins[:, None] + steps[None, :] - _season_back(context, steps)
        return np.asarray(level[origins, None] + damping[None, :] * slope[origins, None]
                          + season[slots])

    def compact(self, history: np.ndarray, context: Context) -> EtsState:
        level, slope, season = self._smoothed(history, context)
        alpha, beta, gamma, phi = (float(p) for p in self.params[:4])
        return EtsState(alpha, beta, gamma, phi, float(level[-1]), float(slope[-1]),
                        season[-context.period_steps:].copy())

    def _smoothed(self, history: np.ndarray,
                  context: Context) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Level, slope and season after each sample of `history`, with fixed parameters."""
        model = self.spec._model(history, context, initial_level=self.initial_level,
                                 initial_trend=self.initial_trend,
                                 initial_seasonal=self.initial_seasonal)
        smoothed = model.smooth(self.params)
        return (np.asarray(smoothed.level), np.asarray(smoothed.slope),
                np.asarray(smoothed.season))


@dataclass(frozen=True)
class Sarimax:
    """statsmodels SARIMAX(1,1,1) with Fourier seasons and event pulses as regressors."""

    name: str = "sarimax"

    def fit(self, train: np.ndarray, context: Context) -> Fitted:
        from statsmodels.tsa.statespace.sarimax import SARIMAX

        columns = Columns.for_history(context, len(train))
        exog = columns.design(context.times(len(train)), context)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = SARIMAX(train, exog=exog, order=(1, 1, 1)).fit(
                disp=False, maxiter=50)
        if not np.all(np.isfinite(result.params)):
            raise ForecastRejected("sarimax: fit produced non-finite parameters")
        return _SarimaxFitted(result, columns, len(train))


@dataclass(frozen=True)
class _SarimaxFitted:
    result: Any
    columns: Columns
    train_length: int

    def predict(self, history: np.ndarray, context: Context, origins: np.ndarray) -> np.ndarray:
        """Extend the fitted filter origin by origin (no refit, ~6 ms each) and forecast."""
        horizon = context.horizon_steps
        times = np.concatenate([context.times(len(history)), context.future_times()])
        exog = self.columns.design(times, context)
        rows = []
        filtered, position = self.result, self.train_length
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for origin in origins:
                end = int(origin) + 1
                if end > position:
                    filtered = filtered.extend(history[position:end], exog=exog[position:end])
                    position = end
                rows.append(filtered.forecast(horizon, exog=exog[end:end + horizon]))
        return np.array(rows)

    def compact(self, history: np.ndarray, context: Context) -> SarimaxState:
        """The filter run on to the end of `history` with the fitted parameters, reduced to
        its steady state (statsmodels keeps the time-invariant matrices in slot 0)."""
        exog = self.columns.design(context.times(len(history)), context)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            filtered = self.result.extend(history[self.train_length:],
                                          exog=exog[self.train_length:])
        matrices = filtered.filter_results
        return SarimaxState(
            coefficients=np.asarray(self.result.params[:exog.shape[1]], dtype=float),
            columns=self.columns, transition=np.array(matrices.transition[:, :, 0]),
            design=np.array(matrices.design[0, :, 0]),
            gain=np.array(matrices.kalman_gain[:, 0, -1]),
            state=np.array(filtered.predicted_state[:, -1]))
