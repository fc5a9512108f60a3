"""The operator's own path at N shards, on the real local stack: how long until every Shard has a
forecast, what a steady policy cycle costs (wall time, Prometheus requests and samples,
Kubernetes writes, CPU), peak RSS and event-loop responsiveness; optionally the same for a
baseline commit's operator on the same objects.

Per size N:
- a fresh namespace `scale-<N>-<random>`, after checking with a probe Shard that no other
  operator serves it (a stack test's operator watches every namespace; the bench waits for it
  to go away, `--foreign-wait`, and otherwise warns that the figures include its work);
- N series `shardcast_shard_cpu_cores{shard, namespace}` backfilled into the stack's Prometheus
  through promtool (devstack/bulk_series.py: chunks of series, one promtool pass each, blocks
  moved into the running Prometheus, which loads them within a minute; the bench then waits
  until they are served and Prometheus has compacted the overlapping blocks). 5-minute steps over
  `--window` ending at aligned_now(300), plus `--ahead` of samples beyond now that become
  visible as the clock passes them: the stack's Prometheus scrapes nothing (scrape_configs: []),
  so that is how the steady cycles see new samples. Each series is a real trace, rolled and
  scaled by a seeded factor so that the four 8-core kwok nodes sit at 35-65% on average;
- N Shards reading them through the built-in cpu template (spec.metrics.cpu.labels
  {shard, namespace}) and P dry-run MigrationPolicies (`model: auto`, horizon 30m,
  historyWindow = window) of N/P shards each, selected by the label `policy: p<i>`;
- `shardcast run --standalone --namespace <ns>` as a subprocess, observed from outside: Shards
  listed every ~2 s (a server-side Table of printer columns, pages of 1000) until all have
  status.prediction; then a steady phase of at least `--steady-cycles` policy cycles
  (status.lastEvaluation.time changes) and `--forecast-cycles` cycles that read new samples,
  over which Prometheus', the API server's and the operator's /metrics are differenced and the
  namespace's objects watched; RSS (with children) and kopf's liveness endpoint sampled every
  0.5 s; then SIGTERM (SIGKILL after 20 s), finalizers off, the namespace deleted.

The cycle interval is `--resync` seconds (SHARDCAST_RESYNC_SECONDS and the policies'
evaluationInterval; default 15 s rather than 30 s). Prometheus' and the API server's counters
are server-wide: anything else using the stack meanwhile (stack tests, a demo) is counted too;
the namespace's own writes come from watches. Needs the local stack (`shardcast devstack up`).

    .venv/bin/python bench/operator_scale.py ../shared/traces [--sizes 1000 10000]
        [--policies 1] [--window 168h] [--steady-cycles 3] [--seed 7]
        [--baseline-ref fed8016 --baseline-max 200] [--restart]

`--restart` then starts a second operator on the same objects, as an upgrade or a failover
would, and times it until every policy planned with all its shards forecast.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import kubernetes
import numpy as np
import urllib3

from shardcast.api.durations import seconds as duration_seconds
from shardcast.api.kinds import API_VERSION, GROUP, MIGRATIONS, POLICIES, SHARDS, VERSION
from shardcast.devstack import stack
from shardcast.devstack.bulk_series import BulkBackfill, backfill_bulk, overlapping_blocks
from shardcast.devstack.kubectl import kubectl
from shardcast.devstack.manifests import install_crds, statefulset
from shardcast.devstack.nodes import FAKE_NODES
from shardcast.devstack.paths import state_dir
from shardcast.devstack.prometheus import Series, aligned_now, prometheus_part
from shardcast.traces import discover, load_trace

REPO = Path(__file__).resolve().parents[1]
STEP = 300
METRIC = "shardcast_shard_cpu_cores"
NODES = tuple(node.name for node in FAKE_NODES)
NODE_CORES = float(FAKE_NODES[0].cpu)
GIB = 2**30
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
WRITE_VERBS = ("PATCH", "POST", "PUT")
PROM_HANDLERS = ("/api/v1/query_range", "/api/v1/query")
LIST_PAGE = 1000
PREDICTED_TARGETS = {1_000: 10.0, 10_000: 60.0}  # seconds until every shard is predicted
CYCLE_TARGET_S = 5.0
PROM_REQUESTS_TARGET = 20  # per policy cycle
WRITES_TARGET_FRACTION = 0.10  # Kubernetes writes per steady cycle, of N
RSS_TARGET_MIB = 1024.0
LAG_TARGET_S = 0.100


# -- settings ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    traces_dir: Path
    sizes: list[int]
    policies: int
    window_s: int
    ahead_s: int
    steady_cycles: int
    forecast_cycles: int
    seed: int
    resync_s: int
    predict_timeout_s: float
    steady_timeout_s: float
    settle_timeout_s: float
    foreign_wait_s: float
    baseline_ref: str | None
    baseline_max: int
    baseline_timeout_s: float
    baseline_steady_cycles: int
    restart_prometheus: bool
    restart: bool
    keep: bool
    logs: Path
    rss_limit_mib: float


def parse_args(argv: list[str]) -> Settings:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add = parser.add_argument
    add("traces", type=Path, help="directory of real traces, e.g. ../shared/traces")
    add("--sizes", nargs="+", type=int, default=[1_000, 10_000])
    add("--policies", type=int, default=1, help="P policies of N/P shards each")
    add("--window", default="168h", help="history backfilled and read (historyWindow)")
    add("--ahead", default="2h", help="samples backfilled beyond now, visible as time passes")
    add("--steady-cycles", type=int, default=3)
    add("--forecast-cycles", type=int, default=1,
        help="the steady phase also lasts until each policy had this many cycles with new "
             "samples (the 5-minute grid advanced), if the operator says which cycles those are")
    add("--seed", type=int, default=7)
    add("--resync", type=int, default=15, help="cycle interval, seconds (>= 10)")
    add("--predict-timeout", type=float, default=600.0)
    add("--steady-timeout", type=float, default=600.0)
    add("--settle-timeout", type=float, default=300.0,
        help="how long to wait for Prometheus to compact the backfilled blocks")
    add("--foreign-wait", type=float, default=600.0,
        help="how long to wait for another operator serving every namespace (a stack test's) "
             "to go away before measuring anyway, with a warning")
    add("--baseline-ref", help="a commit whose operator runs on the same objects, e.g. fed8016")
    add("--baseline-max", type=int, default=200, help="largest N the baseline runs at")
    add("--baseline-timeout", type=float, default=1200.0,
        help="seconds the baseline gets for predicting and its steady cycles together")
    add("--baseline-steady-cycles", type=int, default=1)
    add("--restart-prometheus", action="store_true",
        help="restart Prometheus after the backfill (queryable at once) instead of letting the "
             "running one load the blocks at its next reload (~1 min; others keep querying)")
    add("--restart", action="store_true",
        help="after the steady phase, restart the operator on the same objects and time until "
             "every policy has planned with all its shards forecast (finalizers and statuses "
             "are in place then: an upgrade or a failover, not a fresh install)")
    add("--keep", action="store_true", help="leave the namespace and its objects behind")
    add("--logs", type=Path, help="where operator logs go (default: a new temp directory)")
    add("--rss-limit", type=float, default=6144.0,
        help="MiB; an operator growing past this is killed (a shared machine), and says so")
    args = parser.parse_args(argv)
    if args.resync < 10:
        parser.error("--resync must be at least 10 (the policies' evaluationInterval minimum)")
    if any(n % args.policies for n in args.sizes):
        parser.error("every size must be a multiple of --policies")
    return Settings(
        traces_dir=args.traces, sizes=args.sizes, policies=args.policies,
        window_s=int(duration_seconds(args.window)),
        ahead_s=int(duration_seconds(args.ahead)) // STEP * STEP,
        steady_cycles=args.steady_cycles, forecast_cycles=args.forecast_cycles, seed=args.seed,
        resync_s=args.resync, predict_timeout_s=args.predict_timeout,
        steady_timeout_s=args.steady_timeout, settle_timeout_s=args.settle_timeout,
        foreign_wait_s=args.foreign_wait, baseline_ref=args.baseline_ref,
        baseline_max=args.baseline_max, baseline_timeout_s=args.baseline_timeout,
        baseline_steady_cycles=args.baseline_steady_cycles,
        restart_prometheus=args.restart_prometheus, restart=args.restart, keep=args.keep,
        logs=args.logs or Path(tempfile.mkdtemp(prefix="operator-scale-")),
        rss_limit_mib=args.rss_limit)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- load: real traces, rolled and scaled per shard -------------------------------------------

def load_traces(traces_dir: Path) -> list[np.ndarray]:
    """Every 300-second trace under `traces_dir` with a positive mean, as floats."""
    loaded = [load_trace(spec, traces_dir) for spec in discover(traces_dir)
              if spec.step_seconds == STEP]
    traces = [t.values.astype(float) for t in loaded
              if len(t.values) and np.all(np.isfinite(t.values)) and t.values.mean() > 0]
    if not traces:
        raise SystemExit(f"no usable 300 s traces under {traces_dir}")
    return traces


def shard_loads(traces: list[np.ndarray], n: int, points: int,
                rng: np.random.Generator) -> np.ndarray:
    """n x points CPU cores: shard i on node i % 4, each node at a seeded 35-65% mean, split
    among its shards by seeded weights; each shard one trace, rolled, tiled to `points`, scaled
    so its mean is its share."""
    node_of = np.arange(n) % len(NODES)
    node_util = rng.uniform(0.35, 0.65, len(NODES))
    weights = rng.uniform(0.5, 1.5, n)
    share = weights / np.bincount(node_of, weights)[node_of]
    mean_cores = node_util[node_of] * NODE_CORES * share
    loads = np.empty((n, points))
    for i in range(n):
        trace = traces[int(rng.integers(len(traces)))]
        rolled = np.roll(trace, int(rng.integers(len(trace))))
        curve = np.resize(rolled, points)
        loads[i] = np.clip(curve * (mean_cores[i] / curve.mean()), 0.0, None)
    return loads


def describe_nodes(loads: np.ndarray) -> str:
    node_of = np.arange(len(loads)) % len(NODES)
    parts = []
    for k, node in enumerate(NODES):
        total = loads[node_of == k].sum(axis=0) / NODE_CORES * 100
        parts.append(f"{node} mean {total.mean():.0f}% p99 {np.percentile(total, 99):.0f}%")
    return "; ".join(parts)


# -- Prometheus -------------------------------------------------------------------------------

HTTP = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2, read=30))


def http_get(url: str, timeout: float = 30.0) -> str:
    response = HTTP.request("GET", url, timeout=timeout)
    if response.status != 200:
        raise RuntimeError(f"GET {url}: HTTP {response.status}: {response.data[:300]!r}")
    return str(response.data.decode())


def backfill(settings: Settings, ns: str, names: list[str], loads: np.ndarray,
             end: int) -> BulkBackfill:
    series = (Series(METRIC, {"shard": name, "namespace": ns}, loads[i], STEP, end)
              for i, name in enumerate(names))
    part = (prometheus_part(state_dir(), stack.PROMETHEUS_PORT)
            if settings.restart_prometheus else None)
    return backfill_bulk(state_dir(), series, part=part)


def prom_count(url: str, ns: str, at: int) -> int:
    query = urllib.parse.urlencode({"query": f'count({METRIC}{{namespace="{ns}"}})',
                                    "time": str(at)})
    result = json.loads(http_get(f"{url}/api/v1/query?{query}"))["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


def wait_queryable(url: str, ns: str, n: int, first: int, timeout: float) -> float | None:
    """Seconds until Prometheus returns all n series at the window's first and newest sample."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        with contextlib.suppress(OSError, RuntimeError, urllib3.exceptions.HTTPError):
            if prom_count(url, ns, first) == n and prom_count(url, ns, aligned_now(STEP)) == n:
                return time.monotonic() - began
        time.sleep(2)
    return None


