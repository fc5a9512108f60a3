"""The stack's stand-in for live shard usage: a backfilled trace shifted so it ends now."""

import json
from pathlib import Path

import pytest

from shardcast.devstack import history
from shardcast.devstack.history import TRACE_METRIC, replay_query

NOW = 1_764_000_000  # a multiple of 300


def test_a_replayed_trace_is_shifted_to_now_and_never_by_zero(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Right after a backfill its last sample is now, and PromQL refuses `offset 0s`."""
    monkeypatch.setattr(history, "aligned_now", lambda step: NOW // step * step)

    def backfilled_at(end_seconds: int) -> str:
        (tmp_path / "prometheus").mkdir(exist_ok=True)
        (tmp_path / "prometheus" / "backfill.json").write_text(json.dumps([
            {"metric": TRACE_METRIC, "labels": {"trace": "t"}, "step_seconds": 300,
             "points": 10, "end_seconds": end_seconds}]))
        return replay_query("t", tmp_path)

    assert backfilled_at(NOW) == f'{TRACE_METRIC}{{trace="t"}}'
    assert backfilled_at(NOW - 3600) == f'{TRACE_METRIC}{{trace="t"}} offset 3600s'
