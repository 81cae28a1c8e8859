"""The feedback writer counts every event answered 202 once in the graph: duplicate keys inside one batch, retries
with one event_id, a write whose commit the writer never saw, and writer restarts, in any interleaving.

The property runs twice: over the merge and watermark logic with the graph held in memory (many examples, fast),
and end to end on each real backend. Redis is always the real server."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphrec.graph.factory import open_store
from graphrec.graph.store import GraphStore
from graphrec.ingest.frames import make_dataset
from graphrec.ingest.loader import ingest
from graphrec.serving.feedback import writer as feedback_writer
from graphrec.serving.feedback.intake import feedback_is_positive
from graphrec.serving.feedback.rows import merge_rows
from graphrec.serving.feedback.writer import FeedbackWriter
from graphrec.serving.resilience.guard import Unavailable
from graphrec.serving.settings import ServiceSettings, ServingSettings
from graphrec.serving.state.embedded_redis import EmbeddedRedis
from graphrec.serving.state.sessions import SessionStore, connect
from graphrec.serving.state.user_records import IdempotencyKey, UserState
from tests.conftest import BACKENDS, make_settings, wipe_neo4j
from tests.neo4j_server import free_port

ITEMS = [1, 2, 3]
EVENTS = ["click", "purchase", "skip"]


@pytest.fixture(scope="module", autouse=True)
def short_reads() -> Iterator[None]:
    """A read of an empty stream answers at once instead of blocking for the service's 100 ms."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(feedback_writer, "BLOCK_MS", None)
        yield


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("writer-redis"), port=free_port()).start()
    yield server
    server.stop()


def session_store(server: EmbeddedRedis) -> SessionStore:
    config = ServingSettings(redis_namespace=f"w{uuid.uuid4().hex[:10]}", dependency_retry_s=0.01)
    return SessionStore(connect(server.url, 2.0), config)


