"""The feedback stream's housekeeping: trimming that never drops an unconsumed entry, stopped consumers removed,
dead letters replayed."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from graphrec.serving.feedback.writer import GROUP, FeedbackWriter
from tests.serving.conftest import Stack, client_for


def test_trimming_keeps_every_entry_the_writer_has_not_acknowledged(data_dir, stack: Stack) -> None:  # type: ignore[no-untyped-def]
    with client_for(data_dir, stack, feedback_stream_maxlen=1_000) as client:
        resources = client.app.state.resources  # type: ignore[attr-defined]
        resources.writer.stop()
        sessions, stream = resources.sessions, resources.settings.serving.feedback_stream
        assert not sessions.trim_on_append  # the writer trims, behind its group
        event = {"user_id": "1", "item_id": "1", "event": json.dumps("skip"), "ts_ms": "1"}
        pipe = sessions.client.pipeline()
        for _ in range(3_000):
            pipe.xadd(stream, event)
        pipe.execute()
        read = sessions.stream.read_feedback(GROUP, "c", 2_500, 100)
        never_read = [entry.decode() for entry, _ in sessions.client.xrange(stream, "(" + read[-1][0], "+")]
        assert len(never_read) == 500

        def left() -> list[str]:
            return [entry.decode() for entry, _ in sessions.client.xrange(stream)]

        # 1,000 entries acknowledged: the 1,500 read but not acknowledged hold the trim back, above the cap.
        sessions.stream.acknowledge(GROUP, [entry for entry, _ in read[:1_000]])
        assert sessions.stream.trim_feedback(GROUP) <= 1_000
        assert {entry for entry, _ in read[1_000:]} | set(never_read) <= set(left())
        # All read entries acknowledged: trimmed to about the cap, the 500 never read kept.
        sessions.stream.acknowledge(GROUP, [entry for entry, _ in read[1_000:]])
        sessions.stream.trim_feedback(GROUP)
        assert set(never_read) <= set(left()) and 1_000 <= len(left()) <= 1_000 + 100  # whole blocks are trimmed


def test_stopped_consumers_are_removed_once_they_hold_nothing(client: TestClient, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    resources = client.app.state.resources  # type: ignore[attr-defined]
    resources.writer.stop()
    sessions, stream = resources.sessions, resources.settings.serving.feedback_stream
    for _ in range(2):
        sessions.client.xadd(stream, {"user_id": "1", "item_id": "1", "event": json.dumps("skip"), "ts_ms": "1"})
    done = sessions.stream.read_feedback(GROUP, "stopped-done", 1, 100)
    sessions.stream.acknowledge(GROUP, [entry for entry, _ in done])
    assert sessions.stream.read_feedback(GROUP, "stopped-holding", 1, 100)
    removed = sessions.stream.remove_idle_consumers(GROUP, 0, keep="me")  # the service's own stopped writer too
    assert "stopped-done" in removed and "stopped-holding" not in removed
    names = {entry["name"] for entry in sessions.client.xinfo_consumers(stream, GROUP)}
    assert names == {b"stopped-holding"}
    monkeypatch.setattr("graphrec.serving.feedback.writer.ADOPT_IDLE_MS", 0)
    writer = FeedbackWriter(resources.service, consumer="me")
    assert writer.adopt_idle() == 1  # drains the stopped one's entry, then removes its name
    assert sessions.client.xinfo_consumers(stream, GROUP) == []


def test_dead_letters_are_listed_and_replayed_through_the_admin_api(client: TestClient, stack: Stack) -> None:
    resources = client.app.state.resources  # type: ignore[attr-defined]
    resources.writer.stop()
    sessions = resources.sessions
    # What the writer does with an event the graph refuses alone (tests/serving/test_api.py has the writer's part).
    poison = {"user_id": 4, "item_id": {"not": "an id"}, "event": "click", "ts_ms": 1}
    sessions.stream.dead_letter([("1-1", poison)])
    listed = client.get("/v1/admin/dead-letters").json()
    assert listed["total"] == 1 and listed["events"][0]["item_id"] == {"not": "an id"}
    assert client.post("/v1/admin/dead-letters/replay", headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.post("/v1/admin/dead-letters/replay").json() == {"replayed": 1, "left": 0}
    replayed = sessions.stream.read_feedback(GROUP, "w-d", 10, 100)
    assert [event["item_id"] for _, event in replayed] == [{"not": "an id"}]
    assert replayed[0][1]["replayed_from"] == listed["events"][0]["entry"] == "1-1"
