"""A policy's shards as one fitted batch that lives between cycles: rows join when a shard is
first seen, leave when it goes, absorb each new grid sample, and are refitted a few at a time
(staggered over the retrain interval) so no cycle pays for a whole refit.

A row joins with the baselines only (seasonal-naive and persistence need no fit, so every shard
has a forecast in the first cycle); its full fit comes in a later cycle, within a budget."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from shardcast.forecast import batch
from shardcast.forecast.batch import BatchForecaster
from shardcast.forecast.boosted import BoostedPair


@dataclass
class FleetModel:
    """Rows are `names`, in order; `end_seconds` is the grid instant the state has absorbed."""

    names: list[str] = field(default_factory=list)
    forecaster: BatchForecaster | None = None
    fitted_at: np.ndarray = field(default_factory=lambda: np.empty(0))
    end_seconds: int | None = None
    boosted: BoostedPair | None = None  # the policy's boosted model, shared by its fits
    boosted_at: float = -math.inf  # when it was trained
    boosted_window: int = 0  # on windows of how many samples

    def __post_init__(self) -> None:
        self._rename(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def rows(self, names: list[str]) -> np.ndarray:
        return np.array([self._by_name[n] for n in names], dtype=int)

    def retain(self, names: set[str]) -> None:
        """Drop the rows of shards not in `names`."""
        keep = [n for n in self.names if n in names]
        if len(keep) == len(self.names):
            return
        rows = self.rows(keep)
        self.forecaster = self.forecaster.take(rows) if keep and self.forecaster else None
        self.fitted_at = self.fitted_at[rows]
        self._rename(keep)
        if not keep:
            self.end_seconds = None

    def absorb(self, columns: np.ndarray, end_seconds: int) -> set[str]:
        """Each new grid sample of every row (columns: rows x k, oldest first) up to
        `end_seconds`: one vectorised recursion step per sample, no replay of history. The
        rows found to have shifted level on the way (handed to persistence) are returned."""
        shifted: set[str] = set()
        if self.forecaster is not None:
            for column in columns.T:
                rows = self.forecaster.update(np.asarray(column, dtype=float))
                shifted.update(self.names[row] for row in rows)
        self.end_seconds = end_seconds
        return shifted

    def fit(self, names: list[str], histories: np.ndarray, end_seconds: int, period: int,
            horizon: int, interval_level: float, now_seconds: float, retrain_seconds: float,
            models: tuple[int, ...], full: bool = True) -> None:
        """(Re)fit `names` on their histories (rows x T, gap-free) ending at `end_seconds`,
        which must be the instant the model has absorbed. A fit that is not `full` (the
        baselines standing in) leaves the rows due at once. The boosted model is trained on
        the first fit's rows of each retrain interval and reused by the fits after it, unless
        their windows are longer (backfill went on): a longer window backtests from earlier
        origins, which the model held out for scoring may have learnt from."""
        if not names:
            return
        if self.forecaster is not None and self.end_seconds != end_seconds:
            raise ValueError(f"fit ends at {end_seconds}, the model at {self.end_seconds}")
        if batch.BOOSTED in models and (self.boosted is None
                                        or now_seconds - self.boosted_at >= retrain_seconds
                                        or histories.shape[1] > self.boosted_window):
            self.boosted = batch.train_boosted(histories, period, horizon)
            self.boosted_at, self.boosted_window = now_seconds, histories.shape[1]
        fitted = batch.fit(histories, period, horizon, interval_level, models=models,
                           boosted=self.boosted)
        old = [i for i, n in enumerate(names) if n in self._by_name]
        new = [i for i, n in enumerate(names) if n not in self._by_name]
        if old and self.forecaster is not None:
            rows = self.rows([names[i] for i in old])
            self.forecaster.assign(rows, fitted.take(np.array(old)))
            self.fitted_at[rows] = now_seconds if full else -math.inf
        if new:
            joined = fitted.take(np.array(new))
            self.forecaster = (joined if self.forecaster is None
                               else self.forecaster.join(joined))
            self._rename(self.names + [names[i] for i in new])
            at = now_seconds if full else -math.inf
            self.fitted_at = np.concatenate([self.fitted_at, np.full(len(new), at)])
        self.end_seconds = end_seconds

    def shifted_from(self, name: str) -> str | None:
        """The model `name` chose, while a level shift has it forecast with persistence."""
        if self.forecaster is None or name not in self._by_name:
            return None
        return self.forecaster.shifted_from(self._by_name[name])

    def standing_in(self) -> set[str]:
        """Rows whose forecast is still the baselines' (no full fit yet)."""
        return {self.names[i] for i in np.flatnonzero(np.isneginf(self.fitted_at))}

    def due(self, now_seconds: float, retrain_seconds: float, limit: int,
            eligible: np.ndarray | None = None) -> list[str]:
        """Rows to refit this cycle: never fully fitted first, then the most overdue, at most
        `limit` (the cycle's budget), so the cost of refits is spread over cycles; only rows
        `eligible` (a mask over the rows) when given."""
        late = now_seconds - self.fitted_at >= retrain_seconds
        overdue = np.flatnonzero(late if eligible is None else late & eligible)
        order = overdue[np.argsort(self.fitted_at[overdue], kind="stable")][:max(0, limit)]
        return [self.names[i] for i in order]

    def _rename(self, names: list[str]) -> None:
        self.names = names
        self._by_name = {name: row for row, name in enumerate(names)}
