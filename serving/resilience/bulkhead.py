"""A bounded lane with a deadline for the graph calls a request makes (a bulkhead: Nygard, "Release It!", 2007).

A graph that answers slowly (a server starting, a cold page cache) must not hold the threads that serve
requests: each call runs on one of ``workers`` threads and is given up once the request's budget is spent
(serving.resilience.graph_budget), so the request falls back (FAISS candidates, no titles) and answers on time; while
every worker is busy a new call fails at once. A call given up keeps its worker until the graph answers, so a
slow graph holds at most ``workers`` threads, never the request handlers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as DeadlineExceeded
from typing import TypeVar

from graphrec.serving.resilience.guard import Unavailable

T = TypeVar("T")


class Bulkhead:
    def __init__(self, name: str, workers: int) -> None:
        self.name, self.workers = name, workers
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix=f"{name}-lane")
        self._slots = threading.BoundedSemaphore(workers)

    def call(self, function: Callable[[], T], budget_s: float) -> T:
        """``function`` on a worker, given up after ``budget_s``; a budget already spent or no worker free fails
        at once."""
        if budget_s <= 0:
            raise self._too_slow()
        if not self._slots.acquire(blocking=False):
            raise Unavailable(f"{self.name} busy: {self.workers} calls already waiting on it")
        future = self._pool.submit(function)
        future.add_done_callback(lambda _: self._slots.release())
        try:
            return future.result(timeout=budget_s)
        except DeadlineExceeded:
            raise self._too_slow() from None

    def _too_slow(self) -> Unavailable:
        return Unavailable(f"{self.name} slower than the request's budget")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
