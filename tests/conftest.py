"""Markers: every test under tests/stack/ and tests/dataplane/ needs the local stack and is
marked `stack`. When any is selected, the stack's packages and binaries are made ready before
the first test, so a cold build is not charged to one test's timeout; if that fails, the stack
tests fail with the reason and the others still run."""

from pathlib import Path

import pytest

PREPARE_FAILED = pytest.StashKey[str]()

STACK_DIRS = (Path(__file__).parent / "stack", Path(__file__).parent / "dataplane")


def pytest_configure(config: pytest.Config) -> None:
    """One BLAS thread, as the operator's challenge workers have: tests share the machine's
    cores, and multithreaded BLAS on statsmodels' small problems is several times slower."""
    from shardcast.reconcile.one_blas_thread import start_worker

    start_worker()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(d in Path(item.path).parents for d in STACK_DIRS):
            item.add_marker(pytest.mark.stack)


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly or not any(
            item.get_closest_marker("stack") for item in session.items):
        return
    from shardcast.devstack import stack

    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    try:
        stack.prepare(reporter.write_line if reporter is not None else print)
    except Exception as error:  # whatever it is (no Go, a failed build), stack tests report it
        session.config.stash[PREPARE_FAILED] = str(error)
