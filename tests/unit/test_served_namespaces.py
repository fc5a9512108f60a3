"""Orphaned etcd records are collected only in the namespaces this operator serves."""

import pytest

from shardcast.handlers.shards import serves


@pytest.mark.parametrize(("patterns", "namespace", "served"), [
    ((), "anything", True),
    (("team-a",), "team-a", True),
    (("team-a",), "team-b", False),
    (("team-*",), "team-b", True),
    (("!kube-*",), "default", True),  # a leading exclusion implies a catch-all before it
    (("!kube-*",), "kube-system", False),
    (("team-*, !team-x",), "team-x", False),
])
def test_kopf_namespace_patterns(patterns: tuple[str, ...], namespace: str,
                                 served: bool) -> None:
    assert serves(patterns, namespace) is served
