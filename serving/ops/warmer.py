"""Cache warming: the candidate sets of the most recently active users, computed into Redis at start, and the
titles of their first slates loaded into the process.

A cold request runs the graph queries and a FAISS search; a cached one does not, and costs a fraction of it
(BENCHMARKS.md). A cached answer whose titles are not in this process yet leaves the event loop for a graph
query, so the titles are warmed too. Warming moves that work out of the first request of each user into one
background thread, which mostly waits on the graph with the GIL released.
"""

from __future__ import annotations

import logging
import math
from typing import Self

from graphrec.graph.ids import plain_ids
from graphrec.serving.ops.background import BackgroundWorker
from graphrec.serving.request.recommender import RecommendationService
from graphrec.serving.resilience.guard import Unavailable

log = logging.getLogger(__name__)


class CacheWarmer(BackgroundWorker):
    thread_name = "cache-warmer"

    def __init__(self, service: RecommendationService, limit: int) -> None:
        super().__init__()
        self.service = service
        self.limit = limit
        self.done = 0
        self.total: int | None = None  # None until the user list is read
        self._released = False  # set once /readyz has said ready

    @property
    def finished(self) -> bool:
        return self.total is not None and self.done >= self.total

    def ready(self, share: float, can_warm: bool) -> bool:
        """Whether ``share`` of the users to warm are done, or warming cannot run (no Redis to warm).

        Warming is a start-up state: once ready, a replica stays ready, so a load balancer never takes it out of
        rotation for warming again (Redis back after an outage refills the cache under load instead).
        """
        if not self._released and (not can_warm or
                                   (self.total is not None and self.done >= math.ceil(share * self.total))):
            self._released = True
        return self._released

    def start(self) -> Self:
        if self.limit > 0 and self.service.sessions is not None:
            return super().start()
        self.total = 0
        return self

    def run(self) -> None:
        service = self.service
        try:
            users = plain_ids(service.graph_call(lambda store: store.run("active_users", {"limit": self.limit}))[
                "user_id"])
        except Unavailable as error:
            log.warning("cache warming skipped: %s", error)
            self.total = 0
            return
        self.total = len(users)
        with service.deadline.warming():
            for user in users:
                if self._stop.is_set():
                    return
                try:
                    # A set Redis still holds from before a restart is read, not rebuilt.
                    with service.graph_budget(limited=False):  # measured: the request budget is derived from it
                        first = service.warm(user)
                    service.explanations.titles(first)  # outside the budget: a title query is no request
                except Unavailable:
                    # try the next user once the pause is over
                    self._stop.wait(service.settings.serving.dependency_retry_s)
                self.done += 1
        log.info("cache warmed for %d users", self.done)
