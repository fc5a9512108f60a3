"""The process pool the challenges run in, shared by every policy of the operator and created on
the first challenge, so an operator (or a test) that never challenges starts no process.

Processes are spawned, not forked: the operator is an event loop plus threads, and a fork copies
whatever locks those threads held at that instant."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from shardcast.forecast.challenge import Challenge, Challenged, run_challenge
from shardcast.reconcile.one_blas_thread import start_worker


@dataclass
class ChallengePool:
    """At most `workers` processes (each one BLAS thread), started when first needed."""

    workers: int = 1
    _executor: ProcessPoolExecutor | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def submit(self, challenge: Challenge) -> Future[Challenged]:
        """Queue a challenge; never waits for it. A pool whose worker died is replaced."""
        with self._lock:
            try:
                return self._started().submit(run_challenge, challenge)
            except BrokenProcessPool:
                self._executor = None
                return self._started().submit(run_challenge, challenge)

    def resize(self, workers: int) -> None:
        """At most `workers` processes from the pool's next start (the operator's startup sets
        it from SHARDCAST_CHALLENGE_WORKERS, before any challenge)."""
        with self._lock:
            self.workers = workers

    def shutdown(self) -> None:
        """Stop the workers (queued challenges are dropped); a later submit starts anew."""
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._executor = None

    def _started(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=max(1, self.workers), mp_context=multiprocessing.get_context("spawn"),
                initializer=start_worker)
        return self._executor


SHARED_POOL = ChallengePool()
