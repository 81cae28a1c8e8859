"""How long one request may wait on the graph, all its graph calls together, and where that limit comes from.

A recommendation that waits on a slow graph (a Neo4j server starting, a cold page cache) falls back to FAISS
candidates once its budget is spent (serving.resilience.bulkhead runs the calls). A fixed limit fits one graph: KG
candidates take ten times longer on a 1M-interaction Neo4j graph than on MovieLens-100K (BENCHMARKS.md). So
unless the setting gives one, the limit is derived from the graph time the service itself measures:
``FACTOR`` times the p99 of the last ``DERIVE_AFTER`` requests that reached the graph when the cache warming
ends (its requests run every candidate query; the last ones meet a server past its cold start), or of the
first ``DERIVE_AFTER`` requests without warming, within [``FLOOR_S``, ``CEILING_S``], and fixed from then on. A
limit that kept following the measured times would follow a slow server up, since only the calls within the
limit are measured. Until then the ceiling applies. The limit is a percentile of the observed latency, as the
thresholds of hedged requests are (Dean and Barroso, "The Tail at Scale", CACM 2013).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np

DERIVE_AFTER = 200
DERIVE_FROM_AT_LEAST = 20  # a warming of fewer requests leaves the derivation to the first live ones
FACTOR = 3.0
FLOOR_S = 0.1
CEILING_S = 1.0


@dataclass
class RequestBudget:
    """One request's graph time: when its graph calls must end (None: no limit) and what they took so far."""

    ends: float | None
    spent_s: float = 0.0
    calls: int = 0
    failed: bool = False


_CURRENT: ContextVar[RequestBudget | None] = ContextVar("graph_request_budget", default=None)


def current() -> RequestBudget | None:
    """The budget of the request running in this context, if any."""
    return _CURRENT.get()


class GraphDeadline:
    """The per-request graph limit: ``fixed_s`` when given (0: none), else derived from measured graph times."""

    def __init__(self, fixed_s: float | None) -> None:
        self.fixed_s = fixed_s
        self._samples: deque[float] = deque(maxlen=DERIVE_AFTER)
        self._derived_s: float | None = None
        self._warming = 0
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.fixed_s != 0

    @property
    def limit_s(self) -> float | None:
        """The limit now: None for no limit."""
        if self.fixed_s is not None:
            return self.fixed_s or None
        return self._derived_s if self._derived_s is not None else CEILING_S

    def describe(self) -> str:
        if self.fixed_s is not None:
            return f"{self.fixed_s * 1_000:.0f} ms (GRAPHREC_GRAPH_REQUEST_DEADLINE_S)" if self.fixed_s else "none"
        if self._derived_s is None:
            return (f"{CEILING_S * 1_000:.0f} ms until {DERIVE_AFTER} requests are measured "
                    f"({len(self._samples)} so far)")
        return f"{self._derived_s * 1_000:.0f} ms ({FACTOR:g} x the measured p99 graph time of a request)"

    def record(self, spent_s: float) -> None:
        if self.fixed_s is not None or self._derived_s is not None:
            return
        with self._lock:
            self._samples.append(spent_s)
            if len(self._samples) == DERIVE_AFTER and not self._warming:
                self._derive()

    @contextmanager
    def warming(self) -> Iterator[None]:
        """Cache warming runs inside: the limit is derived from its last requests when it ends."""
        with self._lock:
            self._warming += 1
        try:
            yield
        finally:
            with self._lock:
                self._warming -= 1
                if not self._warming and self._derived_s is None and len(self._samples) >= DERIVE_FROM_AT_LEAST:
                    self._derive()

    def _derive(self) -> None:
        p99 = float(np.percentile(self._samples, 99))
        self._derived_s = min(max(FACTOR * p99, FLOOR_S), CEILING_S)
        self._samples.clear()

    @contextmanager
    def scope(self, *, limited: bool = True) -> Iterator[RequestBudget]:
        """The graph calls made inside share one budget (``limited``: the current limit; else none, only
        measured); a scope whose calls all succeeded adds its graph time to the measurements."""
        limit = self.limit_s if limited else None
        budget = RequestBudget(ends=time.monotonic() + limit if limit else None)
        token = _CURRENT.set(budget)
        try:
            yield budget
        finally:
            _CURRENT.reset(token)
            if budget.calls and not budget.failed:
                self.record(budget.spent_s)