def wait_settled(timeout: float) -> float | None:
    """Seconds until no block of Prometheus overlaps another, twice in a row (its compactor has
    merged the backfill), so that its compaction is not charged to the operator."""
    began, calm = time.monotonic(), 0
    while time.monotonic() - began < timeout:
        calm = calm + 1 if overlapping_blocks(state_dir()) == 0 else 0
        if calm >= 2:
            return time.monotonic() - began
        time.sleep(2)
    return None


# -- metrics text -----------------------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
Samples = list[tuple[dict[str, str], float]]


def samples(text: str | None, name: str) -> Samples:
    """Every sample of metric `name` in Prometheus text exposition format."""
    found: Samples = []
    for line in (text or "").splitlines():
        if not line.startswith(name):
            continue
        match = _SAMPLE.match(line)
        if match and match[1] == name:
            found.append((dict(_LABEL.findall(match[2] or "")), float(match[3])))
    return found


def total(text: str | None, name: str, where: Callable[[dict[str, str]], bool] = lambda _: True,
          ) -> float | None:
    """Sum of the samples of `name` whose labels pass `where`; None if `name` is not exported."""
    found = samples(text, name)
    return sum(v for labels, v in found if where(labels)) if found else None


# -- Kubernetes -------------------------------------------------------------------------------

class Kube:
    """The kubernetes client on the stack's kubeconfig, plus the raw reads it has no method for
    (server-side Tables, /metrics)."""

    def __init__(self, kubeconfig: Path, pool: int = 16) -> None:
        config = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig), client_configuration=config)
        config.connection_pool_maxsize = pool
        self.client = kubernetes.client.ApiClient(config)
        self.custom = kubernetes.client.CustomObjectsApi(self.client)

    def raw(self, path: str, query: Sequence[tuple[str, Any]] = (), accept: str = "*/*",
            method: str = "GET", body: Any = None, content_type: str | None = None) -> bytes:
        headers = {"Accept": accept, **({"Content-Type": content_type} if content_type else {})}
        request = self.client.param_serialize(
            method, path, query_params=list(query), header_params=headers, body=body,
            auth_settings=["BearerToken"])
        response = self.client.call_api(*request, _request_timeout=(5, 120))
        data = bytes(response.read())  # type: ignore[no-untyped-call]
        if response.status >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {response.status}: {data[:300]!r}")
        return data

    def metrics(self) -> str:
        return self.raw("/metrics", accept="text/plain").decode()

    def stream(self, path: str, query: Sequence[tuple[str, Any]]) -> Any:
        """An open streaming response (a watch): the caller reads and closes it."""
        request = self.client.param_serialize("GET", path, query_params=list(query),
                                              header_params={"Accept": "application/json"},
                                              auth_settings=["BearerToken"])
        return self.client.call_api(*request, _request_timeout=(5, None)).response

    def create_all(self, ns: str, plural: str, bodies: list[dict[str, Any]],
                   workers: int = 16) -> None:
        def create(body: dict[str, Any]) -> None:
            self.custom.create_namespaced_custom_object(GROUP, VERSION, ns, plural, body,
                                                        _request_timeout=(5, 60))

        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(create, bodies))

    def table(self, ns: str, plural: str, include: str = "None") -> Iterator[dict[str, Any]]:
        """Pages of the server-side Table of `plural` (printer columns only, no objects)."""
        token = None
        while True:
            query: list[tuple[str, Any]] = [("limit", LIST_PAGE), ("includeObject", include)]
            if token:
                query.append(("continue", token))
            page = json.loads(self.raw(f"/apis/{GROUP}/{VERSION}/namespaces/{ns}/{plural}",
                                       query, accept=TABLE))
            yield page
            token = page.get("metadata", {}).get("continue")
            if not token:
                return

    def predicted(self, ns: str) -> int:
        """How many Shards have a status.prediction (their Model column is filled in)."""
        count, column = 0, None
        for page in self.table(ns, SHARDS):
            names = [c["name"] for c in page.get("columnDefinitions") or []]
            column = names.index("Model") if "Model" in names else column
            if column is None:
                raise RuntimeError("the Shards' Table has no Model column (crds/shard.yaml)")
            count += sum(1 for row in page.get("rows", [])
                         if row["cells"][column] not in (None, "", "<none>"))
        return count

    def policy(self, ns: str, name: str) -> dict[str, Any]:
        return cast(dict[str, Any], self.custom.get_namespaced_custom_object(
            GROUP, VERSION, ns, POLICIES, name, _request_timeout=(5, 30)))

    def merge_patch(self, ns: str, plural: str, name: str, body: dict[str, Any],
                    subresource: str = "") -> None:
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{ns}/{plural}/{name}{subresource}"
        self.raw(path, method="PATCH", body=body, content_type="application/merge-patch+json")

    def patch_all(self, ns: str, plural: str, names: list[str], body: dict[str, Any],
                  subresource: str = "", workers: int = 16) -> None:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda n: self.merge_patch(ns, plural, n, body, subresource), names))

    def metadata(self, ns: str, plural: str) -> Iterator[dict[str, Any]]:
        for page in self.table(ns, plural, include="Metadata"):
            for row in page.get("rows", []):
                yield dict(row.get("object", {}).get("metadata", {}))

    def with_finalizers(self, ns: str, plural: str) -> list[str]:
        return [m["name"] for m in self.metadata(ns, plural) if m.get("finalizers")]

    def handled(self, ns: str) -> int:
        """Shards some operator has handled already (kopf's finalizer or annotations)."""
        return sum(1 for m in self.metadata(ns, SHARDS) if m.get("finalizers") or any(
            "last-handled-configuration" in key for key in m.get("annotations") or {}))

    def delete(self, ns: str, plural: str, name: str) -> None:
        self.merge_patch(ns, plural, name, {"metadata": {"finalizers": None}})
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, ns, plural, name,
                                                    _request_timeout=(5, 30))


