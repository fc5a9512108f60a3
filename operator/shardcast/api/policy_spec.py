"""A MigrationPolicy's spec, parsed once at the edge: every default lives here (and equals the
CRD's, which a unit test holds), so nothing below the handlers reads a raw spec or repeats one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shardcast.api import durations
from shardcast.api.conditions import parse_rfc3339
from shardcast.forecast.context import Context, Event

DEFAULT_MODE = "propose-only"
DEFAULT_METRIC: Mapping[str, Any] = {"type": "cpu"}


@dataclass(frozen=True)
class ForecastSpec:
    """spec.forecast: how the policy's shards are forecast."""

    model: str = "auto"
    horizon: str = "30m"
    step_seconds: int = 300
    history_window_seconds: int = 168 * 3600
    seasonal_period_seconds: int = 24 * 3600
    retrain_seconds: float = 3600.0
    interval_level: float = 0.9
    events: tuple[Event, ...] = ()

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ForecastSpec:
        default = cls()
        return cls(
            model=str(raw.get("model", default.model)),
            horizon=str(raw.get("horizon", default.horizon)),
            step_seconds=int(durations.seconds(raw["step"])) if "step" in raw
            else default.step_seconds,
            history_window_seconds=int(durations.seconds(raw["historyWindow"]))
            if "historyWindow" in raw else default.history_window_seconds,
            seasonal_period_seconds=int(durations.seconds(raw["seasonalPeriod"]))
            if "seasonalPeriod" in raw else default.seasonal_period_seconds,
            retrain_seconds=durations.seconds(raw["retrainInterval"])
            if "retrainInterval" in raw else default.retrain_seconds,
            interval_level=float(raw.get("intervalLevel", default.interval_level)),
            events=tuple(_event(e) for e in raw.get("events") or []))

    @property
    def horizon_steps(self) -> int:
        return max(1, int(durations.seconds(self.horizon) // self.step_seconds))

    @property
    def period_steps(self) -> int:
        return max(2, self.seasonal_period_seconds // self.step_seconds)

    @property
    def window_points(self) -> int:
        """Grid points of the history window, both ends included."""
        return self.history_window_seconds // self.step_seconds + 1

    def context(self, end_seconds: int) -> Context:
        """The forecast Context of a history ending at `end_seconds` (a grid instant)."""
        return Context(step_seconds=self.step_seconds, period_steps=self.period_steps,
                       horizon_steps=self.horizon_steps, end_seconds=end_seconds,
                       interval_level=self.interval_level, events=self.events)

    def grid_end(self, now_seconds: float) -> int:
        """The latest grid instant at or before `now_seconds`."""
        return int(now_seconds) // self.step_seconds * self.step_seconds


@dataclass(frozen=True)
class PolicySpec:
    """The parts of a MigrationPolicy's spec the policy cycle reads. `raw` is what the planner
    settings (api/policy_settings.py) are read from."""

    mode: str
    shard_selector: Mapping[str, Any] | None
    metric: Mapping[str, Any]
    forecast: ForecastSpec
    raw: Mapping[str, Any]

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> PolicySpec:
        return cls(mode=str(spec.get("mode", DEFAULT_MODE)),
                   shard_selector=spec.get("shardSelector"),
                   metric=dict(spec.get("metric") or DEFAULT_METRIC),
                   forecast=ForecastSpec.from_dict(spec.get("forecast") or {}),
                   raw=spec)

    @property
    def metric_type(self) -> str:
        return str(self.metric.get("type", "cpu"))


def _event(raw: Mapping[str, Any]) -> Event:
    def at(value: str) -> int:
        return int(parse_rfc3339(value).timestamp())

    return Event(str(raw["name"]), at(raw["start"]), at(raw["end"]),
                 float(raw["expectedEffect"]))
