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

from shardcast.api.shard_index import ShardIndex
from shardcast.clients.jobs import KubernetesJobs
from shardcast.clients.shard_informer import ShardInformer
from shardcast.config import Settings
from shardcast.consensus.mirror import PlacementMirror
from shardcast.consensus.store import ConsensusStore
from shardcast.handlers.shard_sync import ShardSync
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
    shards: ShardIndex = field(default_factory=ShardIndex)  # every served Shard, watched
    informer: ShardInformer | None = None  # keeps `shards`; started by a startup handler
    shard_sync: ShardSync | None = None  # derives Shard statuses; started with the informer
    # set by the first Node event: kopf's indexes are filled and this replica is active
    kopf_indexed: asyncio.Event = field(default_factory=asyncio.Event)
    # background tasks, held here because the event loop keeps only weak references to them
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def shared_of(memo: kopf.Memo) -> Shared:
    """The operator's Shared; a startup that did not finish is an error no retry mends."""
    found = memo.get("shared")
    if not isinstance(found, Shared):
        raise kopf.PermanentError("the operator's startup did not finish (no shared state in "
                                  "kopf's memo); see the startup handlers' errors")
    return found


async def listed_shards(memo: kopf.Memo, wait_seconds: float = 10.0) -> ShardIndex:
    """The Shard index once it holds every served Shard; until then a temporary error, so that
    no handler takes a Shard it has not seen yet for a deleted one (or a policy plans half of
    its shards)."""
    ours = shared_of(memo)
    if ours.informer is None:
        raise kopf.TemporaryError("the Shard informer has not started", delay=1)
    if ours.informer.listed.is_set():  # every tick of every migration passes here
        return ours.shards
    try:
        await asyncio.wait_for(ours.informer.listed.wait(), wait_seconds)
    except TimeoutError:
        raise kopf.TemporaryError(f"waiting for the list of Shards: {ours.informer.error}",
                                  delay=1) from None
    return ours.shards


def policy_state(memo: kopf.Memo) -> PolicyState:
    """This policy's state between cycles, in its own copy of the memo (see the module)."""
    state = memo.get("policy_state")
    if not isinstance(state, PolicyState):
        memo["policy_state"] = state = PolicyState()
    return state
