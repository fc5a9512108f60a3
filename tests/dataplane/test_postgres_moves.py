"""PostgreSQL shards moved again and again among three real servers under continuous write
transactions and reads, rolled back in every phase: every acknowledged transaction on the owner
exactly once, no write taken by a fenced source, equal copies at cutover, sequences that
continue, and no publication, subscription or replication slot left behind."""

from __future__ import annotations

import asyncio

from tests.dataplane.driver import ABANDON_AFTER_CUTOVER, ABANDON_SHIFT, KILL_CUTOVER, KILL_SYNC
from tests.dataplane.postgres_plane import KILL_AFTER_FENCE, PgPlane, run_campaign

FAILURES = (None, KILL_SYNC, None, ABANDON_SHIFT, None, KILL_CUTOVER, None, KILL_AFTER_FENCE,
            None, ABANDON_AFTER_CUTOVER, None, KILL_SYNC, None, KILL_AFTER_FENCE, None)


def test_moves_under_write_load_lose_nothing(pg_plane: PgPlane, pg_shards: list[str]) -> None:
    nodes = list(pg_plane.nodes)
    placements = {shard: nodes[i % len(nodes)] for i, shard in enumerate(pg_shards)}
    outcome = asyncio.run(run_campaign(pg_plane, placements, moves_per_shard=len(FAILURES),
                                       failures=FAILURES, rows=500, seed=5))
    assert outcome.violations == []
    assert outcome.ledger.errors == []
    committed = [m for m in outcome.moves if m.committed]
    rolled_back = [m for m in outcome.moves if not m.committed]
    assert len(outcome.moves) == len(FAILURES) * len(pg_shards) >= 60
    assert all(m.fail is None for m in committed), [m.jobs for m in committed]
    assert {m.fail for m in rolled_back} == {KILL_SYNC, ABANDON_SHIFT, KILL_CUTOVER,
                                             ABANDON_AFTER_CUTOVER}
    assert len(committed) == FAILURES.count(None) * len(pg_shards), [m.jobs for m in rolled_back]
    assert {n for m in committed for n in (m.source, m.target)} == set(nodes)
    assert sum(map(len, outcome.ledger.acked.values())) > 500
    assert outcome.ledger.reads > 500
