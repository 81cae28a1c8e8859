"""What the service keeps in Redis: user state, sessions, cached candidate sets and the feedback stream.

    <ns>:user:<user_id>            {"seen": [...], "positive": [...]}: items the user has interacted with and
                                   their recent positive items, newest first (rebuilt from the graph on a miss)
    <ns>:session:<session_id>      {"user_id", "events": recent feedback}
    <ns>:slate:<session_id>        {"user_id", "items"}: the last slate shown in the session
    <ns>:cand:<user_id>            {"version", "items": [...], "sources": [...], "paths": [...]}: the candidate
                                   set as columns (serving.candidate_pool)
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import redis
from cachetools import LRUCache
from redis.backoff import NoBackoff
from redis.exceptions import ExecAbortError, OutOfMemoryError
from redis.retry import Retry

from graphrec.serving.candidate_pool import CandidatePool
from graphrec.serving.guard import Guard, Unavailable
from graphrec.serving.settings import ServingSettings

SESSION_EVENTS_KEPT = 100
TRIM_STEP = 10_000  # most entries one trim_feedback removes
REDIS_FAILURES = (redis.ConnectionError, redis.TimeoutError, OSError)
# Removes a consumer only while it holds no unacknowledged entry: XGROUP DELCONSUMER drops the entries a consumer
# holds, so the check and the removal are one atomic step.
DELETE_IF_IDLE = """
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) == 0 then
  return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
