"""Request rate limits per client key (per client address when the service runs open), shared by every replica
through Redis with the `limits` library's fixed-window counters (one INCR per request).

The limiter fails open: while Redis is down (the degraded mode the service already serves in), requests are not
counted and not refused, and the session store's circuit breaker keeps them from waiting on the dead server.
"""

from __future__ import annotations

import math
import time
from functools import lru_cache

from limits import RateLimitItem, parse
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter

from graphrec.serving.resilience.guard import Unavailable
from graphrec.serving.state.sessions import SessionStore


@lru_cache(maxsize=64)
def rate(text: str) -> RateLimitItem:
    """A limit as text (serving.access.keys.Rate), parsed once."""
    return parse(text)


class RateLimiter:
    def __init__(self, sessions: SessionStore) -> None:
        self.sessions = sessions
        self.storage = RedisStorage("redis://", connection_pool=sessions.client.connection_pool,
                                    key_prefix=f"{sessions.settings.redis_namespace}:limits")
        self.limiter = FixedWindowRateLimiter(self.storage)

    def counter(self, who: str, limit: str) -> tuple[str, int, int]:
        """The Redis key, window in seconds and amount of ``who``'s count under ``limit``: what the lean
        recommend path counts in its own Lua call (serving.state.hot_reads), sharing this limiter's budget."""
        item = rate(limit)
        return self.storage.prefixed_key(item.key_for(who)), item.get_expiry(), item.amount

    def retry_after_s(self, who: str, limit: str) -> int | None:
        """Counts one request of ``who``; None if it is within ``limit``, else the seconds until its window
        resets (the Retry-After of the 429). None while Redis is down."""
        item = rate(limit)
        try:
            if self.sessions.guard.call(lambda: self.limiter.hit(item, who)):
                return None
            stats = self.sessions.guard.call(lambda: self.limiter.get_window_stats(item, who))
        except Unavailable:
            return None
        return max(1, math.ceil(stats.reset_time - time.time()))
