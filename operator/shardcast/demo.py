"""`shardcast demo`: the local stack, shardcast's API and operator, shards loaded by real traces.

Each demo shard's utilization is a real trace backfilled into Prometheus; the operator runs
against the real API server and reports every shard's status, next to the load Prometheus holds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from shardcast.clients.prometheus import query_range
from shardcast.devstack import stack
from shardcast.devstack.history import TRACE_METRIC, replay_query
from shardcast.devstack.kubectl import kubectl
from shardcast.devstack.manifests import install_crds, statefulset
from shardcast.devstack.nodes import FAKE_NODES
from shardcast.devstack.paths import state_dir
from shardcast.devstack.prometheus import aligned_now

NAMESPACE = "shardcast-demo"
DEMO_TRACES = ("nab/ec2_cpu_utilization_5f5533", "nab/ec2_cpu_utilization_825cc2",
               "nab/rds_cpu_utilization_cc0c53", "alibaba2018/cpu")
DAY_SECONDS = 86_400
STEP_SECONDS = 300
NODE_CORES = 8


def run_demo(operator_seconds: float = 20.0) -> None:
    endpoints = stack.up()
    kubeconfig = endpoints.kubeconfig
    install_crds(kubeconfig)
    kubectl(kubeconfig, "create", "namespace", NAMESPACE, check=False)
    kubectl(kubeconfig, "-n", NAMESPACE, "apply", "-f", "-",
            stdin="---\n".join(yaml.safe_dump(o) for o in _demo_objects(state_dir())))
    print(f"\nrunning the operator for {operator_seconds:.0f}s against {kubeconfig} ...")
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "SHARDCAST_RESYNC_SECONDS": "5",
           "SHARDCAST_PROMETHEUS_URL": endpoints.prometheus_url}
    operator = subprocess.Popen(
        [sys.executable, "-m", "shardcast.cli", "run", "--standalone", "-n", NAMESPACE,
         "--liveness=http://127.0.0.1:18080/healthz"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(operator_seconds)
    finally:
        operator.terminate()
        _, errors = operator.communicate(timeout=30)
    print(kubectl(kubeconfig, "-n", NAMESPACE, "get", "shards,migrationpolicies", "-o", "wide"))
    if "Traceback" in errors:
        print(errors[-3000:], file=sys.stderr)
        raise SystemExit("the operator failed; its traceback is above")
    _print_load(endpoints.prometheus_url)
    _print_predictions(kubeconfig)
    _print_plan(kubeconfig)
    print(f"\nexplore: export KUBECONFIG={kubeconfig}; kubectl -n {NAMESPACE} describe shards")


def _demo_objects(state: Path) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = [statefulset("kv", replicas=len(DEMO_TRACES))]
    for i, trace in enumerate(DEMO_TRACES):
        objects.append({
            "apiVersion": "shardcast.io/v1alpha1", "kind": "Shard",
            "metadata": {"name": f"kv-{i}", "labels": {"app": "kv"}},
            "spec": {"workload": {"name": "kv"},
                     "placement": {"node": FAKE_NODES[i % len(FAKE_NODES)].name,
                                   "member": f"kv-{i}"},
                     "sizeBytes": (i + 1) * 4 << 30,
                     "metrics": {"cpu": {"query": _cores(replay_query(trace, state))}}}})
    objects.append({
        "apiVersion": "shardcast.io/v1alpha1", "kind": "MigrationPolicy",
        "metadata": {"name": "kv-cpu"},
        "spec": {"mode": "dry-run", "shardSelector": {"matchLabels": {"app": "kv"}},
                 "metric": {"type": "cpu"},
                 "forecast": {"horizon": "1h", "historyWindow": "168h", "model": "auto"}}})
    return objects


def _cores(percent_query: str) -> str:
    """The traces are CPU percentages of one machine; as cores of an 8-core kwok node."""
    return f"({percent_query}) * {NODE_CORES / 100}"


def _query(trace: str) -> str:
    return f'{TRACE_METRIC}{{trace="{trace}"}}'


def _print_predictions(kubeconfig: Path) -> None:
    shards = json.loads(kubectl(kubeconfig, "-n", NAMESPACE, "get", "shards", "-o", "json"))
    print("\neach shard's forecast for the next hour, as the operator wrote it in status:")
    print(f"  {'shard':6} {'model':15} {'MASE':>6} {'in 1h':>8} {'90% interval (cores)':>19} "
          f"{'peak':>8}  peak at")
    for item in shards["items"]:
        p = item.get("status", {}).get("prediction")
        if not p:
            print(f"  {item['metadata']['name']:6} no forecast yet")
            continue
        print(f"  {item['metadata']['name']:6} {p['model']:15} {p.get('backtestMASE', 0):6.2f} "
              f"{p['point']:8.1f} {p['lower']:8.1f} .. {p['upper']:7.1f} {p['peak']:8.1f}  "
              f"{p['peakTime']}")


def _print_plan(kubeconfig: Path) -> None:
    policy = json.loads(kubectl(kubeconfig, "-n", NAMESPACE, "get", "migrationpolicy",
                                "kv-cpu", "-o", "json")).get("status", {})
    print("\nthe policy's plan (dry-run: recorded, never executed):")
    for node in policy.get("nodes", []):
        print(f"  {node['name']}: {node['utilization']:5.1f}% now, projected peak "
              f"{node['predictedPeak']:5.1f}% at {node['peakTime']} ({node['shards']} shard(s))")
    for decision in policy.get("decisions", []):
        where = (f"{decision['shard']} {decision.get('from')} -> {decision.get('to')}"
                 if decision["action"] == "move" else decision["action"])
        print(f"  decision: {where}: {decision.get('reason', '')}")
    print(f"  why nothing moved: {policy.get('whyNothingMoved', '')}")


def _print_load(prometheus_url: str) -> None:
    end = aligned_now(STEP_SECONDS)
    print(f"last 24h of each shard's load, from Prometheus ({prometheus_url}), real traces:")
    print(f"  {'shard':6} {'trace':34} {'min':>8} {'mean':>8} {'max':>8} {'now':>8}")
    for i, trace in enumerate(DEMO_TRACES):
        values = query_range(prometheus_url, f"last_over_time({_query(trace)}[1h])",
                             end - DAY_SECONDS, end, STEP_SECONDS)
        values = values[np.isfinite(values)]
        print(f"  kv-{i:<3} {trace:34} {values.min():8.1f} {values.mean():8.1f} "
              f"{values.max():8.1f} {values[-1]:8.1f}")
