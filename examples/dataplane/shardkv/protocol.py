"""Why a node refuses a request, in one shape for the node that says it and the clients that read
it: an HTTP status, a reason word and the node's view (epoch, owner, move) so a client can tell
"retry when the placement moves" from "this node will never serve it"."""

from __future__ import annotations

from typing import Any

NOT_OWNER = 410  # the node does not hold the shard at that epoch (lost it, or never had it)
RETRY = 409  # the node holds the shard but not for this request now: stale epoch, fenced, behind
NO_COPY = 503  # the node should hold the shard but has no copy it may serve from


class Refused(Exception):
    def __init__(self, status: int, reason: str, **detail: Any) -> None:
        super().__init__(f"{status} {reason} {detail}")
        self.status = status
        self.reason = reason
        self.detail = detail

    def body(self) -> dict[str, Any]:
        return {"refused": self.reason, **self.detail}

    @classmethod
    def from_body(cls, status: int, body: dict[str, Any]) -> Refused:
        detail = dict(body)
        return cls(status, str(detail.pop("refused", "unknown")), **detail)
