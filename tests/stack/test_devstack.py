"""The local stack is real: kwok runs StatefulSet pods and completes Jobs, RBAC is enforced,
Prometheus answers PromQL range queries over the backfilled traces, and etcd has quorum."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import aetcd
import numpy as np
from prometheus_api_client import PrometheusConnect

from shardcast.devstack import stack
from shardcast.devstack.history import TRACE_METRIC
from shardcast.devstack.kubectl import kubectl
from shardcast.devstack.manifests import statefulset
from shardcast.devstack.paths import state_dir
from shardcast.devstack.prometheus import backfilled
from shardcast.traces import TRACES, default_traces_dir, load_trace
from tests.stack.kube import apply, get, wait_for


def test_statefulset_pods_run_on_kwok_nodes(kubeconfig: Path, namespace: str) -> None:
    apply(kubeconfig, namespace, statefulset("kv", replicas=3))
    sts = wait_for(kubeconfig, namespace, "statefulset/kv",
                   lambda o: o.get("status", {}).get("readyReplicas") == 3)
    assert sts["status"]["currentReplicas"] == 3
    pod = get(kubeconfig, namespace, "pod/kv-0")
    assert pod["status"]["phase"] == "Running"
    assert pod["spec"]["nodeName"] in {"node-a", "node-b", "node-c", "node-d"}


def test_job_completes_through_kwok(kubeconfig: Path, namespace: str) -> None:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "sync"},
           "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
               {"name": "sync", "image": "example.invalid/sync:1"}]}}}}
    apply(kubeconfig, namespace, job)
    done = wait_for(kubeconfig, namespace, "job/sync",
                    lambda o: o.get("status", {}).get("succeeded") == 1)
    assert any(c["type"] == "Complete" and c["status"] == "True"
               for c in done["status"]["conditions"])


def test_rbac_is_enforced(kubeconfig: Path, namespace: str) -> None:
    """A service account with no bindings may not read secrets: authorization is really on."""
    kubectl(kubeconfig, "-n", namespace, "create", "serviceaccount", "nobody")
    answer = kubectl(kubeconfig, "auth", "can-i", "get", "secrets", "-n", namespace,
                     f"--as=system:serviceaccount:{namespace}:nobody", check=False)
    assert answer.strip() == "no"
    assert kubectl(kubeconfig, "auth", "can-i", "get", "secrets", "-n", namespace).strip() == "yes"


def test_serving_certificate_is_verified(endpoints: stack.Endpoints) -> None:
    """The kubeconfig trusts only the stack's CA; no insecure-skip-tls-verify anywhere."""
    config = endpoints.kubeconfig.read_text()
    assert "insecure-skip-tls-verify" not in config
    assert "certificate-authority" in config


def test_prometheus_range_query_returns_the_trace_exactly(endpoints: stack.Endpoints) -> None:
    spec = next(s for s in TRACES if s.name == "nab/ec2_cpu_utilization_5f5533")
    trace = load_trace(spec, default_traces_dir())
    entry = next(e for e in backfilled(state_dir()) if e["labels"] == {"trace": spec.name})
    end = int(entry["end_seconds"])  # type: ignore[call-overload]
    start = end - (len(trace.values) - 1) * trace.step_seconds
    prom = PrometheusConnect(url=endpoints.prometheus_url, disable_ssl=True)
    result = prom.custom_query_range(
        f'{TRACE_METRIC}{{trace="{spec.name}"}}',
        start_time=dt.datetime.fromtimestamp(start, dt.UTC),
        end_time=dt.datetime.fromtimestamp(end, dt.UTC), step=str(trace.step_seconds))
    assert len(result) == 1
    values = np.array([float(v) for _, v in result[0]["values"]])
    assert len(values) == len(trace.values)
    np.testing.assert_array_equal(values, trace.values)


def test_consensus_etcd_has_quorum_and_compare_and_swap(endpoints: stack.Endpoints) -> None:
    async def exercise() -> None:
        hosts = ",".join(endpoints.consensus_etcd[:-1])
        last_host, last_port = endpoints.consensus_etcd[-1].split(":")
        async with aetcd.Client(host=f"ipv4:{hosts},{last_host}", port=int(last_port),
                                timeout=5) as client:
            key = b"/shardcast/test/cas"
            await client.delete(key)
            tx = client.transactions
            created, _ = await client.transaction(compare=[tx.create(key) == 0],
                                                  success=[tx.put(key, b"epoch-1")], failure=[])
            again, _ = await client.transaction(compare=[tx.create(key) == 0],
                                                success=[tx.put(key, b"epoch-2")], failure=[])
            assert (created, again) == (True, False)
            assert (await client.get(key)).value == b"epoch-1"

    asyncio.run(exercise())

