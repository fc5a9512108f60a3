"""One local stack per session (a running one is reused), CRDs installed, a namespace per test."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kopf.testing import KopfRunner

from shardcast.devstack import stack
from shardcast.devstack.kubectl import kubectl
from shardcast.devstack.manifests import install_crds
from shardcast.devstack.process import StackError
from tests.conftest import PREPARE_FAILED


@pytest.fixture(scope="session")
def endpoints(pytestconfig: pytest.Config) -> Iterator[stack.Endpoints]:
    """Reuse a running stack as is; one this session started is stopped again at its end."""
    if PREPARE_FAILED in pytestconfig.stash:
        pytest.fail(f"the local stack could not be prepared: {pytestconfig.stash[PREPARE_FAILED]}")
    already_running = all(stack.status().values())
    result = stack.up()
    os.environ["KUBECONFIG"] = str(result.kubeconfig)
    yield result
    if not already_running and not os.environ.get("SHARDCAST_KEEP_STACK"):
        stack.down()


@pytest.fixture(scope="session")
def kubeconfig(endpoints: stack.Endpoints) -> Path:
    return endpoints.kubeconfig


@pytest.fixture(scope="session")
def crds(kubeconfig: Path) -> None:
    install_crds(kubeconfig)


@pytest.fixture
def namespace(kubeconfig: Path, crds: None) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    kubectl(kubeconfig, "create", "namespace", name)
    yield name
    # shardcast's objects go first, while the operator that holds their finalizers still runs:
    # left to the namespace's deletion, their timers would outlive the test and stall shutdown.
    with contextlib.suppress(StackError):
        kubectl(kubeconfig, "-n", name, "delete", "shardcast", "--all", "--timeout=20s")
    kubectl(kubeconfig, "delete", "namespace", name, "--wait=false")


@pytest.fixture(scope="module")
def operator(endpoints: stack.Endpoints, crds: None) -> Iterator[KopfRunner]:
    """shardcast's handlers in kopf's test runner, against the stack's API server and Prometheus."""
    os.environ["SHARDCAST_RESYNC_SECONDS"] = "2"  # read when the handlers module is imported
    os.environ["SHARDCAST_PROMETHEUS_URL"] = endpoints.prometheus_url
    os.environ["SHARDCAST_ETCD_ENDPOINTS"] = ",".join(endpoints.consensus_etcd)
    os.environ["SHARDCAST_MIGRATION_TICK_SECONDS"] = "0.5"
    args = ["run", "--all-namespaces", "--standalone", "-m", "shardcast.handlers"]
    with KopfRunner(args, timeout=60) as runner:
        yield runner
    assert runner.exit_code == 0, runner.output
    assert runner.exception is None
