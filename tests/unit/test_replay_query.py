"""The stack's stand-in for live shard usage: a backfilled trace shifted so it ends now."""

import json
from pathlib import Path

from shardcast.devstack.history import TRACE_METRIC, replay_query
from shardcast.devstack.prometheus import aligned_now


def test_a_replayed_trace_is_shifted_to_now_and_never_by_zero(tmp_path: Path) -> None:
    """Right after a backfill its last sample is now, and PromQL refuses `offset 0s`."""

    def backfilled_at(end_seconds: int) -> str:
        (tmp_path / "prometheus").mkdir(exist_ok=True)
        (tmp_path / "prometheus" / "backfill.json").write_text(json.dumps([
            {"metric": TRACE_METRIC, "labels": {"trace": "t"}, "step_seconds": 300,
             "points": 10, "end_seconds": end_seconds}]))
        return replay_query("t", tmp_path)

    now = aligned_now(300)
    assert backfilled_at(now) == f'{TRACE_METRIC}{{trace="t"}}'
    assert backfilled_at(now - 3600) == f'{TRACE_METRIC}{{trace="t"}} offset 3600s'
