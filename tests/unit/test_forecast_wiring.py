"""Pure pieces between the cluster and the forecast: queries, durations, refit staggering."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from shardcast.api import durations
from shardcast.api.metrics import MetricNotConfigured, shard_query
from shardcast.forecast import batch
from shardcast.forecast.fleet import FleetModel
from shardcast.reconcile.policy_forecast import MODELS

CRDS = Path(__file__).resolve().parents[2] / "crds"


def test_shard_query_uses_the_template_with_the_shards_labels() -> None:
    spec = {"metrics": {"cpu": {"labels": {"shard": "orders-0", "app": 'we"b'}}}}
    assert shard_query("orders-0", spec, {"type": "cpu"}) == (
        'shardcast_shard_cpu_cores{app="we\\"b",shard="orders-0"}')


def test_shard_query_defaults_to_the_shard_label_and_prefers_an_explicit_query() -> None:
    assert shard_query("s1", {}, {"type": "io"}) == (
        'shardcast_shard_io_bytes_per_second{shard="s1"}')
    spec = {"metrics": {"memory": {"query": "sum(x)"}}}
    assert shard_query("s1", spec, {"type": "memory"}) == "sum(x)"


def test_custom_metrics_fill_the_policys_query() -> None:
    metric = {"type": "custom", "query": "rate(requests_total{$labels}[5m])"}
    assert shard_query("s1", {}, metric) == 'rate(requests_total{shard="s1"}[5m])'
    with pytest.raises(MetricNotConfigured):
        shard_query("s1", {}, {"type": "custom"})


@pytest.mark.parametrize(("text", "expected"), [
    ("5m", 300), ("1h30m", 5400), ("168h", 604800), ("1.5s", 1.5), ("250ms", 0.25)])
def test_durations(text: str, expected: float) -> None:
    assert durations.seconds(text) == expected


def test_a_bad_duration_says_what_it_expected() -> None:
    with pytest.raises(ValueError, match=r"expected e\.g\."):
        durations.seconds("5 minutes")


def test_never_fitted_rows_come_first_then_the_most_overdue_within_the_budget() -> None:
    model = FleetModel(names=["a", "b", "c", "d"],
                       fitted_at=np.array([100.0, -math.inf, 0.0, 3000.0]))
    assert model.due(now_seconds=3600.0, retrain_seconds=3600, limit=2) == ["b", "c"]
    assert model.due(now_seconds=3600.0, retrain_seconds=3600, limit=10) == ["b", "c"]
    assert model.due(now_seconds=3700.0, retrain_seconds=3600, limit=10) == ["b", "c", "a"]


def _enums(node: object, key: str) -> list[list[str]]:
    """Every enum under a property named `key` in a CRD's schema."""
    if isinstance(node, dict):
        here = node.get(key)
        found = [here["enum"]] if isinstance(here, dict) and "enum" in here else []
        return found + [e for value in node.values() for e in _enums(value, key)]
    if isinstance(node, list):
        return [e for value in node for e in _enums(value, key)]
    return []


@pytest.mark.parametrize("crd", ["shard.yaml", "shardmigration.yaml", "migrationpolicy.yaml"])
def test_every_model_the_operator_can_name_is_one_the_api_server_accepts(crd: str) -> None:
    """A model missing from an enum would have its status write refused by the API server."""
    schema = yaml.safe_load((CRDS / crd).read_text())
    enums = _enums(schema, "model")
    assert enums
    for enum in enums:
        assert set(MODELS) - {"auto"} <= set(enum)
        assert set(batch.MODEL_NAMES) <= set(enum)
