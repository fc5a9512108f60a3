"""What one node may do with each shard, decided only from its view of the consensus record.

E is the shard's placement epoch. The rules that make a move lose nothing:
- Writes: only the placement's node, at the placement's epoch, from a copy that is authoritative
  for that epoch, and not while a move's cutover has fenced it.
- A source is fenced by the cutover of one move (named by uid) and unfenced only when that move's
  announcement is deleted while the placement still names it: an abandon. A commit moves the
  placement in the same etcd transaction (placement first), so the source drops the shard
  instead and never serves it again.
- A target follows the source while the announcement names it; the cutover primes it for E+1
  once it has applied everything the fenced source acknowledged; the commit's placement then
  makes it the owner. An announcement deleted without that placement (abandon) drops its copy.
- Reads: the owner while not fenced; the target of the current move as a replica, only once it
  has applied the sequence number the reader asks for (what the reader's router saw acknowledged).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from shardcast.consensus.records import MIGRATION, PLACEMENT, Announcement, Placement
from shardcast.consensus.store import Change
from shardkv.data import ShardData
from shardkv.protocol import NO_COPY, NOT_OWNER, RETRY, Refused

OWNER, REPLICA = "owner", "replica"


@dataclass
class Shard:
    placement: Placement | None = None
    move: Announcement | None = None
    data: ShardData | None = None
    owned_epoch: int | None = None  # the epoch `data` is this node's authoritative copy for
    fenced_by: str | None = None  # uid of the move whose cutover fenced this source
    replica_of: str | None = None  # uid of the move whose target this node is
    primed_for: int | None = None  # epoch the cutover confirmed this replica may own
    follower: asyncio.Task[None] | None = None

    def drop(self) -> None:
        if self.follower is not None:
            self.follower.cancel()
        self.data = self.owned_epoch = self.fenced_by = self.replica_of = None
        self.primed_for = self.follower = None


Follow = Callable[[str, Shard, Announcement], Coroutine[Any, Any, None]]


class Node:
    def __init__(self, name: str, follow: Follow) -> None:
        self.name = name
        self.shards: dict[str, Shard] = {}
        self._follow = follow

    def shard(self, name: str) -> Shard:
        return self.shards.setdefault(name, Shard())

    # -- the consensus record ------------------------------------------------------------------

    def apply(self, change: Change) -> None:
        shard = self.shard(change.shard)
        if change.kind == PLACEMENT:
            assert change.value is None or isinstance(change.value, Placement)
            self._placed(shard, change.value)
        elif change.kind == MIGRATION:
            assert change.value is None or isinstance(change.value, Announcement)
            self._announced(shard, change.value)

    def _placed(self, shard: Shard, placement: Placement | None) -> None:
        shard.placement = placement
        if placement is None or placement.node != self.name:
            if shard.owned_epoch is not None:
                shard.drop()  # ownership lost: never serve this shard again
            return
        if shard.owned_epoch == placement.epoch:
            return
        if shard.primed_for == placement.epoch and shard.data is not None:
            if shard.follower is not None:
                shard.follower.cancel()
            shard.owned_epoch, shard.follower = placement.epoch, None
            shard.replica_of = shard.primed_for = shard.fenced_by = None
        elif placement.epoch == 1 and shard.data is None and shard.replica_of is None:
            shard.data, shard.owned_epoch = ShardData(), 1  # a new shard starts empty
        else:
            shard.owned_epoch = None  # placed here without a copy made for this epoch

    def _announced(self, shard: Shard, move: Announcement | None) -> None:
        ended, shard.move = shard.move, move
        if move is not None or ended is None:
            return
        if shard.fenced_by == ended.uid:
            shard.fenced_by = None  # abandoned: the source is authoritative again
        if shard.replica_of == ended.uid:
            shard.drop()  # abandoned (a commit promoted the replica first)

    # -- serving -------------------------------------------------------------------------------

    def owned(self, name: str, epoch: int, *, fenced_ok: bool = False) -> ShardData:
        """The authoritative copy at `epoch`, or why this node may not serve it."""
        shard = self.shard(name)
        placement = shard.placement
        if placement is None:
            raise Refused(NOT_OWNER, "unknown-shard")
        if placement.node != self.name:
            raise Refused(NOT_OWNER, "not-owner", owner=placement.node, epoch=placement.epoch)
        if shard.owned_epoch != placement.epoch or shard.data is None:
            raise Refused(NO_COPY, "no-copy", epoch=placement.epoch)
        if epoch != placement.epoch:
            raise Refused(RETRY, "stale-epoch", epoch=placement.epoch)
        if shard.fenced_by is not None and not fenced_ok:
            raise Refused(RETRY, "fenced", epoch=placement.epoch, move=shard.fenced_by)
        return shard.data

    async def readable(self, name: str, epoch: int, min_seq: int,
                       wait: float) -> tuple[ShardData, str]:
        """A copy to read from and the role it is read in (owner, or the move's replica)."""
        shard = self.shard(name)
        data = shard.data
        if not self._replica_at(shard, epoch) or data is None:
            return self.owned(name, epoch), OWNER
        if not await data.reached(min_seq, wait):
            raise Refused(RETRY, "behind", seq=data.seq, wanted=min_seq)
        if not self._replica_at(shard, epoch) or shard.data is not data:
            raise Refused(RETRY, "moved")
        return data, REPLICA

    @staticmethod
    def _replica_at(shard: Shard, epoch: int) -> bool:
        move = shard.move
        return (move is not None and move.uid == shard.replica_of and move.epoch == epoch)

    # -- moves ---------------------------------------------------------------------------------

    def _move(self, shard: Shard, uid: str, epoch: int, role: str) -> Announcement:
        move = shard.move
        if move is None or move.uid != uid:
            raise Refused(RETRY, "unknown-move", move=uid)  # this node's view may lag: retry
        if getattr(move, role) != self.name or move.epoch != epoch:
            raise Refused(NOT_OWNER, f"not-{role}", move=uid)
        return move

    def fence(self, name: str, uid: str, epoch: int) -> int:
        """Stop acknowledging writes for move `uid`; the last sequence number acknowledged."""
        shard = self.shard(name)
        self._move(shard, uid, epoch, "source")
        data = self.owned(name, epoch, fenced_ok=True)
        if shard.fenced_by not in (None, uid):
            raise Refused(RETRY, "fenced", move=shard.fenced_by)
        shard.fenced_by = uid
        return data.seq

    def replicate(self, name: str, uid: str, epoch: int) -> None:
        """Follow the source of move `uid` (once; again only if an earlier follow gave up)."""
        shard = self.shard(name)
        move = self._move(shard, uid, epoch, "target")
        if shard.owned_epoch is not None:
            raise Refused(RETRY, "owner", epoch=shard.owned_epoch)
        follower = shard.follower
        if shard.replica_of == uid and (follower is None or not follower.done()):
            return
        if shard.replica_of == uid and shard.primed_for is not None:
            return
        shard.drop()
        shard.replica_of = uid
        shard.follower = asyncio.create_task(self._follow(name, shard, move))

    async def prime(self, name: str, uid: str, epoch: int, seq: int, wait: float) -> int:
        """Confirm the replica of move `uid` applied `seq` (all the fenced source acknowledged),
        so the commit's placement may make it the owner at epoch + 1."""
        shard = self.shard(name)
        self._move(shard, uid, epoch, "target")
        data = shard.data
        if shard.replica_of != uid or data is None:
            raise Refused(RETRY, "not-following", move=uid)
        if not await data.reached(seq, wait):
            raise Refused(RETRY, "behind", seq=data.seq, wanted=seq)
        if shard.replica_of != uid or shard.data is not data:
            raise Refused(RETRY, "moved")
        shard.primed_for = epoch + 1
        return data.seq

    def status(self, name: str) -> dict[str, Any]:
        shard = self.shard(name)
        return {"node": self.name, "shard": name,
                "placement": None if shard.placement is None else [shard.placement.node,
                                                                   shard.placement.epoch],
                "move": None if shard.move is None else shard.move.uid,
                "seq": None if shard.data is None else shard.data.seq,
                "owned_epoch": shard.owned_epoch, "fenced_by": shard.fenced_by,
                "replica_of": shard.replica_of, "primed_for": shard.primed_for,
                "following": shard.follower is not None and not shard.follower.done()}
