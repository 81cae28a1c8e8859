"""Recording one feedback event in Redis, as steps that a blocking and an event-loop client both run.

One round trip reads what the event changes (the user's state, cached candidate set and feedback generation, the
session, the event_id's record); the changes are computed in the service; one Lua script (RECORD_FEEDBACK) writes
them all if the generation and the session are still the ones read, else the event is read and computed again
(optimistic concurrency: two events of one user or one session never lose each other's update). The steps are a
generator that yields each Redis call (a Step) and is sent its reply, so SessionStore.record_feedback (blocking,
in a request's thread) and HotReads.record_feedback (the event loop) share every decision.

An event sent again by the same sender with the event_id of one already recorded is not applied again: the answer
is the first one's entry and True; the same event_id with other content raises IdempotencyConflict.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import orjson

from graphrec.serving.request.candidate_pool import CandidatePool
from graphrec.serving.resilience.guard import Unavailable
from graphrec.serving.state.user_records import SESSION_EVENTS_KEPT, IdempotencyConflict, IdempotencyKey, UserState

if TYPE_CHECKING:
    from graphrec.serving.settings import ServingSettings

# Records one feedback event, if the user's generation (KEYS[1]) and the session (its SHA-1) are still the ones
# the service read: appends it to the stream, sets the state, the candidate set (deleted when none is given) and
# the session, increments the generation, and notes the event_id with its entry. The first write is the XADD: a
# Redis at its memory limit refuses it and nothing is written.
# KEYS: generation, state, candidates, stream, session, event_id key, event_id expiry index.
# ARGV: generation read, session SHA-1 read ('' none), state, candidates ('' delete), session ('' none), state
# and session TTL, candidates TTL, generation TTL, stream cap ('' none), event digest ('' no event_id), event_id
# expiry time, then the stream entry's fields and values.
RECORD_FEEDBACK = """
if ARGV[10] ~= '' then
  local recorded = redis.call('GET', KEYS[6])
  if recorded then return {'duplicate', recorded} end
end
if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[1] then return {'changed'} end
if ARGV[5] ~= '' then
  local session = redis.call('GET', KEYS[5])
  if (session and redis.sha1hex(session) or '') ~= ARGV[2] then return {'changed'} end
end
local entry
if ARGV[9] ~= '' then
  entry = redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[9], '*', unpack(ARGV, 12))
else
  entry = redis.call('XADD', KEYS[4], '*', unpack(ARGV, 12))
end
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[6])
if ARGV[4] ~= '' then redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[7]) else redis.call('DEL', KEYS[3]) end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[8])
if ARGV[5] ~= '' then redis.call('SET', KEYS[5], ARGV[5], 'EX', ARGV[6]) end
if ARGV[10] ~= '' then
  redis.call('SET', KEYS[6], ARGV[10] .. ' ' .. entry)
  redis.call('ZADD', KEYS[7], ARGV[11], KEYS[6])
end
return {'recorded', entry}
"""
RECORD_ATTEMPTS = 20


@dataclass(frozen=True)
class Step:
    """One Redis call: MGET of ``keys`` when ``args`` is None, else RECORD_FEEDBACK on ``keys`` and ``args``."""

    keys: list[str]
    args: list[Any] | None = None


class FeedbackKeys(NamedTuple):
    """The keys one feedback event reads and writes; ``session`` and ``event`` only with a session and an id."""

    state: str
    candidates: str
    generation: str
    session: str | None
    event: str | None
    expiry: str


class FeedbackTarget(Protocol):
    """What the steps need of the store that records (serving.state.sessions.SessionStore)."""

    settings: ServingSettings
    trim_on_append: bool

    def feedback_keys(self, user_id: Any, session_id: str | None, idempotency: IdempotencyKey | None
                      ) -> FeedbackKeys: ...


Steps = Generator[Step, Any, tuple[str | None, bool]]


def record_steps(store: FeedbackTarget, event: dict[str, Any], positive: bool, build_state: Callable[[], UserState],
                 idempotency: IdempotencyKey | None,
                 update_candidates: Callable[[CandidatePool, UserState], CandidatePool | None] | None) -> Steps:
    """The steps that record ``event``; their value is (stream entry id, duplicate). ``update_candidates`` turns
    the cached set into the one after the event (serving.feedback.intake); without it, or when it answers None,
    the set is deleted and the next request builds it."""
    settings = store.settings
    user_id = event["user_id"]
    keys = store.feedback_keys(user_id, event.get("session_id"), idempotency)
    fields = [part for name, value in event.items() if value is not None for part in (name, json.dumps(value))]
    ttl_s = settings.session_ttl_s
    read = [key for key in (keys.state, keys.candidates, keys.generation, keys.session, keys.event)
            if key]
    for _ in range(RECORD_ATTEMPTS):
        found = iter((yield Step(read)))
        raw_state, raw_pool, generation = next(found), next(found), next(found)
        raw_session = next(found) if keys.session else None
        recorded = next(found) if keys.event else None
        if recorded is not None and idempotency:
            return duplicate_of(recorded, idempotency)
        state = UserState.from_json(raw_state) if raw_state else build_state()
        state.add(event["item_id"], positive, settings.session_recent, settings.history_limit)
        session = orjson.loads(raw_session) if raw_session else {"user_id": user_id, "events": []}
        session["events"] = [*session["events"], event][-SESSION_EVENTS_KEPT:]
        pool = CandidatePool.from_bytes(raw_pool) if raw_pool and update_candidates else None
        updated = update_candidates(pool, state) if pool is not None and update_candidates else None
        args = [generation or b"0", hashlib.sha1(raw_session).hexdigest() if raw_session else "",
                state.to_json(), updated.to_bytes(updated.ranked.version if updated.ranked else None)
                if updated is not None else b"", orjson.dumps(session) if keys.session else "", ttl_s,
                settings.degraded_cache_ttl_s if updated is not None and updated.missing
                else settings.candidate_cache_ttl_s, max(ttl_s, settings.candidate_cache_ttl_s),
                settings.feedback_stream_maxlen if store.trim_on_append else "",
                idempotency.digest if idempotency else "", time.time() + settings.event_id_ttl_s, *fields]
        answer = yield Step([keys.generation, keys.state, keys.candidates, settings.feedback_stream,
                             keys.session or keys.state, keys.event or keys.state, keys.expiry],
                            args)
        outcome = answer[0].decode() if isinstance(answer[0], bytes) else answer[0]
        if outcome == "changed":
            continue
        if outcome == "duplicate" and idempotency:
            return duplicate_of(answer[1], idempotency)
        entry = answer[1]
        return (entry.decode() if isinstance(entry, bytes) else str(entry)), False
    raise Unavailable(f"redis: the user's state kept changing during {RECORD_ATTEMPTS} attempts to record the "
                      "event; nothing was written", retry_after_s=1)


def duplicate_of(recorded: bytes, idempotency: IdempotencyKey) -> tuple[str | None, bool]:
    digest, _, entry = recorded.decode().partition(" ")
    if digest != idempotency.digest:
        raise IdempotencyConflict(f"event_id {idempotency.event_id!r} was sent before with other content; "
                                  "a retry sends the same event, a new event a new event_id")
    return entry or None, True
