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
import json
import threading
import time
from collections.abc import Callable
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
from graphrec.serving.state.feedback_record import RECORD_FEEDBACK, FeedbackKeys, record_steps
from graphrec.serving.state.user_records import IdempotencyKey, UserState

REDIS_FAILURES = (redis.ConnectionError, redis.TimeoutError, OSError)
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
PRUNE_STEP = 10_000
PRUNE_EVERY = 1_000


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
        self._record: Any = None  # RECORD_FEEDBACK, registered on first use
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
        return (CandidatePool.from_bytes(raw) if isinstance(raw, bytes) and raw else None), int(generation or 0)

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
        """Apply one feedback event and append it to the stream, atomically: (stream entry id, duplicate), by
        serving.state.feedback_record's steps. ``build_state`` rebuilds the user's state from the graph when Redis
        holds none; ``update_candidates`` turns the cached set into the one after the event."""
        steps = record_steps(self, event, positive, build_state, idempotency, update_candidates)
        reply: Any = None
        try:
            while True:
                step = steps.send(reply)
                if step.args is None:
                    reply = self.guard.call(lambda: self.client.mget(step.keys))  # noqa: B023 - called at once
                else:
                    if self._record is None:
                        self._record = self.client.register_script(RECORD_FEEDBACK)
                    reply = self.guard.call(partial(self._record, keys=step.keys, args=step.args))
        except StopIteration as done:
            entry, duplicate = done.value
        if not duplicate:
            self.recorded(event["user_id"])
        return entry, duplicate

    def recorded(self, user_id: Any) -> None:
        """What follows a recorded event in this process: the local copies of the user's keys are stale, and
        without a writer every PRUNE_EVERY-th event prunes the expired event_ids."""
        self._remember(self.candidates_key(user_id), None)
        self._remember(self._user_key(user_id), None)
        self._recorded += 1
        if self.trim_on_append and self._recorded % PRUNE_EVERY == 0:
            with contextlib.suppress(Unavailable):
                self.prune_event_ids()

    def feedback_keys(self, user_id: Any, session_id: str | None, idempotency: IdempotencyKey | None
                      ) -> FeedbackKeys:
        return FeedbackKeys(self._user_key(user_id), self.candidates_key(user_id), self._generation_key(user_id),
                            self._session_key(session_id) if session_id else None,
                            self._event_key(idempotency) if idempotency else None, self._event_expiry_key)


def now_ms() -> int:
    return int(time.time() * 1_000)
