"""`shardcast run` as real processes (so they can be SIGKILLed), Jobs as local processes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from shardcast.devstack import stack


class Operators:
    def __init__(self, endpoints: stack.Endpoints, namespace: str, logs: Path,
                 env: Mapping[str, str]) -> None:
        self.namespace, self.logs = namespace, logs
        self.env = {**os.environ, "KUBECONFIG": str(endpoints.kubeconfig),
                    "SHARDCAST_ETCD_ENDPOINTS": ",".join(endpoints.consensus_etcd),
                    "SHARDCAST_PROMETHEUS_URL": endpoints.prometheus_url,
                    "SHARDCAST_JOB_EXECUTOR": "local",
                    "SHARDCAST_LOCAL_JOBS_DIR": str(logs / "jobs"),
                    "SHARDCAST_MIGRATION_TICK_SECONDS": "0.5", "SHARDCAST_RESYNC_SECONDS": "2",
                    "PYTHONUNBUFFERED": "1", **env}
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, namespace: str | None = None, peering: bool = False,
              verbose: bool = False) -> subprocess.Popen[bytes]:
        """One more operator watching the namespace (by default the fixture's), standalone
        unless it should take part in the namespace's peering; verbose logs what it handles."""
        log = self.log(len(self.started)).open("w")
        self.started.append(subprocess.Popen(
            [sys.executable, "-m", "shardcast", "run", *([] if peering else ["--standalone"]),
             *(["--verbose"] if verbose else []),
             "-n", namespace or self.namespace,
             f"--liveness=http://127.0.0.1:{18190 + len(self.started)}/healthz"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT))
        return self.started[-1]

    def log(self, index: int) -> Path:
        return self.logs / f"operator-{index}.log"


@contextmanager
def operators(endpoints: stack.Endpoints, namespace: str, logs: Path,
              env: Mapping[str, str] | None = None) -> Iterator[Operators]:
    running = Operators(endpoints, namespace, logs, env or {})
    try:
        yield running
    finally:
        for proc in running.started:
            proc.kill()
            proc.wait(timeout=30)
