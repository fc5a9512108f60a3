"""One policy's forecasting pass, as one batch: read only what the history store lacks (a
handful of range queries), advance the fitted batch with the new samples, refit the few rows
that are due, forecast every shard at once, and write the predictions that changed.

The numeric work runs in one worker thread per pass (numpy releases the GIL), so the event loop
stays responsive; a pass whose grid step has not advanced does no forecasting at all."""

from __future__ import annotations

import asyncio
import datetime
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shardcast.api.conditions import parse_rfc3339
from shardcast.api.metrics import ShardQuery
from shardcast.api.policy_spec import ForecastSpec, PolicySpec
from shardcast.api.prediction import prediction_status
from shardcast.forecast import batch
from shardcast.forecast.challenge import Challenge
from shardcast.forecast.fleet import FleetModel
from shardcast.forecast.history import prepare_rows
from shardcast.forecast.shift import SHIFT_HITS, SHIFT_MISSES
from shardcast.forecast.types import Forecast
from shardcast.reconcile.challengers import CHALLENGERS, Challengers, Collected
from shardcast.reconcile.history_store import HistoryStore, Read, ReadKind
from shardcast.reconcile.ports import MetricsSource, PredictionSink

# Which batch models each spec.forecast.model may choose from. ets and sarimax are statsmodels'
# per-shard models (seconds per shard per fit): they challenge the batch in a process pool
# (`challengers`), and the vectorised Holt-Winters, the same additive damped family, stands in
# for them until a challenger wins, saying so in the prediction.
MODELS = {
    "auto": batch.ALL_MODELS,
    "boosted": (batch.BOOSTED,),
    "holt-winters": (batch.HOLT_WINTERS,),
    "ets": (batch.HOLT_WINTERS,),
    "sarimax": (batch.HOLT_WINTERS,),
    "seasonal-naive": (batch.SEASONAL_NAIVE,),
    "persistence": (batch.PERSISTENCE,),
    "cycle-naive": (batch.CYCLE_NAIVE,),
}
READ_CHUNK_SHARDS = 5000  # shards per read: bounds what one answer holds in memory
# A new shard's first read: this many seasons plus two horizons, the baselines' need and a
# season of backtest; the rest of the window follows, BACKFILL_SAMPLES a cycle (a few seconds
# of Prometheus' and the decoding's time), before the shard's first full fit.
PRIME_SEASONS = 3
BACKFILL_SAMPLES = 2_000_000
FIT_ROWS = 2048  # shards fitted at once: bounds the float64 copies a fit makes
FIT_BUDGET_SECONDS = 4.0  # CPU a pass may spend on full fits (the rest wait for later passes)
FIRST_SECONDS_PER_FIT = 0.004  # a guess of one full fit's cost until one has been measured
# A prediction is rewritten when its peak or upper bound moves by more than PEAK_TOLERANCE of
# itself and more than BAND_SHARE of its interval's width (less is noise the interval already
# admits), or once the written one is older than its age limit: MAX_PREDICTION_AGE_SECONDS to
# twice that, spread by shard name so rewrites of a fleet written at once do not come at once.
PEAK_TOLERANCE = 0.05
BAND_SHARE = 0.5
MAX_PREDICTION_AGE_SECONDS = 3600.0


@dataclass(frozen=True)
class Forecasted:
    forecast: Forecast
    now: float  # the latest observed value


@dataclass
class PassResult:
    """What one pass knows: a forecast per shard that has one, why the others have none."""

    forecast: dict[str, Forecasted] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    end_seconds: int = 0
    step_seconds: int = 300
    backtest_mase: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PassCost:
    """What a pass cost, for the operator's own metrics."""

    requests: int = 0
    samples: int = 0
    refitted: int = 0
    written: int = 0
    forecast_work: bool = False
    challenges: Collected = field(default_factory=Collected)  # finished since the last pass


