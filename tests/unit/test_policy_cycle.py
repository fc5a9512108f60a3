"""The policy cycle with in-memory fakes: a Prometheus that serves real traces on the grid and
counts what it is asked, a status sink that records writes. Milliseconds per cycle."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from shardcast.api.metrics import ShardQuery
from shardcast.api.nodes import NodeState, Taint, Toleration
from shardcast.api.policy_spec import PolicySpec
from shardcast.clients.prometheus_batch import BatchRead
from shardcast.forecast import batch
from shardcast.reconcile.history_store import HistoryStore, ReadKind
from shardcast.reconcile.policy_cycle import CycleInputs, PolicyState, Ports, run_cycle
from shardcast.reconcile.policy_forecast import PolicyForecaster, material
from shardcast.traces import TRACES, default_traces_dir, load_trace

STEP = 300
END = 1_700_000_000 // STEP * STEP
SPEC = {"mode": "propose-only", "metric": {"type": "cpu"},
        "forecast": {"model": "auto", "horizon": "30m", "historyWindow": "72h"},
        "threshold": {"utilization": 80}, "capacity": {"source": "Fixed", "value": "8"}}
CPU_TRACES = [t.name for t in TRACES if "cpu" in t.name and t.step_seconds == STEP][:6]


@dataclass
class TraceMetrics:
    """Each shard reads one real trace (cores = percent / 20), its last sample at END +
    `advanced` steps; shards in `missing` have no series, in `broken` a failing request."""

    series: dict[str, np.ndarray]
    advanced: int = 0
    missing: set[str] = field(default_factory=set)
    broken: set[str] = field(default_factory=set)
    asked: list[tuple[tuple[str, ...], int, int]] = field(default_factory=list)

    async def read(self, queries: Sequence[ShardQuery], start_seconds: int, end_seconds: int,
                   step_seconds: int) -> BatchRead:
        names = tuple(q.shard for q in queries)
        self.asked.append((names, start_seconds, end_seconds))
        values, failed = {}, {}
        for name in names:
            if name in self.broken:
                failed[name] = "Prometheus could not answer: HTTP 503"
                continue
            values[name] = self.window(name, start_seconds, end_seconds)
        return BatchRead(values, failed, 1, sum(int(np.isfinite(v).sum()) for v in values.values()))

    def window(self, name: str, start: int, end: int) -> np.ndarray:
        points = (end - start) // STEP + 1
        if name in self.missing:
            return np.full(points, np.nan)
        trace = self.series[name]
        last = len(trace) - 1 - (200 - self.advanced)  # the trace's sample at END + advanced
        offset = (end - (END + self.advanced * STEP)) // STEP
        stop = last + offset + 1
        return np.asarray(trace[stop - points:stop], dtype=float)


@dataclass
class Sink:
    writes: list[dict[str, Any]] = field(default_factory=list)

    async def write(self, shards: Mapping[str, Mapping[str, Any]]) -> None:
        self.writes.append(dict(shards))


@dataclass
class Creator:
    created: list[Mapping[str, Any]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    async def create(self, body: Mapping[str, Any]) -> bool:
        self.created.append(body)
        return True

    async def delete(self, name: str) -> None:
        self.deleted.append(name)


def traces() -> dict[str, np.ndarray]:
    found = {}
    for i, name in enumerate(CPU_TRACES):
        spec = next(t for t in TRACES if t.name == name)
        found[f"s{i}"] = load_trace(spec, default_traces_dir()).values / 20
    return found


def shards(names: Sequence[str], node: str = "node-a") -> dict[str, dict[str, Any]]:
    return {n: {"workload": {"name": "kv"}, "placement": {"node": node}, "sizeBytes": 1 << 30}
            for n in names}


def cycle(metrics: TraceMetrics, state: PolicyState, names: Sequence[str],
          sink: Sink | None = None, creator: Creator | None = None,
          spec: Mapping[str, Any] = SPEC, nodes: Mapping[str, NodeState] | None = None,
          tolerations: frozenset[tuple[Toleration, ...]] = frozenset(),
          published: Mapping[str, Mapping[str, Any]] | None = None) -> Any:
    inputs = CycleInputs("p", PolicySpec.from_dict(spec), {}, shards(names),
                         dict.fromkeys(names, "node-a"),
                         nodes or dict.fromkeys(("node-a", "node-b", "node-c"),
                                                NodeState({"cpu": "8"})),
                         tolerations, [],
                         END + metrics.advanced * STEP + 7, published or {})
    return asyncio.run(run_cycle(inputs, state, Ports(metrics, sink or Sink(),
                                                      creator or Creator())))


def test_every_shard_is_forecast_in_the_first_cycle_from_one_batched_read() -> None:
    metrics, sink = TraceMetrics(traces()), Sink()
    names = sorted(metrics.series)
    done = cycle(metrics, PolicyState(), names, sink)
    assert done.outcome.forecast == len(names) and not done.outcome.failed
    assert len(metrics.asked) == 1 and metrics.asked[0][0] == tuple(names)
    assert metrics.asked[0][2] - metrics.asked[0][1] == 72 * 3600  # the whole window, once
    assert set(sink.writes[0]) == set(names)
    for prediction in sink.writes[0].values():
        assert prediction["model"] in {"holt-winters", "seasonal-naive", "persistence"}
        assert 0 <= prediction["lower"] <= prediction["point"] <= prediction["upper"]


def test_later_cycles_read_only_new_samples_and_a_cycle_without_one_does_nothing() -> None:
    metrics, state = TraceMetrics(traces()), PolicyState()
    names = sorted(metrics.series)
    cycle(metrics, state, names)
    for _ in range(3):  # the first cycles finish the full fits the budget left for later
        cycle(metrics, state, names)
    metrics.asked.clear()
    idle = cycle(metrics, state, names)
    assert metrics.asked == [] and not idle.cost.forecast_work
    assert idle.outcome.forecast == len(names)
    metrics.advanced = 2
    cycle(metrics, state, names)
    ((asked, start, end),) = metrics.asked
    assert asked == tuple(names) and (start, end) == (END + STEP, END + 2 * STEP)


def test_the_incremental_forecast_equals_fitting_then_replaying_the_new_samples() -> None:
    """Absorbing samples one step at a time lands where a fit followed by the same updates
    does: the steady state needs no replay of the history. Until the first fit, a baseline
    stands in for the policy's model and says so."""
    metrics = TraceMetrics(traces())
    names = sorted(metrics.series)
    spec = {**SPEC, "forecast": {**SPEC["forecast"], "model": "holt-winters"}}
    state, sink = PolicyState(), Sink()
    for _ in range(2):  # the first cycle forecasts from the baselines, the second fits
        cycle(metrics, state, names, sink, spec=spec)
    first, fitted = sink.writes[0], sink.writes[1]
    for name in names:  # the baseline standing in said so; the fitted model clears it
        if first[name]["model"] != "holt-winters":
            assert first[name]["fallbackReason"].startswith("holt-winters is fitted once")
        assert fitted[name]["model"] == "holt-winters" and fitted[name]["fallbackReason"] == ""
    metrics.advanced = 3
    cycle(metrics, state, names, spec=spec)
    forecaster = state.forecaster
    assert forecaster is not None and forecaster.last is not None
    settings = PolicySpec.from_dict(spec).forecast
    for name in names:
        values = metrics.window(name, END + 3 * STEP - 72 * 3600 - 3 * STEP, END + 3 * STEP)
        values = values.astype(np.float32).astype(float)  # as the store keeps them
        reference = batch.fit(values[None, :-3], settings.period_steps, settings.horizon_steps,
                              0.9, models=(batch.HOLT_WINTERS,))
        for sample in values[-3:]:
            reference.update(np.array([sample]))
        point, _, upper = reference.forecast(settings.horizon_steps)
        steady = forecaster.last.forecast[name].forecast
        assert steady.model == "holt-winters"
        assert np.allclose(steady.point, point[0], rtol=1e-6, atol=1e-9)
        assert np.allclose(steady.upper, upper[0], rtol=1e-6, atol=1e-9)


