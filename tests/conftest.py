"""Markers: every test under tests/stack/ and tests/dataplane/ needs the local stack and is
marked `stack`."""

from pathlib import Path

import pytest

STACK_DIRS = (Path(__file__).parent / "stack", Path(__file__).parent / "dataplane")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(d in Path(item.path).parents for d in STACK_DIRS):
            item.add_marker(pytest.mark.stack)
