"""/metrics of a real operator process after it moved a shard."""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import urllib.request
from pathlib import Path

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

import shardcast.handlers.metrics  # noqa: F401  (registers shardcast's metrics)
from shardcast.devstack import stack
from shardcast.devstack.manifests import statefulset
from tests.stack.kube import apply, wait_for
from tests.stack.operator_process import operators
from tests.stack.ports import free_port
from tests.stack.test_migrations import ended, move, policy, shard

REPO = Path(__file__).resolve().parents[2]



def scrape(address: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = urllib.request.urlopen(f"http://{address}/metrics", timeout=5).read().decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_metrics_count_phases_and_show_watch_activity(
        endpoints: stack.Endpoints, kubeconfig: Path, namespace: str, tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    env = {"SHARDCAST_METRICS_ADDRESS": address, "SHARDCAST_JOB_EXECUTOR": "kubernetes"}
    with operators(endpoints, namespace, tmp_path, env) as running:
        running.start()
        apply(kubeconfig, namespace, statefulset("kv", 1), shard("kv-0", "node-a"), policy(),
              move("kv-0-to-b", "kv-0", "node-a", "node-b"))
        done = wait_for(kubeconfig, namespace, "shardmigration/kv-0-to-b", ended, 90)
        assert done["status"]["phase"] == "Active"
        samples = scrape(address)
    ns = (("namespace", namespace),)
    for phase in ("Pending", "Syncing", "Redirecting", "CuttingOver", "Active"):
        assert samples[("shardcast_migration_phase_entered_total",
                        (*ns, ("phase", phase)))] == 1
    assert samples[("shardcast_migration_phase_seconds_count", (("phase", "Redirecting"),))] == 1
    redirecting = samples[("shardcast_migration_phase_seconds_sum", (("phase", "Redirecting"),))]
    assert 2 <= redirecting < 60  # two steps held for a 1 s gate each, at least
    last_event = samples[("shardcast_last_watch_event_timestamp_seconds",
                          (("kind", "shardmigrations"),))]
    assert time.time() - last_event < 60


def test_dashboard_queries_parse_on_prometheus_and_name_real_metrics(
        endpoints: stack.Endpoints) -> None:
    dashboard = json.loads((REPO / "docs" / "grafana" / "shardcast.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    known = {name for collector in REGISTRY._collector_to_names for name in
             REGISTRY._collector_to_names[collector]}
    for expr in exprs:
        for name in re.findall(r"shardcast_[a-z_]+", expr):
            assert name in known, f"{name} in {expr!r} is not a shardcast metric"
        url = f"{endpoints.prometheus_url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        answer = json.loads(urllib.request.urlopen(url, timeout=5).read())
        assert answer["status"] == "success", (expr, answer)
