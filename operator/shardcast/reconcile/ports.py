"""What the policy cycle and the migration driver need from the world, as small Protocols: the
handlers pass in the adapters (Prometheus, the Kubernetes API, Job runners); unit tests pass
in-memory fakes. The driver's etcd port is in migration_driver.py, beside its one user."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from shardcast.api.metrics import ShardQuery
from shardcast.migration.model import JobState


class MetricsRead(Protocol):
    """What one batched read returned: samples per shard on the requested grid (NaN where
    there is none), why the other shards have none, and what it cost."""

    @property
    def values(self) -> Mapping[str, np.ndarray]: ...

    @property
    def failed(self) -> Mapping[str, str]: ...

    @property
    def requests(self) -> int: ...

    @property
    def samples(self) -> int: ...


class MetricsSource(Protocol):
    async def read(self, queries: Sequence[ShardQuery], start_seconds: int, end_seconds: int,
                   step_seconds: int) -> MetricsRead:
        """Every query's samples on the grid start + k * step up to end (both included)."""
        ...


class PredictionSink(Protocol):
    async def write(self, shards: Mapping[str, Mapping[str, Any]]) -> None:
        """Merge each shard's status.prediction (shard -> prediction) into its status."""
        ...


class MigrationWriter(Protocol):
    async def create(self, body: Mapping[str, Any]) -> bool:
        """Create a ShardMigration; False when one of that name exists already."""
        ...

    async def delete(self, name: str) -> None:
        """Delete a ShardMigration; one already gone is not an error."""
        ...


class JobRunner(Protocol):
    """A migration's Jobs (clients.jobs: Kubernetes Jobs, or local processes)."""

    async def create(self, namespace: str, manifest: Mapping[str, Any]) -> None:
        """Create the Job unless one of that name exists."""
        ...

    async def state(self, namespace: str, name: str) -> JobState: ...

    async def delete(self, namespace: str, name: str) -> None: ...
