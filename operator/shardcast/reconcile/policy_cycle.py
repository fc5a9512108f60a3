"""One MigrationPolicy evaluation, from Prometheus to status: the batched forecast pass over
every selected shard, then the planner over the shards that have a forecast. A shard without
one is named in the outcome and closes its node to arriving moves; it never stops the rest."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from shardcast.api import decisions, policy
from shardcast.api.metrics import MetricNotConfigured, ShardQuery, query_of
from shardcast.api.nodes import NodeState, Toleration
from shardcast.api.policy_settings import threshold_bounds
from shardcast.api.policy_spec import PolicySpec
from shardcast.reconcile.policy_forecast import PassCost, PolicyForecaster
from shardcast.reconcile.policy_plan import AdaptiveThreshold, CapacityUnavailable, plan_policy
from shardcast.reconcile.ports import MetricsSource, MigrationWriter, PredictionSink


@dataclass(frozen=True)
class Ports:
    metrics: MetricsSource
    predictions: PredictionSink
    migrations: MigrationWriter


@dataclass(frozen=True)
class CycleInputs:
    """What the cluster says this cycle (from kopf's indexes): no listing per cycle."""

    name: str
    spec: PolicySpec
    status: Mapping[str, Any]  # the policy's status as last written (adaptive threshold)
    shards: Mapping[str, Mapping[str, Any]]  # selected shard -> spec
    shard_nodes: Mapping[str, str]
    nodes: Mapping[str, NodeState]
    tolerations: frozenset[tuple[Toleration, ...]]  # of the selected shards' workloads
    migrations: list[decisions.KnownMigration]
    now_seconds: float
    # selected shard -> the status.prediction it carries now, so that an operator that starts
    # afresh (a restart, a failover) rewrites only the predictions that changed
    published: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass
class PolicyState:
    """What one policy keeps between cycles (in its kopf memo)."""

    forecaster: PolicyForecaster | None = None
    adaptive: AdaptiveThreshold | None = None
    # kopf runs a policy's timer and its event handlers concurrently; their cycles take turns
    # (the state is mutated in worker threads).
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def forecaster_for(self, spec: PolicySpec) -> PolicyForecaster:
        if self.forecaster is None or not self.forecaster.fits(spec):
            self.forecaster = PolicyForecaster(spec.forecast, spec.metric)
        return self.forecaster

    def adaptive_for(self, inputs: CycleInputs) -> AdaptiveThreshold | None:
        if threshold_bounds(inputs.spec.raw) is None:
            self.adaptive = None
        elif self.adaptive is None:
            self.adaptive = AdaptiveThreshold.start(inputs.spec.raw, inputs.status,
                                                    inputs.now_seconds)
        return self.adaptive


@dataclass(frozen=True)
class CycleOutcome:
    outcome: policy.ForecastOutcome
    fields: dict[str, Any] = field(default_factory=dict)  # planner's status fields
    cost: PassCost = field(default_factory=PassCost)
    # shard -> (model, backtest MASE) of what was forecast anew this cycle
    models: dict[str, tuple[str, float]] = field(default_factory=dict)


async def run_cycle(inputs: CycleInputs, state: PolicyState, ports: Ports) -> CycleOutcome:
    async with state.lock:
        return await _run_cycle(inputs, state, ports)


async def _run_cycle(inputs: CycleInputs, state: PolicyState, ports: Ports) -> CycleOutcome:
    queries, unconfigured = await asyncio.to_thread(shard_queries, inputs.shards, inputs.spec)
    forecaster = state.forecaster_for(inputs.spec)
    result, cost = await forecaster.run(inputs.spec, inputs.name, queries, ports.metrics,
                                        ports.predictions, inputs.now_seconds,
                                        inputs.published)
    result = replace(result, failed={**result.failed, **unconfigured})
    outcome = policy.ForecastOutcome(len(result.forecast), dict(result.failed))
    models = ({n: (f.forecast.model, result.backtest_mase[n]) for n, f in result.forecast.items()}
              if cost.forecast_work else {})
    if not result.forecast:
        return CycleOutcome(outcome, cost=cost)
    try:
        done = await plan_policy(inputs.name, inputs.spec.raw, result, inputs.shards,
                                 inputs.shard_nodes, inputs.nodes, inputs.tolerations,
                                 inputs.migrations, ports.migrations,
                                 state.adaptive_for(inputs))
    except CapacityUnavailable as error:
        return CycleOutcome(replace(outcome, why_nothing_moved=str(error)), cost=cost,
                            models=models)
    fields = dict(done.fields)
    return CycleOutcome(replace(outcome, why_nothing_moved=fields.pop("whyNothingMoved"),
                                moves=done.moves, migrations_created=len(done.created)),
                        fields, cost, models)


def shard_queries(shards: Mapping[str, Mapping[str, Any]],
                  spec: PolicySpec) -> tuple[dict[str, ShardQuery], dict[str, str]]:
    """Each shard's query of the policy's metric, and why the others have none."""
    queries, unconfigured = {}, {}
    for name, shard_spec in shards.items():
        try:
            queries[name] = query_of(name, shard_spec, spec.metric)
        except MetricNotConfigured as error:
            unconfigured[name] = str(error)
    return queries, unconfigured
