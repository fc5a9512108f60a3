"""A short seeded slice of the fault campaign (bench/fault_campaign.py runs the full one):
real operator processes, the reference data plane under writes, faults at random times, and
no invariant broken."""

from __future__ import annotations

import asyncio
from pathlib import Path

from shardkv.local import Cluster

from shardcast.devstack import stack
from shardcast.devstack.kubectl import kubectl
from shardcast.devstack.manifests import install_crds
from tests.dataplane.nemesis import Campaign, Settings
from tests.stack.operator_process import operators

SLICE = Settings(migrations=14, faults=8, lanes=2, shards=4, seed=11)


def test_a_seeded_fault_campaign_breaks_no_invariant(cluster: Cluster, endpoints: stack.Endpoints,
                                                     tmp_path: Path) -> None:
    ns, kubeconfig = cluster.namespace, endpoints.kubeconfig
    install_crds(kubeconfig)
    kubectl(kubeconfig, "create", "namespace", ns)
    try:
        with operators(endpoints, ns, tmp_path, cluster.env()) as running:
            report = asyncio.run(Campaign(cluster, endpoints, running, SLICE).run())
    finally:
        kubectl(kubeconfig, "-n", ns, "delete", "shardcast", "--all", "--wait=false")
        kubectl(kubeconfig, "delete", "namespace", ns, "--wait=false")
    print(report.summary())
    assert report.violations == []
    assert sum(report.outcomes.values()) >= SLICE.migrations
    assert sum(report.faults.values()) == SLICE.faults
    assert report.acknowledged > 100
