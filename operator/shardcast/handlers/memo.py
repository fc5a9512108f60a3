"""What the handlers keep in kopf's memo, typed.

kopf gives every resource a shallow copy of the operator's memo, made when it first sees the
resource (after the startup handlers ran). So there are two kinds of entries:
- `memo.shared`, one `Shared` for the whole operator: the copies all point at it;
- a key set on a resource's own copy, which stays that resource's: a policy's `PolicyState`
  (`policy_state`), kept between its cycles.
`shardcast run` starts kopf with `kopf.Memo(shared=Shared(namespaces=...))`; under `kopf run -m
shardcast.handlers` (the stack tests' KopfRunner) kopf makes the memo and the first startup
handler adds a Shared for every namespace.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import kopf

from shardcast.clients.jobs import KubernetesJobs
from shardcast.config import Settings
from shardcast.consensus.mirror import PlacementMirror
from shardcast.consensus.store import ConsensusStore
from shardcast.reconcile.policy_cycle import PolicyState
from shardcast.reconcile.ports import JobRunner


@dataclass
class Shared:
    """The operator's connections and background work, set up by the startup handlers."""

    # the namespaces served (`--namespace` patterns; empty: all): orphaned etcd records are
    # collected only there, as another release may serve the others
    namespaces: tuple[str, ...] = ()
    settings: Settings = field(default_factory=Settings)  # from the environment at startup
    consensus: ConsensusStore | None = None  # None: no etcd configured
    jobs: JobRunner = field(default_factory=KubernetesJobs)
    mirror: PlacementMirror | None = None  # etcd's placements and claims, watched
    # set once every index is filled (the first Node event): orphans may be judged from then
    indexes_ready: asyncio.Event = field(default_factory=asyncio.Event)
    # background tasks, held here because the event loop keeps only weak references to them
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def shared_of(memo: kopf.Memo) -> Shared:
    """The operator's Shared; a startup that did not finish is an error no retry mends."""
    found = memo.get("shared")
    if not isinstance(found, Shared):
        raise kopf.PermanentError("the operator's startup did not finish (no shared state in "
                                  "kopf's memo); see the startup handlers' errors")
    return found


def policy_state(memo: kopf.Memo) -> PolicyState:
    """This policy's state between cycles, in its own copy of the memo (see the module)."""
    state = memo.get("policy_state")
    if not isinstance(state, PolicyState):
        memo["policy_state"] = state = PolicyState()
    return state