def test_a_shard_without_history_is_named_and_the_others_are_still_planned() -> None:
    metrics = TraceMetrics(traces(), missing={"s1"})
    names = sorted(metrics.series)
    state = PolicyState()
    done = cycle(metrics, state, names)
    assert set(done.outcome.failed) == {"s1"}
    assert "missing" in done.outcome.failed["s1"]
    assert done.outcome.forecast == len(names) - 1
    assert "nodes" in done.fields  # the planner ran on the rest
    assert done.cost.refitted == 0  # the first forecasts come from the baselines
    later = cycle(metrics, state, names)  # the refused shard is not counted as a refit
    assert set(later.outcome.failed) == {"s1"} and later.cost.refitted == len(names) - 1


DEDICATED = Taint("dedicated", "db", "NoSchedule")


def test_moves_go_only_to_nodes_the_shards_may_use_and_status_says_why_the_others_not() -> None:
    nodes = {"node-a": NodeState({"cpu": "8"}),
             "node-b": NodeState({"cpu": "8"}, unschedulable=True),
             "node-c": NodeState({"cpu": "8"}, ready=False),
             "node-d": NodeState({"cpu": "8"}, taints=(DEDICATED,)),
             "node-e": NodeState({"cpu": "8"})}
    creator, state = Creator(), PolicyState()
    for _ in range(2):  # the second cycle plans on the fitted models
        done = cycle(TraceMetrics(traces()), state, sorted(traces()), creator=creator,
                     nodes=nodes)
    assert creator.created, "six hot shards on one 8-core node: something must move"
    assert {m["spec"]["target"] for m in creator.created} == {"node-e"}
    closed = {n["name"]: n.get("closed", "") for n in done.fields["nodes"]}
    assert "cordoned" in closed["node-b"] and "not Ready" in closed["node-c"]
    assert "dedicated=db:NoSchedule" in closed["node-d"]
    assert closed["node-a"] == closed["node-e"] == ""
    over = {n["name"]: n["minutesOverThreshold"] for n in done.fields["nodes"]}
    assert over["node-a"] > 0  # the hot node is expected over the threshold for a while
    assert over["node-b"] == over["node-c"] == over["node-d"] == 0.0  # empty nodes