def shard_body(name: str, ns: str, node: str, policy: str, size: int) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "Shard",
            "metadata": {"name": name, "labels": {"app": "kv", "policy": policy}},
            "spec": {"workload": {"name": "kv"}, "placement": {"node": node},
                     "sizeBytes": size,
                     "metrics": {"cpu": {"labels": {"shard": name, "namespace": ns}}}}}


def policy_body(name: str, window: str, resync_s: int) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "MigrationPolicy", "metadata": {"name": name},
            "spec": {"mode": "dry-run", "shardSelector": {"matchLabels": {"policy": name}},
                     "metric": {"type": "cpu"}, "threshold": {"utilization": 80},
                     "evaluationInterval": f"{resync_s}s",
                     "forecast": {"model": "auto", "horizon": "30m", "historyWindow": window}}}


def create_namespace(kubeconfig: Path, ns: str) -> None:
    """The namespace and a StatefulSet `kv` with no replicas (so the Shards are Placed)."""
    kubectl(kubeconfig, "create", "namespace", ns)
    kubectl(kubeconfig, "-n", ns, "apply", "-f", "-", stdin=json.dumps(statefulset("kv", 0)))


def wait_alone(kube: Kube, ns: str, timeout: float) -> bool:
    """Whether no other operator serves `ns`: a probe Shard stays unhandled for 5 s. A stack
    test's operator watches every namespace, and its handling of the bench's objects would be
    counted as the bench's operator's; while one is there, wait (up to `timeout`)."""
    deadline, attempt = time.monotonic() + timeout, 0
    while True:
        name = f"probe-{attempt}"
        kube.create_all(ns, SHARDS, [shard_body(name, ns, NODES[0], "none", GIB)])
        time.sleep(5)
        touched = kube.handled(ns) > 0
        kube.delete(ns, SHARDS, name)
        if not touched:
            return True
        if time.monotonic() > deadline:
            return False
        log(f"  another operator is handling Shards in {ns} (a stack test's?); waiting")
        time.sleep(25)
        attempt += 1


def create_objects(kube: Kube, ns: str, names: list[str], settings: Settings,
                   rng: np.random.Generator) -> float:
    """N Shards and P policies. Returns the seconds the Shards took."""
    per_policy = len(names) // settings.policies
    sizes = rng.integers(10, 100, len(names)) * GIB
    bodies = [shard_body(name, ns, NODES[i % len(NODES)], f"p{i // per_policy}", int(sizes[i]))
              for i, name in enumerate(names)]
    began = time.monotonic()
    kube.create_all(ns, SHARDS, bodies)
    took = time.monotonic() - began
    window = f"{settings.window_s // 3600}h" if settings.window_s % 3600 == 0 \
        else f"{settings.window_s}s"
    kube.create_all(ns, POLICIES, [policy_body(f"p{i}", window, settings.resync_s)
                                   for i in range(settings.policies)])
    return took


# -- the operator under test ------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Operator:
    """One `shardcast run` process and where to reach its metrics and liveness endpoint."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    metrics_url: str
    liveness_url: str
    started: float

    @classmethod
    def start(cls, ns: str, settings: Settings, log_path: Path,
              pythonpath: Path | None) -> Operator:
        endpoints = stack.Endpoints.of(state_dir())
        metrics, liveness = free_port(), free_port()
        env = {**os.environ, "KUBECONFIG": str(endpoints.kubeconfig),
               "SHARDCAST_PROMETHEUS_URL": endpoints.prometheus_url,
               "SHARDCAST_ETCD_ENDPOINTS": ",".join(endpoints.consensus_etcd),
               "SHARDCAST_METRICS_ADDRESS": f"127.0.0.1:{metrics}",
               "SHARDCAST_RESYNC_SECONDS": str(settings.resync_s),
               "SHARDCAST_JOB_EXECUTOR": "local",
               "SHARDCAST_LOCAL_JOBS_DIR": str(log_path.parent / "jobs")}
        if pythonpath is not None:
            env["PYTHONPATH"] = str(pythonpath)
        live = f"http://127.0.0.1:{liveness}/healthz"
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "shardcast", "run", "--standalone", "--namespace", ns,
                 f"--liveness={live}"], env=env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
        return cls(proc, log_path, f"http://127.0.0.1:{metrics}/metrics", live,
                   time.monotonic())

    def metrics(self) -> str | None:
        try:
            return http_get(self.metrics_url, timeout=10)
        except (OSError, RuntimeError, urllib3.exceptions.HTTPError):
            return None

    def cpu_seconds(self) -> float:
        """utime + stime of the operator process (children excluded)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def exited(self) -> int | None:
        return self.proc.poll()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)

    def log_tail(self, lines: int = 15) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join("    " + line for line in text[-lines:])


def tree_rss_kib(pid: int) -> int:
    """VmRSS of `pid` and all its descendants, KiB."""
    total_kib, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        match = re.search(r"^VmRSS:\s+(\d+)", status, re.MULTILINE)
        total_kib += int(match[1]) if match else 0
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                pending += [int(c) for c in task.read_text().split()]
    return total_kib


class Every(threading.Thread):
    """Calls `fn` every `interval` seconds until stopped."""

    def __init__(self, interval: float, fn: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self.interval, self.fn, self.halt = interval, fn, threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.interval):
            self.fn()

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=10)


@dataclass
class Watch:
    """RSS and liveness of a running operator, sampled every 0.5 s from two threads."""

    operator: Operator
    rss_limit_kib: float
    peak_rss_kib: int = 0
    killed: bool = False
    live_ok: int = 0
    live_failures: int = 0
    live_worst_s: float = 0.0
    live_worst_steady_s: float = 0.0
    steady: bool = False
    first_failure: str = ""
    threads: list[Every] = field(default_factory=list)

    def __enter__(self) -> Watch:
        self.threads = [Every(0.5, self._rss), Every(0.5, self._live)]
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        for thread in self.threads:
            thread.stop()

    def _rss(self) -> None:
        self.peak_rss_kib = max(self.peak_rss_kib, tree_rss_kib(self.operator.proc.pid))
        if self.peak_rss_kib > self.rss_limit_kib and not self.killed:
            self.killed = True
            self.operator.proc.kill()

    def _live(self) -> None:
        began = time.monotonic()
        try:
            response = HTTP.request("GET", self.operator.liveness_url, timeout=5.0)
            problem = None if response.status == 200 else f"HTTP {response.status}"
        except (OSError, urllib3.exceptions.HTTPError) as error:
            problem = type(error).__name__
        took = time.monotonic() - began
        if problem is None:
            self.live_ok += 1
        elif self.live_ok and self.operator.exited() is None:  # down before it first came up
            self.live_failures += 1
            self.first_failure = self.first_failure or problem
        if self.live_ok:
            self.live_worst_s = max(self.live_worst_s, took)
            if self.steady:
                self.live_worst_steady_s = max(self.live_worst_steady_s, took)


