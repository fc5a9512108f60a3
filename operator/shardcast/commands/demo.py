"""`shardcast demo`: shardcast's main job, end to end, on the local stack.

Real traces, backfilled into Prometheus, are the shards' CPU load. The operator forecasts each
shard, finds the node whose projected load crosses the policy's threshold, and moves a shard off
it before the peak: a ShardMigration whose sync and cutover Jobs run the reference data plane's
tools (examples/dataplane) as local processes, shifting traffic through etcd while a writer keeps
writing. The demo then checks every acknowledged write and prints the timeline.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from shardcast.clients.prometheus import query_range
from shardcast.commands.demo_planes import demo_plane
from shardcast.commands.demo_plot import plot_demo
from shardcast.consensus.store import ConsensusStore
from shardcast.devstack import stack
from shardcast.devstack.history import TRACE_METRIC, replay_query
from shardcast.devstack.kubectl import kubectl
from shardcast.devstack.manifests import install_crds, statefulset
from shardcast.devstack.paths import state_dir
from shardcast.devstack.process import StackError
from shardcast.devstack.prometheus import aligned_now
from shardcast.migration.model import TERMINAL

NAMESPACE = "shardcast-demo"
DATAPLANE = Path(__file__).resolve().parents[3] / "examples" / "dataplane"
# (trace, node, scale): CPU percent of one machine, scaled to cores of an 8-core kwok node.
# node-a carries two shards whose projected peak crosses 80%; node-d starts empty.
DEMO_SHARDS = (("nab/ec2_cpu_utilization_5f5533", "node-a", 0.08),
               ("nab/ec2_cpu_utilization_825cc2", "node-b", 0.04),
               ("nab/rds_cpu_utilization_cc0c53", "node-c", 0.08),
               ("alibaba2018/cpu", "node-a", 0.08))
NODES = ("node-a", "node-b", "node-c", "node-d")
DAY_SECONDS = 86_400
STEP_SECONDS = 300
NODE_CORES = 8


def run_demo(wait_seconds: float = 180.0, plot_path: Path | None = None,
             dataplane: str = "shardkv") -> None:
    """Go on in a fresh interpreter whose PYTHONPATH has the data plane (this process is
    replaced). `shardkv` is an example beside the package, not part of it: its nodes and the
    Jobs the demo starts find it through PYTHONPATH (`shardkv.local.python_path`), and the demo
    itself finds it the same way rather than by editing this interpreter's `sys.path`."""
    if not DATAPLANE.is_dir():
        raise SystemExit(f"the demo needs a source checkout: {DATAPLANE} is missing")
    python_path = os.pathsep.join(p for p in (str(DATAPLANE), os.environ.get("PYTHONPATH")) if p)
    argv = [sys.executable, "-m", "shardcast.commands.demo", dataplane, str(wait_seconds),
            *([] if plot_path is None else [str(plot_path)])]
    sys.stdout.flush()
    os.execve(sys.executable, argv, {**os.environ, "PYTHONPATH": python_path})


