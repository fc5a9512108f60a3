"""The migration state machine, pass by pass, without a cluster or etcd."""

from dataclasses import replace

import pytest

from shardcast.migration import actions
from shardcast.migration.gates import regression
from shardcast.migration.machine import next_step
from shardcast.migration.model import JobState, KpiLimits, Kpis, Observed, Phase, ShiftSettings

SHIFT = ShiftSettings(steps=(10, 50, 100), gate_seconds=60,
                      limits=KpiLimits(error_rate_max=0.01, latency_max_increase_percent=50))
START = Observed(phase=Phase.PENDING, source="node-a", target="node-b", blocked=None,
                 placement=("node-a", 3), claimed_by_us=False, claimed_by=None, epoch=None)


def _step(seen: Observed) -> actions.Step:
    step = next_step(seen, SHIFT)
    assert step is not None
    return step


def test_a_move_walks_every_phase_in_order() -> None:
    seen = START
    trail = []
    step = _step(seen)
    assert step.action == actions.Announce()
    seen = replace(seen, phase=step.phase, claimed_by_us=True, epoch=4)
    for sync in (JobState.ABSENT, JobState.RUNNING, JobState.SUCCEEDED):
        step = _step(replace(seen, sync_job=sync))
        trail.append(step.action)
    seen = replace(seen, phase=step.phase, sync_job=JobState.SUCCEEDED,
                   kpis_before=Kpis(latency_seconds=0.010, error_rate=0.0))
    for percent in (10, 50, 100):
        seen = replace(seen, traffic_percent=percent, step_age_seconds=30,
                       kpis_now=Kpis(latency_seconds=0.012, error_rate=0.001))
        trail.append(_step(seen).action)  # still inside the gate window
        step = _step(replace(seen, step_age_seconds=61))
        trail.append(step.action)
    seen = replace(seen, phase=step.phase)
    for cutover in (JobState.RUNNING, JobState.SUCCEEDED):
        step = _step(replace(seen, cutover_job=cutover))
        trail.append(step.action)
    assert trail == [actions.StartJob("sync"), actions.Hold(), actions.Shift(10),
                     actions.Hold(), actions.Shift(50), actions.Hold(), actions.Shift(100),
                     actions.Hold(), actions.StartJob("cutover"), actions.Hold(),
                     actions.Commit()]
    assert (step.phase, step.reason) == (Phase.ACTIVE, "Active")
    assert next_step(replace(seen, phase=Phase.ACTIVE), SHIFT) is None


def test_admission_blocks_before_anything_happens() -> None:
    step = _step(replace(START, blocked=("AwaitingApproval", "approve it")))
    assert (step.action, step.phase, step.reason) == (actions.Hold(), Phase.PENDING,
                                                      "AwaitingApproval")


def test_a_shard_held_by_another_migration_waits() -> None:
    step = _step(replace(START, claimed_by="ns/other"))
    assert (step.action, step.reason) == (actions.Hold(), "ShardBusy")
    assert "ns/other" in step.message


def test_etcd_placing_the_shard_elsewhere_fails_without_moving() -> None:
    step = _step(replace(START, placement=("node-c", 7)))
    assert (step.action, step.phase, step.reason) == (actions.RollBack(), Phase.FAILED,
                                                      "SourceMismatch")


def test_announced_but_status_lost_carries_on_with_the_sync() -> None:
    step = _step(replace(START, claimed_by_us=True))
    assert (step.action, step.phase) == (actions.StartJob("sync"), Phase.SYNCING)


@pytest.mark.parametrize(("phase", "job"), [(Phase.SYNCING, "sync_job"),
                                             (Phase.CUTTING_OVER, "cutover_job")])
def test_a_failed_job_rolls_back(phase: Phase, job: str) -> None:
    seen = replace(START, phase=phase, claimed_by_us=True, epoch=4, **{job: JobState.FAILED})
    step = _step(seen)
    assert (step.action, step.phase) == (actions.RollBack(), Phase.ROLLED_BACK)
    assert "node-a stayed authoritative" in step.message


def test_kpi_regression_during_the_shift_rolls_back() -> None:
    seen = replace(START, phase=Phase.REDIRECTING, claimed_by_us=True, epoch=4,
                   traffic_percent=50, step_age_seconds=10,
                   kpis_before=Kpis(latency_seconds=0.010, error_rate=0.0),
                   kpis_now=Kpis(latency_seconds=0.020, error_rate=0.0))
    step = _step(seen)
    assert (step.action, step.reason) == (actions.RollBack(), "KpiRegression")
    assert "latency up 100%" in step.message


def test_unreadable_kpis_hold_the_shift_then_roll_it_back() -> None:
    seen = replace(START, phase=Phase.REDIRECTING, claimed_by_us=True, epoch=4,
                   traffic_percent=10, step_age_seconds=120, kpis_error="Prometheus is down")
    assert _step(seen).action == actions.Hold()  # never proceeds on missing metrics
    step = _step(replace(seen, step_age_seconds=181))
    assert (step.action, step.reason) == (actions.RollBack(), "KpisUnavailable")


def test_a_lost_claim_rolls_back_unless_the_commit_already_happened() -> None:
    seen = replace(START, phase=Phase.CUTTING_OVER, claimed_by_us=False, epoch=4,
                   cutover_job=JobState.SUCCEEDED)
    assert _step(seen).reason == "ClaimLost"
    committed = _step(replace(seen, placement=("node-b", 4)))
    assert (committed.action, committed.phase) == (actions.Adopt(), Phase.ACTIVE)


def test_gates_compare_with_the_kpis_before_the_shift() -> None:
    limits = KpiLimits(latency_max_seconds=0.1, error_rate_max=0.01, throughput_min_ratio=0.8)
    before = Kpis(latency_seconds=0.02, error_rate=0.0, throughput=100)
    assert regression(before, Kpis(0.05, 0.005, 90), limits) is None
    broken = regression(before, Kpis(0.2, 0.02, 50), limits)
    assert broken is not None
    assert "latency 0.2s > 0.1s" in broken and "error rate" in broken and "0.50x" in broken


GONE = ("TargetNotFound", "there is no Node 'node-zz'")


def test_a_target_that_is_not_a_usable_node_is_refused_before_any_claim() -> None:
    step = _step(replace(START, refused=GONE))
    assert (step.action, step.phase, step.reason) == (actions.RollBack(), Phase.FAILED,
                                                      "TargetNotFound")
    assert "nothing was moved" in step.message


@pytest.mark.parametrize("phase", [Phase.PENDING, Phase.SYNCING, Phase.REDIRECTING,
                                   Phase.CUTTING_OVER])
def test_a_target_that_becomes_unusable_mid_move_rolls_back(phase: Phase) -> None:
    refused = ("TargetUnschedulable", "Node 'node-b' is cordoned (spec.unschedulable)")
    seen = replace(START, phase=phase, claimed_by_us=True, epoch=4, traffic_percent=50,
                   sync_job=JobState.RUNNING, cutover_job=JobState.SUCCEEDED,
                   refused=refused)
    step = _step(seen)
    assert (step.action, step.phase, step.reason) == (actions.RollBack(), Phase.ROLLED_BACK,
                                                      "TargetUnschedulable")
    assert "node-a stayed authoritative" in step.message


def test_an_approval_still_pending_is_reported_before_the_target() -> None:
    step = _step(replace(START, blocked=("AwaitingApproval", "approve it"), refused=GONE))
    assert (step.action, step.reason) == (actions.Hold(), "AwaitingApproval")
