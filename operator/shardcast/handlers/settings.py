"""Operator-wide kopf settings, applied once at startup."""

from __future__ import annotations

import logging
import os
import random
from typing import Any

import kopf

from shardcast.api.kinds import FINALIZER, GROUP
from shardcast.clients import kubernetes as k8s

# Watches with no server-side timeout can hang silently on a broken connection; these bound them.
WATCH_SERVER_TIMEOUT_SECONDS = 300
WATCH_CLIENT_TIMEOUT_SECONDS = 330
# How often status is re-derived from the cluster (e.g. a StatefulSet became ready).
RESYNC_SECONDS = float(os.environ.get("SHARDCAST_RESYNC_SECONDS", "30"))


def prometheus_url() -> str | None:
    return os.environ.get("SHARDCAST_PROMETHEUS_URL") or None


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.persistence.finalizer = FINALIZER
    # Progress and the diff base live in annotations, so .status keeps a strict schema.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration")
    settings.watching.server_timeout = WATCH_SERVER_TIMEOUT_SECONDS
    settings.watching.client_timeout = WATCH_CLIENT_TIMEOUT_SECONDS
    settings.watching.connect_timeout = 30
    settings.peering.name = "shardcast"
    # Replicas of equal priority all pause (kopf cannot tell which should lead), so each replica
    # draws its own: the highest one handles resources, the others stand by until it is gone.
    settings.peering.priority = int(os.environ.get("SHARDCAST_PEERING_PRIORITY",
                                                   random.randint(1, 1_000_000)))
    settings.posting.level = logging.INFO
    k8s.configure()