# -- one operator run: until predicted, then steady cycles ------------------------------------

@dataclass
class Snapshot:
    at: float
    prometheus: str | None
    apiserver: str | None
    operator: str | None
    operator_cpu: float
    modified: dict[str, int]  # Modifications.counts


class Modifications:
    """Watches of the namespace's Shards, policies, migrations and Events, counting ADDED and
    MODIFIED: the writes that changed an object there, from whichever client, and nothing from
    other namespaces (the API server's request counters are server-wide). No-op writes, which
    leave the resourceVersion alone, are not seen here."""

    def __init__(self, kube: Kube, ns: str) -> None:
        base = f"/apis/{GROUP}/{VERSION}/namespaces/{ns}"
        self.paths = {SHARDS: f"{base}/{SHARDS}", POLICIES: f"{base}/{POLICIES}",
                      MIGRATIONS: f"{base}/{MIGRATIONS}",
                      "events": f"/api/v1/namespaces/{ns}/events"}
        self.counts = dict.fromkeys(self.paths, 0)
        self.lock = threading.Lock()
        self.responses: list[Any] = []
        for kind, path in self.paths.items():
            listed = json.loads(kube.raw(path, [("limit", 1)], accept="application/json"))
            response = kube.stream(path, [("watch", "1"), ("timeoutSeconds", 3600),
                                          ("resourceVersion",
                                           listed["metadata"]["resourceVersion"])])
            self.responses.append(response)
            threading.Thread(target=self._count, args=(kind, response), daemon=True).start()

    def _count(self, kind: str, response: Any) -> None:
        pending = b""
        with contextlib.suppress(Exception):  # closed by stop(), or the namespace went away
            for chunk in response.stream(1 << 16):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                changed = sum(1 for line in lines if line[:40].startswith(
                    (b'{"type":"ADDED"', b'{"type":"MODIFIED"')))
                with self.lock:
                    self.counts[kind] += changed

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return dict(self.counts)

    def stop(self) -> None:
        for response in self.responses:
            with contextlib.suppress(Exception):
                response.shutdown()
                response.release_conn()


@dataclass(frozen=True)
class Cycle:
    policy: str
    seconds: float  # its status.lastEvaluation.durationSeconds
    # "forecast" or "idle" by shardcast_policy_cycles_total; "n/a" when the operator does not
    # export it, "?" when it does but counted no cycle: another process evaluated the policy
    work: str
    modified: dict[str, int]  # objects modified in the namespace since the previous cycle end
    # cycles the operator counted since the previous change seen (kopf may run a policy's timer
    # and event handlers back to back; a 1 s poll then sees one change for two cycles)
    count: int = 1
    forecasts: int = 0  # of them, cycles that forecast new samples


@dataclass
class Steady:
    cycles: list[Cycle]
    policies: int
    cycle_gauge: list[float] | None
    start: Snapshot
    end: Snapshot
    ready: list[str]
    problem: str = ""  # why it ended before enough cycles (the figures cover those it saw)

    @property
    def rounds(self) -> float:
        """Policy cycles per policy: the steady phase's length in cycles."""
        return self.policy_cycles / self.policies

    @property
    def policy_cycles(self) -> int:
        return sum(c.count for c in self.cycles)

    def seconds(self, work: str | None = None) -> list[float]:
        return [c.seconds for c in self.cycles if work is None or c.work == work]


@dataclass
class Run:
    label: str
    n: int
    predicted_s: float | None = None
    poll_worst_s: float = 0.0
    first_predicted_s: float | None = None
    predicted: int = 0
    waited_s: float = 0.0
    gave_up_s: float = 0.0  # when polling for predictions stopped, from the operator's start
    steady: Steady | None = None
    steady_problem: str = ""
    exit_code: int | None = None
    log_tail: str = ""
    peak_rss_mib: float = 0.0
    live_worst_ms: float | None = None
    live_worst_steady_ms: float | None = None
    live_failures: int = 0
    live_first_failure: str = ""
    lag_gauge_s: float | None = None
    without: list[str] = field(default_factory=list)  # policies' withoutForecast, if not all
    killed: bool = False  # by us: its RSS passed --rss-limit
    predict_cpu_s: float = 0.0  # operator CPU seconds until all were predicted (or gave up)


def snapshot(kube: Kube, operator: Operator, mods: Modifications) -> Snapshot:
    endpoints = stack.Endpoints.of(state_dir())
    prom: str | None
    try:
        prom = http_get(f"{endpoints.prometheus_url}/metrics")
    except (OSError, RuntimeError, urllib3.exceptions.HTTPError):
        prom = None
    try:
        api: str | None = kube.metrics()
    except (OSError, RuntimeError, urllib3.exceptions.HTTPError):
        api = None
    return Snapshot(time.monotonic(), prom, api, operator.metrics(), operator.cpu_seconds(),
                    mods.snapshot())


def wait_predicted(kube: Kube, ns: str, run: Run, operator: Operator, timeout: float) -> None:
    """Poll the Shards' Table every ~2 s (longer when a listing is slow) until all N have a
    prediction, the timeout passes or the operator exits."""
    last_report = 0.0
    while True:
        polled = time.monotonic()
        try:
            run.predicted = kube.predicted(ns)
        except (OSError, RuntimeError, urllib3.exceptions.HTTPError) as error:
            log(f"  listing Shards failed: {error}")
        took = time.monotonic() - polled
        run.poll_worst_s = max(run.poll_worst_s, took)
        elapsed = run.gave_up_s = polled - operator.started
        if run.predicted and run.first_predicted_s is None:
            run.first_predicted_s = elapsed
        if run.predicted >= run.n:
            run.predicted_s = elapsed
            return
        if (code := operator.exited()) is not None:
            run.exit_code = code
            return
        if elapsed > timeout:
            return
        if elapsed - last_report > 15:
            log(f"  {run.label}: {run.predicted}/{run.n} predicted after {elapsed:.0f}s")
            last_report = elapsed
        time.sleep(max(2.0 - took, took))


class CycleWatch:
    """Each policy's status.lastEvaluation.time, polled: a change is a finished cycle, whose
    kind (new samples forecast, or idle) the operator's shardcast_policy_cycles_total tells."""

    def __init__(self, kube: Kube, ns: str, policies: list[str], operator: Operator,
                 mods: Modifications) -> None:
        self.kube, self.ns, self.policies, self.operator = kube, ns, policies, operator
        self.mods, self.modified = mods, mods.snapshot()
        self.statuses = self._statuses()
        self.seen = {p: eval_time(s) for p, s in self.statuses.items()}
        self.work = self._work()

    def poll(self) -> list[Cycle]:
        self.statuses = self._statuses()
        changed = [p for p, s in self.statuses.items() if eval_time(s) != self.seen[p]]
        if not changed:
            return []
        work = self._work()
        modified = self.mods.snapshot()
        since = {k: v - self.modified[k] for k, v in modified.items()}  # the first change's
        self.modified = modified
        cycles = []
        for name in changed:
            self.seen[name] = eval_time(self.statuses[name])
            seconds = float(self.statuses[name]["lastEvaluation"].get("durationSeconds", "nan"))
            cycles.append(self._cycle(name, seconds, since, work))
            since = dict.fromkeys(since, 0)
        self.work = work
        return cycles

    def _cycle(self, name: str, seconds: float, since: dict[str, int],
               work: dict[tuple[str, str], float]) -> Cycle:
        if not work:
            return Cycle(name, seconds, "n/a", since)
        grew = {w: int(v - self.work.get((p, w), 0)) for (p, w), v in work.items() if p == name}
        forecasts, counted = grew.get("forecast", 0), sum(grew.values())
        if counted == 0:
            return Cycle(name, seconds, "?", since)
        return Cycle(name, seconds, "forecast" if forecasts else "idle", since, counted,
                     forecasts)

    def _statuses(self) -> dict[str, dict[str, Any]]:
        found = {}
        for name in self.policies:
            try:
                found[name] = self.kube.policy(self.ns, name).get("status", {})
            except (OSError, RuntimeError, kubernetes.client.ApiException):
                found[name] = {}
        return found

    def _work(self) -> dict[tuple[str, str], float]:
        return {(labels.get("policy", ""), labels.get("work", "")): value
                for labels, value in samples(self.operator.metrics(),
                                             "shardcast_policy_cycles_total")
                if labels.get("namespace") == self.ns}


