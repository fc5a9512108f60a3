"""Adaptive thresholds: the effective threshold follows the measured effect of past decisions.

A peak a lower threshold would have caught (a node went over 100% with no move planned off it,
straight from just under the threshold) lowers the threshold so moves start earlier; moves that
turned out unnecessary (their source would have stayed under the threshold anyway) raise it so
fewer are made, and so do moves whose traffic shift made the KPIs (latency, error rate,
throughput) worse and was rolled back. Changes are small (at most maxStep points), bounded
(min..max), and each carries its reason for the policy's status.threshold.

Overloads of nodes that were already over the threshold do not lower it: the planner had
flagged them and was held back by its limits or by finding no room, and a lower threshold only
leaves fewer nodes with room. Counting those drove the threshold to its floor in the replay.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ThresholdBounds:
    minimum: float = 0.5
    maximum: float = 0.95
    max_step: float = 0.05


@dataclass(frozen=True)
class Outcomes:
    """What happened since the last adjustment."""

    missed_peaks: int  # overloads (> 100%) a lower threshold would have flagged, no move off
    unnecessary_moves: int  # source under the threshold without them, or KPIs got worse
    moves: int


@dataclass(frozen=True)
class Threshold:
    current: float
    reason: str = "configured value"


def lower_would_flag(last_calm: float | None, threshold: float, max_step: float) -> bool:
    """Whether a node whose utilization was `last_calm` just before it went over capacity sat
    close enough under the threshold for one step lower to have flagged it."""
    # Rounded: utilization arrives rounded to 0.01%, and 0.7 - 0.05 is 0.6499... in binary.
    return last_calm is not None and (round(threshold - max_step, 6) < round(last_calm, 6)
                                      <= round(threshold, 6))


def adapt(threshold: Threshold, outcomes: Outcomes, bounds: ThresholdBounds) -> Threshold:
    """One adjustment. Missed peaks outweigh unnecessary moves: an overload hurts users, an
    extra move costs bandwidth. Unnecessary moves raise the threshold when they are the
    majority of the moves, and by half a step, so it creeps up and drops fast."""
    if outcomes.missed_peaks > 0:
        value = max(bounds.minimum, threshold.current - bounds.max_step)
        reason = (f"lowered: {outcomes.missed_peaks} node overload(s) from just under the "
                  "threshold with no move planned off the node beforehand")
    elif outcomes.moves and outcomes.unnecessary_moves * 2 > outcomes.moves:
        value = min(bounds.maximum, threshold.current + bounds.max_step / 2)
        reason = (f"raised: {outcomes.unnecessary_moves} of {outcomes.moves} move(s) were not "
                  "needed (their source stayed under the threshold without them, or their "
                  "traffic shift made the KPIs worse)")
    else:
        return threshold
    if value == threshold.current:
        return Threshold(value, f"{reason}; already at the bound")
    return Threshold(round(value, 4), reason)
