"""The README's run command: forecasts lead to a move on the reference data plane, no write lost;
and the same story on real PostgreSQL servers (`--dataplane postgres`)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from shardcast.devstack import stack


@pytest.mark.parametrize("dataplane", ["shardkv", "postgres"])
def test_the_demo_moves_a_shard_before_its_peak_and_loses_no_write(
        endpoints: stack.Endpoints, tmp_path: Path, dataplane: str) -> None:
    picture = tmp_path / "demo.png"
    run = subprocess.run([sys.executable, "-m", "shardcast", "demo", "--seconds", "240",
                          "--plot", str(picture), "--dataplane", dataplane],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    moves = re.findall(r"^  (\S+): (kv-\d) (node-\w) -> (node-\w) \((\w+)\); predicted ([\d.]+)%",
                       out, re.MULTILINE)
    assert moves, out[-3000:]
    assert all(phase == "Active" for *_, phase, _ in moves), moves
    assert all(float(peak) > 80 for *_, peak in moves)  # moved because the forecast crossed 80%
    writes = re.search(r"(\d+) acknowledged, (\d+) lost", out)
    assert writes, out[-3000:]
    acked, wrong = map(int, writes.groups())
    assert acked > 100 and wrong == 0
    assert picture.read_bytes().startswith(b"\x89PNG")
