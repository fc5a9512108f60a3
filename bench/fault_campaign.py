"""The randomized fault campaign, in full: the real operator (`shardcast run` processes) moves
shards of the reference data plane under writes and reads while faults strike at seeded random
times — operator SIGKILL and SIGSTOP/SIGCONT, a consensus etcd member killed or frozen, the
kube-apiserver restarted, Prometheus stopped, a sync or cutover Job killed, a ShardMigration
deleted mid-move, a target Node cordoned mid-move — and a share of the manual moves name a Node
that does not exist.

Prints the faults injected, the migrations by outcome, every invariant violation (must be 0)
and the time to a terminal phase after the faults heal. A failing run replays with its seed.
Needs the local stack (`shardcast devstack up`); the suite runs a short slice of it
(tests/dataplane/test_fault_campaign.py).

    python bench/fault_campaign.py [--migrations 200] [--faults 100] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "dataplane"))

from shardkv.local import running
from tests.dataplane.nemesis import Campaign, Settings
from tests.stack.operator_process import operators

from shardcast.devstack import stack
from shardcast.devstack.kubectl import kubectl
from shardcast.devstack.manifests import install_crds
from shardcast.devstack.paths import state_dir

NODES = ("node-a", "node-b", "node-c", "node-d")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--migrations", type=int, default=200,
                        help="at least this many; moves go on until the faults are done")
    parser.add_argument("--faults", type=int, default=100)
    parser.add_argument("--lanes", type=int, default=3, help="moves under way at once")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    settings = Settings(migrations=args.migrations, faults=args.faults, lanes=args.lanes,
                        shards=args.shards, seed=args.seed)
    endpoints = stack.Endpoints.of(state_dir())
    namespace = f"nemesis-{uuid.uuid4().hex[:8]}"
    install_crds(endpoints.kubeconfig)
    kubectl(endpoints.kubeconfig, "create", "namespace", namespace)
    with tempfile.TemporaryDirectory() as logs:
        try:
            with running(namespace, endpoints.consensus_etcd, NODES, Path(logs)) as cluster, \
                    operators(endpoints, namespace, Path(logs), cluster.env()) as procs:
                report = asyncio.run(Campaign(cluster, endpoints, procs, settings).run())
        finally:
            kubectl(endpoints.kubeconfig, "-n", namespace, "delete", "shardcast", "--all",
                    "--wait=false")
            kubectl(endpoints.kubeconfig, "delete", "namespace", namespace, "--wait=false")
    print(f"seed {args.seed}: {args.migrations} migrations, {args.faults} faults, "
          f"{args.lanes} lanes, {args.shards} shards")
    print(report.summary())
    return 0 if not report.violations else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
