"""The batched policy cycle at a few hundred shards, on the real stack: series backfilled into
the real Prometheus (read through the built-in template, so grouped), Shards on the real API
server, the operator's own cycle. A short slice of bench/operator_scale.py."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import prometheus_client
from kopf.testing import KopfRunner

from shardcast.clients.prometheus_batch import MAX_SAMPLES_PER_REQUEST
from shardcast.devstack.bulk_series import backfill_bulk
from shardcast.devstack.kubectl import kubectl
from shardcast.devstack.paths import state_dir
from shardcast.devstack.prometheus import Series, aligned_now, prometheus_part
from shardcast.devstack.stack import PROMETHEUS_PORT
from shardcast.traces import TRACES, default_traces_dir, load_trace
from tests.stack.kube import apply, condition, wait_for

SHARDS = 300
NODES = ("node-a", "node-b", "node-c", "node-d")
STEP = 300
WINDOW_POINTS = 72 * 3600 // STEP + 1
AHEAD_POINTS = 12  # samples past now, so the series is not stale while the test runs


def backfill(namespace: str) -> None:
    """One real CPU trace per shard (rolled, scaled to ~0.05 cores), ending an hour ahead."""
    pool = [load_trace(t, default_traces_dir()).values for t in TRACES
            if "cpu" in t.name and t.step_seconds == STEP]
    rng = np.random.default_rng(11)
    length = WINDOW_POINTS + AHEAD_POINTS
    series = []
    for i in range(SHARDS):
        values = np.resize(np.roll(pool[i % len(pool)], int(rng.integers(2016))), length)
        series.append(Series("shardcast_shard_cpu_cores", {"shard": f"s{i:03d}",
                                                           "namespace": namespace},
                             values / 1000, STEP, aligned_now(STEP) + AHEAD_POINTS * STEP))
    backfill_bulk(state_dir(), series, part=prometheus_part(state_dir(), PROMETHEUS_PORT))


def shard(i: int, namespace: str) -> dict[str, Any]:
    name = f"s{i:03d}"
    return {"apiVersion": "shardcast.io/v1alpha1", "kind": "Shard",
            "metadata": {"name": name, "labels": {"app": "scale"}},
            "spec": {"workload": {"name": "none"}, "placement": {"node": NODES[i % 4]},
                     "sizeBytes": 1 << 30,
                     "metrics": {"cpu": {"labels": {"shard": name, "namespace": namespace}}}}}


POLICY = {"apiVersion": "shardcast.io/v1alpha1", "kind": "MigrationPolicy",
          "metadata": {"name": "scale"},
          "spec": {"mode": "dry-run", "shardSelector": {"matchLabels": {"app": "scale"}},
                   "metric": {"type": "cpu"},
                   "forecast": {"model": "auto", "horizon": "30m", "historyWindow": "72h"}}}


def counter(name: str, namespace: str) -> float:
    """The scale policy's own count (other tests' policies may still be cycling)."""
    labels = {"namespace": namespace, "policy": "scale"}
    return prometheus_client.REGISTRY.get_sample_value(name, labels) or 0.0


def predicted(kubeconfig: Path, namespace: str) -> int:
    listed = json.loads(kubectl(kubeconfig, "-n", namespace, "get", "shards", "-o", "json"))
    return sum("prediction" in s.get("status", {}) for s in listed["items"])


def test_hundreds_of_shards_are_forecast_from_a_few_batched_reads(
        operator: KopfRunner, kubeconfig: Path, namespace: str) -> None:
    backfill(namespace)
    requests = counter("shardcast_prometheus_requests_total", namespace)
    writes = counter("shardcast_prediction_writes_total", namespace)
    apply(kubeconfig, namespace, *(shard(i, namespace) for i in range(SHARDS)), POLICY)
    began = time.monotonic()
    evaluated = wait_for(
        kubeconfig, namespace, "migrationpolicy/scale",
        lambda o: o.get("status", {}).get("lastEvaluation", {}).get("shardsForecast") == SHARDS,
        timeout_seconds=90)
    assert condition(evaluated)["reason"] == "Evaluated", condition(evaluated)
    while predicted(kubeconfig, namespace) < SHARDS:
        assert time.monotonic() - began < 90, "not every shard got status.prediction"
        time.sleep(1)
    first_requests = counter("shardcast_prometheus_requests_total", namespace) - requests
    # 300 shards in grouped queries of at most MAX_SAMPLES_PER_REQUEST samples (plus retries)
    assert first_requests <= -(-SHARDS * WINDOW_POINTS // MAX_SAMPLES_PER_REQUEST) + 2, \
        first_requests
    assert counter("shardcast_prediction_writes_total", namespace) - writes >= SHARDS
    # The baselines stood in for the first cycle; the next ones fit the policy's models and
    # write the predictions whose model changed. After that the history is held: a cycle reads
    # only samples it lacks (none until the grid advances) and writes only what changed.
    while counter("shardcast_forecast_refits_total", namespace) < SHARDS:
        assert time.monotonic() - began < 120, "not every shard was fitted"
        time.sleep(1)
    requests = counter("shardcast_prometheus_requests_total", namespace)
    writes = counter("shardcast_prediction_writes_total", namespace)
    time.sleep(8)  # four more 2 s cycles
    assert counter("shardcast_prometheus_requests_total", namespace) - requests <= 2
    assert counter("shardcast_prediction_writes_total", namespace) - writes <= SHARDS // 10
