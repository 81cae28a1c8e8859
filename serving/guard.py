"""A dependency that can fail (Redis, the graph): calls through a guard fail fast while it is known to be down.

After a failure the guard answers "unavailable" at once for ``retry_s`` instead of letting every request wait
on a dead server, then lets calls through again; the first that succeeds marks the dependency healthy, so
the service recovers without a restart. The reason of the last failure is what /readyz reports.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Unavailable(RuntimeError):
    """The dependency is down; the message says which and why."""


class Guard:
    def __init__(self, name: str, retry_s: float, failures: tuple[type[BaseException], ...]) -> None:
        self.name = name
        self.retry_s = retry_s
        self.failures = failures
        self._lock = threading.Lock()
        self._skip_until = 0.0
        self.reason: str | None = None

    @property
    def healthy(self) -> bool:
        return self.reason is None

    def call(self, function: Callable[[], T]) -> T:
        if time.monotonic() < self._skip_until:
            raise Unavailable(f"{self.name} unavailable: {self.reason}")
        try:
            result = function()
        except self.failures as error:
            self.mark_down(error)
            raise Unavailable(f"{self.name} unavailable: {self.reason}") from error
        if self.reason is not None:
            with self._lock:
                self.reason = None
                self._skip_until = 0.0
        return result

    def probe(self, function: Callable[[], T]) -> T:
        """Call even inside the skip window (health checks); success marks the dependency healthy again."""
        with self._lock:
            self._skip_until = 0.0
        return self.call(function)

    def mark_down(self, error: BaseException | str) -> None:
        with self._lock:
            self.reason = str(error) or type(error).__name__
            self._skip_until = time.monotonic() + self.retry_s
