"""The graph as the request path reaches it: through a guard that fails fast while the graph is down
(serving.resilience.guard), and within one request's graph budget (serving.resilience.graph_budget), whose calls
run on a bounded lane of threads so that a slow graph holds at most graph_request_workers of them
(serving.resilience.bulkhead)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from graphrec.graph.store import GraphError, GraphStore
from graphrec.serving.resilience import graph_budget
from graphrec.serving.resilience.bulkhead import Bulkhead
from graphrec.serving.resilience.graph_budget import GraphDeadline
from graphrec.serving.resilience.guard import Guard, Unavailable
from graphrec.serving.settings import ServiceSettings

T = TypeVar("T")
# What "the graph is down" looks like: no database open, I/O, a Neo4j server that cannot be reached (the store
# raises GraphUnavailable for those). Other errors (a query the engine rejects) are bugs and surface as 500s
# instead of silently degrading answers.
GRAPH_FAILURES = (GraphError, OSError)


class GraphAccess:
    def __init__(self, settings: ServiceSettings, store: GraphStore | None,
                 trial: Callable[[], None] | None = None) -> None:
        self.store = store
        self.guard = Guard("graph", settings.serving.dependency_retry_s, GRAPH_FAILURES,
                           trial=trial if store is not None else None)
        if store is None:
            self.guard.mark_down("no graph database is open")
        self.deadline = GraphDeadline(settings.serving.graph_request_deadline_s)
        workers = settings.serving.graph_request_workers
        self._request_lane = Bulkhead("graph", workers) if self.deadline.enabled else None

    def require_store(self) -> GraphStore:
        if self.store is None:
            raise GraphError("no graph database is open")
        return self.store

    def call(self, call: Callable[[GraphStore], T]) -> T:
        """Run ``call`` on the graph; serving.resilience.guard.Unavailable when the graph is down (or, inside
        ``budget``, too slow)."""
        return self._guarded(lambda: call(self.require_store()))

    def optional(self, call: Callable[[GraphStore], T], fallback: T) -> T:
        """``call``'s answer, or ``fallback`` when the graph is down or too slow."""
        try:
            return self.call(call)
        except Unavailable:
            return fallback

    @contextmanager
    def budget(self, *, limited: bool = True) -> Iterator[None]:
        """The graph calls made inside share one request's budget, then fail as Unavailable; ``limited=False``
        only measures them (cache warming)."""
        with self.deadline.scope(limited=limited):
            yield

    def _guarded(self, call: Callable[[], T]) -> T:
        budget = graph_budget.current()
        if budget is None:
            return self.guard.call(call)
        started = time.monotonic()
        try:
            if self._request_lane is not None and budget.ends is not None:
                result = self._request_lane.call(lambda: self.guard.call(call), budget.ends - started)
            else:
                result = self.guard.call(call)
        except Unavailable:
            budget.failed = True
            raise
        budget.spent_s += time.monotonic() - started
        budget.calls += 1
        return result
