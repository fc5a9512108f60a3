"""The challenge pool's worker initializer, in a module of its own: a worker imports it before
anything else of shardcast, and BLAS reads its thread count once, when numpy first loads it.
Importing numpy here (or anything that does) would fix the count before it is set."""

from __future__ import annotations

import os

BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def start_worker() -> None:
    """One BLAS thread per worker: the pool's size is then the CPU it may take, and workers
    never oversubscribe the cores the operator's own threads need."""
    for name in BLAS_THREAD_VARIABLES:
        os.environ[name] = "1"
