"""Operator-wide connections opened once at startup: the etcd consensus record and a Job runner."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import kopf

from shardcast.clients.jobs import JobRunner, KubernetesJobs, LocalJobs
from shardcast.consensus.store import ConsensusStore
from shardcast.consensus.tls import EtcdTls

ETCD_ENDPOINTS = "SHARDCAST_ETCD_ENDPOINTS"  # comma-separated host:port of every member
ETCD_CA_FILE = "SHARDCAST_ETCD_CA_FILE"  # PEM: set, etcd is reached over TLS and verified
ETCD_CERT_FILE = "SHARDCAST_ETCD_CERT_FILE"  # PEM client certificate, with ETCD_KEY_FILE
ETCD_KEY_FILE = "SHARDCAST_ETCD_KEY_FILE"


@kopf.on.startup()
async def open_consensus(memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    memo.consensus = None
    endpoints = [e for e in os.environ.get(ETCD_ENDPOINTS, "").split(",") if e]
    if endpoints:
        # Open for the life of the process: timers may still be calling etcd while kopf runs
        # cleanup activities, so closing it there could fail their calls; exit closes it.
        tls = etcd_tls()
        memo.consensus = await ConsensusStore.connect(endpoints, tls=tls)
        logger.info(f"consensus record: etcd at {', '.join(endpoints)}"
                    f"{' over TLS' if tls else ''}")
    else:
        logger.warning(f"{ETCD_ENDPOINTS} is not set: shards get no placement record and no "
                       "migration can start")
    memo.jobs = job_runner()


def etcd_tls() -> EtcdTls | None:
    """TLS settings from files (the chart mounts them from a Secret), read once: the channel
    stays open for the life of the process, so a rotated certificate takes a restart."""
    ca = os.environ.get(ETCD_CA_FILE)
    if not ca:
        return None
    cert, key = os.environ.get(ETCD_CERT_FILE), os.environ.get(ETCD_KEY_FILE)
    return EtcdTls(ca=Path(ca).read_bytes(), cert=Path(cert).read_bytes() if cert else None,
                   key=Path(key).read_bytes() if key else None)


def job_runner() -> JobRunner:
    """Kubernetes Jobs by default; SHARDCAST_JOB_EXECUTOR=local runs the same commands as local
    processes (a machine with an API server but no nodes that run containers, or no cluster)."""
    if os.environ.get("SHARDCAST_JOB_EXECUTOR", "kubernetes") == "local":
        return LocalJobs(Path(os.environ.get("SHARDCAST_LOCAL_JOBS_DIR", "/tmp/shardcast-jobs")))
    return KubernetesJobs()