class MemoryGraph:
    """record_feedback and the watermark as the statements define them, in a dict; a batch naming one key twice
    is refused (the statement's contract: LadybugDB miscounts such a batch)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[Any, Any, str], int] = {}
        self.meta: dict[str, str] = {}

    def run(self, name: str, params: dict[str, Any] | None = None, *, write: bool = False) -> pd.DataFrame:
        params = params or {}
        if name == "meta_value":
            found = self.meta.get(params["key"])
            return pd.DataFrame({"value": [found] if found is not None else []})
        if name == "interactions_without_count":
            return pd.DataFrame({"user_id": [], "item_id": [], "behavior": []})
        assert name == "record_feedback", name
        keys = [(row["user_id"], row["item_id"], row["behavior"]) for row in params["rows"]]
        assert len(keys) == len(set(keys)), f"a batch names one key twice: {keys}"
        for key, row in zip(keys, params["rows"], strict=True):
            self.counts[key] = self.counts.get(key, 0) + row["count"]
        self.meta[params["applied_key"]] = params["applied_id"]
        return pd.DataFrame()


@dataclass
class WriterHost:
    """What the writer needs of the service, over a real Redis and a graph; ``lose_confirmation`` makes the next
    write commit and then fail as a server that stopped before answering would."""

    sessions: SessionStore
    graph: Any
    lose_confirmation: bool = False
    settings: ServiceSettings = field(default_factory=ServiceSettings)

    def graph_call(self, call: Any) -> Any:
        result = call(self.graph)
        if self.lose_confirmation:
            self.lose_confirmation = False
            raise Unavailable("graph unavailable: the commit's answer was lost")
        return result

    def require_sessions(self) -> SessionStore:
        return self.sessions



# One step of a client and writer interleaving: send an event (a retry reuses an earlier event_id), drain a
# batch of some size (its confirmation possibly lost), or restart the writer (it forgets its watermarks).
send = st.tuples(st.just("send"), st.sampled_from(ITEMS), st.sampled_from(EVENTS), st.integers(0, 5))
drain = st.tuples(st.just("drain"), st.integers(1, 8), st.booleans(), st.just(0))
restart = st.tuples(st.just("restart"), st.just(0), st.just(""), st.just(0))
steps = st.lists(st.one_of(send, send, drain, restart), min_size=1, max_size=30)


def play(host: WriterHost, user: Any, plan: list[tuple[str, Any, Any, int]]) -> dict[tuple[Any, Any, str], int]:
    """Run ``plan`` and drain everything left; the events answered as not duplicate, counted per positive key."""
    expected: dict[tuple[Any, Any, str], int] = {}
    sent: dict[str, tuple[Any, str]] = {}
    consumer = f"writer-{host.sessions.settings.redis_namespace}"  # the graph's watermarks outlive one stream
    writer = FeedbackWriter(host, consumer=consumer)  # type: ignore[arg-type]
    for step, a, b, c in plan:
        if step == "send":
            event_id = f"e{c}"
            item, event = sent.setdefault(event_id, (a, b))  # a retry sends the event it sent first
            content = {"user_id": user, "item_id": item, "event": event}
            _, duplicate = host.sessions.record_feedback(
                {**content, "ts_ms": 1_700_000_000_000 + len(sent)}, feedback_is_positive(event, None), UserState,
                IdempotencyKey.of("client", event_id, content))
            if not duplicate and feedback_is_positive(event, None):
                expected[(user, item, event)] = expected.get((user, item, event), 0) + 1
        elif step == "drain":
            writer.batch, host.lose_confirmation = a, b
            with contextlib.suppress(Unavailable):
                writer.drain_once(pending=True) or writer.drain_once()
        else:
            writer = FeedbackWriter(host, consumer=consumer)  # type: ignore[arg-type]
    host.lose_confirmation = False
    writer.batch = 1_000
    while writer.drain_once(pending=True) or writer.drain_once():
        pass
    return expected


def test_a_batch_is_merged_to_one_row_per_key() -> None:
    rows = [{"user_id": 1, "item_id": 2, "behavior": "rating", "rating": 4.0, "count": 1, "last_ts": 5},
            {"user_id": 1, "item_id": 2, "behavior": "click", "rating": None, "count": 1, "last_ts": 3},
            {"user_id": 1, "item_id": 2, "behavior": "rating", "rating": 5.0, "count": 1, "last_ts": 4},
            {"user_id": 1, "item_id": 2, "behavior": "rating", "rating": None, "count": 2, "last_ts": 9}]
    assert merge_rows(rows) == [
        {"user_id": 1, "item_id": 2, "behavior": "rating", "rating": 5.0, "count": 4, "last_ts": 9},
        {"user_id": 1, "item_id": 2, "behavior": "click", "rating": None, "count": 1, "last_ts": 3}]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=steps)
def test_every_event_answered_once_is_counted_once_over_any_interleaving(redis_server: EmbeddedRedis,
                                                                        plan: list[Any]) -> None:
    host = WriterHost(session_store(redis_server), MemoryGraph())
    expected = play(host, 7, plan)
    assert host.graph.counts == expected


@pytest.fixture(params=BACKENDS)
def loaded_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GraphStore]:
    """A graph holding items 1-3 and no interaction of the users the property invents."""
    if request.param == "neo4j":
        request.getfixturevalue("neo4j_server")
        wipe_neo4j()
    frame = pd.DataFrame({"user_id": [1], "item_id": [1], "rating": [4.0], "behavior": ["rating"]})
    dataset = make_dataset("writer", frame, pd.DataFrame({"item_id": ITEMS, "title": ["a", "b", "c"]}))
    with open_store(make_settings(tmp_path_factory.mktemp("writer"), str(request.param)).graph) as store:
        ingest(store, lambda: dataset)
        yield store


def graph_counts(store: GraphStore, user: int) -> dict[tuple[Any, Any, str], int]:
    history = store.run("user_history", {"user_id": user, "limit": 100})
    return {(user, int(row.item_id), str(row.behavior)): int(row.count) for row in history.itertuples()}


def test_end_to_end_on_each_backend(loaded_store: GraphStore, redis_server: EmbeddedRedis) -> None:
    users = iter(range(1_000, 2_000))

    @settings(max_examples=20, deadline=None)
    @given(plan=steps)
    def check(plan: list[Any]) -> None:
        user = next(users)
        host = WriterHost(session_store(redis_server), loaded_store)
        expected = play(host, user, plan)
        assert graph_counts(loaded_store, user) == expected

    check()


def test_six_clicks_in_one_batch_count_six_and_the_history_reads(loaded_store: GraphStore,
                                                                  redis_server: EmbeddedRedis) -> None:
    host = WriterHost(session_store(redis_server), loaded_store)
    plan = [("send", 2, "click", i) for i in range(6)] + [("drain", 8, False, 0)]
    assert play(host, 300, plan) == {(300, 2, "click"): 6}
    assert graph_counts(loaded_store, 300) == {(300, 2, "click"): 6}


def write_unmerged_batch(store: GraphStore, rows: list[dict[str, Any]]) -> None:
    """Left by a writer that did not merge its batches: LadybugDB gives a new key met twice in one statement no
    count and no time; on Neo4j the same state is set directly."""
    if store.dialect == "ladybug":
        store.run("record_feedback", {"rows": rows[:1], "applied_key": "old", "applied_id": "0"}, write=True)
        store._execute("MATCH (u:User {id: $u})-[r:INTERACTED]->(i:Item {id: $i}) "  # type: ignore[attr-defined]
                       "SET r.count = NULL, r.last_ts = NULL", {"u": rows[0]["user_id"], "i": rows[0]["item_id"]})
        return
    store.run("record_feedback", {"rows": rows[:1], "applied_key": "old", "applied_id": "0"}, write=True)
    with store._driver.session() as session:  # type: ignore[attr-defined]
        session.run("MATCH (u:User {id: $u})-[r:INTERACTED]->(i:Item {id: $i}) REMOVE r.count, r.last_ts",
                    u=rows[0]["user_id"], i=rows[0]["item_id"]).consume()


def test_interactions_left_without_a_count_are_rebuilt_from_the_stream_before_the_writer_writes(
        loaded_store: GraphStore, redis_server: EmbeddedRedis) -> None:
    host = WriterHost(session_store(redis_server), loaded_store)
    # Three clicks by user 50 on item 2 were written (acknowledged); user 51's events are gone from the stream.
    play(host, 50, [("send", 2, "click", i) for i in range(3)])
    for user, item in ((50, 2), (51, 3)):
        write_unmerged_batch(loaded_store, [{"user_id": user, "item_id": item, "behavior": "click", "rating": None,
                                             "count": 1, "last_ts": 1_700_000_000}])
    # One more click arrives and waits in the stream: the repair must not count it, the writer then adds it.
    host.sessions.record_feedback({"user_id": 50, "item_id": 2, "event": "click", "ts_ms": 1_700_000_100_000}, True,
                                  UserState)
    writer = FeedbackWriter(host, consumer="writer-a")  # type: ignore[arg-type]
    report = writer.repair_counts()
    assert (report.found, report.from_stream, report.set_to_one, report.repaired) == (2, 1, 1, 2)
    assert graph_counts(loaded_store, 50) == {(50, 2, "click"): 3}
    history = loaded_store.run("user_history", {"user_id": 51, "limit": 10})
    assert (int(history["count"].iloc[0]), int(history["last_ts"].iloc[0])) == (1, -1)
    while writer.drain_once():
        pass
    assert graph_counts(loaded_store, 50) == {(50, 2, "click"): 4}
    assert writer.repair_counts().found == 0