def _demo(dataplane: str, wait_seconds: float, plot_path: Path | None) -> None:
    endpoints = stack.up()
    kubeconfig = endpoints.kubeconfig
    install_crds(kubeconfig)
    kubectl(kubeconfig, "create", "namespace", NAMESPACE, check=False)
    logs = Path(tempfile.mkdtemp(prefix="shardcast-demo-"))
    placements = {f"kv-{i}": node for i, (_, node, _) in enumerate(DEMO_SHARDS)}
    with demo_plane(dataplane, NAMESPACE, endpoints.consensus_etcd, placements, NODES,
                    logs) as plane:
        env = {**os.environ, **plane.env, "KUBECONFIG": str(kubeconfig),
               "SHARDCAST_RESYNC_SECONDS": "5", "SHARDCAST_MIGRATION_TICK_SECONDS": "0.5",
               "SHARDCAST_PROMETHEUS_URL": endpoints.prometheus_url,
               "SHARDCAST_JOB_EXECUTOR": "local", "SHARDCAST_LOCAL_JOBS_DIR": str(logs / "jobs")}
        with (logs / "operator.log").open("w") as log:
            operator = subprocess.Popen(
                [sys.executable, "-m", "shardcast", "run", "--standalone", "-n", NAMESPACE,
                 "--liveness=http://127.0.0.1:18080/healthz"], env=env, stdout=log,
                stderr=subprocess.STDOUT)
            try:
                _start_over(kubeconfig, endpoints.consensus_etcd)
                print(f"\noperator running (log: {logs / 'operator.log'}); waiting for it to "
                      f"forecast, plan and move (at most {wait_seconds:.0f}s) ...")
                kubectl(kubeconfig, "-n", NAMESPACE, "apply", "-f", "-",
                        stdin="---\n".join(yaml.safe_dump(o) for o in
                                            _demo_objects(state_dir(), plane.jobs)))
                acked, wrong = asyncio.run(plane.writes_during(
                    lambda: _wait_for_moves(kubeconfig, wait_seconds)))
            finally:
                operator.terminate()
                operator.wait(timeout=30)
    print(kubectl(kubeconfig, "-n", NAMESPACE, "get", "shards,shardmigrations", "-o", "wide"))
    _print_load(endpoints.prometheus_url)
    _print_predictions(kubeconfig)
    _print_plan(kubeconfig)
    _print_timeline(kubeconfig)
    if plot_path is not None:
        _plot(kubeconfig, endpoints.prometheus_url, plot_path)
    print(f"\nwrites through the router during the demo: {acked} acknowledged, {wrong} lost or "
          "wrong when read back")
    print(f"\nexplore: export KUBECONFIG={kubeconfig}; kubectl -n {NAMESPACE} describe "
          "shardmigrations")
    if wrong:
        raise SystemExit("acknowledged writes were lost")


def _start_over(kubeconfig: Path, etcd: tuple[str, ...]) -> None:
    """Remove an earlier run's objects (the operator, now running, releases their finalizers)
    and its records in etcd, so placements start again from the Shards' specs."""
    kubectl(kubeconfig, "-n", NAMESPACE, "delete", "shardcast", "--all", "--timeout=60s",
            check=False)

    async def forget() -> None:
        async with ConsensusStore.open(etcd) as store:
            await store.forget(NAMESPACE)

    asyncio.run(forget())


def _wait_for_moves(kubeconfig: Path, wait_seconds: float) -> None:
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        moves = _migrations(kubeconfig)
        if moves and all(m.get("status", {}).get("phase") in TERMINAL for m in moves):
            _wait_for_evaluation_after(kubeconfig, max(
                t.get("finishedAt", "") for m in moves for t in m["status"]["phaseTimes"]),
                deadline)
            return
        time.sleep(1)
    print(f"no move ended within {wait_seconds:.0f}s; showing where things stand")


def _wait_for_evaluation_after(kubeconfig: Path, moment: str, deadline: float) -> None:
    """Until the policy has looked again after the moves, so its plan shows where they left it."""
    while time.monotonic() < deadline:
        status = json.loads(kubectl(kubeconfig, "-n", NAMESPACE, "get", "migrationpolicy",
                                    "kv-cpu", "-o", "json")).get("status", {})
        if status.get("lastEvaluation", {}).get("time", "") > moment:
            return
        time.sleep(1)


def _migrations(kubeconfig: Path) -> list[dict[str, Any]]:
    found = json.loads(kubectl(kubeconfig, "-n", NAMESPACE, "get", "shardmigrations",
                               "-o", "json"))
    return list(found["items"])


def _demo_objects(state: Path, jobs: dict[str, Any]) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = [statefulset("kv", replicas=len(NODES))]
    for i, (trace, node, scale) in enumerate(DEMO_SHARDS):
        objects.append({
            "apiVersion": "shardcast.io/v1alpha1", "kind": "Shard",
            "metadata": {"name": f"kv-{i}", "labels": {"app": "kv"}},
            "spec": {"workload": {"name": "kv"}, "placement": {"node": node},
                     "sizeBytes": (i + 1) * 4 << 30,
                     "metrics": {"cpu": {"query": f"({replay_query(trace, state)}) * {scale}"}}}})
    objects.append({
        "apiVersion": "shardcast.io/v1alpha1", "kind": "MigrationPolicy",
        "metadata": {"name": "kv-cpu"},
        "spec": {"mode": "auto", "shardSelector": {"matchLabels": {"app": "kv"}},
                 "metric": {"type": "cpu"}, "threshold": {"utilization": 80, "trigger": "upper"},
                 "forecast": {"horizon": "1h", "historyWindow": "168h", "model": "auto"},
                 "jobs": jobs,
                 "trafficShift": {"steps": [10, 50, 100], "gateWindow": "2s"}}})
    return objects


