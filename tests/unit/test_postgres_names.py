"""Names the PostgreSQL data plane derives: schemas PostgreSQL accepts, slot names made of the
characters slots allow, and one shard's moves never mistaken for another's."""

from __future__ import annotations

import re
import uuid

from shardcast.dataplane.postgres.catalog import (
    MAX_SCHEMA_BYTES,
    of_schema,
    schema_of,
    subscription_name,
)

SLOT = re.compile(r"[a-z0-9_]{1,63}")  # what pg_create_logical_replication_slot accepts


def test_a_shard_name_becomes_a_schema_name() -> None:
    assert schema_of("orders-0") == "orders_0"
    assert schema_of("pg-orders") == "shard_pg_orders"  # pg_ is reserved for the system


def test_a_long_shard_name_is_shortened_with_a_digest_that_keeps_names_apart() -> None:
    long_a, long_b = "a" * 60 + "-x", "a" * 60 + "-y"
    assert len(schema_of(long_a).encode()) <= MAX_SCHEMA_BYTES
    assert schema_of(long_a) != schema_of(long_b)


def test_a_kubernetes_uid_makes_a_valid_slot_name() -> None:
    uid = str(uuid.uuid4())  # metadata.uid is dashed
    name = subscription_name(schema_of("z" * 80), uid)
    assert SLOT.fullmatch(name), name
    assert name == subscription_name(schema_of("z" * 80), uid.replace("-", ""))


def test_one_schemas_moves_are_not_anothers() -> None:
    uid = str(uuid.uuid4())
    orders, orders_eu = subscription_name("orders", uid), subscription_name("orders_eu", uid)
    assert of_schema([orders, orders_eu, "shardcast_orders_manual"], "orders") == [orders]
    assert of_schema([orders, orders_eu], "orders_eu") == [orders_eu]
