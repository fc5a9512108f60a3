"""Every kopf index of the operator, and the accessors that read them.

Shards are not here: there are thousands, and kopf's indexing holds every handler back by a
toggle per indexed object (api/shard_index.py); they have their own informer and index.

kopf keeps, per key an index function returns, the values of every object that returned it.
One key shape, for every index: the object's `(namespace, name)` (`(None, name)` for a Node),
read with `named()` in O(1), so no handler scans a namespace to find one object (the migration
tick runs every second). One exception is read whole, once per policy cycle, and keyed by the
namespace alone so that a cycle reads only its own namespace: `known_migrations` (moves in
flight, cooldowns, and the ended ones a policy deletes); read with `listed()`.

kopf hands each index to the handlers as the keyword argument named after its function.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import kopf

from shardcast.api import decisions, shard
from shardcast.api.conditions import parse_rfc3339
from shardcast.api.kinds import GROUP, MIGRATIONS, POLICIES, VERSION
from shardcast.api.nodes import NodeState, tolerations_of
from shardcast.api.policy_overlap import Contender

V = TypeVar("V")
Key = tuple[str | None, str]  # (namespace, name); (None, name) for cluster-scoped objects
Named = kopf.Index[Key, V]
Listed = kopf.Index[str | None, tuple[str, V]]  # namespace -> (name, value) per object


def named(index: Named[V], namespace: str | None, name: str) -> V | None:
    """The value the object `name` indexed, or None while the index holds no such object."""
    return next(iter(index.get((namespace, name), [])), None)


def listed(index: Listed[V], namespace: str | None) -> dict[str, V]:
    """name -> value of every object of `namespace` in an index keyed by namespace."""
    return dict(index.get(namespace, []))


def in_namespace(index: Named[V], namespace: str | None) -> Iterator[tuple[str, V]]:
    """(name, value) of a namespace's objects in a `(namespace, name)` index: a scan of the
    whole index, for the small ones only (policies, nodes)."""
    for (ns, name), values in index.items():
        if ns == namespace:
            for value in values:
                yield name, value


@dataclass(frozen=True)
class IndexedPolicy:
    """A MigrationPolicy without reading it from the API: its spec, which its migrations run
    by, and what the one-policy-per-shard rule orders it by."""

    spec: dict[str, Any]
    contender: Contender


def contender(name: str, meta: kopf.Meta, spec: kopf.Spec) -> Contender:
    return Contender(name, parse_rfc3339(meta["creationTimestamp"]), spec.get("shardSelector"))


@kopf.index("apps", "v1", "statefulsets")
def workloads(namespace: str | None, name: str, spec: kopf.Spec, status: kopf.Status,
              **_: Any) -> dict[Key, shard.WorkloadState]:
    return {(namespace, name): shard.WorkloadState(
        replicas=int(spec.get("replicas") or 0),
        ready_replicas=int(status.get("readyReplicas") or 0),
        tolerations=tolerations_of(spec.get("template", {}).get("spec", {})))}


@kopf.index(GROUP, VERSION, POLICIES)
def indexed_policies(namespace: str | None, name: str, spec: kopf.Spec, meta: kopf.Meta,
                     **_: Any) -> dict[Key, IndexedPolicy]:
    """Each policy finds the others that select its shards, each migration its policy's spec."""
    return {(namespace, name): IndexedPolicy(dict(spec), contender(name, meta, spec))}


@kopf.index("", "v1", "nodes")
def node_states(name: str, spec: kopf.Spec, status: kopf.Status,
                **_: Any) -> dict[Key, NodeState]:
    """Capacity, readiness, cordon and taints: where a policy may move shards, and whether a
    migration's target is a usable Node."""
    return {(None, name): NodeState.from_object(spec, status)}


@kopf.index(GROUP, VERSION, MIGRATIONS)
def known_migrations(namespace: str | None, name: str, spec: kopf.Spec, status: kopf.Status,
                     meta: kopf.Meta, **_: Any,
                     ) -> dict[str | None, tuple[str, decisions.KnownMigration]]:
    """Listed: what each migration moves and how far it got (in-flight moves, cooldowns)."""
    return {namespace: (name, decisions.known_migration(spec, status, meta))}
