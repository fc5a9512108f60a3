"""What a move makes and unmakes on a PostgreSQL node, one idempotent statement group each.

A shard is one schema. Its move's objects carry names derived from the schema (and, for the
subscription and its replication slot, the move's uid), so a cleanup finds them from etcd's
record alone and a later move of the same shard never mistakes an earlier one's leftovers for
its own:
- publication `shardcast_<schema>` on the source, for the schema's tables;
- subscription `shardcast_<schema>_<uid12>` on the target, whose slot on the source has the
  same name;
- the fence: a statement trigger `shardcast_fence` on each of the schema's tables, calling
  `shardcast.refuse_fenced_write()`, which fails the write with SQLSTATE `SCFEN`.
"""

from __future__ import annotations

import hashlib
import re

import psycopg
from psycopg import sql

Conn = psycopg.AsyncConnection[tuple[object, ...]]

FENCED_SQLSTATE = "SCFEN"
FENCE_TRIGGER = "shardcast_fence"
_FENCE_FUNCTION = f"""
CREATE FUNCTION shardcast.refuse_fenced_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'shard schema % is fenced on this node: it is moving or has moved',
        TG_TABLE_SCHEMA USING ERRCODE = '{FENCED_SQLSTATE}';
END $$"""
# PostgreSQL names are at most 63 bytes; the longest derived name adds 23 to the schema's.
MAX_SCHEMA_BYTES = 40
UID_CHARS = 12  # of the move's uid, in the names of its subscription and slot


def schema_of(shard: str) -> str:
    """The schema a Shard names by default: its name with '-' as '_' (a DNS label becomes a
    plain lower-case identifier), `shard_` before a name PostgreSQL reserves (`pg_...`), a
    digest in place of the tail of a name too long for the derived names."""
    schema = shard.replace("-", "_").replace(".", "_")
    if schema.startswith("pg_"):
        schema = f"shard_{schema}"
    if len(schema.encode()) > MAX_SCHEMA_BYTES:
        digest = hashlib.sha1(schema.encode()).hexdigest()[:8]
        schema = f"{schema[:MAX_SCHEMA_BYTES - 9]}_{digest}"
    return schema


def publication_name(schema: str) -> str:
    return f"shardcast_{schema}"


def subscription_name(schema: str, uid: str) -> str:
    """Also the slot's name, so only [a-z0-9_]: a Kubernetes uid's dashes are left out."""
    return f"shardcast_{schema}_{uid.replace('-', '').lower()[:UID_CHARS]}"


def of_schema(names: list[str], schema: str) -> list[str]:
    """The names that are the schema's moves' own: `shardcast_orders_` also begins the
    names of schema `orders_eu`'s moves, which are not `orders`'."""
    move = re.compile(re.escape(f"shardcast_{schema}_") + f"[0-9a-f]{{{UID_CHARS}}}")
    return [name for name in names if move.fullmatch(name)]


async def connect(dsn: str) -> Conn:
    """An autocommit connection: subscriptions cannot be made or dropped in a transaction."""
    return await psycopg.AsyncConnection.connect(dsn, autocommit=True, connect_timeout=5)


async def _one(conn: Conn, query: sql.Composable | str, params: tuple[object, ...] = ()
               ) -> tuple[object, ...] | None:
    cursor = await conn.execute(query, params)  # type: ignore[arg-type]
    return await cursor.fetchone()


async def _all(conn: Conn, query: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    cursor = await conn.execute(query, params)
    return await cursor.fetchall()


async def schema_exists(conn: Conn, schema: str) -> bool:
    return await _one(conn, "SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)) is not None


async def tables(conn: Conn, schema: str) -> list[str]:
    rows = await _all(conn, "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON "
                            "n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind IN "
                            "('r', 'p') ORDER BY 1", (schema,))
    return [str(row[0]) for row in rows]


async def drop_schema(conn: Conn, schema: str) -> None:
    await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


# -- publication, subscription, slots ----------------------------------------------------------

async def ensure_publication(conn: Conn, schema: str) -> None:
    name = publication_name(schema)
    if await _one(conn, "SELECT 1 FROM pg_publication WHERE pubname = %s", (name,)) is None:
        await conn.execute(sql.SQL("CREATE PUBLICATION {} FOR TABLES IN SCHEMA {}").format(
            sql.Identifier(name), sql.Identifier(schema)))


async def drop_publication(conn: Conn, schema: str) -> None:
    await conn.execute(sql.SQL("DROP PUBLICATION IF EXISTS {}").format(
        sql.Identifier(publication_name(schema))))


async def subscriptions(conn: Conn, schema: str) -> list[str]:
    """This node's subscriptions of the schema's moves (any uid)."""
    rows = await _all(conn, "SELECT subname FROM pg_subscription WHERE subname LIKE %s",
                      (_like(f"shardcast_{schema}_"),))
    return of_schema([str(row[0]) for row in rows], schema)


async def create_slot(conn: Conn, slot: str) -> None:
    """A fresh logical slot for the move's subscription, made on the source before the
    subscription. CREATE SUBSCRIPTION making its own slot holds a transaction on the target
    while the source waits for every running transaction to finish; with two nodes syncing
    from each other at once each waits for the other forever."""
    await drop_slot(conn, slot)
    await conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))