@dataclass
class PolicyForecaster:
    """A policy's history store, fitted batch and last written predictions, kept between
    passes; a change of the policy's forecast settings or metric starts them afresh."""

    forecast: ForecastSpec
    metric: Mapping[str, Any]
    store: HistoryStore = field(init=False)
    model: FleetModel = field(default_factory=FleetModel)
    queries: dict[str, ShardQuery] = field(default_factory=dict)
    written: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    last: PassResult | None = None
    seconds_per_fit: float = FIRST_SECONDS_PER_FIT
    challengers: Challengers = field(default_factory=Challengers)

    def __post_init__(self) -> None:
        spec = self.forecast
        prime = PRIME_SEASONS * spec.period_steps + 2 * spec.horizon_steps
        self.store = HistoryStore(spec.step_seconds, spec.window_points,
                                  min(prime, spec.window_points), BACKFILL_SAMPLES)

    def fits(self, spec: PolicySpec) -> bool:
        return spec.forecast == self.forecast and spec.metric == self.metric

    async def run(self, spec: PolicySpec, policy_name: str, queries: Mapping[str, ShardQuery],
                  metrics: MetricsSource, sink: PredictionSink, now_seconds: float,
                  published: Mapping[str, Mapping[str, Any]] | None = None,
                  ) -> tuple[PassResult, PassCost]:
        """Bring every shard of `queries` up to the latest grid instant and forecast it.
        `published`: the predictions the Shards carry now, what a shard not written by this
        forecaster yet is compared with (a restarted operator rewrites only what changed)."""
        end = self.forecast.grid_end(now_seconds)
        for name, prediction in (published or {}).items():
            self.written.setdefault(name, prediction)
        reads = await asyncio.to_thread(self._forget_changed_and_plan_reads, queries, end)
        idle = not reads and self.last is not None and self.last.end_seconds == end
        if idle and not self._due(now_seconds):
            return self._narrowed(self.last or PassResult(), queries), PassCost()
        failed, requests, samples = await self._read(reads, queries, metrics, end)
        result, refitted, challenges, changed = await asyncio.to_thread(
            self._forecast_and_compare, list(queries), end, now_seconds, failed, spec,
            policy_name)
        if changed:
            await sink.write(changed)
            self.written.update(changed)
        self.last = result
        return result, PassCost(requests, samples, refitted, len(changed), True, challenges)

    def _forget_changed_and_plan_reads(self, queries: Mapping[str, ShardQuery],
                                       end: int) -> list[Read]:
        """Shards deselected, or whose query changed, lose their history and model rows; then
        what the store lacks up to `end`."""
        keep = {name for name, query in queries.items() if self.queries.get(name) == query}
        self.store.retain(keep)
        self.model.retain(keep)
        self.challengers.retain(keep)
        self.written = {name: w for name, w in self.written.items() if name in queries}
        self.queries = dict(queries)
        return self.store.reads(queries, end)

    def _forecast_and_compare(self, shards: list[str], end: int, now_seconds: float,
                              failed: dict[str, str], spec: PolicySpec, policy_name: str,
                              ) -> tuple[PassResult, int, Collected, dict[str, dict[str, Any]]]:
        """The CPU part of a pass, in one worker thread: forecast, then what to write."""
        challenges = self._collect_challenges(end)
        result, refitted = self._forecast_all(shards, end, now_seconds, failed)
        self._challenge(end, now_seconds)
        return result, refitted, challenges, self._changed(result, spec, policy_name,
                                                           now_seconds)

    async def _read(self, reads: list[Read], queries: Mapping[str, ShardQuery],
                    metrics: MetricsSource, end: int) -> tuple[dict[str, str], int, int]:
        """Perform the store's reads, READ_CHUNK_SHARDS shards at a time (whole windows go
        straight into one float32 block, so a first read of 100,000 shards never holds them
        as float64); a shard whose read failed is forgotten, so the next pass reads its whole
        window again rather than keep a hole."""
        failed: dict[str, str] = {}
        requests = samples = 0
        got_by_read: list[tuple[Read, dict[str, np.ndarray]]] = []
        for read in reads:
            values: dict[str, np.ndarray] = {}
            for first in range(0, len(read.shards), READ_CHUNK_SHARDS):
                chunk = read.shards[first:first + READ_CHUNK_SHARDS]
                got = await metrics.read([queries[s] for s in chunk], read.start_seconds,
                                         read.end_seconds, self.forecast.step_seconds)
                requests, samples = requests + got.requests, samples + got.samples
                failed.update(got.failed)
                values.update({shard: np.asarray(got.values[shard], np.float32)
                               for shard in chunk
                               if shard in got.values and shard not in got.failed})
            got_by_read.append((read, values))
        if reads:
            await asyncio.to_thread(self._hold, end, failed, got_by_read)
        return failed, requests, samples

    def _hold(self, end: int, failed: Mapping[str, str],
              got_by_read: list[tuple[Read, dict[str, np.ndarray]]]) -> None:
        """Put what was read into the store (in a worker thread: it touches every row)."""
        self.store.retain(set(self.store.names) - set(failed))
        self.model.retain(set(self.model.names) - set(failed))
        newer = {s: v for read, got in got_by_read if read.kind is ReadKind.NEWER
                 for s, v in got.items() if s in self.store}
        self.store.advance(end, newer)
        for read, got in got_by_read:
            if read.kind is ReadKind.OLDER:
                self.store.fill(read.start_seconds, {s: v for s, v in got.items()
                                                     if s in self.store})
            elif read.kind is ReadKind.FRESH:
                names = [s for s in read.shards if s not in failed]
                block = np.full((len(names), self.store.window_points), np.nan, np.float32)
                for row, shard in enumerate(names):
                    if shard in got:
                        recent = got[shard][-self.store.window_points:]
                        block[row, block.shape[1] - len(recent):] = recent
                self.store.add(end, names, block, read.start_seconds)

    def _forecast_all(self, shards: list[str], end: int, now_seconds: float,
                      failed: dict[str, str]) -> tuple[PassResult, int]:
        """The CPU part of a pass (in a worker thread): absorb, refit what is due, forecast."""
        spec = self.forecast
        self._absorb(end)
        models = MODELS.get(spec.model, MODELS["auto"])
        baselines = tuple(m for m in models if m not in batch.FITTED_MODELS) or (
            batch.SEASONAL_NAIVE, batch.PERSISTENCE)
        full = baselines == models
        joining = [n for n in self.store.names if n not in self.model]
        refused = self._fit(joining, end, now_seconds, baselines, full)
        # A pass that gives shards their first forecast spends nothing on full fits: those
        # shards' predictions go out first, the fits follow from the next pass on.
        due = [] if set(joining) - set(refused) else self._due(now_seconds)
        began = time.thread_time()
        unfit = self._fit(due, end, now_seconds, models, True)
        if due:
            self.seconds_per_fit = (time.thread_time() - began) / len(due)
        refitted = len(due) - len(unfit)
        failed = {**failed, **refused, **unfit}
        result = PassResult(failed=failed, end_seconds=end, step_seconds=spec.step_seconds)
        forecaster = self.model.forecaster
        if forecaster is None:
            return self._with_unread(result, shards), refitted
        point, lower, upper = forecaster.forecast(spec.horizon_steps)
        context = spec.context(end)
        factors = context.event_factors(context.future_times())
        latest = self.store.latest(self.model.names)
        mase = forecaster.backtest_mase
        names = forecaster.model_names
        for row, shard in enumerate(self.model.names):
            if not np.isfinite(latest[row]):
                failed[shard] = "the latest sample is missing: the series is stale"
                continue
            challenger = self.challengers.winners.get(shard)
            if challenger is not None:
                point[row], lower[row], upper[row] = challenger.forecast(context)
                names[row], mase[row] = challenger.model, challenger.backtest_mase
            result.forecast[shard] = Forecasted(
                Forecast(names[row], spec.step_seconds, point[row] * factors,
                         lower[row] * factors, upper[row] * factors, spec.interval_level),
                float(latest[row]))
            result.backtest_mase[shard] = float(mase[row])
        return self._with_unread(result, shards), refitted

    def _collect_challenges(self, end: int) -> Collected:
        """Adopt the challenges that finished since the last pass and bring every winning
        challenger up to `end` (the store holds the samples since its own end)."""
        collected = self.challengers.collect()
        self.challengers.retain(set(self.store.names))
        self.challengers.advance(self.store, self.forecast, end)
        return collected

    def _challenge(self, end: int, now_seconds: float) -> None:
        """Queue the challenges that are due and fit the budget, on the shards' windows ending
        at `end`, against the batch models this policy allows; nothing here waits for them."""
        spec = self.forecast
        challengers = CHALLENGERS.get(spec.model, ())
        if not challengers or self.model.forecaster is None:
            return
        incumbents = tuple(batch.MODEL_NAMES[m] for m in MODELS.get(spec.model, MODELS["auto"])
                           if m in batch.PER_SHARD_MODELS)
        context = spec.context(end)
        # Only shards whose prediction is out (a first cycle's CPU goes to the predictions),
        # whose window is filled and whose batch model is not the boosted one (learnt across
        # the batch, it cannot be backtested on one shard's window for a fair comparison).
        filled = self._filled(self.model.names)
        boosted = self.model.forecaster.model == batch.BOOSTED
        ready = [name for name, whole, across in zip(self.model.names, filled, boosted,
                                                      strict=True)
                 if whole and not across and name in self.written]
        for shard in self.challengers.due(ready, now_seconds, spec.retrain_seconds):
            window = self.store.window(self.store.rows([shard]))[0]
            self.challengers.submit(shard, Challenge(window, context, incumbents, challengers),
                                    now_seconds)

    def _absorb(self, end: int) -> None:
        """Feed the model the store's samples since the instant it last absorbed. A shard
        whose level shifted on the way loses its challenger too: it learnt the old regime;
        the batch model (persistence while the shift lasts) forecasts until it is won again
        at the shard's next challenge."""
        model = self.model
        if model.end_seconds is None or model.end_seconds >= end:
            model.end_seconds = end if model.forecaster is None else model.end_seconds
            return
        k = (end - model.end_seconds) // self.forecast.step_seconds
        if k >= self.store.window_points:  # gone too long: refit from scratch
            model.retain(set())
            return
        rows = self.store.rows(model.names)
        self.challengers.drop(model.absorb(self.store.newest(rows, k), end))

    def _due(self, now_seconds: float) -> list[str]:
        """The rows whose full fit this pass can afford, of those with their whole window."""
        limit = max(1, int(FIT_BUDGET_SECONDS / max(self.seconds_per_fit, 1e-6)))
        return self.model.due(now_seconds, self.forecast.retrain_seconds, limit,
                              self._filled(self.model.names))

    def _filled(self, names: list[str]) -> np.ndarray:
        return self.store.filled(names) if names else np.zeros(0, bool)

    def _fit(self, names: list[str], end: int, now_seconds: float, models: tuple[int, ...],
             full: bool) -> dict[str, str]:
        """Fit `names` on their stored windows; the ones whose history cannot be modelled are
        returned with the reason (and lose any model row they had)."""
        spec = self.forecast
        refused: dict[str, str] = {}
        for first in range(0, len(names), FIT_ROWS):
            chunk = names[first:first + FIT_ROWS]
            rows = self.store.rows(chunk)
            # Rows still backfilling are fitted on what all of the chunk has read (a chunk's
            # rows joined together, so they have read as far back).
            unread = self.store.unread_points(rows)
            clean, refused_rows = prepare_rows(self.store.window(rows)[:, unread:],
                                               spec.period_steps, spec.horizon_steps)
            refused.update({chunk[row]: why for row, why in refused_rows.items()})
            good = [i for i, n in enumerate(chunk) if n not in refused]
            self.model.retain(set(self.model.names) - set(refused))
            self.model.fit([chunk[i] for i in good], clean[good], end, spec.period_steps,
                           spec.horizon_steps, spec.interval_level, now_seconds,
                           spec.retrain_seconds, models, full)
        return refused

    @staticmethod
    def _with_unread(result: PassResult, shards: list[str]) -> PassResult:
        for shard in shards:
            if shard not in result.forecast and shard not in result.failed:
                result.failed[shard] = "no history has been read for it yet"
        return result

    @staticmethod
    def _narrowed(last: PassResult, queries: Mapping[str, ShardQuery]) -> PassResult:
        """The last pass's result for the shards still selected (nothing new to forecast)."""
        return PassResult({n: f for n, f in last.forecast.items() if n in queries},
                          {n: w for n, w in last.failed.items() if n in queries},
                          last.end_seconds, last.step_seconds,
                          {n: m for n, m in last.backtest_mase.items() if n in queries})

    def _changed(self, result: PassResult, spec: PolicySpec, policy_name: str,
                 now_seconds: float) -> dict[str, dict[str, Any]]:
        """The predictions worth writing: new, materially different, or getting old. A
        baseline standing in until a shard's first full fit does not replace a prediction
        the Shard already carries (a restarted operator's, of a fitted model) unless its
        numbers differ materially: the model would flip to the stand-in and back."""
        computed_at = datetime.datetime.fromtimestamp(now_seconds, datetime.UTC)
        standing_in = self.model.standing_in()
        changed = {}
        for shard, forecasted in result.forecast.items():
            status = prediction_status(
                forecasted.forecast, policy=policy_name, metric=spec.metric_type,
                horizon=spec.forecast.horizon, end_seconds=result.end_seconds,
                computed_at=computed_at, backtest_mase=result.backtest_mase[shard],
                fallback_reason=self._fallback_reason(shard, forecasted.forecast.model))
            if material(shard, self.written.get(shard), status, now_seconds,
                        same_model=shard in standing_in):
                changed[shard] = status
        return changed

    def _fallback_reason(self, shard: str, model: str) -> str | None:
        """Why a shard whose policy names a model got another (None when it did not): a
        baseline stands in until the first full fit, the batch Holt-Winters for a statsmodels
        model until a challenger wins, persistence while a level shift lasts."""
        wanted = self.forecast.model
        left = self.model.shifted_from(shard)
        if left is not None and model == batch.MODEL_NAMES[batch.PERSISTENCE]:
            return (f"the load left the {self.forecast.interval_level:.0%} band of {left} on "
                    f"one side {SHIFT_MISSES} samples in a row (a level shift): persistence, "
                    f"the load now, forecasts until {SHIFT_HITS} samples in a row are back "
                    "inside it or the shard is refitted")
        if wanted in (model, "auto"):
            return None
        allowed = {batch.MODEL_NAMES[m] for m in MODELS.get(wanted, MODELS["auto"])}
        if model not in allowed:
            return (f"{wanted} is fitted once the shard's history window is read; {model} "
                    "(a baseline that needs no fit) stands in until then")
        if wanted in CHALLENGERS:
            return self.challengers.fallback_reason(shard, wanted)
        return None


