"""One policy's challenges, kept between cycles: which shards are being challenged in the pool,
which challengers won (their compact state, advanced with every new sample), and when each
shard was last challenged, so each is challenged again once per retrainInterval.

A cycle never waits for the pool: it adopts the challenges that finished since the last cycle,
queues a budget's worth of new ones and goes on with the batch model wherever no challenger
has won (yet)."""

from __future__ import annotations

import math
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

from shardcast.api.policy_spec import ForecastSpec
from shardcast.forecast.challenge import Challenge, Challenged, Challenger
from shardcast.reconcile.challenge_pool import SHARED_POOL
from shardcast.reconcile.history_store import HistoryStore

# The statsmodels challengers each spec.forecast.model lets compete with the batch.
CHALLENGERS = {"auto": ("ets", "sarimax"), "ets": ("ets",), "sarimax": ("sarimax",)}
# Worker CPU a policy may have queued at once (ETS and SARIMAX together take 1-3 s a shard):
# at one challenge every few seconds the pool keeps pace with a cycle every few minutes and
# never builds a backlog; a fleet larger than a budget per cycle is challenged in turns.
BUDGET_SECONDS = 20.0
FIRST_SECONDS_PER_CHALLENGE = 2.0  # a guess until one challenge has been measured


class ChallengeQueue(Protocol):
    def submit(self, challenge: Challenge) -> Future[Challenged]: ...


@dataclass(frozen=True)
class Collected:
    """Challenges that finished since the last cycle, by outcome."""

    won: int = 0
    lost: int = 0
    failed: int = 0


@dataclass
class Challengers:
    pool: ChallengeQueue = field(default_factory=lambda: SHARED_POOL)
    pending: dict[str, Future[Challenged]] = field(default_factory=dict)
    winners: dict[str, Challenger] = field(default_factory=dict)
    challenged_at: dict[str, float] = field(default_factory=dict)
    seconds_per_challenge: float = FIRST_SECONDS_PER_CHALLENGE

    def retain(self, names: set[str]) -> None:
        """Forget the shards not in `names` (a challenge in flight for one is left to finish
        and be dropped)."""
        for book in (self.pending, self.winners, self.challenged_at):
            for name in [n for n in book if n not in names]:
                del book[name]

    def drop(self, names: set[str]) -> None:
        """Give up the winners of `names` (the batch model stands in until they are won
        again at their next challenge)."""
        for name in names & self.winners.keys():
            del self.winners[name]

    def collect(self) -> Collected:
        """Adopt every finished challenge: its winner replaces the shard's challenger, a loss
        or a failure leaves the shard to the batch model."""
        won = lost = failed = 0
        for name, future in list(self.pending.items()):
            if not future.done():
                continue
            del self.pending[name]
            self.winners.pop(name, None)
            try:
                answer = future.result()
            except Exception:  # a worker's error costs its shard one challenge, nothing more
                failed += 1
                continue
            self.seconds_per_challenge = answer.cpu_seconds
            if answer.winner is None:
                lost += 1
            else:
                won += 1
                self.winners[name] = answer.winner
        return Collected(won, lost, failed)

    def advance(self, store: HistoryStore, spec: ForecastSpec, end: int) -> None:
        """Bring every winner up to `end` with the store's samples since its own end; one whose
        gap outgrew the window is dropped (the batch model stands in until it is re-won)."""
        context = spec.context(end)
        for name, winner in list(self.winners.items()):
            missed = (end - winner.end_seconds) // spec.step_seconds
            if missed <= 0:
                continue
            if missed >= store.window_points or name not in store:
                del self.winners[name]
                continue
            samples = store.newest(store.rows([name]), missed)[0].astype(float)
            self.winners[name] = winner.advanced(samples, context)

    def due(self, names: list[str], now_seconds: float, retrain_seconds: float) -> list[str]:
        """The shards to challenge now: never challenged first, then the longest ago, as many
        as the budget leaves after the challenges still in flight."""
        room = int(BUDGET_SECONDS / max(self.seconds_per_challenge, 1e-3)) - len(self.pending)
        ready = [n for n in names if n not in self.pending
                 and now_seconds - self.challenged_at.get(n, -math.inf) >= retrain_seconds]
        ready.sort(key=lambda n: self.challenged_at.get(n, -math.inf))
        return ready[:max(0, room)]

    def submit(self, name: str, challenge: Challenge, now_seconds: float) -> None:
        self.pending[name] = self.pool.submit(challenge)
        self.challenged_at[name] = now_seconds

    def fallback_reason(self, name: str, model: str) -> str:
        """Why the batch Holt-Winters forecasts a shard whose policy asks for `model`."""
        if name in self.pending or name not in self.challenged_at:
            return (f"{model} is fitted in the background; the batch holt-winters (the same "
                    "additive, damped family) stands in until it is")
        return (f"{model} did not beat the batch holt-winters in its last backtest; the batch "
                "stands in until the next challenge")