async def create_subscription(conn: Conn, name: str, source_dsn: str, schema: str) -> None:
    """Subscribe through the slot create_slot made on the source (named like the
    subscription)."""
    await conn.execute(sql.SQL("CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {} "
                               "WITH (create_slot = false, slot_name = {})").format(
        sql.Identifier(name), sql.Literal(source_dsn),
        sql.Identifier(publication_name(schema)), sql.Literal(name)))


async def drop_subscription(conn: Conn, name: str) -> None:
    """Drop it and its slot on the source; a source that cannot be reached keeps the slot,
    which drop_slots then removes there."""
    try:
        await conn.execute(sql.SQL("DROP SUBSCRIPTION IF EXISTS {}").format(sql.Identifier(name)))
    except psycopg.OperationalError:
        ident = sql.Identifier(name)
        await conn.execute(sql.SQL("ALTER SUBSCRIPTION {} DISABLE").format(ident))
        await conn.execute(sql.SQL("ALTER SUBSCRIPTION {} SET (slot_name = NONE)").format(ident))
        await conn.execute(sql.SQL("DROP SUBSCRIPTION {}").format(ident))


async def copied(conn: Conn, name: str) -> tuple[int, int]:
    """(tables whose initial copy is done and that stream, tables of the subscription)."""
    row = await _one(conn, "SELECT count(*) FILTER (WHERE r.srsubstate = 'r'), count(*) FROM "
                           "pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid "
                           "WHERE s.subname = %s", (name,))
    assert row is not None
    return int(row[0]), int(row[1])  # type: ignore[call-overload]


async def slot_lag(conn: Conn, slot: str) -> int | None:
    """WAL bytes the subscriber has not yet confirmed on the source; None: no such slot."""
    row = await _one(conn, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn) "
                           "FROM pg_replication_slots WHERE slot_name = %s", (slot,))
    return None if row is None or row[0] is None else int(row[0])  # type: ignore[call-overload]


async def confirmed_past(conn: Conn, slot: str, lsn: str) -> bool:
    row = await _one(conn, "SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots "
                           "WHERE slot_name = %s", (lsn, slot))
    return bool(row and row[0])


async def current_lsn(conn: Conn) -> str:
    row = await _one(conn, "SELECT pg_current_wal_lsn()::text")
    assert row is not None
    return str(row[0])


async def slots(conn: Conn, schema: str) -> list[tuple[str, bool]]:
    """(name, active) of the replication slots of the schema's moves on this node."""
    rows = await _all(conn, "SELECT slot_name, active FROM pg_replication_slots WHERE "
                            "slot_name LIKE %s", (_like(f"shardcast_{schema}_"),))
    own = set(of_schema([str(name) for name, _ in rows], schema))
    return [(str(name), bool(active)) for name, active in rows if name in own]


async def drop_slot(conn: Conn, slot: str) -> None:
    await conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                       "WHERE slot_name = %s AND NOT active", (slot,))


# -- fence --------------------------------------------------------------------------------------

async def fence(conn: Conn, schema: str) -> None:
    """Refuse every later write to the schema's tables on this node. Creating a trigger waits
    for the writes in flight (it locks out writers), so every write is either committed before
    the fence, and replicated, or refused."""
    await _ensure_fence_function(conn)
    async with conn.transaction():
        for table in await tables(conn, schema):
            if await _fenced_table(conn, schema, table):
                continue
            await conn.execute(sql.SQL(
                "CREATE TRIGGER {} BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON {} "
                "FOR EACH STATEMENT EXECUTE FUNCTION shardcast.refuse_fenced_write()").format(
                sql.Identifier(FENCE_TRIGGER), sql.Identifier(schema, table)))


