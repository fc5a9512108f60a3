"""Every Shard the operator serves, held in memory and kept current by one list-and-watch
(clients/shard_informer.py).

Not a kopf index: kopf holds back every handler until each object of an indexed kind has
passed through its own toggle, and each toggle wakes every waiting worker, so starting on
10,000 Shards took longer than any cycle (0 of 10,000 shards handled after 7 minutes). Here one
list fills the index and a watch keeps it, with the lookups the handlers make kept as maps:
one Shard by name, a namespace's Shards (a policy selects from them every cycle), and the
Shards a workload serves (a StatefulSet's change re-derives their status)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from shardcast.api.shard import IndexedShard

Key = tuple[str, str]  # (namespace, name)


class ShardIndex:
    """Shards by (namespace, name), by namespace, and by (namespace, workload)."""

    def __init__(self) -> None:
        self._by_namespace: dict[str, dict[str, IndexedShard]] = {}
        self._by_workload: dict[Key, set[str]] = {}

    def __len__(self) -> int:
        return sum(len(shards) for shards in self._by_namespace.values())

    def get(self, namespace: str | None, name: str) -> IndexedShard | None:
        return self._by_namespace.get(namespace or "default", {}).get(name)

    def in_namespace(self, namespace: str | None) -> Mapping[str, IndexedShard]:
        """name -> Shard, a read-only view: read it before the next await, or copy it."""
        return MappingProxyType(self._by_namespace.get(namespace or "default", {}))

    def serving(self, namespace: str | None, workload: str) -> list[str]:
        """The names of the Shards that workload `workload` serves."""
        return sorted(self._by_workload.get((namespace or "default", workload), ()))

    def namespaces(self) -> list[tuple[str, list[str]]]:
        """(namespace, the names of its Shards) for every namespace, copied."""
        return [(namespace, list(shards)) for namespace, shards in self._by_namespace.items()]

    def put(self, shard: IndexedShard) -> None:
        self.drop(shard.namespace, shard.name)
        self._by_namespace.setdefault(shard.namespace, {})[shard.name] = shard
        self._by_workload.setdefault((shard.namespace, shard.spec.workload_name),
                                     set()).add(shard.name)

    def drop(self, namespace: str, name: str) -> None:
        gone = self._by_namespace.get(namespace, {}).pop(name, None)
        if gone is None:
            return
        served = self._by_workload.get((namespace, gone.spec.workload_name), set())
        served.discard(name)
        if not served:
            self._by_workload.pop((namespace, gone.spec.workload_name), None)

    def replace(self, shards: Iterable[IndexedShard]) -> None:
        """Exactly these Shards (a fresh list): whatever is not among them was deleted."""
        self._by_namespace.clear()
        self._by_workload.clear()
        for shard in shards:
            self.put(shard)