def eval_time(status: Mapping[str, Any]) -> str | None:
    return (status.get("lastEvaluation") or {}).get("time")


def steady_phase(kube: Kube, ns: str, policies: list[str], cycles: int, forecast_cycles: int,
                 operator: Operator, watch: Watch, timeout: float) -> Steady | str:
    """Wait for every policy to finish one cycle (a cycle boundary), snapshot, then count at
    least `cycles` more per policy, and at least `forecast_cycles` per policy that forecast new
    samples (the 5-minute grid advanced; most cycles in between are idle), snapshot again.
    Returns the figures, or why there are none."""
    mods = Modifications(kube, ns)
    try:
        return _steady(kube, ns, policies, (cycles, forecast_cycles), operator, watch, mods,
                       time.monotonic() + timeout)
    finally:
        mods.stop()


def _steady(kube: Kube, ns: str, policies: list[str], cycles: tuple[int, int],
            operator: Operator, watch: Watch, mods: Modifications,
            deadline: float) -> Steady | str:
    clock = CycleWatch(kube, ns, policies, operator, mods)
    problem = _wait_cycles(clock, [], lambda seen: _each(seen, policies, 1, None), deadline)
    if problem:
        return problem
    watch.steady = True
    start = snapshot(kube, operator, mods)
    counted: list[Cycle] = []

    def enough(seen: list[Cycle]) -> bool:
        unknown = any(c.work == "n/a" for c in seen)
        return _each(seen, policies, cycles[0], None) and (
            unknown or _each(seen, policies, cycles[1], "forecast"))

    problem = _wait_cycles(clock, counted, enough, deadline)
    end = snapshot(kube, operator, mods)
    watch.steady = False
    if problem and not counted:
        return problem
    gauge = [v for labels, v in samples(end.operator, "shardcast_policy_cycle_seconds")
             if labels.get("namespace") == ns] or None
    ready = [_ready_message(clock.statuses[p]) for p in policies]
    return Steady(counted, len(policies), gauge, start, end, ready, problem)


def _each(seen: list[Cycle], policies: list[str], at_least: int, work: str | None) -> bool:
    return all(sum(c.count for c in seen if c.policy == p and (work is None or c.work == work))
               >= at_least for p in policies)


def _wait_cycles(clock: CycleWatch, seen: list[Cycle], done: Callable[[list[Cycle]], bool],
                 deadline: float) -> str:
    """Poll once a second, adding finished cycles to `seen`, until `done(seen)`. Returns why
    it stopped early, or "" when done."""
    while not done(seen):
        if (code := clock.operator.exited()) is not None:
            return f"operator exited with code {code}"
        if time.monotonic() > deadline:
            return f"timed out after {sum(c.count for c in seen)} cycle(s)"
        time.sleep(1.0)
        seen += clock.poll()
    return ""


def _ready_message(status: Mapping[str, Any]) -> str:
    ready: Mapping[str, Any] = next(
        (c for c in status.get("conditions", []) if c.get("type") == "Ready"), {})
    if not ready:
        return "no Ready condition"
    return f"{ready.get('reason', '?')}: {str(ready.get('message', ''))[:160]}"


def measure(kube: Kube, ns: str, n: int, settings: Settings, label: str,
            pythonpath: Path | None, predict_timeout: float, steady_timeout: float,
            cycles: int, forecast_cycles: int) -> Run:
    run = Run(label, n)
    operator = Operator.start(ns, settings, settings.logs / f"{ns}-{label}.log", pythonpath)
    log(f"  {label}: operator pid {operator.proc.pid}, log {operator.log_path}")
    policies = [f"p{i}" for i in range(settings.policies)]
    began = time.monotonic()
    try:
        with Watch(operator, settings.rss_limit_mib * 1024) as watch:
            wait_predicted(kube, ns, run, operator, predict_timeout)
            run.predict_cpu_s = operator.cpu_seconds()
            if run.predicted_s is None:
                run.without = diagnose(kube, ns, policies)
            else:
                left = min(steady_timeout, predict_timeout + steady_timeout
                           - (time.monotonic() - began))
                steady = steady_phase(kube, ns, policies, cycles, forecast_cycles, operator,
                                      watch, left)
                run.steady = steady if isinstance(steady, Steady) else None
                run.steady_problem = steady if isinstance(steady, str) else ""
            run.lag_gauge_s = total(operator.metrics(), "shardcast_event_loop_lag_seconds_max")
    finally:
        operator.stop()
    run.waited_s = time.monotonic() - began
    run.exit_code = run.exit_code if run.exit_code is not None else _crashed(operator)
    run.log_tail = operator.log_tail() if run.exit_code is not None else ""
    run.peak_rss_mib = watch.peak_rss_kib / 1024
    run.live_worst_ms = watch.live_worst_s * 1000 if watch.live_ok else None
    run.live_worst_steady_ms = watch.live_worst_steady_s * 1000 if watch.live_ok else None
    run.live_failures = watch.live_failures
    run.live_first_failure = watch.first_failure
    run.killed = watch.killed
    return run


@dataclass
class Restart:
    """A second operator on objects the first one already holds: finalizers and statuses are
    in place, so what is left is listing, reading the history, forecasting and planning."""

    planned_s: float | None = None  # every policy evaluated with all its shards forecast
    first_s: float | None = None  # the first policy evaluation after the start
    cpu_s: float = 0.0
    writes: float | None = None  # API server writes of shardcast.io until planned_s
    peak_rss_mib: float = 0.0
    live_worst_ms: float | None = None
    problem: str = ""


def measure_restart(kube: Kube, ns: str, n: int, settings: Settings,
                    timeout: float) -> Restart:
    """Start the operator again and poll the policies once a second until each one's
    lastEvaluation is newer than the start and counts all its shards forecast."""
    policies = [f"p{i}" for i in range(settings.policies)]
    before = {p: eval_time(kube.policy(ns, p).get("status", {})) for p in policies}
    api_before = kube.metrics()
    result = Restart()
    operator = Operator.start(ns, settings, settings.logs / f"{ns}-restart.log", None)
    log(f"  restart: operator pid {operator.proc.pid}, log {operator.log_path}")
    try:
        with Watch(operator, settings.rss_limit_mib * 1024) as watch:
            result.problem = _wait_planned(kube, ns, policies, n // settings.policies,
                                           before, operator, result, timeout)
            result.cpu_s = operator.cpu_seconds()
            after = total(kube.metrics(), "apiserver_request_total", shardcast_write(None))
            was = total(api_before, "apiserver_request_total", shardcast_write(None))
            result.writes = None if after is None or was is None else after - was
    finally:
        operator.stop()
    result.peak_rss_mib = watch.peak_rss_kib / 1024
    result.live_worst_ms = watch.live_worst_s * 1000 if watch.live_ok else None
    return result


def _wait_planned(kube: Kube, ns: str, policies: list[str], each: int,
                  before: Mapping[str, str | None], operator: Operator, result: Restart,
                  timeout: float) -> str:
    """Returns why the wait ended early, or "" once every policy planned all `each` shards."""
    while True:
        elapsed = time.monotonic() - operator.started
        statuses = {p: kube.policy(ns, p).get("status", {}) for p in policies}
        fresh = {p: s["lastEvaluation"] for p, s in statuses.items()
                 if eval_time(s) not in (None, before[p])}
        if fresh and result.first_s is None:
            result.first_s = elapsed
        if len(fresh) == len(policies) and all(
                e.get("shardsForecast") == each for e in fresh.values()):
            result.planned_s = elapsed
            return ""
        if (code := operator.exited()) is not None:
            return f"operator exited with code {code}"
        if elapsed > timeout:
            return (f"timed out after {elapsed:.0f} s; last evaluations: "
                    f"{ {p: e.get('shardsForecast') for p, e in fresh.items()} }")
        time.sleep(1.0)