async def unfence(conn: Conn, schema: str) -> None:
    async with conn.transaction():
        for table in await tables(conn, schema):
            await conn.execute(sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(
                sql.Identifier(FENCE_TRIGGER), sql.Identifier(schema, table)))


async def fenced(conn: Conn, schema: str) -> bool:
    """Whether any of the schema's tables refuses writes here."""
    row = await _one(conn, "SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                           "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s "
                           "AND t.tgname = %s", (schema, FENCE_TRIGGER))
    return row is not None


async def _fenced_table(conn: Conn, schema: str, table: str) -> bool:
    row = await _one(conn, "SELECT 1 FROM pg_trigger WHERE tgrelid = %s::regclass AND "
                           "tgname = %s", (f'"{schema}"."{table}"', FENCE_TRIGGER))
    return row is not None


async def _ensure_fence_function(conn: Conn) -> None:
    async with conn.transaction():
        # Serialises moves racing to create it (CREATE ... IF NOT EXISTS still races).
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('shardcast.fence'))")
        await conn.execute("CREATE SCHEMA IF NOT EXISTS shardcast")
        if await _one(conn, "SELECT 1 FROM pg_proc WHERE proname = 'refuse_fenced_write' AND "
                            "pronamespace = 'shardcast'::regnamespace") is None:
            await conn.execute(_FENCE_FUNCTION)


# -- sequences and the cutover's record ------------------------------------------------------

async def sequences(conn: Conn, schema: str) -> dict[str, int]:
    """Each of the schema's sequences and the next value it would hand out, read from the
    sequence itself (pg_sequences shows no value for one set with `setval(..., false)`, which
    is how a shard's sequences stand right after it moved here)."""
    rows = await _all(conn, "SELECT sequencename, increment_by FROM pg_sequences WHERE "
                            "schemaname = %s", (schema,))
    out = {}
    for name, increment in rows:
        row = await _one(conn, sql.SQL("SELECT last_value, is_called FROM {}").format(
            sql.Identifier(schema, str(name))))
        assert row is not None
        last, called = int(row[0]), bool(row[1])  # type: ignore[call-overload]
        out[str(name)] = last + int(increment) if called else last  # type: ignore[call-overload]
    return out


async def advance_sequences(conn: Conn, schema: str, next_values: dict[str, int],
                            margin: int) -> None:
    """Logical replication does not carry sequences: start the target's past the source's,
    with a margin for values the source handed out without writing them."""
    for name, value in next_values.items():
        await conn.execute("SELECT setval(%s::regclass, %s, false)",
                           (f'"{schema}"."{name}"', value + margin))


async def record_cutover(conn: Conn, schema: str, uid: str, lsn: str) -> None:
    await conn.execute("CREATE SCHEMA IF NOT EXISTS shardcast")
    await conn.execute("CREATE TABLE IF NOT EXISTS shardcast.cutovers (uid text PRIMARY KEY, "
                       "schema_name text NOT NULL, fenced_at_lsn pg_lsn NOT NULL, "
                       "at timestamptz NOT NULL DEFAULT now())")
    await conn.execute("INSERT INTO shardcast.cutovers (uid, schema_name, fenced_at_lsn) VALUES "
                       "(%s, %s, %s) ON CONFLICT (uid) DO NOTHING", (uid, schema, lsn))


async def cut_over(conn: Conn, uid: str) -> bool:
    """Whether this node finished the cutover of move `uid`."""
    if await _one(conn, "SELECT to_regclass('shardcast.cutovers')") == (None,):
        return False
    return await _one(conn, "SELECT 1 FROM shardcast.cutovers WHERE uid = %s", (uid,)) is not None


async def checksums(conn: Conn, schema: str) -> dict[str, tuple[int, str]]:
    """Each table's row count and an md5 over its rows in a stable order."""
    out = {}
    for table in await tables(conn, schema):
        row = await _one(conn, sql.SQL(
            "SELECT count(*), COALESCE(md5(string_agg(t::text, ',' ORDER BY t::text)), '') "
            "FROM {} t").format(sql.Identifier(schema, table)))
        assert row is not None
        out[table] = (int(row[0]), str(row[1]))  # type: ignore[call-overload]
    return out


def _like(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + "%"
