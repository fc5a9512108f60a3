"""Where a shard may go: a Node that exists, is Ready, is not cordoned, carries no taint the
shard's workload does not tolerate, and reports the capacity its policy plans by.

The planner proposes only such nodes, and a ShardMigration naming any other is refused before
it claims anything: one typo in a manual move must not hand a shard's traffic to a machine
that is not there."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Taint effects that keep a pod off a node; PreferNoSchedule is only a preference.
BLOCKING_EFFECTS = frozenset({"NoSchedule", "NoExecute"})
TARGET_NOT_FOUND = "TargetNotFound"
TARGET_UNSCHEDULABLE = "TargetUnschedulable"


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str

    def __str__(self) -> str:
        return f"{self.key}{'=' + self.value if self.value else ''}:{self.effect}"


@dataclass(frozen=True)
class Toleration:
    """A pod toleration, matched the way the scheduler matches it."""

    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: str = ""

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Toleration:
        return cls(str(raw.get("key") or ""), str(raw.get("operator") or "Equal"),
                   str(raw.get("value") or ""), str(raw.get("effect") or ""))

    def tolerates(self, taint: Taint) -> bool:
        if self.effect and self.effect != taint.effect:
            return False
        if self.operator == "Exists":
            return not self.key or self.key == taint.key
        return self.key == taint.key and self.value == taint.value


@dataclass(frozen=True)
class NodeState:
    """What a Node says about taking a shard: capacity, readiness, cordon and taints."""

    allocatable: dict[str, str] = field(default_factory=dict)
    ready: bool = True
    unschedulable: bool = False
    taints: tuple[Taint, ...] = ()

    @classmethod
    def from_object(cls, spec: Mapping[str, Any], status: Mapping[str, Any]) -> NodeState:
        ready = next((c.get("status") == "True" for c in status.get("conditions") or []
                      if c.get("type") == "Ready"), False)
        taints = tuple(Taint(str(t.get("key") or ""), str(t.get("value") or ""),
                             str(t.get("effect") or "")) for t in spec.get("taints") or [])
        return cls(dict(status.get("allocatable") or {}), ready,
                   bool(spec.get("unschedulable")), taints)

    def untolerated(self, tolerations: Iterable[Toleration]) -> list[Taint]:
        held = tuple(tolerations)
        return [t for t in self.taints if t.effect in BLOCKING_EFFECTS
                and not any(tol.tolerates(t) for tol in held)]


def tolerations_of(pod_spec: Mapping[str, Any]) -> tuple[Toleration, ...]:
    return tuple(Toleration.from_dict(t) for t in pod_spec.get("tolerations") or [])


def refusal(name: str, node: NodeState | None, tolerations: Iterable[Toleration] = (),
            resource: str | None = None) -> tuple[str, str] | None:
    """(reason, message) why no shard of a workload with `tolerations` may go to Node `name`;
    None when it may. `resource` is the allocatable resource the policy's capacity comes from
    (None when the capacity does not come from the node)."""
    if node is None:
        return TARGET_NOT_FOUND, f"there is no Node {name!r}"
    if node.unschedulable:
        return TARGET_UNSCHEDULABLE, f"Node {name!r} is cordoned (spec.unschedulable)"
    if not node.ready:
        return TARGET_UNSCHEDULABLE, f"Node {name!r} is not Ready"
    untolerated = node.untolerated(tolerations)
    if untolerated:
        taints = ", ".join(map(str, untolerated))
        return TARGET_UNSCHEDULABLE, (f"Node {name!r} has taint(s) {taints} that the shard's "
                                      "workload does not tolerate")
    if resource is not None and resource not in node.allocatable:
        return TARGET_UNSCHEDULABLE, (f"Node {name!r} reports no allocatable {resource}, the "
                                      "capacity its policy plans by")
    return None


def closed_to_moves(nodes: Mapping[str, NodeState],
                    tolerations: Iterable[tuple[Toleration, ...]]) -> dict[str, str]:
    """Node -> why no move may arrive there, for a policy whose shards' workloads carry the
    given toleration sets. A node one workload may not use is closed to all of the policy's
    moves: the planner picks targets per node, and proposing a move the migration would refuse
    is worse than not using the node."""
    sets = set(tolerations) or {()}
    closed = {}
    for name, node in nodes.items():
        for held in sets:
            found = refusal(name, node, held)
            if found is not None:
                closed[name] = found[1]
                break
    return closed
