"""shardkv node processes on loopback (the demo, the tests, the bench): started on free ports,
ready once each has read the consensus record, terminated at the end."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from shardkv.client import NodeClient

DATAPLANE = Path(__file__).resolve().parents[1]  # what PYTHONPATH needs for `-m shardkv.*`


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def python_path() -> str:
    """PYTHONPATH that makes `python -m shardkv.*` importable in a child process."""
    return os.pathsep.join(p for p in (str(DATAPLANE), os.environ.get("PYTHONPATH")) if p)


@dataclass(frozen=True)
class Cluster:
    namespace: str
    addresses: dict[str, str]
    etcd: tuple[str, ...]

    def env(self) -> dict[str, str]:
        """What the data plane adds to a Job's environment."""
        return {"SHARDKV_NODES": ",".join(f"{n}={a}" for n, a in self.addresses.items()),
                "SHARDCAST_ETCD_ENDPOINTS": ",".join(self.etcd),
                "PYTHONPATH": python_path()}


@contextlib.contextmanager
def running(namespace: str, etcd: Sequence[str], names: Sequence[str],
            logs: Path) -> Iterator[Cluster]:
    cluster = Cluster(namespace, {name: f"127.0.0.1:{free_port()}" for name in names},
                      tuple(etcd))
    procs = []
    try:
        for name, address in cluster.addresses.items():
            log = (logs / f"{name}.log").open("w")
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "shardkv.server", "--node", name,
                 "--port", address.rsplit(":", 1)[1], "--namespace", namespace],
                env={**os.environ, **cluster.env()}, stdout=log, stderr=subprocess.STDOUT))
        asyncio.run(_ready(cluster, procs))
        yield cluster
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)


async def _ready(cluster: Cluster, procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 30
    async with NodeClient.open(cluster.addresses, timeout=2) as client:
        for name in cluster.addresses:
            while not await client.healthy(name):
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    raise RuntimeError(f"shardkv node {name} did not become ready")
                await asyncio.sleep(0.1)