def print_restart(n: int, restart: Restart) -> None:
    limit = PREDICTED_TARGETS.get(n)
    print_table(f"  N = {n:,}, restarted on the same objects (finalizers and statuses in place)", [
        Row("every policy planned with all shards forecast (s)", restart.planned_s, None,
            f"<= {limit:.0f}" if limit else "-", _at_most(restart.planned_s, limit)),
        Row("first policy evaluation (s)", restart.first_s, None, "-", None),
        Row("operator CPU until planned (s)", restart.cpu_s, None, "-", None),
        Row("API writes of shardcast.io until planned, all ns", restart.writes, None, "-", None,
            "{:.0f}"),
        Row("peak RSS, operator + children (MiB)", restart.peak_rss_mib, None, "-", None,
            "{:.0f}"),
        Row("liveness worst response (ms)", restart.live_worst_ms, None, "-", None, "{:.0f}")],
        has_base=False)
    if restart.problem:
        print(f"  restart: {restart.problem}")


def diagnose(kube: Kube, ns: str, policies: list[str]) -> list[str]:
    """How many Shards kopf has handled at all (finalizer or annotations), and what each
    policy's status says: its last evaluation, Ready, the first few shards it reports without a
    forecast and why."""
    found = []
    with contextlib.suppress(OSError, RuntimeError, urllib3.exceptions.HTTPError):
        found.append(f"{kube.handled(ns)} Shards handled by the operator (kopf's finalizer or "
                     "annotations)")
    for name in policies:
        with contextlib.suppress(OSError, RuntimeError, kubernetes.client.ApiException):
            status = kube.policy(ns, name).get("status", {})
            found.append(f"{name}: lastEvaluation {status.get('lastEvaluation') or 'never'}; "
                         f"{_ready_message(status)}")
            found += [f"{name}/{w.get('shard')}: {str(w.get('reason'))[:200]}"
                      for w in (status.get("withoutForecast") or [])[:3]]
    return found


def _crashed(operator: Operator) -> int | None:
    """The exit code if the operator died by itself (not by our SIGTERM/SIGKILL)."""
    code = operator.proc.returncode
    return None if code in (0, -signal.SIGTERM, -signal.SIGKILL, None) else code


# -- figures ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    label: str
    new: float | None
    baseline: float | None
    target: str
    ok: bool | None  # the new operator's figure against the target; None: no target
    fmt: str = "{:.1f}"


def delta(steady: Steady, source: str, name: str,
          where: Callable[[dict[str, str]], bool] = lambda _: True) -> float | None:
    """A counter's increase over the steady phase; None if not exported or it went down (the
    process restarted: a stack test's backfill restarts Prometheus)."""
    before = total(getattr(steady.start, source), name, where)
    after = total(getattr(steady.end, source), name, where)
    return None if before is None or after is None or after < before else after - before


def per_round(steady: Steady | None, value: float | None) -> float | None:
    return None if steady is None or value is None else value / steady.rounds


def per_policy_cycle(steady: Steady | None, value: float | None) -> float | None:
    return None if steady is None or value is None else value / steady.policy_cycles


def per_forecast_cycle(steady: Steady | None, value: float | None) -> float | None:
    """`value` over the cycles that read and forecast new samples (None if none did)."""
    if steady is None or value is None:
        return None
    forecast = sum(c.forecasts for c in steady.cycles)
    return value / forecast if forecast else None


def writes(steady: Steady, resource: str | None) -> float | None:
    """API server writes (PATCH/POST/PUT) of shardcast.io per steady phase; one resource
    ('shards', 'shards/status') or all of them."""
    return delta(steady, "apiserver", "apiserver_request_total", shardcast_write(resource))


def shardcast_write(resource: str | None) -> Callable[[dict[str, str]], bool]:
    """Whether an apiserver_request_total series counts writes of shardcast.io (one resource,
    or all of them)."""
    def match(labels: dict[str, str]) -> bool:
        name = labels.get("resource", "") + (f"/{labels['subresource']}"
                                             if labels.get("subresource") else "")
        return (labels.get("verb") in WRITE_VERBS and labels.get("group") == GROUP
                and (resource is None or name == resource))
    return match


def write_resources(steady: Steady) -> list[str]:
    names = set()
    for labels, _ in samples(steady.end.apiserver, "apiserver_request_total"):
        if labels.get("verb") in WRITE_VERBS and labels.get("group") == GROUP:
            sub = labels.get("subresource")
            names.add(labels.get("resource", "") + (f"/{sub}" if sub else ""))
    return sorted(names)


Pair = tuple[float | None, float | None]


def _both(new: Run, base: Run | None, fn: Callable[[Run], float | None]) -> Pair:
    return fn(new), (fn(base) if base is not None else None)


def _at_most(value: float | None, limit: float | None) -> bool | None:
    return None if value is None or limit is None else value <= limit


def rows(new: Run, base: Run | None, n: int) -> list[Row]:
    return (_predict_rows(new, base, n) + _cycle_rows(new, base) + _prometheus_rows(new, base)
            + _write_rows(new, base, n) + _resource_rows(new, base))


def _predict_rows(new: Run, base: Run | None, n: int) -> list[Row]:
    limit = PREDICTED_TARGETS.get(n)
    target = f"<= {limit:.0f}" if limit else "-"
    return [Row("all shards predicted (s)", *_both(new, base, lambda r: r.predicted_s), target,
                _at_most(new.predicted_s, limit)),
            Row("first shard predicted (s)", *_both(new, base, lambda r: r.first_predicted_s),
                "-", None)]


def _cycle_rows(new: Run, base: Run | None) -> list[Row]:
    def cycle(work: str | None, reduce: Callable[[list[float]], float]) -> Pair:
        return _both(new, base, lambda r: reduce(r.steady.seconds(work))
                     if r.steady and r.steady.seconds(work) else None)

    gauge = _both(new, base, lambda r: max(r.steady.cycle_gauge)
                  if r.steady and r.steady.cycle_gauge else None)
    limit = f"<= {CYCLE_TARGET_S:.0f}"
    return [Row(f"steady cycle {label} (s)", *values, limit,
                _at_most(values[0], CYCLE_TARGET_S), "{:.2f}") for label, values in (
                    ("mean, lastEvaluation", cycle(None, lambda v: float(np.mean(v)))),
                    ("max, lastEvaluation", cycle(None, max)),
                    ("max with new samples", cycle("forecast", max)),
                    ("max idle (grid not advanced)", cycle("idle", max)),
                    ("last, policy_cycle_seconds gauge", gauge))]


def _resource_rows(new: Run, base: Run | None) -> list[Row]:
    def of(fn: Callable[[Run], float | None]) -> Pair:
        return _both(new, base, fn)

    rss = of(lambda r: r.peak_rss_mib or None)
    lag = of(lambda r: r.lag_gauge_s * 1000 if r.lag_gauge_s is not None else None)
    live = of(lambda r: r.live_worst_ms)
    live_steady = of(lambda r: r.live_worst_steady_ms)
    lag_ms = LAG_TARGET_S * 1000
    cpu = of(lambda r: per_round(r.steady, r.steady.end.operator_cpu
                                 - r.steady.start.operator_cpu) if r.steady else None)
    prom_cpu = of(lambda r: per_round(r.steady, delta(r.steady, "prometheus",
                                                      "process_cpu_seconds_total"))
                  if r.steady else None)
    return [Row("peak RSS, operator + children (MiB)", *rss, f"<= {RSS_TARGET_MIB:.0f}",
                _at_most(rss[0], RSS_TARGET_MIB), "{:.0f}"),
            Row("event-loop lag max, operator gauge (ms)", *lag, "<= 100",
                _at_most(lag[0], lag_ms), "{:.0f}"),
            Row("liveness worst response, whole run (ms)", *live, "<= 100",
                _at_most(live[0], lag_ms), "{:.0f}"),
            Row("liveness worst response, steady (ms)", *live_steady, "<= 100",
                _at_most(live_steady[0], lag_ms), "{:.0f}"),
            Row("liveness failures", *of(lambda r: float(r.live_failures)), "0",
                new.live_failures == 0, "{:.0f}"),
            Row("operator CPU per steady cycle (s)", *cpu, "-", None, "{:.2f}"),
            Row("Prometheus CPU per steady cycle (s)", *prom_cpu, "-", None, "{:.2f}")]