def test_a_taint_the_workloads_tolerate_keeps_the_node_open() -> None:
    nodes = {"node-a": NodeState({"cpu": "8"}),
             "node-d": NodeState({"cpu": "8"}, taints=(DEDICATED,))}
    creator = Creator()
    tolerate = frozenset({(Toleration("dedicated", "Equal", "db", "NoSchedule"),)})
    state = PolicyState()
    for _ in range(2):  # the second cycle plans on the fitted models
        cycle(TraceMetrics(traces()), state, sorted(traces()), creator=creator,
              nodes=nodes, tolerations=tolerate)
    assert {m["spec"]["target"] for m in creator.created} == {"node-d"}
    untolerated = frozenset({*tolerate, ()})  # one workload without the toleration closes it
    creator, state = Creator(), PolicyState()
    for _ in range(2):
        cycle(TraceMetrics(traces()), state, sorted(traces()), creator=creator,
              nodes=nodes, tolerations=untolerated)
    assert not creator.created


def test_a_failed_read_is_read_whole_again_next_cycle() -> None:
    metrics, state = TraceMetrics(traces(), broken={"s2"}), PolicyState()
    names = sorted(metrics.series)
    first = cycle(metrics, state, names)
    assert "503" in first.outcome.failed["s2"]
    metrics.broken.clear()
    metrics.advanced = 1
    metrics.asked.clear()
    second = cycle(metrics, state, names)
    assert not second.outcome.failed
    whole = [a for a in metrics.asked if a[0] == ("s2",)]
    assert whole and whole[0][2] - whole[0][1] == 72 * 3600


def test_unchanged_predictions_are_not_written_again() -> None:
    metrics, state, sink = TraceMetrics(traces()), PolicyState(), Sink()
    names = sorted(metrics.series)
    for _ in range(4):
        cycle(metrics, state, names, sink)
    metrics.advanced = 1
    sink.writes.clear()
    cycle(metrics, state, names, sink)
    written = sum(len(w) for w in sink.writes)
    assert written < len(names)  # one new sample of steady traces moves few peaks by 5%


