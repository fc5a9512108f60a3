"""Unit tests never start the challenge pool unless they ask for one: every policy forecaster
gets a queue that holds its challenges until a test runs them (see `HeldChallenges`)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field

import pytest

from shardcast.forecast.challenge import Challenge, Challenged, run_challenge
from shardcast.reconcile import challengers


@dataclass
class HeldChallenges:
    """A challenge queue whose challenges finish only when `run` says so (in this process)."""

    held: list[tuple[Challenge, Future[Challenged]]] = field(default_factory=list)

    def submit(self, challenge: Challenge) -> Future[Challenged]:
        future: Future[Challenged] = Future()
        self.held.append((challenge, future))
        return future

    def run(self) -> None:
        for challenge, future in self.held:
            future.set_result(run_challenge(challenge))
        self.held.clear()


@pytest.fixture(autouse=True)
def held_challenges(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldChallenges]:
    queue = HeldChallenges()
    monkeypatch.setattr(challengers, "SHARED_POOL", queue)
    yield queue
