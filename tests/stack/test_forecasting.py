"""Forecasts end to end: real traces in the real Prometheus, the operator's policy pass, each
Shard's status.prediction written through the real API server."""

from __future__ import annotations

import datetime
import math
import time
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from kopf.testing import KopfRunner

from shardcast.api.conditions import parse_rfc3339
from shardcast.commands.cli import main
from shardcast.devstack.history import replay_query
from shardcast.devstack.paths import state_dir
from shardcast.traces import TRACES, default_traces_dir, load_trace
from tests.stack.kube import apply, condition, wait_for

TRACE = "nab/ec2_cpu_utilization_825cc2"


def shard(name: str, query: str) -> dict[str, Any]:
    return {"apiVersion": "shardcast.io/v1alpha1", "kind": "Shard",
            "metadata": {"name": name, "labels": {"app": "kv"}},
            "spec": {"workload": {"name": "kv"}, "placement": {"node": "node-a"},
                     "sizeBytes": 1 << 30, "metrics": {"cpu": {"query": query}}}}


def policy(model: str) -> dict[str, Any]:
    return {"apiVersion": "shardcast.io/v1alpha1", "kind": "MigrationPolicy",
            "metadata": {"name": "kv"},
            "spec": {"mode": "dry-run", "shardSelector": {"matchLabels": {"app": "kv"}},
                     "metric": {"type": "cpu"},
                     "forecast": {"model": model, "horizon": "1h", "historyWindow": "168h",
                                  "intervalLevel": 0.9}}}


def fitted_live(kubeconfig: Path, namespace: str, name: str, query: str) -> dict[str, Any]:
    """The Shard `name` on a live PromQL series (its whole window there at once), under an
    auto policy at 15 s steps with an hourly season, once its first full fit is written."""
    live = policy("auto")
    live["spec"]["forecast"] = {"model": "auto", "step": "15s", "horizon": "5m",
                                "historyWindow": "4h", "seasonalPeriod": "1h"}
    apply(kubeconfig, namespace, shard(name, query), live)
    return wait_for(kubeconfig, namespace, f"shard/{name}",
                    lambda o: o.get("status", {}).get("prediction", {}).get(
                        "fallbackReason") == "", timeout_seconds=80)


def test_a_real_trace_gets_a_forecast_and_a_missing_series_gets_none(
        operator: KopfRunner, kubeconfig: Path, namespace: str) -> None:
    apply(kubeconfig, namespace, shard("live", replay_query(TRACE, state_dir())),
          shard("ghost", 'shardcast_trace_value{trace="no/such-trace"}'), policy("holt-winters"))
    first = wait_for(kubeconfig, namespace, "shard/live",
                     lambda o: "prediction" in o.get("status", {}), timeout_seconds=90)
    if first["status"]["prediction"]["model"] != "holt-winters":  # a baseline stands in
        assert "holt-winters is fitted once" in first["status"]["prediction"]["fallbackReason"]
    live = wait_for(kubeconfig, namespace, "shard/live",
                    lambda o: o["status"]["prediction"]["model"] == "holt-winters",
                    timeout_seconds=60)
    prediction = live["status"]["prediction"]
    assert prediction["fallbackReason"] == ""
    assert prediction["policy"] == "kv" and prediction["horizon"] == "1h"
    assert 0 <= prediction["lower"] <= prediction["point"] <= prediction["upper"]
    assert prediction["peak"] >= prediction["point"]
    assert prediction["backtestMASE"] > 0
    peak_at = parse_rfc3339(prediction["peakTime"])
    now = datetime.datetime.now(datetime.UTC)
    assert now - datetime.timedelta(minutes=5) < peak_at <= now + datetime.timedelta(hours=1)
    # The forecast stays within what this machine's CPU ever showed; the interval near it.
    seen = load_trace(next(t for t in TRACES if t.name == TRACE), default_traces_dir()).values
    assert seen.min() <= prediction["point"] <= seen.max()
    assert prediction["upper"] < 1.5 * seen.max()

    failed = wait_for(kubeconfig, namespace, "migrationpolicy/kv",
                      lambda o: condition(o).get("reason") == "ForecastFailed")
    assert "ghost" in condition(failed)["message"]
    assert "1 of 2 shard(s) have no forecast" in condition(failed)["message"]
    ghost = wait_for(kubeconfig, namespace, "shard/ghost", lambda o: bool(condition(o)))
    assert "prediction" not in ghost.get("status", {})


