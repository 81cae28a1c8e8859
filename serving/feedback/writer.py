"""The consumer that writes positive feedback from the Redis stream into the graph.

It reads the stream as the consumer group ``graph-writer`` (so several service replicas share the work and each
event is written once), writes a batch with one parameterised UNWIND ... MERGE, and acknowledges the batch only
after the write: after a crash or a failed write the unacknowledged entries are read again first. A write whose
commit the writer never saw confirmed (the server stopped in between) may have happened, so the same statement
records the consumer's watermark in the graph, the last stream entry it wrote: a consumer reads its own entries in
stream order, so on the retry those at or below the watermark are acknowledged without being written again. The
entries of a replica that stopped (idle for ``ADOPT_IDLE_MS``) are drained under its consumer name, with its
watermark, by another replica, which then removes the name from the group. A batch the graph rejects ``ATTEMPTS``
times (not one it could not reach) is written again one event at a time, and only the events the graph still
rejects go to the dead-letter stream: one poison event never takes its batch with it (`graphrec
replay-dead-letters` moves them back once the cause is fixed). Each batch is merged to one row per (user, item,
behaviour) before it is written (merge_rows), and before its first read the writer repairs the interactions an
unmerged batch left without a count (serving.feedback.repair). The writer also trims the stream to its cap, never
past an entry the group has not acknowledged (SessionStore.trim_feedback), and deletes the expired event_id keys
(SessionStore.prune_event_ids). Skips and ratings below the positive threshold stay in the stream (where RL
training reads its rewards) and are not written, because the encoders read every graph interaction as a positive
one.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

from graphrec.serving.feedback.intake import feedback_is_positive
from graphrec.serving.feedback.repair import RepairReport, repair_missing_counts
from graphrec.serving.feedback.rows import graph_rows, merge_rows
from graphrec.serving.feedback.stream import entry_number
from graphrec.serving.ops.background import BackgroundWorker
from graphrec.serving.request.recommender import RecommendationService
from graphrec.serving.resilience.guard import Unavailable

log = logging.getLogger(__name__)
GROUP = "graph-writer"
BATCH = 500
ATTEMPTS = 3  # a batch the graph rejects this often is written event by event, the rejected ones dead-lettered
BLOCK_MS = 100  # below the Redis socket timeout: a blocking read must not look like a dead server
ADOPT_IDLE_MS = 60_000
# After a batch smaller than BATCH the writer waits this long before reading again, so that a steady stream is
# written many events a transaction: a LadybugDB write transaction costs ~8 ms of CPU for 1 row, ~13 ms for 64 and
# ~20 ms for 128 (between checkpoints). It delays the graph (not the session state in Redis, which serving reads)
# by at most this much.
GATHER_S = 1.0
TRIM_EVERY_S = 10.0
WATERMARK_KEY = "feedback_applied/{consumer}"


class FeedbackWriter(BackgroundWorker):
    thread_name = "feedback-writer"

    def __init__(self, service: RecommendationService, consumer: str | None = None) -> None:
        super().__init__()
        self.service = service
        # One consumer name per process: workers and replicas each read their own share of the stream.
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.batch = BATCH  # stream entries read per write
        self.written = 0
        self.dead_lettered = 0
        self._failures = 0
        self._watermarks: dict[str, int] = {}  # per consumer name, as last written; re-read after a failure
        self.repair: RepairReport | None = None  # what repair_counts did, once it has run

    def watermark(self, consumer: str) -> int:
        """The last stream entry written for ``consumer``, as entry_number (-1: none)."""
        if consumer not in self._watermarks:
            key = WATERMARK_KEY.format(consumer=consumer)
            rows = self.service.graph_call(lambda store: store.run("meta_value", {"key": key}))
            self._watermarks[consumer] = int(rows["value"].iloc[0]) if len(rows) else -1
        return self._watermarks[consumer]

    def drain_once(self, pending: bool = False, consumer: str | None = None) -> int:
        """Read, write and acknowledge one batch of ``consumer``'s entries (default this writer's own); the
        number of entries handled."""
        sessions = self.service.sessions
        assert sessions is not None
        consumer = consumer or self.consumer
        entries = sessions.stream.read_feedback(GROUP, consumer, self.batch, BLOCK_MS, pending=pending)
        if not entries:
            return 0
        try:
            written = self._write(consumer, entries)
        except Unavailable:
            self._watermarks.pop(consumer, None)  # the write may have committed: read the watermark again
            raise
        except Exception:
            self._watermarks.pop(consumer, None)
            self._failures += 1
            if self._failures < ATTEMPTS:
                raise
            log.exception("feedback writer: the graph rejected a batch %d times; writing it event by event",
                          ATTEMPTS)
            written = self._write_each(consumer, entries)
        self._failures = 0
        sessions.stream.acknowledge(GROUP, [entry for entry, _ in entries])
        self.written += written
        return len(entries)

    def _write(self, consumer: str, entries: list[tuple[str, dict[str, Any]]]) -> int:
        """Write the positive events of ``entries`` above the consumer's watermark, and move the watermark to the
        last entry, in one statement; the rows written."""
        written_up_to = self.watermark(consumer)
        rows = merge_rows(graph_rows([event for entry, event in entries if entry_number(entry) > written_up_to],
                                     feedback_is_positive))
        last = entry_number(entries[-1][0])
        if rows:
            params = {"rows": rows, "applied_key": WATERMARK_KEY.format(consumer=consumer), "applied_id": str(last)}
            self.service.graph_call(lambda store: store.run("record_feedback", params, write=True))
            self._watermarks[consumer] = last
        return len(rows)

    def _write_each(self, consumer: str, entries: list[tuple[str, dict[str, Any]]]) -> int:
        """``entries`` one at a time: what the graph still rejects goes to the dead-letter stream alone."""
        sessions = self.service.sessions
        assert sessions is not None
        written, rejected = 0, []
        for entry in entries:
            try:
                written += self._write(consumer, [entry])
            except Unavailable:
                self._watermarks.pop(consumer, None)
                raise
            except Exception as error:
                self._watermarks.pop(consumer, None)
                log.error("feedback writer: the graph rejects stream entry %s (%s); moved to %s", entry[0], error,
                          sessions.stream.dead_letter_stream)
                rejected.append(entry)
        if rejected:
            sessions.stream.dead_letter(rejected)
            self.dead_lettered += len(rejected)
        return written

    def repair_counts(self) -> RepairReport:
        """Give the interactions without a count or time theirs (serving.feedback.repair), before this writer
        writes anything: the stream entries it has not acknowledged yet are not counted in the repair."""
        sessions = self.service.require_sessions()
        self.repair = repair_missing_counts(self.service.graph_call, lambda: sessions.stream.written_feedback(GROUP),
                                            feedback_is_positive)
        return self.repair

    def adopt_idle(self) -> int:
        """Drains the unacknowledged entries of consumers idle for ADOPT_IDLE_MS; the number handled."""
        sessions = self.service.sessions
        assert sessions is not None
        handled = 0
        for consumer in sessions.stream.idle_consumers(GROUP, ADOPT_IDLE_MS):
            if consumer != self.consumer:
                while (batch := self.drain_once(pending=True, consumer=consumer)) > 0:
                    handled += batch
        for consumer in sessions.stream.remove_idle_consumers(GROUP, ADOPT_IDLE_MS, keep=self.consumer):
            log.info("feedback writer: removed consumer %s (idle, nothing pending)", consumer)
        return handled

    def run(self) -> None:
        pending = True  # first what an earlier run read and never acknowledged
        adopt_at = trim_at = 0.0
        while not self._stop.is_set():
            try:
                if self.repair is None:
                    self.repair_counts()
                if pending or time.monotonic() >= adopt_at:
                    adopt_at = time.monotonic() + ADOPT_IDLE_MS / 2_000
                    self.adopt_idle()
                if time.monotonic() >= trim_at:
                    trim_at = time.monotonic() + TRIM_EVERY_S
                    self.service.require_sessions().stream.trim_feedback(GROUP)
                    self.service.require_sessions().prune_event_ids()
                handled = self.drain_once(pending)
                pending = pending and handled > 0
                if 0 < handled < self.batch and not pending:
                    self._stop.wait(GATHER_S)
            except Unavailable as error:
                # The batch read before the graph (or Redis) went down is pending in the group: read it first.
                log.warning("feedback writer waiting: %s", error)
                pending = True
                self._stop.wait(self.service.settings.serving.dependency_retry_s)
            except Exception:  # keep consuming; the entries stay pending and are retried
                log.exception("feedback writer: batch failed; retrying")
                pending = True
                self._stop.wait(self.service.settings.serving.dependency_retry_s)

