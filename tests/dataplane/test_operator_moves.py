"""The operator moves shards of the reference data plane: ShardMigrations on the real API
server, its Jobs running `python -m shardkv.sync` / `shardkv.cutover` as local processes, traffic
weights and placement through the consensus etcd, writes and reads flowing all the while."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from shardkv.client import NodeClient
from shardkv.local import Cluster
from shardkv.router import Router

from shardcast.consensus.store import ConsensusStore
from shardcast.devstack import stack
from shardcast.devstack.kubectl import kubectl
from shardcast.devstack.manifests import install_crds, statefulset
from tests.dataplane.nemesis import POLICY
from tests.dataplane.workload import Ledger, leftovers, lost_writes, read, write
from tests.stack.kube import apply, wait_for
from tests.stack.operator_process import operators
from tests.stack.test_migrations import ended, move, shard

MOVES = 8


def test_operator_driven_moves_lose_no_writes(cluster: Cluster, endpoints: stack.Endpoints,
                                               tmp_path: Path) -> None:
    ns, kubeconfig = cluster.namespace, endpoints.kubeconfig
    install_crds(kubeconfig)
    kubectl(kubeconfig, "create", "namespace", ns)
    nodes = list(cluster.addresses)
    try:
        with operators(endpoints, ns, tmp_path, cluster.env()) as running:
            running.start()
            apply(kubeconfig, ns, statefulset("kv", 4), POLICY,
                  *(shard(f"s{i}", node) for i, node in enumerate(nodes)))
            for i in range(len(nodes)):
                wait_for(kubeconfig, ns, f"shard/s{i}", lambda o: "epoch" in o.get("status", {}))
            errors, acknowledged = asyncio.run(_moves_under_traffic(cluster, kubeconfig))
    finally:
        kubectl(kubeconfig, "-n", ns, "delete", "shardcast", "--all", "--wait=false")
        kubectl(kubeconfig, "delete", "namespace", ns, "--wait=false")
    assert errors == []
    assert acknowledged > 200


async def _moves_under_traffic(cluster: Cluster, kubeconfig: Path) -> tuple[list[str], int]:
    rng = random.Random(5)
    shards = [f"s{i}" for i in range(len(cluster.addresses))]
    async with ConsensusStore.open(cluster.etcd) as store, \
            NodeClient.open(cluster.addresses) as client, \
            Router.open(store, cluster.namespace, client) as router:
        ledger, stop = Ledger(), asyncio.Event()
        traffic = [asyncio.create_task(write(router, ledger, shards, w, stop, random.Random(w)))
                   for w in range(2)]
        traffic.append(asyncio.create_task(read(router, ledger, stop, random.Random(9))))
        try:
            for n in range(MOVES):
                name = shards[n % len(shards)]
                placed = router.placement(name)
                assert placed is not None
                target = rng.choice([x for x in cluster.addresses if x != placed.node])
                migration = f"m{n}-{name}-to-{target}"
                await asyncio.to_thread(apply, kubeconfig, cluster.namespace,
                                        move(migration, name, placed.node, target))
                done = await asyncio.to_thread(wait_for, kubeconfig, cluster.namespace,
                                               f"shardmigration/{migration}", ended, 90)
                assert done["status"]["phase"] == "Active", done["status"]
                await asyncio.sleep(0.3)  # the router's view catches up with the commit
        finally:
            stop.set()
            await asyncio.gather(*traffic)
        _, errors = await lost_writes(client, router, ledger)
        errors += ledger.errors + await leftovers(client, router, shards)
        return errors, len(ledger.seqs)
