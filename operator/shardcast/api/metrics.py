"""Which PromQL reads a shard's usage of the metric a policy forecasts (spec.metrics contract),
and how the queries of many shards share a few range queries."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

TEMPLATES = {
    "cpu": "shardcast_shard_cpu_cores{$labels}",
    "memory": "shardcast_shard_memory_bytes{$labels}",
    "io": "shardcast_shard_io_bytes_per_second{$labels}",
}
DEFAULT_BATCH_BYTES = 60_000  # well under what Prometheus and proxies take in a POST body
# A template that selects by its labels alone: matching `key=~"v1|v2|..."` instead of one value
# returns exactly the union of the shards' own series, so one query can read them all.
_BARE_SELECTOR = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\{\$labels\}")
_RE2_META = re.compile(r"([\\.+*?()|\[\]{}^$])")  # what Go's regexp.QuoteMeta escapes


class MetricNotConfigured(ValueError):
    """The policy forecasts a metric the shard gives no way to read."""


@dataclass(frozen=True)
class ShardQuery:
    """A shard's query and what it was built from, so that queries can be grouped."""

    shard: str
    promql: str
    template: str | None  # with `$labels`; None for a shard's own `query`
    labels: tuple[tuple[str, str], ...]  # the matchers filled in, sorted by name


@dataclass(frozen=True)
class QueryBatch:
    """One PromQL query read for `members`. Without `varying` it is one shard's own query and
    whatever series it returns are that shard's; with it, a series belongs to the members whose
    label `varying` has the series' value of that label."""

    promql: str
    members: tuple[ShardQuery, ...]
    varying: str | None = None


def shard_query(shard_name: str, shard_spec: Mapping[str, Any],
                policy_metric: Mapping[str, Any]) -> str:
    """The shard's own query if it has one, else the template with its label matchers (by
    default shard="<name>")."""
    return query_of(shard_name, shard_spec, policy_metric).promql


def query_of(shard_name: str, shard_spec: Mapping[str, Any],
             policy_metric: Mapping[str, Any]) -> ShardQuery:
    """`shard_query` with the template and labels it came from."""
    metric_type = str(policy_metric.get("type", "cpu"))
    source = (shard_spec.get("metrics") or {}).get(metric_type) or {}
    if "query" in source:
        return ShardQuery(shard_name, str(source["query"]), None, ())
    labels = tuple(sorted((str(k), str(v)) for k, v in
                          (source.get("labels") or {"shard": shard_name}).items()))
    template = policy_metric.get("query") if metric_type == "custom" else TEMPLATES[metric_type]
    if not template:
        raise MetricNotConfigured(f"policy metric {metric_type} has no query")
    return ShardQuery(shard_name, _fill(str(template), labels), str(template), labels)


def batch_queries(queries: Iterable[ShardQuery], *,
                  max_selector_bytes: int = DEFAULT_BATCH_BYTES,
                  max_members: int | None = None) -> list[QueryBatch]:
    """Few queries that read every shard, since one request per shard does not scale to
    thousands: shards with the same bare-selector template and label names, whose labels differ
    only in one label's value, share a query `key=~"v1|v2|..."`, in chunks whose selector stays
    within `max_selector_bytes` and that have at most `max_members` shards (bounding the size
    of one answer). Any other query is read on its own."""
    families: dict[tuple[str, tuple[str, ...]], list[ShardQuery]] = {}
    batches = []
    for query in queries:
        if query.template and query.labels and _BARE_SELECTOR.fullmatch(query.template):
            names = tuple(name for name, _ in query.labels)
            families.setdefault((query.template, names), []).append(query)
        else:
            batches.append(QueryBatch(query.promql, (query,)))
    for members in families.values():
        batches.extend(_family_batches(members, max_selector_bytes, max_members))
    return batches


def _family_batches(members: Sequence[ShardQuery], budget: int,
                    max_members: int | None) -> Iterator[QueryBatch]:
    """Batches of shards with the same template and label names, varying the label that puts
    them into the fewest groups (the others fixed per group)."""
    names = [name for name, _ in members[0].labels]
    groupings = {name: _groups(members, name) for name in names}
    varying = min(names, key=lambda name: len(groupings[name]))
    for group in groupings[varying].values():
        for chunk in _chunks(group, varying, budget, max_members):
            if len(chunk) == 1:
                yield QueryBatch(chunk[0].promql, chunk)
            else:
                yield QueryBatch(_grouped_promql(chunk, varying), chunk, varying)


def _groups(members: Sequence[ShardQuery],
            varying: str) -> dict[tuple[tuple[str, str], ...], list[ShardQuery]]:
    """Members by their labels other than `varying`."""
    groups: dict[tuple[tuple[str, str], ...], list[ShardQuery]] = {}
    for member in members:
        fixed = tuple(label for label in member.labels if label[0] != varying)
        groups.setdefault(fixed, []).append(member)
    return groups


def _chunks(group: Sequence[ShardQuery], varying: str, budget: int,
            max_members: int | None) -> Iterator[tuple[ShardQuery, ...]]:
    """Consecutive runs of at most `max_members` of the group whose grouped selector fits the
    budget (a value too long for it alone still makes a run of one, read with its own query)."""
    base = len(_grouped_promql(group[:1], varying).encode()) - _value_bytes(group[0], varying)
    chunk: list[ShardQuery] = []
    values: set[str] = set()
    size = base
    for member in group:
        value = dict(member.labels)[varying]
        grows = 0 if value in values else _value_bytes(member, varying) + (1 if values else 0)
        if chunk and (size + grows > budget or len(chunk) == max_members):
            yield tuple(chunk)
            chunk, values, size = [], set(), base
            grows = _value_bytes(member, varying)
        chunk.append(member)
        values.add(value)
        size += grows
    yield tuple(chunk)


def _grouped_promql(chunk: Sequence[ShardQuery], varying: str) -> str:
    """The template with the fixed matchers and `varying=~"v1|v2|..."` (each value once)."""
    alternatives = "|".join(dict.fromkeys(_regex(dict(m.labels)[varying]) for m in chunk))
    labels = tuple((name, alternatives if name == varying else value)
                   for name, value in chunk[0].labels)
    return _fill(str(chunk[0].template), labels, regex=varying)


def _value_bytes(member: ShardQuery, varying: str) -> int:
    return len(_escape(_regex(dict(member.labels)[varying])).encode())


def _fill(template: str, labels: Iterable[tuple[str, str]], regex: str | None = None) -> str:
    matchers = ",".join(f'{k}{"=~" if k == regex else "="}"{_escape(v)}"' for k, v in labels)
    return template.replace("$labels", matchers)


def _regex(value: str) -> str:
    """The value as an RE2 literal: Prometheus anchors the regex, so it matches only itself."""
    return _RE2_META.sub(r"\\\1", value)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
