"""What a migration pass observes and the settings it runs under; no I/O, only values."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Phase(StrEnum):
    PENDING = "Pending"
    SYNCING = "Syncing"
    REDIRECTING = "Redirecting"
    CUTTING_OVER = "CuttingOver"
    ACTIVE = "Active"
    ROLLED_BACK = "RolledBack"
    FAILED = "Failed"


TERMINAL = frozenset({Phase.ACTIVE, Phase.ROLLED_BACK, Phase.FAILED})
UNFINISHED = frozenset(Phase) - TERMINAL  # a move in flight: its shard is not free to plan
KPI_REGRESSION = "KpiRegression"  # the reason of a roll-back the KPI gates ordered


class JobState(StrEnum):
    ABSENT = "Absent"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


@dataclass(frozen=True)
class Kpis:
    """A shard's service indicators at one moment; None where the policy does not gate on it."""

    latency_seconds: float | None = None
    error_rate: float | None = None
    throughput: float | None = None


@dataclass(frozen=True)
class KpiLimits:
    latency_max_seconds: float | None = None
    latency_max_increase_percent: float | None = None
    error_rate_max: float | None = None
    throughput_min_ratio: float | None = None


@dataclass(frozen=True)
class ShiftSettings:
    steps: tuple[int, ...] = (10, 50, 100)  # percent of traffic on the target, in order
    gate_seconds: float = 120.0  # how long each step must hold with KPIs inside their limits
    limits: KpiLimits = KpiLimits()
    # KPIs unreadable for this many gate windows: the shift is not proven safe, so it rolls back.
    unreadable_gates: float = 3.0


@dataclass(frozen=True)
class Observed:
    """Everything one pass knows: the object's status, etcd's record, the Jobs and the KPIs."""

    phase: Phase
    source: str
    target: str
    blocked: tuple[str, str] | None  # admission's (reason, message) while it may not start
    placement: tuple[str, int] | None  # (node, epoch) from etcd
    claimed_by_us: bool  # etcd's announcement names this migration
    claimed_by: str | None  # another migration holding the shard, if any
    epoch: int | None  # the placement epoch the move establishes: announced epoch + 1
    sync_job: JobState = JobState.ABSENT
    cutover_job: JobState = JobState.ABSENT
    traffic_percent: int = 0
    step_age_seconds: float = 0.0  # since the current traffic step began
    kpis_before: Kpis | None = None
    kpis_now: Kpis | None = None
    kpis_error: str | None = None  # why the KPIs could not be read this pass
    # (reason, message) why the move may not go on: its target is not a Node the shard may
    # use now (api.nodes.refusal), or its Shard is being deleted
    refused: tuple[str, str] | None = None
