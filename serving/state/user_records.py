"""The values the service keeps in Redis per user and per event: the user's state (seen and recent positive items)
and a client event_id's idempotency key (serving.state.sessions says where each lives)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import orjson

SESSION_EVENTS_KEPT = 100  # the recent feedback events a session keeps


class IdempotencyConflict(ValueError):
    """An event_id the sender used before for an event with other content."""


@dataclass(frozen=True)
class IdempotencyKey:
    """A client's event_id, scoped to who sent it: ``sender`` names the API key (or the client address when the
    service runs open) and the user, so one client's ids never answer for another's. ``digest`` fingerprints
    the event's content: a retry carries the same one."""

    sender: str
    event_id: str
    digest: str

    @classmethod
    def of(cls, principal: str, event_id: str, content: dict[str, Any]) -> IdempotencyKey:
        scope = hashlib.sha256(json.dumps([principal, content.get("user_id")]).encode()).hexdigest()[:24]
        digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:24]
        return cls(scope, event_id, digest)


@dataclass
class UserState:
    seen: list[Any] = field(default_factory=list)  # newest first, at most history_limit
    positive: list[Any] = field(default_factory=list)  # newest first, at most session_recent

    def to_json(self) -> str:
        return orjson.dumps({"seen": self.seen, "positive": self.positive}).decode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> UserState:
        data = orjson.loads(raw)
        return cls(seen=data["seen"], positive=data["positive"])

    def add(self, item_id: Any, positive: bool, keep: int, keep_seen: int) -> None:
        """Note a new interaction: it becomes the newest seen item (and positive one), the oldest beyond the
        bounds are dropped, as the graph's read of a state keeps the newest history_limit."""
        self.seen = [item_id, *(i for i in self.seen if i != item_id)][:keep_seen]
        if positive:
            self.positive = [item_id, *(i for i in self.positive if i != item_id)][:keep]
