"""The feedback stream's consumer side: what the writer reads, acknowledges and trims, the idle consumers it
removes, the dead letters of events the graph refused, and the figures /readyz and the metrics report.

The stream itself is appended to by serving.state.sessions.SessionStore.record_feedback, in the transaction that
also changes the user's session state (so an event is either fully recorded or not at all):

    <ns>:feedback          one entry per feedback event: the log the writer folds into the graph
    <ns>:feedback:dead     the events the graph refused, each alone, after its batch was refused ATTEMPTS times

Each graph has its own consumer group; the stream is trimmed only behind what every group has acknowledged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from typing import Any

import redis

from graphrec.serving.resilience.guard import Guard
from graphrec.serving.settings import ServingSettings

TRIM_STEP = 10_000  # most entries one trim_feedback removes
# Removes a consumer only while it holds no unacknowledged entry: XGROUP DELCONSUMER drops the entries a consumer
# holds, so the check and the removal are one atomic step.
DELETE_IF_IDLE = """
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) == 0 then
  return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
end
return -1
"""




class FeedbackStream:
    """The consumer side of the feedback stream, on the session store's Redis client and guard."""

    def __init__(self, client: redis.Redis, guard: Guard, settings: ServingSettings) -> None:
        self.client, self.guard, self.settings = client, guard, settings
        self._delete_if_idle = client.register_script(DELETE_IF_IDLE)

    def read_feedback(self, group: str, consumer: str, count: int, block_ms: int,
                      pending: bool = False) -> list[tuple[str, dict[str, Any]]]:
        """Stream entries for ``consumer`` of a consumer group (created at the stream's start when missing): new
        ones, or with ``pending`` the ones it read before and never acknowledged (a crash between the two), in
        stream order. ``block_ms`` must stay below the socket timeout."""
        stream = self.settings.feedback_stream

        def decode(entries: list[Any]) -> list[tuple[str, dict[str, Any]]]:
            return [(entry.decode(), {k.decode(): json.loads(v) for k, v in values.items()})
                    for entry, values in entries if values]

        def read() -> list[tuple[str, dict[str, Any]]]:
            def entries() -> Any:  # redis-py types the RESP3 map; RESP2 answers a list of streams
                return self.client.xreadgroup(group, consumer, {stream: "0" if pending else ">"}, count=count,
                                              block=None if pending else block_ms)

            try:
                answer = entries()
            except redis.ResponseError as error:  # no group yet (or no stream): made once, then read
                if "NOGROUP" not in str(error):
                    raise
                try:
                    self.client.xgroup_create(stream, group, id="0", mkstream=True)
                except redis.ResponseError as raced:
                    if "BUSYGROUP" not in str(raced):
                        raise
                answer = entries()
            return decode([entry for _, entries in answer for entry in entries])

        return self.guard.call(read)

    def _consumers(self, group: str) -> list[dict[str, Any]]:
        """XINFO CONSUMERS of ``group`` (name, pending, idle), names as text; none before the group exists."""
        try:
            found = self.client.xinfo_consumers(self.settings.feedback_stream, group)
        except redis.ResponseError:  # no stream or group yet
            return []
        return [{**entry, "name": entry["name"].decode() if isinstance(entry["name"], bytes) else entry["name"]}
                for entry in found]

    def idle_consumers(self, group: str, min_idle_ms: int) -> list[str]:
        """Consumers of ``group`` holding unacknowledged entries that have not read for ``min_idle_ms`` (a replica
        that stopped): another replica drains their entries under their name."""
        return self.guard.call(lambda: [entry["name"] for entry in self._consumers(group)
                                        if entry["pending"] and entry["idle"] >= min_idle_ms])

    def acknowledge(self, group: str, entries: list[str]) -> None:
        if entries:
            self.guard.call(lambda: self.client.xack(self.settings.feedback_stream, group, *entries))

    def remove_idle_consumers(self, group: str, min_idle_ms: int, keep: str) -> list[str]:
        """Remove the consumers of ``group`` (other than ``keep``) idle for ``min_idle_ms`` and holding no entry:
        the names of stopped processes would otherwise pile up in the group. A live one that was only idle is
        added again by its next read."""
        def remove() -> list[str]:
            return [entry["name"] for entry in self._consumers(group)
                    if entry["name"] != keep and not entry["pending"] and entry["idle"] >= min_idle_ms
                    and self._delete_if_idle(keys=[self.settings.feedback_stream], args=[group, entry["name"]]) != -1]

        return self.guard.call(remove)

    def trim_feedback(self, group: str) -> int:
        """Trim the stream to about feedback_stream_maxlen entries, oldest first, but never an entry ``group`` has
        not acknowledged or not yet read; the entries removed."""
        stream, maxlen = self.settings.feedback_stream, self.settings.feedback_stream_maxlen

        def trim() -> int:
            excess = int(self.client.xlen(stream)) - maxlen
            if excess <= 0:
                return 0
            # Streams have no "id at position n": read up to TRIM_STEP of the oldest ids per call instead (the
            # writer trims every few seconds, so the excess is small; a larger one goes in steps).
            oldest = self.client.xrange(stream, count=min(excess, TRIM_STEP))
            keep_from = entry_number(oldest[-1][0]) + 1
            for found in self._groups(stream):
                if found["name"] == group:
                    keep_from = min(keep_from, entry_number(found["last-delivered-id"]) + 1)
                    oldest_pending = self.client.xpending(stream, group)["min"]
                    if oldest_pending is not None:
                        keep_from = min(keep_from, entry_number(oldest_pending))
            return int(self.client.xtrim(stream, minid=entry_id(keep_from), approximate=True))

        return self.guard.call(trim)

    def written_feedback(self, group: str, step: int = TRIM_STEP) -> Iterator[dict[str, Any]]:
        """The events of the stream's entries that ``group`` has acknowledged (written into the graph, or not
        positive), oldest first, read ``step`` entries a call: what the graph's counts were built from."""
        stream = self.settings.feedback_stream

        def bounds() -> tuple[str | None, set[bytes]]:
            found = next((g for g in self._groups(stream) if g["name"] == group), None) \
                if self.client.exists(stream) else None
            if found is None:
                return None, set()
            pending = self.client.xpending_range(stream, group, "-", "+", count=max(self.client.xlen(stream), 1))
            return found["last-delivered-id"], {entry["message_id"] for entry in pending}

        last, pending = self.guard.call(bounds)
        start = "-"
        while last is not None:
            batch = self.guard.call(partial(self.client.xrange, stream, min=start, max=last, count=step))
            for entry, values in batch:
                if entry not in pending and values:
                    yield {key.decode(): json.loads(value) for key, value in values.items()}
            if len(batch) < step:
                return
            start = "(" + batch[-1][0].decode()

    def _groups(self, stream: str) -> list[dict[str, Any]]:
        return [{key: value.decode() if isinstance(value, bytes) else value for key, value in found.items()}
                for found in self.client.xinfo_groups(stream)]

    def dead_letters(self, count: int) -> list[tuple[str, dict[str, Any]]]:
        """The oldest ``count`` dead-lettered events (each with ``entry``, its id in the feedback stream)."""
        entries = self.guard.call(lambda: self.client.xrange(self.dead_letter_stream, count=count))
        return [(entry.decode(), {k.decode(): json.loads(v) for k, v in values.items()}) for entry, values in entries]

    def dead_letter_count(self) -> int:
        return int(self.guard.call(lambda: self.client.xlen(self.dead_letter_stream)))

    def replay_dead_letters(self, count: int) -> int:
        """Move the oldest ``count`` dead-lettered events back onto the feedback stream (after the cause is fixed),
        each with ``replayed_from``, the entry it was first appended as, in one transaction; the events moved."""
        def move() -> int:
            found = self.client.xrange(self.dead_letter_stream, count=count)
            pipe = self.client.pipeline(transaction=True)
            for entry, values in found:
                replayed: dict[Any, Any] = dict(values)  # pyright: ignore[reportCallIssue, reportArgumentType]
                replayed[b"replayed_from"] = replayed.pop(b"entry")
                pipe.xadd(self.settings.feedback_stream, replayed)
                pipe.xdel(self.dead_letter_stream, entry)
            pipe.execute()
            return len(found)

        return self.guard.call(move)

    @property
    def dead_letter_stream(self) -> str:
        return f"{self.settings.feedback_stream}:dead"

    def dead_letter(self, entries: list[tuple[str, dict[str, Any]]]) -> None:
        """Keep events the graph refused in a stream of their own, for a person to look at."""
        def move() -> None:
            pipe = self.client.pipeline(transaction=True)
            for entry, event in entries:
                pipe.xadd(self.dead_letter_stream, {"entry": json.dumps(entry),
                                                    **{k: json.dumps(v) for k, v in event.items()}})
            pipe.execute()

        self.guard.call(move)

    def stream_length(self) -> int:
        return int(self.guard.call(lambda: self.client.xlen(self.settings.feedback_stream)))

    def stream_figures(self, group: str) -> dict[str, int]:
        """The feedback stream's length, the entries ``group`` has not been delivered yet (lag) and those it was
        delivered but has not acknowledged (pending), and the dead letters."""
        stream = self.settings.feedback_stream

        def read() -> dict[str, int]:
            length = int(self.client.xlen(stream))
            found = next((g for g in self._groups(stream) if g["name"] == group), None) if length else None
            lag = length if found is None else int(found.get("lag") if found.get("lag") is not None else length)
            pending = 0 if found is None else int(found["pending"])
            return {"length": length, "lag": lag, "pending": pending,
                    "dead_letters": int(self.client.xlen(self.dead_letter_stream))}

        return self.guard.call(read)


def entry_number(entry_id: str | bytes) -> int:
    """A stream entry id ("<ms>-<seq>") as one integer in the same order."""
    ms, seq = (entry_id.decode() if isinstance(entry_id, bytes) else entry_id).split("-")
    return int(ms) * 1_000_000 + int(seq)


def entry_id(number: int) -> str:
    """entry_number's inverse."""
    return f"{number // 1_000_000}-{number % 1_000_000}"

