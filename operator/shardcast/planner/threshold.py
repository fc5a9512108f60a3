"""Adaptive thresholds: the effective threshold follows the measured effect of past decisions.

A peak that was missed (a node went over 100% with no move planned off it) lowers the threshold
so moves start earlier; moves that turned out unnecessary (their source would have stayed under
the threshold anyway) raise it so fewer are made. Changes are small (at most maxStep points),
bounded (min..max), and each carries its reason for the policy's status.threshold.
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

    missed_peaks: int  # node overloads (> 100%) with no move off that node beforehand
    unnecessary_moves: int  # moves whose source stayed under the threshold without them
    moves: int
    peak_utilization: float  # the highest utilization any node actually reached


@dataclass(frozen=True)
class Threshold:
    current: float
    reason: str = "configured value"


def adapt(threshold: Threshold, outcomes: Outcomes, bounds: ThresholdBounds) -> Threshold:
    """One adjustment. Missed peaks outweigh unnecessary moves: an overload hurts users, an
    extra move costs bandwidth. Unnecessary moves raise the threshold only in a calm period
    (no node actually reached the threshold) when they are the majority of the moves, and by
    half a step, so it creeps up and drops fast."""
    if outcomes.missed_peaks > 0:
        value = max(bounds.minimum, threshold.current - bounds.max_step)
        reason = (f"lowered: {outcomes.missed_peaks} node overload(s) with no move planned "
                  "off the node beforehand")
    elif (outcomes.moves and outcomes.unnecessary_moves * 2 > outcomes.moves
          and outcomes.peak_utilization < threshold.current):
        value = min(bounds.maximum, threshold.current + bounds.max_step / 2)
        reason = (f"raised: {outcomes.unnecessary_moves} of {outcomes.moves} move(s) were not "
                  "needed (their source stayed under the threshold without them)")
    else:
        return threshold
    if value == threshold.current:
        return Threshold(value, f"{reason}; already at the bound")
    return Threshold(round(value, 4), reason)
