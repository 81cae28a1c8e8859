"""The consumer that writes positive feedback from the Redis stream into the graph.

It reads the stream as the consumer group ``graph-writer`` (so several service replicas share the work and
each event is written once), writes a batch with one parameterised UNWIND ... MERGE, and acknowledges the
batch only after the write: after a crash the unacknowledged entries are read again first. Skips and ratings
below the positive threshold stay in the stream (the RL issue's training data) and are not written, because
the encoders read every graph interaction as a positive one.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from serving.background import BackgroundWorker
from serving.guard import Unavailable
from serving.recommender import RecommendationService

log = logging.getLogger(__name__)
GROUP = "graph-writer"
BATCH = 500
ATTEMPTS = 3  # a batch the graph rejects this often goes to the dead-letter stream instead of blocking the rest
BLOCK_MS = 100  # below the Redis socket timeout: a blocking read must not look like a dead server


class FeedbackWriter(BackgroundWorker):
    thread_name = "feedback-writer"

    def __init__(self, service: RecommendationService, consumer: str | None = None) -> None:
        super().__init__()
        self.service = service
        # One consumer name per process: workers and replicas each read their own share of the stream.
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.written = 0
        self.dead_lettered = 0
        self._failures = 0

    def rows(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows = []
        for event in events:
            if not self.service.is_positive(event["event"], event.get("value")):
                continue
            rows.append({"user_id": event["user_id"], "item_id": event["item_id"], "behavior": event["event"],
                         "rating": float(event["value"]) if event["event"] == "rating" and event.get("value")
                         is not None else None, "count": 1, "last_ts": int(event["ts_ms"]) // 1_000})
        return rows

    def drain_once(self, pending: bool = False) -> int:
        """Read, write and acknowledge one batch; the number of entries handled."""
        sessions = self.service.sessions
        assert sessions is not None
        entries = sessions.read_feedback(GROUP, self.consumer, BATCH, BLOCK_MS, pending=pending)
        if not entries:
            return 0
        rows = self.rows([event for _, event in entries])
        try:
            if rows:
                self.service.graph_call(lambda store: store.run("record_feedback", {"rows": rows}, write=True))
        except Unavailable:
            raise
        except Exception:
            self._failures += 1
            if self._failures < ATTEMPTS:
                raise
            log.exception("feedback writer: the graph rejected a batch %d times; moved to %s", ATTEMPTS,
                          sessions.dead_letter_stream)
            sessions.dead_letter(entries)
            self.dead_lettered += len(entries)
            rows = []
        self._failures = 0
        sessions.acknowledge(GROUP, [entry for entry, _ in entries])
        self.written += len(rows)
        return len(entries)

    def run(self) -> None:
        pending = True  # first what an earlier run read and never acknowledged
        while not self._stop.is_set():
            try:
                handled = self.drain_once(pending)
                pending = pending and handled > 0
            except Unavailable as error:
                # The batch read before the graph (or Redis) went down is pending in the group: read it first.
                log.warning("feedback writer waiting: %s", error)
                pending = True
                self._stop.wait(self.service.settings.redis_retry_s)
            except Exception:  # keep consuming; the entries stay pending and are retried
                log.exception("feedback writer: batch failed; retrying")
                pending = True
                self._stop.wait(self.service.settings.redis_retry_s)
