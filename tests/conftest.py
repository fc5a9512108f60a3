"""Markers: every test under tests/stack/ needs the local stack and is marked `stack`."""

from pathlib import Path

import pytest

STACK_DIR = Path(__file__).parent / "stack"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if STACK_DIR in Path(item.path).parents:
            item.add_marker(pytest.mark.stack)
