"""Operator-wide connections opened once at startup: the etcd consensus record and a Job runner."""

from __future__ import annotations

from typing import Any

import kopf

from shardcast.clients.jobs import KubernetesJobs, LocalJobs
from shardcast.config import EtcdFiles, Settings
from shardcast.consensus.store import ConsensusStore
from shardcast.consensus.tls import EtcdTls
from shardcast.handlers.memo import shared_of
from shardcast.reconcile.ports import JobRunner


@kopf.on.startup()
async def open_consensus(memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    ours = shared_of(memo)
    settings = ours.settings
    endpoints = list(settings.etcd_endpoints)
    if endpoints:
        # Open for the life of the process: timers may still be calling etcd while kopf runs
        # cleanup activities, so closing it there could fail their calls; exit closes it.
        tls = etcd_tls(settings.etcd_files)
        ours.consensus = await ConsensusStore.connect(endpoints, tls=tls)
        logger.info(f"consensus record: etcd at {', '.join(endpoints)}"
                    f"{' over TLS' if tls else ''}")
    else:
        logger.warning("SHARDCAST_ETCD_ENDPOINTS is not set: shards get no placement record and "
                       "no migration can start")
    ours.jobs = job_runner(settings)


def etcd_tls(files: EtcdFiles) -> EtcdTls | None:
    """TLS settings from files (the chart mounts them from a Secret), read once: the channel
    stays open for the life of the process, so a rotated certificate takes a restart."""
    if files.ca is None:
        return None
    return EtcdTls(ca=files.ca.read_bytes(), cert=files.cert.read_bytes() if files.cert else None,
                   key=files.key.read_bytes() if files.key else None)


def job_runner(settings: Settings) -> JobRunner:
    """Kubernetes Jobs by default; SHARDCAST_JOB_EXECUTOR=local runs the same commands as local
    processes (a machine with an API server but no nodes that run containers, or no cluster)."""
    if settings.job_executor == "local":
        return LocalJobs(settings.local_jobs_dir)
    return KubernetesJobs()
