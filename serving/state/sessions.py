"""What the service keeps in Redis: user state, sessions, cached candidate sets, and the feedback events it
appends to the stream (serving.feedback.stream reads them).

    <ns>:user:<user_id>            {"seen": [...], "positive": [...]}: items the user has interacted with and
                                   their recent positive items, newest first (rebuilt from the graph on a miss)
    <ns>:session:<session_id>      {"user_id", "events": recent feedback}
    <ns>:slate:<session_id>        {"user_id", "items"}: the last slate shown in the session
    <ns>:cand:<user_id>            the candidate set as columns, ranked, in binary (CandidatePool.to_bytes)
    <ns>:gen:<user_id>             how many feedback events changed the user: a candidate set is stored only if
                                   it is the generation the set was computed from
    <ns>:event:<sender>:<event_id> "<digest> <entry>": the content digest and stream entry of a feedback event
                                   sent with a client event_id, per sender (API key name or client address,
                                   and user): a retry with the same id is not counted again, and the same id
                                   with other content is a conflict
    <ns>:event-expiry              event keys by the time they expire (event_id_ttl_s after they were sent)
    <ns>:feedback                  one entry per feedback event: the log that training consumes

<ns> is GRAPHREC_REDIS_NAMESPACE (default graphrec). The caches expire (session_ttl_s, candidate_cache_ttl_s),
so a Redis at its memory limit under volatile-lru evicts them first. The stream and the event keys carry no
TTL and are never evicted (an evicted event key would let a retry count twice): the stream is trimmed to its cap
and the event keys are deleted through their expiry index (prune_event_ids), and once only they remain a full
Redis refuses writes, which feedback answers 503.

Feedback changes the user state, the session and the candidate cache and appends to the stream in one MULTI/EXEC
transaction watched on the state, so concurrent feedback for one user cannot lose an update and an event is either
fully recorded or not at all. A request never overwrites what feedback wrote meanwhile: a state rebuilt from the
graph is stored only where none is (SET NX), and a candidate set only while the user's generation is still the one
it was computed from (WATCH on the generation).

The store also keeps the last user states and candidate sets it saw in process memory (raw JSON, bounded):
while Redis is down, requests read those instead of rebuilding everything from the graph, which a small
machine cannot do at full request rate. No feedback is accepted while Redis is down, so no invalidation
is missed in this process meanwhile.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import redis
from cachetools import LRUCache
from redis.backoff import NoBackoff
from redis.exceptions import ExecAbortError, OutOfMemoryError
from redis.retry import Retry

from graphrec.serving.feedback.stream import FeedbackStream
from graphrec.serving.request.candidate_pool import CandidatePool
from graphrec.serving.resilience.guard import Guard, Unavailable
from graphrec.serving.settings import ServingSettings

SESSION_EVENTS_KEPT = 100
REDIS_FAILURES = (redis.ConnectionError, redis.TimeoutError, OSError)
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

# Deletes the event keys whose expiry has passed and their index entries, in one step: a key sent again between a
# read of the index and its deletion would otherwise lose its fresh record.
PRUNE_EVENT_IDS = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, key in ipairs(expired) do
  redis.call('DEL', key)
  redis.call('ZREM', KEYS[1], key)
end
return #expired
"""
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
PRUNE_STEP = 10_000
PRUNE_EVERY = 1_000


@dataclass
class UserState:
    seen: list[Any] = field(default_factory=list)  # newest first, at most history_limit
    positive: list[Any] = field(default_factory=list)  # newest first, at most session_recent

    def to_json(self) -> str:
        return json.dumps({"seen": self.seen, "positive": self.positive})

    @classmethod
    def from_json(cls, raw: bytes | str) -> UserState:
        data = json.loads(raw)
        return cls(seen=data["seen"], positive=data["positive"])

    def add(self, item_id: Any, positive: bool, keep: int, keep_seen: int) -> None:
        """Note a new interaction: it becomes the newest seen item (and positive one), the oldest beyond the
        bounds are dropped, as the graph's read of a state keeps the newest history_limit."""
        self.seen = [item_id, *(i for i in self.seen if i != item_id)][:keep_seen]
        if positive:
            self.positive = [item_id, *(i for i in self.positive if i != item_id)][:keep]