def _prometheus_rows(new: Run, base: Run | None) -> list[Row]:
    """Prometheus reads per policy cycle, averaged over the steady phase, and per cycle with
    new samples (idle cycles read nothing, if the operator works as it says)."""
    def of(fn: Callable[[Steady], float | None]) -> tuple[float | None, float | None]:
        def one(run: Run | None) -> float | None:
            return fn(run.steady) if run is not None and run.steady is not None else None
        return one(new), one(base)

    def server(st: Steady) -> float | None:
        return delta(st, "prometheus", "prometheus_http_requests_total",
                     lambda labels: labels.get("handler") in PROM_HANDLERS)

    def operator(name: str) -> Callable[[Steady], float | None]:
        return lambda st: delta(st, "operator", name)

    limit = float(PROM_REQUESTS_TARGET)
    out = []
    for label, fn, fmt in (
            ("Prometheus queries (server)", server, "{:.1f}"),
            ("Prometheus requests (operator)", operator("shardcast_prometheus_requests_total"),
             "{:.1f}"),
            ("Prometheus samples (operator)", operator("shardcast_prometheus_samples_total"),
             "{:.0f}")):
        target = f"<= {limit:.0f}" if "requests" in label or "queries" in label else "-"
        for unit, per in (("policy cycle", per_policy_cycle), ("new-sample cycle",
                                                                per_forecast_cycle)):
            values = of(_per(fn, per))
            ok = None if target == "-" or values[0] is None else values[0] <= limit
            out.append(Row(f"{label} / {unit}", *values, target, ok, fmt))
    for label, name in (("prediction writes (operator)", "shardcast_prediction_writes_total"),
                        ("model refits (operator)", "shardcast_forecast_refits_total")):
        out.append(Row(f"{label} / policy cycle", *of(_per(operator(name), per_policy_cycle)),
                       "-", None, "{:.1f}"))
    return out


def _per(fn: Callable[[Steady], float | None],
         per: Callable[[Steady | None, float | None], float | None]
         ) -> Callable[[Steady], float | None]:
    return lambda st: per(st, fn(st))


def _write_rows(new: Run, base: Run | None, n: int) -> list[Row]:
    """Writes per steady cycle: the API server's request counters (server-wide: any client in
    any namespace) and the namespace's own object modifications (watches)."""
    limit = WRITES_TARGET_FRACTION * n
    target = f"<= {limit:.0f} (10% N)"

    def of(fn: Callable[[Steady], float | None]) -> tuple[float | None, float | None]:
        def one(run: Run | None) -> float | None:
            return fn(run.steady) if run is not None and run.steady is not None else None
        return one(new), one(base)

    resources = sorted({r for run in (new, base) if run is not None and run.steady
                        for r in write_resources(run.steady)})
    def requests(resource: str) -> Callable[[Steady], float | None]:
        return lambda st: per_round(st, writes(st, resource))

    def modified(kind: str) -> Callable[[Steady], float | None]:
        return lambda st: per_round(st, st.end.modified[kind] - st.start.modified[kind])

    out = [Row(f"API writes/cycle, all ns: {r}"[:50], *of(requests(r)), "-", None)
           for r in resources]
    every = of(lambda st: per_round(st, writes(st, None)))
    out.append(Row("API writes/cycle, all ns: shardcast.io total", *every, target,
                   None if every[0] is None else every[0] <= limit))
    out.append(Row("API writes/cycle, all ns: events", *of(
        lambda st: per_round(st, delta(st, "apiserver", "apiserver_request_total",
                                       lambda lb: lb.get("verb") in WRITE_VERBS
                                       and lb.get("resource") == "events"))), "-", None))
    for kind in (SHARDS, POLICIES, MIGRATIONS, "events"):
        out.append(Row(f"objects changed in ns / cycle: {kind}"[:50], *of(modified(kind)),
                       "-", None))
    worst = of(lambda st: float(max(sum(v for k, v in c.modified.items() if k != "events")
                                    for c in st.cycles)) if st.cycles else None)
    out.append(Row("shardcast objects changed in ns, worst cycle", *worst, target,
                   None if worst[0] is None else worst[0] <= limit, "{:.0f}"))
    return out


def print_table(title: str, table: list[Row], has_base: bool) -> None:
    print(f"\n{title}")
    head = f"  {'':50} {'new':>10}"
    head += f" {'baseline':>10} {'new/base':>9}" if has_base else ""
    print(head + f"   {'target':<16}")
    for row in table:
        def cell(v: float | None, fmt: str = row.fmt) -> str:
            return "n/a" if v is None or not np.isfinite(v) else fmt.format(v)
        line = f"  {row.label:50} {cell(row.new):>10}"
        if has_base:
            ratio = (row.new / row.baseline if row.new is not None and row.baseline
                     and np.isfinite(row.baseline) else None)
            line += f" {cell(row.baseline):>10} {cell(ratio, '{:.3f}'):>9}"
        verdict = "" if row.ok is None else ("ok" if row.ok else "MISSED")
        print(f"{line}   {row.target:<16} {verdict}")


def print_run_notes(run: Run) -> None:
    if run.predicted_s is None:
        print(f"  {run.label}: did not finish in {run.gave_up_s:.0f} s "
              f"({run.predicted} of {run.n} predicted)")
    if run.killed:
        print(f"  {run.label}: KILLED by the bench: its RSS passed --rss-limit "
              f"({run.peak_rss_mib:.0f} MiB)")
    wall = run.predicted_s if run.predicted_s is not None else run.gave_up_s
    print(f"  {run.label}: operator CPU until predicted: {run.predict_cpu_s:.0f} s in "
          f"{wall:.0f} s; Shards listed every 2 s or as fast as listing allowed (slowest "
          f"{run.poll_worst_s:.1f} s)")
    if run.live_failures:
        print(f"  {run.label}: {run.live_failures} liveness probe(s) failed (no answer within 5 s "
              f"counts; first: {run.live_first_failure})")
    for line in run.without:
        print(f"  {run.label}: at the timeout: {line}")
    if run.steady is not None and (foreign := sum(c.work == "?" for c in run.steady.cycles)):
        print(f"  {run.label}: WARNING: {foreign} steady cycle(s) were not counted by this "
              "operator: another process evaluated the policy, its work is in the figures")
    if problem := run.steady_problem or (run.steady.problem if run.steady else ""):
        print(f"  {run.label}: steady phase: {problem}")
    if run.steady is not None:
        print(f"  {run.label}: steady phase {run.steady.end.at - run.steady.start.at:.0f} s: "
              f"{_cycle_summary(run.steady)}\n"
              f"  {run.label}: Ready: {' | '.join(run.steady.ready)}")
    if run.exit_code is not None:
        print(f"  {run.label}: operator exited with code {run.exit_code}; log tail:\n"
              f"{run.log_tail}")
    if run.steady is not None and _restarted(run.steady):
        print(f"  {run.label}: Prometheus restarted during the steady phase (a stack test's "
              "backfill?): its counters are left out")
    missing = []
    ops = run.steady.end.operator if run.steady else None
    for name in ("shardcast_policy_cycle_seconds", "shardcast_prometheus_requests_total",
                 "shardcast_prometheus_samples_total", "shardcast_event_loop_lag_seconds_max"):
        if run.steady is not None and not samples(ops, name):
            missing.append(name)
    if missing:
        print(f"  {run.label}: not exported by the operator: {', '.join(missing)}")


