"""A dependency that can fail (Redis, the graph): calls through a guard fail fast while it is known to be down.

After a failure the guard answers "unavailable" at once instead of letting every request wait on a dead
server (a circuit breaker, Nygard, "Release It!", 2007). Every ``retry_s`` one trial call (``trial``, run on a
background thread) tests the dependency while requests keep failing fast; the first trial or probe that
succeeds marks it healthy, so the service recovers without a restart and no request ever waits on a server
that is down. Without a ``trial``, the first request after ``retry_s`` is the trial. The reason of the last
failure is what /readyz reports.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
REFUSED_RETRY_AFTER_S = 5


class Unavailable(RuntimeError):
    """The dependency is down (or refuses writes for now); the message says which and why, ``retry_after_s``
    when to ask again."""

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Guard:
    def __init__(self, name: str, retry_s: float, failures: tuple[type[BaseException], ...],
                 trial: Callable[[], object] | None = None,
                 refusal: Callable[[BaseException], str | None] | None = None) -> None:
        self.name = name
        # An error that means "up, but refusing this for now" (Redis at maxmemory): the call fails as Unavailable,
        # asking to come back later, without marking the dependency down for the calls that still work.
        self.refusal = refusal
        self.retry_s = retry_s
        self.failures = failures
        self.trial = trial
        self._lock = threading.Lock()
        self._skip_until = 0.0
        self._trying = False
        self.reason: str | None = None

    @property
    def healthy(self) -> bool:
        return self.reason is None

    def call(self, function: Callable[[], T]) -> T:
        if self.reason is not None and not self._may_try():
            raise Unavailable(f"{self.name} unavailable: {self.reason}")
        return self._run(function)

    def probe(self, function: Callable[[], object]) -> None:
        """Call even while the dependency is known to be down (health checks); success marks it healthy again,
        a failure raises Unavailable.

        One probe or trial at a time: while one is in flight, another reports the state known so far. A server
        that accepts connections but answers slowly (one starting) would otherwise hold a thread per health
        check until the threads that serve requests run out.
        """
        with self._lock:
            if self._trying:
                if self.reason is None:
                    return
                raise Unavailable(f"{self.name} unavailable: {self.reason}")
            self._trying = True
        try:
            self._run(function)
        finally:
            self._trying = False

    def mark_down(self, error: BaseException | str) -> None:
        with self._lock:
            self.reason = str(error) or type(error).__name__
            self._skip_until = time.monotonic() + self.retry_s

    def _run(self, function: Callable[[], T]) -> T:
        try:
            result = function()
        except self.failures as error:
            self.mark_down(error)
            raise Unavailable(f"{self.name} unavailable: {self.reason}") from error
        except Exception as error:
            refused = self.refusal(error) if self.refusal else None
            if refused is None:
                raise
            raise Unavailable(f"{self.name} refuses writes: {refused}", retry_after_s=REFUSED_RETRY_AFTER_S) \
                from error
        if self.reason is not None:
            with self._lock:
                self.reason = None
                self._skip_until = 0.0
        return result

    def _may_try(self) -> bool:
        """Whether this call may go through while down: only as the trial, and only without a ``trial`` of its
        own; with one, the trial starts on a background thread and this call fails fast."""
        with self._lock:
            now = time.monotonic()
            if self._trying or now < self._skip_until:
                return False
            if self.trial is None:
                self._skip_until = now + self.retry_s  # this call is the trial; the others skip meanwhile
                return True
            self._trying = True
        threading.Thread(target=self._try, name=f"{self.name}-trial", daemon=True).start()
        return False

    def _try(self) -> None:
        try:
            self._run(self.trial)  # type: ignore[arg-type]
        except Unavailable:
            pass
        finally:
            self._trying = False