def material(shard: str, old: Mapping[str, Any] | None, new: Mapping[str, Any],
             now_seconds: float, same_model: bool = False) -> bool:
    """Whether `new` says something `old` (the prediction written last for `shard`) does not:
    another model or reason, a peak or upper bound that moved materially (see PEAK_TOLERANCE),
    or an `old` past its age limit. `same_model`: another model or reason alone does not
    count. An `old` read from a Shard that does not parse (edited by hand, written by an older
    release) is rewritten."""
    if old is None:
        return True
    identity = ("policy", "horizon", "metric") + (() if same_model else ("model",
                                                                        "fallbackReason"))
    if any(old.get(key) != new.get(key) for key in identity):
        return True
    spread = 1.0 + (zlib.crc32(shard.encode()) % 1000) / 1000
    try:
        age = now_seconds - parse_rfc3339(str(old["computedAt"])).timestamp()
        noise = BAND_SHARE * max(float(old["upper"]) - float(old["lower"]), 0.0)
        moved = any(abs(float(new[key]) - float(old[key]))
                    > max(PEAK_TOLERANCE * abs(float(old[key])), noise, 1e-9)
                    for key in ("peak", "upper"))
    except (KeyError, TypeError, ValueError):
        return True
    return moved or age >= MAX_PREDICTION_AGE_SECONDS * spread