end
return -1
"""


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
        self._delete_if_idle = client.register_script(DELETE_IF_IDLE)
        self._prune = client.register_script(PRUNE_EVENT_IDS)
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
        raw = self._recall(self._candidates_key(user_id))
        return CandidatePool.from_json(raw) if raw else None

    # -- keys ------------------------------------------------------------------------------------------------
    def _user_key(self, user_id: Any) -> str:
        return f"{self.settings.redis_namespace}:user:{user_id}"

    def _session_key(self, session_id: str) -> str:
        return f"{self.settings.redis_namespace}:session:{session_id}"

    def _candidates_key(self, user_id: Any) -> str:
        return f"{self.settings.redis_namespace}:cand:{user_id}"

    def _slate_key(self, session_id: str) -> str:
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

    # -- reads and writes; every call raises serving.guard.Unavailable when Redis is down ------------------
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
        key = self._candidates_key(user_id)
        raw, generation = self.guard.call(lambda: self.client.mget(key, self._generation_key(user_id)))
        self._remember(key, raw)
        return (CandidatePool.from_json(raw) if raw else None), int(generation or 0)

    def put_candidates(self, user_id: Any, version: str | None, pool: CandidatePool, generation: int) -> bool:
        """Cache a candidate set computed at the user's feedback ``generation``, unless feedback has changed the
        user since (the set would hide that feedback until it expires). Whether it was stored."""
        key, generation_key, payload = self._candidates_key(user_id), self._generation_key(user_id), \
            pool.to_json(version)
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
        return bool(self.guard.call(lambda: self.client.exists(self._candidates_key(user_id))))

    def session(self, session_id: str) -> dict[str, Any] | None:
        """The session's user, last slate and recent feedback events (None for a session never seen)."""
        raw, slate = self.guard.call(lambda: self.client.mget(self._session_key(session_id),
                                                              self._slate_key(session_id)))
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
        self.guard.call(lambda: self.client.set(self._slate_key(session_id), payload, ex=self.settings.session_ttl_s))

    def record_feedback(self, event: dict[str, Any], positive: bool, build_state: Callable[[], UserState],
                        idempotency: IdempotencyKey | None = None) -> tuple[str | None, bool]:
        """Apply one feedback event and append it to the stream, atomically: (stream entry id, duplicate).

        ``build_state`` rebuilds the user's state from the graph when Redis holds none. An event sent again by
        the same sender with the event_id of one already recorded is not applied again: the answer is the first
        one's entry and True (its entry is None if this process could not note it after the transaction); the
        same event_id with other content raises IdempotencyConflict.
        """
        user_id, session_id = event["user_id"], event.get("session_id")
        user_key, candidates_key = self._user_key(user_id), self._candidates_key(user_id)
        generation_key = self._generation_key(user_id)
        session_key = self._session_key(session_id) if session_id else None
        event_key = self._event_key(idempotency) if idempotency else None
        watched = [user_key] + [key for key in (session_key, event_key) if key]
        fields = {name: json.dumps(value) for name, value in event.items() if value is not None}
        first: list[bytes] = []

        def apply(pipe: redis.client.Pipeline) -> None:
            if event_key and (recorded := pipe.get(event_key)) is not None:
                first[:] = [recorded]  # no MULTI: the transaction writes nothing
                return
            raw = pipe.get(user_key)
            state = UserState.from_json(raw) if raw else build_state()
            state.add(event["item_id"], positive, self.settings.session_recent, self.settings.history_limit)
            session = None
            if session_key:
                raw_session = pipe.get(session_key)
                session = json.loads(raw_session) if raw_session else {"user_id": user_id, "events": []}
                session["events"] = [*session["events"], event][-SESSION_EVENTS_KEPT:]
            pipe.multi()
            pipe.xadd(self.settings.feedback_stream, fields, approximate=True,
                      maxlen=self.settings.feedback_stream_maxlen if self.trim_on_append else None)
            pipe.set(user_key, state.to_json(), ex=self.settings.session_ttl_s)
            pipe.delete(candidates_key)
            pipe.incr(generation_key)
            pipe.expire(generation_key, max(self.settings.session_ttl_s, self.settings.candidate_cache_ttl_s))
            if session_key:
                pipe.set(session_key, json.dumps(session), ex=self.settings.session_ttl_s)
            if event_key and idempotency:
                pipe.set(event_key, idempotency.digest)
                pipe.zadd(self._event_expiry_key, {event_key: time.time() + self.settings.event_id_ttl_s})

        results = self.guard.call(lambda: self.client.transaction(apply, *watched))
        if first and idempotency:
            digest, _, entry = first[0].decode().partition(" ")
            if digest != idempotency.digest:
                raise IdempotencyConflict(f"event_id {idempotency.event_id!r} was sent before with other content; "
                                          "a retry sends the same event, a new event a new event_id")
            return entry or None, True
        self._remember(candidates_key, None)
        self._remember(user_key, None)
        self._recorded += 1
        if self.trim_on_append and self._recorded % PRUNE_EVERY == 0:  # no writer prunes for this process
            with contextlib.suppress(Unavailable):
                self.prune_event_ids()
        entry = results[0]
        entry = entry.decode() if isinstance(entry, bytes) else str(entry)
        if event_key and idempotency:  # which entry a retry duplicates; the id is already taken without it
            noted = f"{idempotency.digest} {entry}"
            with contextlib.suppress(Unavailable):
                self.guard.call(lambda: self.client.set(event_key, noted, xx=True))
        return entry, False

    def read_feedback(self, group: str, consumer: str, count: int, block_ms: int,
                      pending: bool = False) -> list[tuple[str, dict[str, Any]]]:
        """Stream entries for ``consumer`` of a consumer group (created at the stream's start when missing): new
        ones, or with ``pending`` the ones it read before and never acknowledged (a crash between the two), in
        stream order. ``block_ms`` must stay below the socket timeout."""
        stream = self.settings.feedback_stream

        def decode(entries: list[Any]) -> list[tuple[str, dict[str, Any]]]:
            return [(entry.decode(), {k.decode(): json.loads(v) for k, v in values.items()})
                    for entry, values in entries if values]

        def read() -> list[tuple[str, dict[str, Any]]]:
            try:
                self.client.xgroup_create(stream, group, id="0", mkstream=True)
            except redis.ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise
            answer = self.client.xreadgroup(group, consumer, {stream: "0" if pending else ">"}, count=count,
                                            block=None if pending else block_ms)
            return decode([entry for _, entries in answer for entry in entries])

        return self.guard.call(read)

    def _consumers(self, group: str) -> list[dict[str, Any]]:
        """XINFO CONSUMERS of ``group`` (name, pending, idle), names as text; none before the group exists."""
        try:
            found = self.client.xinfo_consumers(self.settings.feedback_stream, group)
        except redis.ResponseError:  # no stream or group yet
            return []
        return [{**entry, "name": entry["name"].decode() if isinstance(entry["name"], bytes) else entry["name"]}
                for entry in found]

    def idle_consumers(self, group: str, min_idle_ms: int) -> list[str]:
        """Consumers of ``group`` holding unacknowledged entries that have not read for ``min_idle_ms`` (a replica
        that stopped): another replica drains their entries under their name."""
        return self.guard.call(lambda: [entry["name"] for entry in self._consumers(group)
                                        if entry["pending"] and entry["idle"] >= min_idle_ms])

    def acknowledge(self, group: str, entries: list[str]) -> None:
        if entries:
            self.guard.call(lambda: self.client.xack(self.settings.feedback_stream, group, *entries))

    def remove_idle_consumers(self, group: str, min_idle_ms: int, keep: str) -> list[str]:
        """Remove the consumers of ``group`` (other than ``keep``) idle for ``min_idle_ms`` and holding no entry:
        the names of stopped processes would otherwise pile up in the group. A live one that was only idle is
        added again by its next read."""
        def remove() -> list[str]:
            return [entry["name"] for entry in self._consumers(group)
                    if entry["name"] != keep and not entry["pending"] and entry["idle"] >= min_idle_ms
                    and self._delete_if_idle(keys=[self.settings.feedback_stream], args=[group, entry["name"]]) != -1]

        return self.guard.call(remove)

    def trim_feedback(self, group: str) -> int:
        """Trim the stream to about feedback_stream_maxlen entries, oldest first, but never an entry ``group`` has
        not acknowledged or not yet read; the entries removed."""
        stream, maxlen = self.settings.feedback_stream, self.settings.feedback_stream_maxlen

        def trim() -> int:
            excess = int(self.client.xlen(stream)) - maxlen
            if excess <= 0:
                return 0
            # Streams have no "id at position n": read up to TRIM_STEP of the oldest ids per call instead (the
            # writer trims every few seconds, so the excess is small; a larger one goes in steps).
            oldest = self.client.xrange(stream, count=min(excess, TRIM_STEP))
            keep_from = entry_number(oldest[-1][0]) + 1
            for found in self._groups(stream):
                if found["name"] == group:
                    keep_from = min(keep_from, entry_number(found["last-delivered-id"]) + 1)
                    oldest_pending = self.client.xpending(stream, group)["min"]
                    if oldest_pending is not None:
                        keep_from = min(keep_from, entry_number(oldest_pending))
            return int(self.client.xtrim(stream, minid=entry_id(keep_from), approximate=True))

        return self.guard.call(trim)

    def written_feedback(self, group: str, step: int = TRIM_STEP) -> Iterator[dict[str, Any]]:
        """The events of the stream's entries that ``group`` has acknowledged (written into the graph, or not
        positive), oldest first, read ``step`` entries a call: what the graph's counts were built from."""
        stream = self.settings.feedback_stream

        def bounds() -> tuple[str | None, set[bytes]]:
            found = next((g for g in self._groups(stream) if g["name"] == group), None) \
                if self.client.exists(stream) else None
            if found is None:
                return None, set()
            pending = self.client.xpending_range(stream, group, "-", "+", count=max(self.client.xlen(stream), 1))
            return found["last-delivered-id"], {entry["message_id"] for entry in pending}

        last, pending = self.guard.call(bounds)
        start = "-"
        while last is not None:
            batch = self.guard.call(partial(self.client.xrange, stream, min=start, max=last, count=step))
            for entry, values in batch:
                if entry not in pending and values:
                    yield {key.decode(): json.loads(value) for key, value in values.items()}
            if len(batch) < step:
                return
            start = "(" + batch[-1][0].decode()

    def _groups(self, stream: str) -> list[dict[str, Any]]:
        return [{key: value.decode() if isinstance(value, bytes) else value for key, value in found.items()}
                for found in self.client.xinfo_groups(stream)]

    def dead_letters(self, count: int) -> list[tuple[str, dict[str, Any]]]:
        """The oldest ``count`` dead-lettered events (each with ``entry``, its id in the feedback stream)."""
        entries = self.guard.call(lambda: self.client.xrange(self.dead_letter_stream, count=count))
        return [(entry.decode(), {k.decode(): json.loads(v) for k, v in values.items()}) for entry, values in entries]

    def dead_letter_count(self) -> int:
        return int(self.guard.call(lambda: self.client.xlen(self.dead_letter_stream)))

    def replay_dead_letters(self, count: int) -> int:
        """Move the oldest ``count`` dead-lettered events back onto the feedback stream (after the cause is fixed),
        each with ``replayed_from``, the entry it was first appended as, in one transaction; the events moved."""
        def move() -> int:
            found = self.client.xrange(self.dead_letter_stream, count=count)
            pipe = self.client.pipeline(transaction=True)
            for entry, values in found:
                replayed: dict[Any, Any] = dict(values)  # pyright: ignore[reportCallIssue, reportArgumentType]
                replayed[b"replayed_from"] = replayed.pop(b"entry")
                pipe.xadd(self.settings.feedback_stream, replayed)
                pipe.xdel(self.dead_letter_stream, entry)
            pipe.execute()
            return len(found)

        return self.guard.call(move)

    @property
    def dead_letter_stream(self) -> str:
        return f"{self.settings.feedback_stream}:dead"

    def dead_letter(self, entries: list[tuple[str, dict[str, Any]]]) -> None:
        """Keep events the graph refused in a stream of their own, for a person to look at."""
        def move() -> None:
            pipe = self.client.pipeline(transaction=True)
            for entry, event in entries:
                pipe.xadd(self.dead_letter_stream, {"entry": json.dumps(entry),
                                                    **{k: json.dumps(v) for k, v in event.items()}})
            pipe.execute()

        self.guard.call(move)

    def stream_length(self) -> int:
        return int(self.guard.call(lambda: self.client.xlen(self.settings.feedback_stream)))

    def stream_figures(self, group: str) -> dict[str, int]:
        """The feedback stream's length, the entries ``group`` has not been delivered yet (lag) and those it was
        delivered but has not acknowledged (pending), and the dead letters."""
        stream = self.settings.feedback_stream

        def read() -> dict[str, int]:
            length = int(self.client.xlen(stream))
            found = next((g for g in self._groups(stream) if g["name"] == group), None) if length else None
            lag = length if found is None else int(found.get("lag") if found.get("lag") is not None else length)
            pending = 0 if found is None else int(found["pending"])
            return {"length": length, "lag": lag, "pending": pending,
                    "dead_letters": int(self.client.xlen(self.dead_letter_stream))}

        return self.guard.call(read)


def entry_number(entry_id: str | bytes) -> int:
    """A stream entry id ("<ms>-<seq>") as one integer in the same order."""
    ms, seq = (entry_id.decode() if isinstance(entry_id, bytes) else entry_id).split("-")
    return int(ms) * 1_000_000 + int(seq)


def entry_id(number: int) -> str:
    """entry_number's inverse."""
    return f"{number // 1_000_000}-{number % 1_000_000}"


def now_ms() -> int:
    return int(time.time() * 1_000)
