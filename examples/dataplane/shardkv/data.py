"""One shard's data on one node: the key-value map and its sequence-numbered change log.

The log is what makes a move lossless. A target copies a snapshot taken at sequence S, then
applies the source's changes after S in order, so "the target applied up to N" means it holds
every write the source acknowledged up to N. A copy keeps the numbering it was given, so sequence
numbers identify each acknowledged write across the whole life of a shard, on any node.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    seq: int
    key: str
    value: str


class ShardData:
    def __init__(self, items: dict[str, str] | None = None, seq: int = 0) -> None:
        self.items = dict(items or {})
        self.seq = seq  # the last change applied
        self._base = seq  # the log holds every change after this one
        self._log: list[Entry] = []
        self._changed = asyncio.Event()

    def put(self, key: str, value: str) -> int:
        """Apply a new write and return its sequence number."""
        self.apply(Entry(self.seq + 1, key, value))
        return self.seq

    def apply(self, entry: Entry) -> None:
        """Apply the next change of the stream; one already applied is skipped, a gap refused."""
        if entry.seq <= self.seq:
            return
        if entry.seq != self.seq + 1:
            raise ValueError(f"change {entry.seq} does not follow {self.seq}")
        self.items[entry.key] = entry.value
        self.seq = entry.seq
        self._log.append(entry)
        self._changed.set()
        self._changed = asyncio.Event()

    def after(self, seq: int, limit: int) -> list[Entry]:
        """The changes after `seq`, oldest first; LookupError if the log no longer reaches back
        that far (the copy was made from a later snapshot)."""
        if seq < self._base:
            raise LookupError(f"log starts after {self._base}, not {seq}")
        start = seq - self._base
        return self._log[start:start + limit]

    async def reached(self, seq: int, timeout: float) -> bool:
        """Wait until this copy has applied `seq` (or the timeout passes); whether it has."""
        deadline = time.monotonic() + timeout
        while self.seq < seq:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return self.seq >= seq
        return True
