"""Operator-wide kopf settings and shardcast's own (shardcast.config), applied once at startup.

This module's startup handler must run before the others, which read the settings it puts in
the memo (handlers/memo.py): kopf runs startup handlers in the order they were registered, and
the package imports this module first."""

from __future__ import annotations

import logging
import os
import random
from typing import Any

import kopf

from shardcast.api.kinds import FINALIZER, GROUP
from shardcast.clients import kubernetes as k8s
from shardcast.config import Settings, SettingsError, TimerIntervals
from shardcast.handlers.memo import Shared
from shardcast.reconcile.challenge_pool import SHARED_POOL

# Watches with no server-side timeout can hang silently on a broken connection; these bound them.
WATCH_SERVER_TIMEOUT_SECONDS = 300
WATCH_CLIENT_TIMEOUT_SECONDS = 330
# kopf takes a timer's interval when its decorator runs, so the timers' intervals are the one
# part of the settings read as the handler modules load; the rest waits for startup.
INTERVALS = TimerIntervals.from_env(os.environ)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    try:
        ours = Settings.from_env(os.environ)
    except SettingsError as error:
        raise kopf.PermanentError(str(error)) from error  # retrying cannot mend the environment
    found = memo.get("shared")
    memo.shared = found if isinstance(found, Shared) else Shared()
    memo.shared.settings = ours
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
    settings.peering.priority = (ours.peering_priority if ours.peering_priority is not None
                                 else random.randint(1, 1_000_000))
    # kopf's own Normal Events ("Handler succeeded", "Resuming is processed") would be two POSTs
    # per Shard at every start, 20,000 at 10,000 Shards; shardcast posts its own Events when a
    # condition changes, and kopf still posts handler failures.
    settings.posting.level = logging.WARNING
    SHARED_POOL.resize(ours.challenge_workers)
    k8s.configure()