def _print_timeline(kubeconfig: Path) -> None:
    print("\neach move, phase by phase:")
    for move in _migrations(kubeconfig):
        spec, status = move["spec"], move.get("status", {})
        reason = spec.get("reason", {})
        print(f"  {move['metadata']['name']}: {spec['shard']} {spec['source']} -> "
              f"{spec['target']} ({status.get('phase', 'Pending')}); predicted "
              f"{reason.get('predictedPeak', '?')}% at {reason.get('peakTime', '?')} "
              f"against {reason.get('threshold', '?')}%")
        for step in status.get("phaseTimes", []):
            print(f"    {step['phase']:12} {step['startedAt']} .. {step.get('finishedAt', '')}")
        if status.get("rollbackReason"):
            print(f"    rolled back: {status['rollbackReason']}")


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
    print("\nthe policy's plan when the demo ended:")
    for node in policy.get("nodes", []):
        print(f"  {node['name']}: {node['utilization']:5.1f}% now, projected peak "
              f"{node['predictedPeak']:5.1f}% at {node['peakTime']} ({node['shards']} shard(s))")
    for decision in policy.get("decisions", []):
        where = (f"{decision['shard']} {decision.get('from')} -> {decision.get('to')}"
                 if decision["action"] == "move" else decision["action"])
        print(f"  decision: {where}: {decision.get('reason', '')}")
    print(f"  why nothing moved: {policy.get('whyNothingMoved', '')}")


def _plot(kubeconfig: Path, prometheus_url: str, path: Path) -> None:
    """Node load over the last six hours as placed at the start, projections, and the moves."""
    end = aligned_now(STEP_SECONDS)
    state = state_dir()
    node_load = {node: np.zeros(6 * 3600 // STEP_SECONDS + 1) for node in NODES}
    for trace, node, scale in DEMO_SHARDS:
        values = query_range(prometheus_url, f"({replay_query(trace, state)}) * {scale}",
                             end - 6 * 3600, end, STEP_SECONDS)
        node_load[node] += np.nan_to_num(values) * 100 / NODE_CORES
    policy = json.loads(kubectl(kubeconfig, "-n", NAMESPACE, "get", "migrationpolicy", "kv-cpu",
                                "-o", "json")).get("status", {})
    plot_demo(path, end, STEP_SECONDS, node_load, 80,
              policy.get("nodes", []), _migrations(kubeconfig))
    print(f"\nplot of node load, projections and the moves' phases: {path}")


def _print_load(prometheus_url: str) -> None:
    end = aligned_now(STEP_SECONDS)
    print(f"last 24h of each shard's load, from Prometheus ({prometheus_url}), real traces:")
    print(f"  {'shard':6} {'trace':34} {'min':>8} {'mean':>8} {'max':>8} {'now':>8}")
    for i, (trace, _, _) in enumerate(DEMO_SHARDS):
        values = query_range(prometheus_url, f"last_over_time({_query(trace)}[1h])",
                             end - DAY_SECONDS, end, STEP_SECONDS)
        values = values[np.isfinite(values)]
        print(f"  kv-{i:<3} {trace:34} {values.min():8.1f} {values.mean():8.1f} "
              f"{values.max():8.1f} {values[-1]:8.1f}")


if __name__ == "__main__":  # run_demo's second half: argv is (data plane, wait s, [plot path])
    try:
        _demo(sys.argv[1], float(sys.argv[2]), Path(sys.argv[3]) if len(sys.argv) > 3 else None)
    except StackError as error:
        sys.exit(f"error: {error}")  # as `shardcast` reports it: on stderr, exit status 1
