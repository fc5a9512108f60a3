"""The chart's ClusterRole is enough and no more: the operator, authenticated as the chart's
ServiceAccount and started with the chart's own arguments and environment, carries a migration
through every phase with real Jobs; what it does not need, the API server refuses it."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from shardcast.devstack import stack
from shardcast.devstack.kubectl import kubectl
from shardcast.devstack.manifests import statefulset
from shardcast.devstack.process import StackError
from tests.stack.kube import apply, get, wait_for
from tests.stack.ports import free_port
from tests.stack.test_helm import helm_env, installed  # noqa: F401  (helm_env is a fixture)
from tests.stack.test_migrations import PHASES, ended, move, policy, shard


def token_kubeconfig(admin: Path, token: str, path: Path) -> Path:
    """The admin kubeconfig's cluster (server and CA) with the ServiceAccount's token as user."""
    config = yaml.safe_load(admin.read_text())
    cluster = config["clusters"][0]["cluster"]
    if "certificate-authority" in cluster:  # relative to the file it came from
        cluster["certificate-authority"] = str(admin.parent / cluster["certificate-authority"])
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": [{"name": "stack", "cluster": cluster}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "stack", "user": "sa"}}]}))
    return path



def chart_command(kubeconfig: Path, namespace: str) -> tuple[list[str], dict[str, str]]:
    """The installed Deployment's arguments and environment, its ports free local ones."""
    deployment = get(kubeconfig, namespace, "deployment/shardcast")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["shardcast", "run"]
    args = [a if not a.startswith("--liveness=")
            else f"--liveness=http://127.0.0.1:{free_port()}/healthz" for a in container["args"]]
    env = {e["name"]: e["value"] for e in container["env"]}
    if "SHARDCAST_METRICS_ADDRESS" in env:  # several processes share this machine
        env["SHARDCAST_METRICS_ADDRESS"] = f"127.0.0.1:{free_port()}"
    return [sys.executable, "-m", "shardcast", "run", *args], env


@pytest.fixture
def sa_operator(helm_env: dict[str, str], kubeconfig: Path, namespace: str,  # noqa: F811
                endpoints: stack.Endpoints, tmp_path: Path) -> Iterator[Path]:
    """The chart installed for `namespace`, its operator running as its ServiceAccount; the
    operator's log path. Shardcast objects are deleted while it still runs (its finalizers)."""
    values = ("--set", f"watchNamespaces={{{namespace}}}",
              "--set", f"etcd.endpoints={{{','.join(endpoints.consensus_etcd)}}}",
              "--set", f"prometheus.url={endpoints.prometheus_url}",
              "--set-json", "resyncSeconds=2", "--set-json", "migrationTickSeconds=0.5",
              "--set", "verbose=true")
    with installed(helm_env, kubeconfig, namespace, *values):
        token = kubectl(kubeconfig, "-n", namespace, "create", "token", "shardcast").strip()
        argv, chart_env = chart_command(kubeconfig, namespace)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHARDCAST_")}
        env.update(chart_env, KUBECONFIG=str(token_kubeconfig(kubeconfig, token,
                                                              tmp_path / "sa.kubeconfig")))
        log = tmp_path / "operator.log"
        with log.open("w") as out:
            proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield log
        finally:
            with contextlib.suppress(StackError):  # the namespace fixture tries again
                kubectl(kubeconfig, "-n", namespace, "delete", "shardcast", "--all",
                        "--timeout=30s")
            proc.terminate()
            proc.wait(timeout=30)


