"""The Redis calls of the hot routes, made on the event loop: a cached recommendation's (one round trip to read,
one to write) and a feedback event's (serving.state.feedback_record's steps: one read, one Lua write).

A cached POST /v1/recommend needs three things from Redis: the caller's rate-limit count, the user's ranked
candidate set, and, with a session, to record the slate shown. The session store's blocking client would need a
thread hop per request (a blocking call on the event loop stalls every other request while Redis answers), so
these calls go through a pipelined connection of the event loop (serving.state.redis_link): the count and the
set in one Lua script, the slate in one SET. The count is the `limits` library's fixed-window counter (the same
key, increment and expiry as serving.access.rate_limits), so both paths count one budget.

The session store's guard decides whether Redis is up: while it is marked down, or when a call here fails (which
marks it down) or is refused (a Redis at its memory limit), the request goes the blocking way, which serves it
degraded.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import orjson
import redis

from graphrec.serving.request.candidate_pool import CandidatePool
from graphrec.serving.resilience.guard import REFUSED_RETRY_AFTER_S, Unavailable
from graphrec.serving.state.feedback_record import RECORD_FEEDBACK, record_steps
from graphrec.serving.state.redis_link import RedisLink
from graphrec.serving.state.sessions import REDIS_FAILURES, SessionStore, redis_full
from graphrec.serving.state.user_records import IdempotencyKey, UserState

# KEYS: the rate-limit counter[, the candidate set]. ARGV: the window in seconds, the cost, the limit.
# Answers {count, -1[, set]} within the limit, {count, seconds until the window resets} over it.
COUNT = """
local count = redis.call('INCRBY', KEYS[1], ARGV[2])
if count == tonumber(ARGV[2]) then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if count > tonumber(ARGV[3]) then return {count, redis.call('TTL', KEYS[1])} end
"""
COUNT_ONLY = COUNT + "return {count, -1}\n"
COUNT_AND_READ = COUNT + "return {count, -1, redis.call('GET', KEYS[2])}\n"
# KEYS: the counter, then the keys a feedback event reads (feedback_record's first step): their values follow.
COUNT_AND_MGET = COUNT + "return {count, -1, unpack(redis.call('MGET', unpack(KEYS, 2)))}\n"


@dataclass(frozen=True)
class Counted:
    """A request counted against its limit: ``retry_after_s`` when over it, else the cached set (None: none)."""

    retry_after_s: int | None
    candidates: bytes | None


class HotReads:
    def __init__(self, url: str, timeout_s: float, sessions: SessionStore) -> None:
        """ValueError for a Redis URL the link does not speak (TLS): requests then take the blocking way."""
        self.link = RedisLink(url, timeout_s)
        self.sessions = sessions

    @property
    def up(self) -> bool:
        return self.sessions.guard.healthy

    async def count(self, limit_key: str, window_s: int, limit: int) -> Counted | None:
        """Count a request against its limit (RateLimiter.counter's key, window and amount); None when Redis is
        down or the call failed: the request was not counted, and the limiter fails open."""
        return await self._counted(COUNT_ONLY, [limit_key], [window_s, 1, limit], limit)

    async def count_and_read(self, limit_key: str, window_s: int, limit: int, user_id: Any) -> Counted | None:
        """count, and within the limit the user's cached set too, in the same round trip."""
        return await self._counted(COUNT_AND_READ, [limit_key, self.sessions.candidates_key(user_id)],
                                   [window_s, 1, limit], limit)

    async def _counted(self, script: str, keys: list[str], args: list[int], limit: int) -> Counted | None:
        if not self.up:
            return None
        answer = await self._call(self.link.script(script, keys, args))
        if answer is None:
            return None
        if int(answer[0]) > limit:
            return Counted(max(1, int(answer[1])), None)
        return Counted(None, answer[2] if len(answer) > 2 else None)

    async def record_slate(self, session_id: str, user_id: Any, items: list[Any]) -> bool:
        """Remember the slate shown in the session (SessionStore.record_slate's key and form); False when Redis
        failed."""
        return await self._call(self.link.call(
            "SET", self.sessions.slate_key(session_id), orjson.dumps({"user_id": user_id, "items": items}),
            "EX", self.sessions.settings.session_ttl_s)) is not None

    async def record_feedback(self, event: dict[str, Any], positive: bool, idempotency: IdempotencyKey | None,
                              update_candidates: Callable[[CandidatePool, UserState], CandidatePool | None],
                              limit: tuple[str, int, int] | None = None) -> tuple[str | None, bool] | None:
        """SessionStore.record_feedback on the event loop: (stream entry id, duplicate), or None when the user's
        state is not in Redis (rebuilding it reads the graph: the blocking way does that). With ``limit``
        (RateLimiter.counter's key, window and amount) the request is counted in the first read's round trip,
        and OverLimit raised past it, before anything is written. Unavailable when Redis is down or full (as the
        blocking way answers), IdempotencyConflict as it raises."""
        steps = record_steps(self.sessions, event, positive, no_state, idempotency, update_candidates)
        reply: Any = None
        try:
            while True:
                step = steps.send(reply)
                if step.args is not None:
                    reply = await self._strict(self.link.script(RECORD_FEEDBACK, step.keys, step.args))
                elif limit is None:
                    reply = await self._strict(self.link.call("MGET", *step.keys))
                else:
                    key, window_s, amount = limit
                    answer = await self._strict(self.link.script(COUNT_AND_MGET, [key, *step.keys],
                                                                 [window_s, 1, amount]))
                    if int(answer[0]) > amount:
                        raise OverLimit(max(1, int(answer[1])))
                    limit, reply = None, answer[2:]  # counted once: a read again after a change is a plain MGET
        except StopIteration as done:
            entry, duplicate = done.value
        except NotInRedis:
            return None
        if not duplicate:
            self.sessions.recorded(event["user_id"])
        return entry, duplicate

    async def _strict(self, call: Coroutine[Any, Any, Any]) -> Any:
        """The call's reply; Unavailable as the session store's guard raises it when Redis fails or refuses."""
        try:
            return await call
        except REDIS_FAILURES as error:
            self.sessions.guard.mark_down(error)
            raise Unavailable(f"redis unavailable: {self.sessions.guard.reason}") from error
        except redis.ResponseError as error:
            refused = redis_full(error)
            if refused is None:
                raise
            raise Unavailable(f"redis refuses writes: {refused}", retry_after_s=REFUSED_RETRY_AFTER_S) from error

    async def _call(self, call: Coroutine[Any, Any, Any]) -> Any:
        """The call's reply; None when Redis failed (then marked down) or refuses writes (at its memory limit)."""
        try:
            return await call
        except REDIS_FAILURES as error:
            self.sessions.guard.mark_down(error)
            return None
        except redis.ResponseError as error:
            if redis_full(error) is None:
                raise
            return None

    def close(self) -> None:
        self.link.close()


class OverLimit(Exception):
    """A request counted past its rate limit; ``retry_after_s`` until its window resets."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(retry_after_s)
        self.retry_after_s = retry_after_s


class NotInRedis(Exception):
    """The user's state is not in Redis."""


def no_state() -> UserState:
    raise NotInRedis
