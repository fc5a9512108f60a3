"""The actions a pass may take. Each is idempotent, so repeating one after a crash is harmless."""

from __future__ import annotations

from dataclasses import dataclass

from shardcast.migration.model import Phase


@dataclass(frozen=True)
class Hold:
    """Nothing to do yet; the reason says what is awaited."""


@dataclass(frozen=True)
class Announce:
    """Claim the shard in etcd at the epoch read; refused if anyone else holds it."""


@dataclass(frozen=True)
class StartJob:
    kind: str  # "sync" or "cutover"; created only if absent


@dataclass(frozen=True)
class Shift:
    percent: int  # traffic on the target from now on


@dataclass(frozen=True)
class Commit:
    """etcd compare-and-swap: the target owns the shard at epoch + 1."""


@dataclass(frozen=True)
class RollBack:
    """Give the claim up: traffic returns to the source, whose placement never changed."""


@dataclass(frozen=True)
class Adopt:
    """etcd already shows the outcome (a pass committed and then crashed): only status follows."""


Action = Hold | Announce | StartJob | Shift | Commit | RollBack | Adopt


@dataclass(frozen=True)
class Step:
    """The action, the phase the migration is in once it succeeds, and what status says."""

    action: Action
    phase: Phase
    reason: str
    message: str
