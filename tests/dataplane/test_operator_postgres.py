"""The operator moves PostgreSQL shards: ShardMigrations on the real API server, their Jobs
running `shardcast dataplane postgres sync` / `cutover` as local processes against real
servers, the janitor beside them, write transactions flowing through the router all the while.
Every acknowledged transaction is on the new owner exactly once and nothing is left behind."""

from __future__ import annotations

import asyncio
import contextlib
import random
from pathlib import Path
from typing import Any

from shardcast.consensus.store import ConsensusStore
from shardcast.dataplane.postgres import catalog
from shardcast.dataplane.postgres.router import PostgresRouter
from shardcast.devstack import stack
from shardcast.devstack.kubectl import kubectl
from shardcast.devstack.manifests import install_crds, statefulset
from tests.dataplane.nemesis import POLICY as SHARDKV_POLICY
from tests.dataplane.postgres_plane import (
    Ledger,
    PgPlane,
    create_shard,
    janitor,
    job_command,
    leftovers,
    txns,
    writer,
)
from tests.stack.kube import apply, wait_for
from tests.stack.operator_process import operators
from tests.stack.test_migrations import ended, move, shard

MOVES = 4


def _job(kind: str) -> dict[str, Any]:
    return {"template": {"spec": {"containers": [
        {"name": kind, "image": "shardcast:dev", "command": job_command(kind)}]}}}


# The shardkv tests' propose-only policy, its Jobs running shardcast's PostgreSQL commands.
POLICY = {**SHARDKV_POLICY, "spec": {**SHARDKV_POLICY["spec"],
                                     "jobs": {"sync": _job("sync"), "cutover": _job("cutover")}}}


def test_the_operator_moves_postgres_shards_losing_nothing(
        pg_plane: PgPlane, pg_shards: list[str], endpoints: stack.Endpoints,
        tmp_path: Path) -> None:
    ns, kubeconfig = pg_plane.namespace, endpoints.kubeconfig
    names, nodes = pg_shards[:2], list(pg_plane.nodes)
    install_crds(kubeconfig)
    kubectl(kubeconfig, "create", "namespace", ns)
    try:
        for i, name in enumerate(names):
            asyncio.run(create_shard(pg_plane.nodes[nodes[i]], catalog.schema_of(name), 500))
        with operators(endpoints, ns, tmp_path, pg_plane.env()) as running:
            running.start()
            apply(kubeconfig, ns, statefulset("kv", 3), POLICY,
                  *(shard(name, nodes[i]) for i, name in enumerate(names)))
            for name in names:
                wait_for(kubeconfig, ns, f"shard/{name}", lambda o: "epoch" in o.get("status", {}))
            errors, acknowledged = asyncio.run(_moves_under_writes(pg_plane, names, kubeconfig))
    finally:
        kubectl(kubeconfig, "-n", ns, "delete", "shardcast", "--all", "--wait=false")
        kubectl(kubeconfig, "delete", "namespace", ns, "--wait=false")
    assert errors == []
    assert acknowledged > 100


async def _moves_under_writes(plane: PgPlane, names: list[str],
                              kubeconfig: Path) -> tuple[list[str], int]:
    rng, ledger, stop = random.Random(7), Ledger(), asyncio.Event()
    errors: list[str] = []
    async with ConsensusStore.open(plane.etcd) as store, contextlib.AsyncExitStack() as stack_:
        await stack_.enter_async_context(janitor(plane))
        routers = [await stack_.enter_async_context(
            PostgresRouter.open(plane.namespace, plane.nodes, store)) for _ in names]
        load = [asyncio.create_task(writer(router, name, ledger, stop, 0.01, i))
                for i, (router, name) in enumerate(zip(routers, names, strict=True))]
        try:
            for n in range(MOVES):
                name = names[n % len(names)]
                placed = await store.placement(plane.namespace, name)
                assert placed is not None
                target = rng.choice([x for x in plane.nodes if x != placed.value.node])
                migration = f"m{n}-{name}-to-{target}"
                await asyncio.to_thread(apply, kubeconfig, plane.namespace,
                                        move(migration, name, placed.value.node, target))
                done = await asyncio.to_thread(wait_for, kubeconfig, plane.namespace,
                                               f"shardmigration/{migration}", ended, 120)
                assert done["status"]["phase"] == "Active", done["status"]
                await asyncio.sleep(0.5)  # writes resume on the new owner
        finally:
            stop.set()
            await asyncio.gather(*load)
        for name in names:
            placed = await store.placement(plane.namespace, name)
            assert placed is not None
            schema = catalog.schema_of(name)
            present = await txns(plane.nodes[placed.value.node], schema)
            if len(present) != len(set(present)):
                errors.append(f"{name}: duplicated transactions on {placed.value.node}")
            if lost := ledger.acked.get(name, set()) - set(present):
                errors.append(f"{name}: {len(lost)} acknowledged transaction(s) lost")
            for _ in range(100):  # the janitor drops the publication after the last commit
                if not (left := await leftovers(plane.nodes, schema)):
                    break
                await asyncio.sleep(0.2)
            errors += left
    return errors + ledger.errors, sum(map(len, ledger.acked.values()))