def test_the_forecast_command_reads_a_shard_like_the_operator(
        kubeconfig: Path, namespace: str, crds: None) -> None:
    apply(kubeconfig, namespace, shard("live", replay_query(TRACE, state_dir())), policy("auto"))
    result = CliRunner().invoke(main, ["forecast", "--shard", "live", "-n", namespace,
                                       "--policy", "kv"])
    assert result.exit_code == 0, result.output
    assert f"{namespace}/live: shardcast_trace_value" in result.output
    for model in ("seasonal-naive", "holt-winters", "ets", "sarimax", "persistence",
                  "cycle-naive"):
        assert f"  {model}" in result.output  # auto backtested every candidate
    assert "1h" in result.output


def test_a_level_shift_hands_the_shard_to_persistence_with_a_reason(
        operator: KopfRunner, kubeconfig: Path, namespace: str) -> None:
    """A live series from PromQL alone (an hourly cycle, a 97 s ripple no season explains)
    that steps up by 40 ninety seconds after the Shard is created: the shard's fitted model is
    trusted before the step and handed to persistence about six samples after it."""
    step_at = int(time.time()) + 90  # the full fit comes a grid step or two after creation
    query = (f"vector(50) + 10 * sin(vector(time()) * {2 * math.pi / 3600})"
             f" + 2 * sin(vector(time()) * {2 * math.pi / 97})"
             f" + 40 * (time() > bool {step_at})")
    fitted = fitted_live(kubeconfig, namespace, "stepped", query)
    assert time.time() < step_at, "the full fit came too late to see the step after it"
    assert fitted["status"]["prediction"]["model"] != "persistence"
    assert fitted["status"]["prediction"]["point"] < 75
    shifted = wait_for(kubeconfig, namespace, "shard/stepped",
                       lambda o: "level shift" in o["status"]["prediction"]["fallbackReason"],
                       timeout_seconds=90 + 6 * 15 + 60)
    prediction = shifted["status"]["prediction"]
    assert time.time() > step_at + 5 * 15  # not before six samples after the step
    assert prediction["model"] == "persistence"
    assert f"the 90% band of {fitted['status']['prediction']['model']}" in (
        prediction["fallbackReason"])
    assert prediction["point"] > 75  # the load now, not the hourly cycle learnt before


def test_a_job_every_ten_minutes_is_forecast_from_its_last_run(
        operator: KopfRunner, kubeconfig: Path, namespace: str) -> None:
    """A live series from PromQL alone: a job in the first two minutes of every ten whose size
    drifts over hours, on a base load. The policy's season is an hour, which a day-old or
    hour-old copy of the job gets wrong; the operator finds the ten-minute cycle in the
    shard's own history and forecasts each run from the last one."""
    size = f"(30 + 20 * sin(vector(time()) * {2 * math.pi / 11987}))"
    query = (f"vector(30) + {size} * (vector(time() % 600) < bool 120)"
             f" + 2 * sin(vector(time()) * {2 * math.pi / 97})")
    prediction = fitted_live(kubeconfig, namespace, "cron", query)["status"]["prediction"]
    assert prediction["model"] == "cycle-naive"
    assert prediction["backtestMASE"] < 0.7  # well under the hour-old copy's error
    # Its peak is the next run, at the minute the last one ran, when one starts within the
    # horizon (the grid's end is at most a minute before the pass); else the base load.
    peak_at = parse_rfc3339(prediction["peakTime"]).timestamp()
    computed_at = parse_rfc3339(prediction["computedAt"]).timestamp()
    if prediction["peak"] > 45:
        assert peak_at % 600 < 120
    next_run = computed_at - computed_at % 600 + 600
    if next_run + 15 <= computed_at - 60 + 300:
        assert prediction["peak"] > 45