def redis_full(error: BaseException) -> str | None:
    """The reason when Redis refuses writes for now (maxmemory reached under noeviction; a transaction it
    discards at EXEC, which for our well-formed commands means the same or a read-only replica); else None."""
    if isinstance(error, ExecAbortError):
        return "it discarded the transaction (at its memory limit, or a read-only replica); nothing was written"
    if isinstance(error, OutOfMemoryError) or (isinstance(error, redis.ResponseError)
                                               and "OOM command not allowed" in str(error)):  # raised inside a script
        return "it is at its memory limit (maxmemory); nothing was written"
    return None


def connect(url: str, timeout_s: float) -> redis.Redis:
    """A pooled client that fails fast: one attempt, short timeouts (the guard decides when to try again)."""
    return redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                retry=Retry(NoBackoff(), 0), health_check_interval=0, max_connections=64)


class SessionStore:
    def __init__(self, client: redis.Redis, settings: ServingSettings) -> None:
        self.client = client
        self.settings = settings
        self.guard = Guard("redis", settings.dependency_retry_s, REDIS_FAILURES, trial=client.ping,
                           refusal=redis_full)
        # key -> the JSON last read or written; LRU, two keys (state, candidates) per user kept
        self._local: LRUCache[str, bytes] = LRUCache(maxsize=max(2 * settings.fallback_cache_users, 1))
        self._local_lock = threading.Lock()
        # Whether appending to the stream caps its length. A service that consumes the stream into the graph
        # trims it itself (trim_feedback), never past what its consumer group has not acknowledged.
        self.trim_on_append = True
        self._prune = client.register_script(PRUNE_EVENT_IDS)
        self._record = client.register_script(RECORD_FEEDBACK)
        self.stream = FeedbackStream(client, self.guard, settings)  # its consumer side
        self._recorded = 0  # events recorded by this process: without a writer, every PRUNE_EVERY-th one prunes

    def _remember(self, key: str, raw: bytes | str | None) -> None:
        with self._local_lock:
            if raw is None:
                self._local.pop(key, None)
                return
            if self.settings.fallback_cache_users:
                self._local[key] = raw if isinstance(raw, bytes) else raw.encode()

    def _recall(self, key: str) -> bytes | None:
        with self._local_lock:
            return self._local.get(key)

    def fallback_user_state(self, user_id: Any) -> UserState | None:
        """The state last seen in this process (for when Redis is down)."""
        raw = self._recall(self._user_key(user_id))
        return UserState.from_json(raw) if raw else None

    def fallback_candidates(self, user_id: Any) -> CandidatePool | None:
        raw = self._recall(self.candidates_key(user_id))
        return CandidatePool.from_bytes(raw) if raw else None

    # -- keys ------------------------------------------------------------------------------------------------
    def _user_key(self, user_id: Any) -> str:
        return f"{self.settings.redis_namespace}:user:{user_id}"

    def _session_key(self, session_id: str) -> str:
        return f"{self.settings.redis_namespace}:session:{session_id}"

    def candidates_key(self, user_id: Any) -> str:
        return f"{self.settings.redis_namespace}:cand:{user_id}"

    def slate_key(self, session_id: str) -> str:
        return f"{self.settings.redis_namespace}:slate:{session_id}"

    def _event_key(self, key: IdempotencyKey) -> str:
        return f"{self.settings.redis_namespace}:event:{key.sender}:{key.event_id}"

    @property
    def _event_expiry_key(self) -> str:
        return f"{self.settings.redis_namespace}:event-expiry"

    def prune_event_ids(self, most: int = PRUNE_STEP) -> int:
        """Delete up to ``most`` event keys past their expiry (each with its index entry, atomically); the number
        deleted."""
        index = self._event_expiry_key
        return int(self.guard.call(lambda: self._prune(keys=[index], args=[time.time(), most])))

    def _generation_key(self, user_id: Any) -> str:
        return f"{self.settings.redis_namespace}:gen:{user_id}"

    # -- reads and writes; every call raises serving.resilience.guard.Unavailable when Redis is down ------------------
    def ping(self) -> bool:
        return bool(self.guard.call(self.client.ping))

    def user_state(self, user_id: Any) -> UserState | None:
        key = self._user_key(user_id)
        raw = self.guard.call(lambda: self.client.get(key))
        self._remember(key, raw)
        return UserState.from_json(raw) if raw else None

    def put_user_state(self, user_id: Any, state: UserState) -> bool:
        """Cache a state rebuilt from the graph, unless one is there already: a feedback event that wrote the
        state since the request missed it knows more than the graph read before it. Whether it was stored."""
        key, raw = self._user_key(user_id), state.to_json()
        stored = bool(self.guard.call(lambda: self.client.set(key, raw, ex=self.settings.session_ttl_s, nx=True)))
        if stored:
            self._remember(key, raw)
        return stored

    def candidates(self, user_id: Any) -> tuple[CandidatePool | None, int]:
        """The cached candidate set and the user's feedback generation, for put_candidates. The set outlives a
        version swap on purpose: the graph part does not depend on the version, FAISS neighbours of the previous
        embedding are still fair candidates, and the ranking always uses the version being served; feedback and
        the TTL renew it."""
        key = self.candidates_key(user_id)
        raw, generation = self.guard.call(lambda: self.client.mget(key, self._generation_key(user_id)))
        self._remember(key, raw)
        return (CandidatePool.from_bytes(raw) if raw else None), int(generation or 0)

    def put_candidates(self, user_id: Any, version: str | None, pool: CandidatePool, generation: int) -> bool:
        """Cache a candidate set computed at the user's feedback ``generation``, unless feedback has changed the
        user since (the set would hide that feedback until it expires). Whether it was stored."""
        key, generation_key, payload = self.candidates_key(user_id), self._generation_key(user_id), \
            pool.to_bytes(version)
        ttl_s = self.settings.degraded_cache_ttl_s if pool.missing else self.settings.candidate_cache_ttl_s
        current: list[bool] = []

        def store(pipe: redis.client.Pipeline) -> None:
            current[:] = [int(pipe.get(generation_key) or 0) == generation]
            if current[0]:
                pipe.multi()
                pipe.set(key, payload, ex=ttl_s)

        self.guard.call(lambda: self.client.transaction(store, generation_key))
        if current[0]:
            self._remember(key, payload)
        return current[0]

    def has_candidates(self, user_id: Any) -> bool:
        return bool(self.guard.call(lambda: self.client.exists(self.candidates_key(user_id))))

    def session(self, session_id: str) -> dict[str, Any] | None:
        """The session's user, last slate and recent feedback events (None for a session never seen)."""
        raw, slate = self.guard.call(lambda: self.client.mget(self._session_key(session_id),
                                                              self.slate_key(session_id)))
        if raw is None and slate is None:
            return None
        session = json.loads(raw) if raw else {"user_id": None, "events": []}
        shown = json.loads(slate) if slate else {"user_id": session["user_id"], "items": []}
        user_id = session["user_id"] if session["user_id"] is not None else shown["user_id"]
        return {**session, "user_id": user_id, "slate": shown["items"]}

    def record_slate(self, session_id: str, user_id: Any, items: list[Any]) -> None:
        """Remember the slate shown in this session (what the RL policies refer to): a key of its own, written
        in one call, since a slate replaces the last one and needs no read first."""
        payload = json.dumps({"user_id": user_id, "items": items})
        self.guard.call(lambda: self.client.set(self.slate_key(session_id), payload, ex=self.settings.session_ttl_s))

    def record_feedback(self, event: dict[str, Any], positive: bool, build_state: Callable[[], UserState],
                        idempotency: IdempotencyKey | None = None,
                        update_candidates: Callable[[CandidatePool, UserState], CandidatePool | None] | None = None
                        ) -> tuple[str | None, bool]:
        """Apply one feedback event and append it to the stream, atomically: (stream entry id, duplicate).

        One round trip reads what the event changes (the state, the session, the cached set, the generation,
        the event_id's record); the changes are computed here; one Lua script (RECORD_FEEDBACK) writes them all
        if the generation and the session are still the ones read, else the event is read and computed again.
        ``build_state`` rebuilds the user's state from the graph when Redis holds none. ``update_candidates``
        turns the cached set into the one after the event (serving.feedback.intake: the item removed, its
        neighbours merged, ranked again); without it, or when it answers None, the set is deleted and the next
        request builds it. An event sent again by the same sender with the event_id of one already recorded is
        not applied again: the answer is the first one's entry and True; the same event_id with other content
        raises IdempotencyConflict.
        """
        user_id, session_id = event["user_id"], event.get("session_id")
        user_key, candidates_key = self._user_key(user_id), self.candidates_key(user_id)
        generation_key = self._generation_key(user_id)
        session_key = self._session_key(session_id) if session_id else None
        event_key = self._event_key(idempotency) if idempotency else None
        fields = [part for name, value in event.items() if value is not None for part in (name, json.dumps(value))]
        ttl_s = self.settings.session_ttl_s
        read = [key for key in (user_key, candidates_key, generation_key, session_key, event_key) if key]
        for _ in range(RECORD_ATTEMPTS):
            found = iter(self.guard.call(lambda: self.client.mget(read)))
            raw_state, raw_pool, generation = next(found), next(found), next(found)
            raw_session = next(found) if session_key else None
            recorded = next(found) if event_key else None
            if recorded is not None and idempotency:
                return self._duplicate(recorded, idempotency)
            state = UserState.from_json(raw_state) if raw_state else build_state()
            state.add(event["item_id"], positive, self.settings.session_recent, self.settings.history_limit)
            session = json.loads(raw_session) if raw_session else {"user_id": user_id, "events": []}
            session["events"] = [*session["events"], event][-SESSION_EVENTS_KEPT:]
            pool = CandidatePool.from_bytes(raw_pool) if raw_pool and update_candidates else None
            updated = update_candidates(pool, state) if pool is not None and update_candidates else None
            keys = [generation_key, user_key, candidates_key, self.settings.feedback_stream,
                    session_key or user_key, event_key or user_key, self._event_expiry_key]
            args = [generation or b"0", hashlib.sha1(raw_session).hexdigest() if raw_session else "",
                    state.to_json(), updated.to_bytes(updated.ranked.version if updated.ranked else None)
                    if updated is not None else b"", json.dumps(session) if session_key else "", ttl_s,
                    self.settings.degraded_cache_ttl_s if updated is not None and updated.missing
                    else self.settings.candidate_cache_ttl_s,
                    max(ttl_s, self.settings.candidate_cache_ttl_s),
                    self.settings.feedback_stream_maxlen if self.trim_on_append else "",
                    idempotency.digest if idempotency else "", time.time() + self.settings.event_id_ttl_s, *fields]
            answer = self.guard.call(partial(self._record, keys=keys, args=args))
            outcome = answer[0].decode() if isinstance(answer[0], bytes) else answer[0]
            if outcome == "changed":
                continue
            if outcome == "duplicate" and idempotency:
                return self._duplicate(answer[1], idempotency)
            self._remember(candidates_key, None)
            self._remember(user_key, None)
            self._recorded += 1
            if self.trim_on_append and self._recorded % PRUNE_EVERY == 0:  # no writer prunes for this process
                with contextlib.suppress(Unavailable):
                    self.prune_event_ids()
            entry = answer[1]
            return (entry.decode() if isinstance(entry, bytes) else str(entry)), False
        raise Unavailable(f"redis: the user's state kept changing during {RECORD_ATTEMPTS} attempts to record the "
                          "event; nothing was written", retry_after_s=1)

    @staticmethod
    def _duplicate(recorded: bytes, idempotency: IdempotencyKey) -> tuple[str | None, bool]:
        digest, _, entry = recorded.decode().partition(" ")
        if digest != idempotency.digest:
            raise IdempotencyConflict(f"event_id {idempotency.event_id!r} was sent before with other content; "
                                      "a retry sends the same event, a new event a new event_id")
        return entry or None, True


def now_ms() -> int:
    return int(time.time() * 1_000)