def _cycle_summary(steady: Steady) -> str:
    """How many cycles of which kind, and each non-idle cycle's duration."""
    kinds: dict[str, int] = {}
    for c in steady.cycles:
        kinds[c.work] = kinds.get(c.work, 0) + c.count
    counts = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    busy = ", ".join(f"{c.policy} {c.work} {c.seconds:.2f}s" for c in steady.cycles
                     if c.work != "idle")
    return f"{steady.policy_cycles} policy cycle(s) ({counts}); not idle: {busy or 'none'}"


def _restarted(steady: Steady) -> bool:
    before = total(steady.start.prometheus, "process_start_time_seconds")
    return before != total(steady.end.prometheus, "process_start_time_seconds")


# -- baseline checkout ------------------------------------------------------------------------

@contextlib.contextmanager
def baseline_checkout(ref: str | None) -> Iterator[Path | None]:
    """`git worktree add` of `ref` in a temp directory (removed again); yields its operator/
    directory for PYTHONPATH, after checking that it is what `import shardcast` finds."""
    if ref is None:
        yield None
        return
    where = Path(tempfile.mkdtemp(prefix="operator-scale-baseline-")) / "checkout"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(where), ref],
                   check=True, capture_output=True, text=True)
    try:
        source = where / "operator"
        found = subprocess.run(
            [sys.executable, "-c", "import shardcast; print(shardcast.__file__)"],
            env={**os.environ, "PYTHONPATH": str(source)}, capture_output=True, text=True,
            check=True).stdout.strip()
        if not found.startswith(str(source)):
            raise SystemExit(f"PYTHONPATH={source} still imports shardcast from {found}")
        log(f"baseline {ref} checked out at {where}")
        yield source
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(where)],
                       check=False, capture_output=True)
        with contextlib.suppress(OSError):
            where.parent.rmdir()


# -- one size ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Prepared:
    """What was set up for one size, and how long it took."""

    filled: BulkBackfill
    visible_s: float | None
    settled_s: float | None
    created_s: float
    alone: bool  # no other operator handled a probe Shard before the backfill
    handled_early: int  # Shards handled by someone before our operator started


def prepare(n: int, ns: str, names: list[str], settings: Settings, traces: list[np.ndarray],
            kube: Kube, rng: np.random.Generator) -> Prepared:
    endpoints = stack.Endpoints.of(state_dir())
    window_points = settings.window_s // STEP + 1
    loads = shard_loads(traces, n, window_points + settings.ahead_s // STEP, rng)
    now = aligned_now(STEP)
    log(f"N={n}: namespace {ns}; node load over the window: "
        f"{describe_nodes(loads[:, :window_points])}")
    create_namespace(endpoints.kubeconfig, ns)
    alone = wait_alone(kube, ns, settings.foreign_wait_s)
    filled = backfill(settings, ns, names, loads, now + settings.ahead_s)
    del loads
    log(f"  backfilled {filled.samples:,} samples in {filled.total_seconds:.1f}s; "
        "waiting until Prometheus serves them and has compacted them")
    visible = wait_queryable(endpoints.prometheus_url, ns, n, now - settings.window_s, 180)
    settled = wait_settled(settings.settle_timeout_s)
    created = create_objects(kube, ns, names, settings, rng)
    handled = kube.handled(ns)
    log(f"  {n} Shards created in {created:.1f}s; starting the operator")
    return Prepared(filled, visible, settled, created, alone, handled)


def run_size(n: int, settings: Settings, traces: list[np.ndarray], kube: Kube,
             baseline: Path | None) -> None:
    rng = np.random.default_rng([settings.seed, n])
    ns = f"scale-{n}-{uuid.uuid4().hex[:6]}"
    names = [f"s-{i:05d}" for i in range(n)]
    try:
        prepared = prepare(n, ns, names, settings, traces, kube, rng)
        new = measure(kube, ns, n, settings, "new", None, settings.predict_timeout_s,
                      settings.steady_timeout_s, settings.steady_cycles,
                      settings.forecast_cycles)
        base = None
        if baseline is not None and n <= settings.baseline_max:
            kube.patch_all(ns, SHARDS, names, {"status": {"prediction": None}}, "/status")
            base = measure(kube, ns, n, settings, "baseline", baseline,
                           settings.baseline_timeout_s, settings.baseline_timeout_s,
                           settings.baseline_steady_cycles, settings.forecast_cycles)
        restart = (measure_restart(kube, ns, n, settings, settings.predict_timeout_s)
                   if settings.restart and new.predicted_s is not None else None)
        report(n, ns, settings, prepared, new, base)
        if restart is not None:
            print_restart(n, restart)
    finally:
        if not settings.keep:
            cleanup(kube, stack.Endpoints.of(state_dir()), ns)


def report(n: int, ns: str, settings: Settings, prepared: Prepared, new: Run,
           base: Run | None) -> None:
    kind = "policy" if settings.policies == 1 else "policies"
    print(f"\nN = {n:,}: {settings.policies} dry-run {kind}, namespace {ns}, cycle interval "
          f"{settings.resync_s} s")
    filled = prepared.filled
    rate = filled.samples / filled.total_seconds
    print(f"  backfill: {filled.series:,} series, {filled.samples:,} samples "
          f"({filled.samples // max(filled.series, 1)} per series, {settings.ahead_s // STEP} of "
          f"them ahead of now) in {filled.total_seconds:.1f} s = {rate:,.0f} samples/s "
          f"(formatting {filled.write_seconds:.1f} s, promtool {filled.promtool_seconds:.1f} s, "
          f"{filled.blocks} blocks)")
    print(f"  Prometheus served them after {_seconds(prepared.visible_s)}; its compaction of "
          f"them settled after {_seconds(prepared.settled_s)}")
    print(f"  {n:,} Shards created in {prepared.created_s:.1f} s "
          f"({n / prepared.created_s:,.0f}/s)")
    if not prepared.alone or prepared.handled_early:
        print(f"  WARNING: another operator was serving {ns} (probe handled: "
              f"{not prepared.alone}; Shards handled before ours started: "
              f"{prepared.handled_early}): the figures below include its work")
    print_table(f"  N = {n:,}", rows(new, base, n), base is not None)
    for run in (new, base):
        if run is not None:
            print_run_notes(run)


def _seconds(value: float | None) -> str:
    return "(timed out)" if value is None else f"{value:.1f} s"


def cleanup(kube: Kube, endpoints: stack.Endpoints, ns: str) -> None:
    """Finalizers off (no operator runs any more to take them off), the namespace deleted
    without waiting, the namespace's records in the consensus etcd forgotten."""
    began = time.monotonic()
    try:
        for plural in (SHARDS, POLICIES):
            kube.patch_all(ns, plural, kube.with_finalizers(ns, plural),
                           {"metadata": {"finalizers": None}})
    except (OSError, RuntimeError, urllib3.exceptions.HTTPError) as error:
        log(f"  removing finalizers in {ns} failed: {error}")
    kubectl(endpoints.kubeconfig, "delete", "namespace", ns, "--wait=false", check=False)
    try:
        asyncio.run(_forget(endpoints.consensus_etcd, ns))
    except Exception as error:  # the bench's figures are printed already; say and go on
        log(f"  forgetting {ns} in the consensus etcd failed: {error}")
    log(f"  cleaned up {ns} in {time.monotonic() - began:.1f}s")


async def _forget(etcd: Sequence[str], ns: str) -> None:
    from shardcast.consensus.store import ConsensusStore

    async with ConsensusStore.open(etcd) as store:
        await store.forget(ns)


def main(argv: list[str]) -> int:
    settings = parse_args(argv)
    if not all(stack.status().values()):
        raise SystemExit("the local stack is not running: `shardcast devstack up` first")
    endpoints = stack.Endpoints.of(state_dir())
    install_crds(endpoints.kubeconfig)
    traces = load_traces(settings.traces_dir)
    kube = Kube(endpoints.kubeconfig)
    settings.logs.mkdir(parents=True, exist_ok=True)
    log(f"{len(traces)} traces from {settings.traces_dir}; operator logs in {settings.logs}")
    began = time.monotonic()
    with baseline_checkout(settings.baseline_ref) as baseline:
        for n in settings.sizes:
            run_size(n, settings, traces, kube, baseline)
    print(f"\n  ({time.monotonic() - began:.0f}s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
