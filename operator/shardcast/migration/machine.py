"""The migration state machine: Pending -> Syncing -> Redirecting -> CuttingOver -> Active, and
RolledBack from any step in between. Level-triggered: the next step depends only on what is
observed now, so a restarted operator (or a second replica) continues where etcd and the API
server say the migration is, never from memory.
"""

from __future__ import annotations

from shardcast.migration.actions import (
    Adopt,
    Announce,
    Commit,
    Hold,
    RollBack,
    Shift,
    StartJob,
    Step,
)
from shardcast.migration.gates import regression
from shardcast.migration.model import (
    KPI_REGRESSION,
    TERMINAL,
    JobState,
    Observed,
    Phase,
    ShiftSettings,
)


def next_step(seen: Observed, shift: ShiftSettings) -> Step | None:
    """The one thing to do now, or None when the migration has ended."""
    if seen.phase in TERMINAL:
        return None
    if seen.phase is Phase.PENDING:
        return _pending(seen)
    if not seen.claimed_by_us:
        return _claim_lost(seen)
    if seen.refused is not None:
        return _refused(seen, seen.refused)
    if seen.phase is Phase.SYNCING:
        return _job(seen, "sync", seen.sync_job, Phase.SYNCING,
                    Step(Shift(shift.steps[0]), Phase.REDIRECTING, "Redirecting",
                         f"copy in sync; {shift.steps[0]}% of traffic to {seen.target}"))
    if seen.phase is Phase.REDIRECTING:
        return _redirecting(seen, shift)
    return _job(seen, "cutover", seen.cutover_job, Phase.CUTTING_OVER,
                Step(Commit(), Phase.ACTIVE, "Active",
                     f"{seen.target} owns the shard at epoch {seen.epoch}"))


def _pending(seen: Observed) -> Step:
    if seen.refused is not None and (seen.claimed_by_us or seen.blocked is None):
        return _refused(seen, seen.refused)
    if seen.blocked is not None:
        return Step(Hold(), Phase.PENDING, *seen.blocked)
    if seen.claimed_by_us:  # announced, then the status write was lost: carry on
        return Step(StartJob("sync"), Phase.SYNCING, "Syncing",
                    f"copying to {seen.target} (sync Job)")
    if seen.placement is None:
        return Step(Hold(), Phase.PENDING, "PlacementUnknown",
                    "etcd has no placement for the shard yet; the Shard handler records it")
    node, epoch = seen.placement
    if node != seen.source:
        return Step(RollBack(), Phase.FAILED, "SourceMismatch",
                    f"etcd places the shard on {node!r} at epoch {epoch}, not on spec.source "
                    f"{seen.source!r}; nothing was moved")
    if seen.claimed_by is not None:
        return Step(Hold(), Phase.PENDING, "ShardBusy",
                    f"{seen.claimed_by} is moving this shard; waiting for it to end")
    return Step(Announce(), Phase.SYNCING, "Syncing",
                f"claimed at epoch {epoch}; copying to {seen.target} (sync Job)")


def _refused(seen: Observed, refused: tuple[str, str]) -> Step:
    """A move that may not go on (its target is not a usable Node, its Shard is going):
    refused before the claim, rolled back after it (the commit is the only step that hands
    the shard over, so before it the source still owns everything)."""
    reason, why = refused
    if not seen.claimed_by_us:
        return Step(RollBack(), Phase.FAILED, reason, f"{why}; refused, nothing was moved")
    return Step(RollBack(), Phase.ROLLED_BACK, reason,
                f"{why}; the move stopped before its commit and {seen.source} stayed "
                "authoritative")


def _claim_lost(seen: Observed) -> Step:
    committed = (seen.target, seen.epoch)
    if seen.phase is Phase.CUTTING_OVER and seen.placement == committed:
        return Step(Adopt(), Phase.ACTIVE, "Active",
                    f"{seen.target} owns the shard at epoch {committed[1]}")
    return Step(RollBack(), Phase.ROLLED_BACK, "ClaimLost",
                "the move's claim in etcd is gone (lease expired or taken over); the source "
                "stayed authoritative")


def _job(seen: Observed, kind: str, state: JobState, phase: Phase, done: Step) -> Step:
    if state is JobState.ABSENT:
        return Step(StartJob(kind), phase, phase.value, f"{kind} Job started")
    if state is JobState.RUNNING:
        return Step(Hold(), phase, phase.value, f"{kind} Job running")
    if state is JobState.FAILED:
        return Step(RollBack(), Phase.ROLLED_BACK, f"{kind.capitalize()}Failed",
                    f"the {kind} Job failed; {seen.source} stayed authoritative")
    return done


def _redirecting(seen: Observed, shift: ShiftSettings) -> Step:
    percent = seen.traffic_percent
    if seen.kpis_error is not None:
        if seen.step_age_seconds > shift.unreadable_gates * shift.gate_seconds:
            return Step(RollBack(), Phase.ROLLED_BACK, "KpisUnavailable",
                        f"KPIs unreadable for {seen.step_age_seconds:.0f}s at {percent}%: "
                        f"{seen.kpis_error}")
        return Step(Hold(), Phase.REDIRECTING, "KpisUnavailable",
                    f"holding at {percent}%: KPIs unreadable ({seen.kpis_error})")
    if seen.kpis_now is not None:
        broken = regression(seen.kpis_before, seen.kpis_now, shift.limits)
        if broken:
            return Step(RollBack(), Phase.ROLLED_BACK, KPI_REGRESSION,
                        f"at {percent}% on {seen.target}: {broken}")
    if seen.step_age_seconds < shift.gate_seconds:
        return Step(Hold(), Phase.REDIRECTING, "Redirecting",
                    f"{percent}% on {seen.target}; gate {seen.step_age_seconds:.0f}/"
                    f"{shift.gate_seconds:.0f}s")
    later = [s for s in shift.steps if s > percent]
    if later:
        return Step(Shift(later[0]), Phase.REDIRECTING, "Redirecting",
                    f"{later[0]}% of traffic to {seen.target}")
    return Step(StartJob("cutover"), Phase.CUTTING_OVER, "CuttingOver",
                "all traffic on the target; cutover Job started")
