"""A part that fails to start is named in the error, with the tail of its log."""

from pathlib import Path

import pytest

from shardcast.devstack import process
from shardcast.devstack.process import StackError


def test_a_failing_part_is_named_with_its_log(tmp_path: Path) -> None:
    part = process.Part("broken-part", ["sh", "-c", "echo cannot bind port; exit 3"],
                        ready=lambda: False, timeout_seconds=5)
    with pytest.raises(StackError, match=r"broken-part exited with code 3(.|\n)*cannot bind"):
        process.start(part, tmp_path)