def test_a_restarted_operator_rewrites_only_what_the_shards_do_not_already_say() -> None:
    metrics, sink = TraceMetrics(traces()), Sink()
    names = sorted(metrics.series)
    cycle(metrics, PolicyState(), names, sink)
    on_shards = {name: w for writes in sink.writes for name, w in writes.items()}
    again, restarted = Sink(), Sink()
    cycle(metrics, PolicyState(), names, again)  # knowing nothing: every shard rewritten
    cycle(metrics, PolicyState(), names, restarted, published=on_shards)
    assert set(again.writes[0]) == set(names)
    assert restarted.writes == []  # same samples, same forecasts: nothing to say
    carried = {**on_shards, "s0": {**on_shards["s0"], "policy": "another-policy"},
               "s1": {**on_shards["s1"], "peak": "not a number"},
               "s2": {**on_shards["s2"], "model": "sarimax", "fallbackReason": ""}}
    cycle(metrics, PolicyState(), names, edited := Sink(), published=carried)
    # Another policy's and an unreadable prediction are replaced; a fitted model's with the
    # same numbers is not replaced by the baseline standing in until the first full fit.
    assert [set(w) for w in edited.writes] == [{"s0", "s1"}]


def test_material_change_rules() -> None:
    old = {"model": "holt-winters", "peak": 2.0, "upper": 3.0, "lower": 1.0,
           "computedAt": "2023-11-14T22:00:00Z", "policy": "p", "horizon": "30m",
           "metric": "cpu", "fallbackReason": ""}
    at = 1_699_999_300.0  # 5 minutes after computedAt
    assert not material("a", old, {**old, "peak": 2.9}, at)  # within half the band
    assert material("a", old, {**old, "peak": 3.1}, at)
    assert material("a", old, {**old, "model": "persistence"}, at)
    assert not material("a", old, old, at + 3000)
    assert material("a", old, old, at + 2 * 3600)  # past any shard's age limit
    assert material("a", None, old, at)
    assert not material("a", old, {**old, "model": "persistence"}, at, same_model=True)
    assert material("a", old, {**old, "model": "persistence", "peak": 3.1}, at,
                    same_model=True)
    ages = {name: next(t for t in range(0, 7300, 60) if material(name, old, old, at + t))
            for name in ("s1", "s2", "s3", "s4", "s5", "s6")}
    assert len(set(ages.values())) > 3  # rewrites of shards written together are spread


def test_a_shard_that_leaves_the_policy_leaves_the_store() -> None:
    metrics, state = TraceMetrics(traces()), PolicyState()
    names = sorted(metrics.series)
    cycle(metrics, state, names)
    cycle(metrics, state, names[:2])
    forecaster = state.forecaster
    assert isinstance(forecaster, PolicyForecaster)
    assert forecaster.store.names == names[:2] and sorted(forecaster.model.names) == names[:2]


@pytest.mark.parametrize("key", ["model", "historyWindow"])
def test_new_forecast_settings_start_afresh(key: str) -> None:
    metrics, state = TraceMetrics(traces()), PolicyState()
    names = sorted(metrics.series)
    cycle(metrics, state, names)
    first = state.forecaster
    changed = {"model": "seasonal-naive", "historyWindow": "60h"}[key]
    spec = {**SPEC, "forecast": {**SPEC["forecast"], key: changed}}
    done = cycle(metrics, state, names, spec=spec)
    assert state.forecaster is not first and done.outcome.forecast == len(names)


