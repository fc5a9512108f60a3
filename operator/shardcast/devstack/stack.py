"""The local stack: which parts run, on which loopback ports, in which order.

Order matters: the API server needs its etcd, the controller manager and scheduler need the API
server, kwok needs both to turn pods into Running/Succeeded on fake Nodes. shardcast's consensus
etcd and Prometheus are independent of Kubernetes.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shardcast.devstack import packages, probes, process
from shardcast.devstack.build import Binaries, LogFn, binary_paths, ensure_binaries
from shardcast.devstack.history import stack_series
from shardcast.devstack.nodes import FAKE_NODES, apply_nodes, wait_nodes_ready
from shardcast.devstack.paths import state_dir
from shardcast.devstack.pki import Pki, ensure_pki
from shardcast.devstack.process import Part
from shardcast.devstack.prometheus import backfill, not_backfilled, prometheus_part

API_PORT = 16443
API_ETCD_PORT = 23790
CONSENSUS_ETCD_PORTS = (32379, 32389, 32399)  # peer port is client port + 1
PROMETHEUS_PORT = 19090
KCM_PORT = 20257
SCHEDULER_PORT = 20259
KWOK_PORT = 20247
SERVICE_CIDR = "10.0.0.0/24"


@dataclass(frozen=True)
class Endpoints:
    """How clients reach a running stack; tests and the operator read this, not the constants."""

    kubeconfig: Path
    prometheus_url: str
    consensus_etcd: tuple[str, ...]

    @classmethod
    def of(cls, state: Path) -> Endpoints:
        return cls(kubeconfig=state / "kubeconfig",
                   prometheus_url=f"http://127.0.0.1:{PROMETHEUS_PORT}",
                   consensus_etcd=tuple(f"127.0.0.1:{p}" for p in CONSENSUS_ETCD_PORTS))


def prepare(log: LogFn = print) -> Binaries:
    """Install the Debian packages and build the binaries the stack runs, if missing: the
    slow, once-per-machine part of `up` (a cold build takes minutes), nothing started."""
    packages.ensure_debian_packages(log)
    return ensure_binaries(log)


def up(log: LogFn = print) -> Endpoints:
    """Bring every part up (idempotent: running parts are reused), then create the fake nodes."""
    started = time.monotonic()
    binaries = prepare(log)
    state = state_dir()
    pki = ensure_pki(state / "pki")
    endpoints = Endpoints.of(state)
    write_kubeconfig(endpoints.kubeconfig, pki)
    all_parts = parts(state, pki, binaries, endpoints)
    # Only what is missing, so an existing stack picks up series added since it was made.
    if missing := not_backfilled(state, stack_series()):
        log(f"backfilling Prometheus with {len(missing)} series from the real traces")
        backfill(state, all_parts[-1], missing)
    for part in all_parts:
        if process.start(part, state):
            log(f"started {part.name}")
    _wait_consensus_quorum(state)
    apply_nodes(endpoints.kubeconfig)
    wait_nodes_ready(endpoints.kubeconfig, [node.name for node in FAKE_NODES])
    log(f"stack ready in {time.monotonic() - started:.1f}s; "
        f"export KUBECONFIG={endpoints.kubeconfig}")
    return endpoints


def down(log: LogFn = print, wipe: bool = False) -> None:
    """Stop every part, dependants first. `wipe` also deletes data so the next start is clean."""
    state = state_dir()
    for part in reversed(parts(state, Pki.at(state / "pki"), binary_paths(),
                               Endpoints.of(state))):
        if process.running_pid(part, state) is not None:
            process.stop(part, state)
            log(f"stopped {part.name}")
    if wipe and state.exists():
        shutil.rmtree(state)
        log(f"removed {state}")


def status() -> dict[str, int | None]:
    """Pid of each part, or None where it is not running."""
    state = state_dir()
    return {part.name: process.running_pid(part, state)
            for part in parts(state, Pki.at(state / "pki"), binary_paths(), Endpoints.of(state))}


def parts(state: Path, pki: Pki, bins: Binaries, endpoints: Endpoints) -> list[Part]:
    """Every part in start order."""
    kubeconfig = str(endpoints.kubeconfig)
    return [
        _etcd_part("etcd-apiserver", state / "etcd-apiserver", API_ETCD_PORT,
                   {"etcd-apiserver": API_ETCD_PORT}),
        Part("kube-apiserver", [
            str(bins.kube_apiserver),
            f"--etcd-servers=http://127.0.0.1:{API_ETCD_PORT}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--secure-port={API_PORT}",
            f"--tls-cert-file={pki.serving_cert}", f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_cert}",
            "--authorization-mode=Node,RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki.service_account_pub}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--allow-privileged=true",
            "--profiling=false",
        ], ready=lambda: probes.https_ok(f"https://127.0.0.1:{API_PORT}/readyz", pki),
            timeout_seconds=90),
        Part("kube-controller-manager", [
            str(bins.kube_controller_manager), f"--kubeconfig={kubeconfig}",
            "--leader-elect=false", "--bind-address=127.0.0.1", f"--secure-port={KCM_PORT}",
            f"--cert-dir={state / 'kcm-certs'}",
            f"--service-account-private-key-file={pki.service_account_key}",
            f"--root-ca-file={pki.ca_cert}", "--use-service-account-credentials=false",
            # kwok's nodes miss a heartbeat now and then under load; this controller would then
            # mark their pods NotReady, and kwok never marks them Ready again.
            "--controllers=*,-node-lifecycle-controller",
            f"--cluster-signing-cert-file={pki.ca_cert}",
            f"--cluster-signing-key-file={pki.ca_key}",
        ], ready=lambda: probes.https_ok(f"https://127.0.0.1:{KCM_PORT}/healthz", None)),
        Part("kube-scheduler", [
            str(bins.kube_scheduler), f"--kubeconfig={kubeconfig}", "--leader-elect=false",
            "--bind-address=127.0.0.1", f"--secure-port={SCHEDULER_PORT}",
            f"--cert-dir={state / 'scheduler-certs'}",
        ], ready=lambda: probes.https_ok(f"https://127.0.0.1:{SCHEDULER_PORT}/healthz", None)),
        Part("kwok", [
            str(bins.kwok), f"--kubeconfig={kubeconfig}", "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            "--cidr=10.244.0.0/16", "--node-ip=10.244.0.1",
            f"--server-address=127.0.0.1:{KWOK_PORT}",
        ], ready=lambda: probes.http_ok(f"http://127.0.0.1:{KWOK_PORT}/healthz")),
        *_consensus_etcd_parts(state),
        prometheus_part(state, PROMETHEUS_PORT),
    ]


def write_kubeconfig(path: Path, pki: Pki) -> None:
    """An admin kubeconfig with the CA inline-by-path, so kubectl verifies the serving cert."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "shardcast-devstack",
        "clusters": [{"name": "shardcast-devstack", "cluster": {
            "server": f"https://127.0.0.1:{API_PORT}",
            "certificate-authority": str(pki.ca_cert)}}],
        "users": [{"name": "shardcast-admin", "user": {
            "client-certificate": str(pki.admin_cert), "client-key": str(pki.admin_key)}}],
        "contexts": [{"name": "shardcast-devstack", "context": {
            "cluster": "shardcast-devstack", "user": "shardcast-admin"}}],
    }, indent=2))