def test_the_operator_moves_a_shard_with_only_the_charts_permissions(
        sa_operator: Path, kubeconfig: Path, namespace: str) -> None:
    apply(kubeconfig, namespace, statefulset("kv", 1), shard("kv-0", "node-a"), policy(),
          move("kv-0-to-b", "kv-0", "node-a", "node-b"))
    done = wait_for(kubeconfig, namespace, "shardmigration/kv-0-to-b", ended, 120)
    log = sa_operator.read_text()
    # Nothing was refused or degraded, and this process did the work (not another operator that
    # happens to watch every namespace of the shared stack).
    for refusal in ("forbidden", "not enough permissions"):  # the API server's and kopf's words
        assert refusal not in log.lower(), log[-4000:]
    assert "Timer 'drive_migration' succeeded" in log, log[-4000:]
    assert done["status"]["phase"] == "Active", (done["status"], log[-4000:])
    assert [t["phase"] for t in done["status"]["phaseTimes"]] == PHASES
    for kind in ("sync", "cutover"):  # real Jobs, created and read with the chart's RBAC
        assert get(kubeconfig, namespace, f"job/{done['status'][f'{kind}Job']}")["status"].get(
            "succeeded") == 1
    moved = wait_for(kubeconfig, namespace, "shard/kv-0",
                     lambda o: o.get("status", {}).get("node") == "node-b")
    assert moved["status"]["epoch"] == 2
    # Where this operator serves /metrics, the chart's environment must have switched it on.
    if served := re.search(r"metrics at (http://\S+/metrics)", log):
        with urllib.request.urlopen(served[1], timeout=10) as response:
            assert "# TYPE shardcast_" in response.read().decode()


def can_i(kubeconfig: Path, namespace: str, *request: str) -> bool:
    answer = kubectl(kubeconfig, "auth", "can-i", "-n", namespace,
                     f"--as=system:serviceaccount:{namespace}:shardcast", *request, check=False)
    return answer.strip() == "yes"


ALLOWED = [("watch", "shards.shardcast.io"), ("patch", "shardmigrations.shardcast.io"),
           ("patch", "shards.shardcast.io", "--subresource=status"),
           ("create", "shardmigrations.shardcast.io"),
           ("delete", "shardmigrations.shardcast.io"), ("create", "jobs.batch"),
           ("get", "jobs.batch", "--subresource=status"), ("delete", "jobs.batch"),
           ("list", "statefulsets.apps"), ("watch", "statefulsets.apps"),
           ("patch", "statefulsets.apps"), ("list", "nodes"),
           ("create", "events"), ("watch", "customresourcedefinitions.apiextensions.k8s.io")]
DENIED = [("get", "secrets"), ("list", "secrets"), ("delete", "shards.shardcast.io"),
          ("create", "shards.shardcast.io"), ("update", "shards.shardcast.io"),
          ("create", "pods"), ("get", "pods"),
          ("create", "pods", "--subresource=exec"), ("patch", "jobs.batch"),
          ("delete", "statefulsets.apps"), ("update", "statefulsets.apps"), ("patch", "nodes"),
          ("delete", "events"), ("patch", "kopfpeerings.kopf.dev/someone-else"),
          ("patch", "clusterkopfpeerings.kopf.dev/someone-else"),
          ("create", "customresourcedefinitions.apiextensions.k8s.io"),
          ("create", "clusterroles.rbac.authorization.k8s.io"), ("create", "serviceaccounts")]


# Serving listed namespaces, kopf peers through a KopfPeering in each and follows namespaces;
# serving all, through the one ClusterKopfPeering, and it needs no namespace list.
NAMESPACED = [("watch", "kopfpeerings.kopf.dev"), ("patch", "kopfpeerings.kopf.dev/shardcast"),
              ("watch", "namespaces")]
CLUSTERWIDE = [("watch", "clusterkopfpeerings.kopf.dev"),
               ("patch", "clusterkopfpeerings.kopf.dev/shardcast")]


@pytest.mark.parametrize("clusterwide", [False, True], ids=["namespaced", "clusterwide"])
def test_the_service_account_may_do_what_it_needs_and_nothing_else(
        helm_env: dict[str, str], kubeconfig: Path, namespace: str,  # noqa: F811
        clusterwide: bool) -> None:
    # The cluster-wide peering object may exist already (another installation); not created.
    values = (("--set", "peering.create=false") if clusterwide
              else ("--set", f"watchNamespaces={{{namespace}}}"))
    allowed = ALLOWED + (CLUSTERWIDE if clusterwide else NAMESPACED)
    denied = DENIED + (NAMESPACED if clusterwide else CLUSTERWIDE)
    with installed(helm_env, kubeconfig, namespace, *values):
        refused = [r for r in allowed if not can_i(kubeconfig, namespace, *r)]
        granted = [r for r in denied if can_i(kubeconfig, namespace, *r)]
    assert (refused, granted) == ([], [])