def test_the_history_ring_keeps_every_window_in_time_order() -> None:
    store = HistoryStore(STEP, 5)
    series = np.arange(20, dtype=float)
    store.advance(END, {})
    store.add(END, ["a"], series[None, :5], store.window_start(END))
    for k, upto in ((1, 6), (3, 9), (7, 16)):  # one step, a few, more than a window
        store.advance(END + (upto - 5) * STEP, {"a": series[upto - k:upto]})
        assert store.window(store.rows(["a"]))[0].tolist() == series[upto - 5:upto].tolist()
        assert store.newest(store.rows(["a"]), 2)[0].tolist() == series[upto - 2:upto].tolist()
    store.add(END + 11 * STEP, ["b"], series[None, 10:15], store.window_start(END + 11 * STEP))
    assert store.window(store.rows(["b"]))[0].tolist() == series[10:15].tolist()
    assert store.latest(["a", "b"]).tolist() == [15.0, 14.0]


def test_older_samples_fill_a_primed_window_onto_the_ring_newest_first() -> None:
    store = HistoryStore(STEP, 8, prime_points=3, backfill_samples=4)
    series = np.arange(30, dtype=np.float32)
    store.advance(END, {})
    [fresh] = store.reads(["a", "b"], END)
    assert fresh.kind is ReadKind.FRESH and fresh.start_seconds == END - 2 * STEP
    block = np.full((2, 8), np.nan, np.float32)
    block[:, -3:] = series[5:8]
    store.add(END, ["a", "b"], block, fresh.start_seconds)
    assert not store.filled(["a", "b"]).any()
    store.advance(END + STEP, {"a": series[8:9], "b": series[8:9]})  # the ring turns
    newer, older = store.reads(["a", "b"], END + 2 * STEP)
    assert newer.kind is ReadKind.NEWER and older.kind is ReadKind.OLDER
    # 4 samples of budget for 2 shards: the 2 just before what they hold
    assert (older.start_seconds, older.end_seconds) == (END - 4 * STEP, END - 3 * STEP)
    store.advance(END + 2 * STEP, {"a": series[9:10], "b": series[9:10]})
    store.fill(older.start_seconds, {"a": series[3:5], "b": series[3:5]})
    window = store.window(store.rows(["a"]))[0]
    assert window[-7:].tolist() == series[3:10].tolist() and np.isnan(window[0])
    [older] = store.reads(["a", "b"], END + 2 * STEP)  # the last one before the window's start
    assert (older.start_seconds, older.end_seconds) == (END - 5 * STEP, END - 5 * STEP)
    store.fill(older.start_seconds, {"a": series[2:3], "b": series[2:3]})
    assert store.filled(["a", "b"]).all() and store.reads(["a", "b"], END + 2 * STEP) == []
    assert store.window(store.rows(["b"]))[0].tolist() == series[2:10].tolist()


def test_a_long_window_is_primed_first_then_backfilled_and_fitted_only_when_whole() -> None:
    """A week of history: the first cycle reads three days and an hour, enough for the
    baselines, and forecasts every shard; the next reads the rest, and only then do the shards
    get their full fits, on exactly the window a whole read gives."""
    metrics, sink = TraceMetrics(traces()), Sink()
    names = sorted(metrics.series)
    spec = {**SPEC, "forecast": {**SPEC["forecast"], "historyWindow": "168h"}}
    state = PolicyState()
    first = cycle(metrics, state, names, sink, spec=spec)
    [(asked, start, end)] = metrics.asked
    assert asked == tuple(names) and end - start == (3 * 288 + 2 * 6 - 1) * STEP
    assert first.outcome.forecast == len(names)
    assert {p["model"] for p in sink.writes[0].values()} <= {"seasonal-naive", "persistence"}
    metrics.asked.clear()
    second = cycle(metrics, state, names, sink, spec=spec)
    [(asked, older_start, older_end)] = metrics.asked
    assert (older_start, older_end) == (END - 168 * 3600, start - STEP)
    forecaster = state.forecaster
    assert forecaster is not None and forecaster.store.filled(names).all()
    for name in names:
        whole = metrics.window(name, END - 168 * 3600, END).astype(np.float32)
        np.testing.assert_array_equal(forecaster.store.window(forecaster.store.rows([name]))[0],
                                      whole)
    assert second.cost.refitted == len(names)  # the full fits, on the whole windows
    metrics.asked.clear()
    cycle(metrics, state, names, sink, spec=spec)
    assert metrics.asked == []  # nothing left to read until the grid advances