def _etcd_part(name: str, data: Path, port: int, cluster: dict[str, int]) -> Part:
    token = f"shardcast-{min(cluster)}"  # the same for every member, or they form separate clusters
    peers = ",".join(f"{member}=http://127.0.0.1:{p + 1}" for member, p in cluster.items())
    argv = [
        packages.ETCD, f"--name={name}", f"--data-dir={data}",
        f"--listen-client-urls=http://127.0.0.1:{port}",
        f"--advertise-client-urls=http://127.0.0.1:{port}",
        f"--listen-peer-urls=http://127.0.0.1:{port + 1}",
        f"--initial-advertise-peer-urls=http://127.0.0.1:{port + 1}",
        f"--initial-cluster={peers}", f"--initial-cluster-token={token}",
        "--initial-cluster-state=new", "--heartbeat-interval=100", "--election-timeout=1000",
        "--auto-compaction-retention=1", "--logger=zap", "--log-outputs=stderr",
    ]
    # A lone member is healthy by itself. A cluster member serves clients only once a quorum has
    # formed, which needs its peers started, so it only waits for its own peer listener here.
    ready: Callable[[], bool]
    if len(cluster) == 1:
        ready = lambda: probes.http_ok(f"http://127.0.0.1:{port}/health")  # noqa: E731
    else:
        ready = lambda: probes.tcp_open(port + 1)  # noqa: E731
    return Part(name, argv, ready=ready, timeout_seconds=30)


def part(name: str) -> Part:
    """One part of the running stack by name, for stopping, starting or freezing it (the
    fault campaign)."""
    state = state_dir()
    found = [p for p in parts(state, Pki.at(state / "pki"), binary_paths(), Endpoints.of(state))
             if p.name == name]
    if not found:
        raise KeyError(f"the stack has no part {name!r}")
    return found[0]


def consensus_members() -> list[Part]:
    """The consensus etcd members, for stopping and starting one (fault-injection tests)."""
    return _consensus_etcd_parts(state_dir())


def _consensus_etcd_parts(state: Path) -> list[Part]:
    cluster = {f"consensus-{i}": port for i, port in enumerate(CONSENSUS_ETCD_PORTS)}
    return [_etcd_part(name, state / name, port, cluster) for name, port in cluster.items()]


def _wait_consensus_quorum(state: Path) -> None:
    process.wait_until("consensus etcd quorum",
                       lambda: probes.http_ok(f"http://127.0.0.1:{CONSENSUS_ETCD_PORTS[0]}/health"),
                       timeout_seconds=30, log=state / "logs" / "consensus-0.log")
