"""Feedback that a clumsy or hostile client cannot turn into lost or doubled events: event_ids belong to their
sender and user, a reused id with other content is a conflict, a full Redis is a 503 to retry, and ids, numbers
and booleans have one accepted form."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from graphrec.ingest.frames import Dataset
from graphrec.serving.access.keys import Scope, new_key
from graphrec.serving.feedback.writer import GROUP
from graphrec.serving.settings import ServiceSettings
from tests.api_stack import ADMIN, wait_for
from tests.serving.conftest import Stack, client_for, seen_items

PIPELINE_KEY, PIPELINE_ENTRY = new_key("pipeline", {Scope.feedback, Scope.ingest})
OTHER_KEY, OTHER_ENTRY = new_key("other-pipeline", {Scope.feedback, Scope.ingest})


def unseen(dataset: Dataset, user: int) -> int:
    return min(set(dataset.interactions["item_id"]) - seen_items(dataset, user))


def test_an_event_id_belongs_to_its_sender_and_user(data_dir: Path, stack: Stack, small_dataset: Dataset) -> None:
    with client_for(data_dir, stack, api_keys=[PIPELINE_ENTRY, OTHER_ENTRY]) as client:
        sessions = client.app.state.resources.sessions  # type: ignore[attr-defined]
        item = unseen(small_dataset, 4)
        for user, key in ((4, PIPELINE_KEY), (5, PIPELINE_KEY), (4, OTHER_KEY)):
            answer = client.post("/v1/feedback", headers={"X-API-Key": key}, json={
                "session_id": f"s{user}", "user_id": user, "item_id": item, "event": "click", "event_id": "e-1"})
            assert answer.status_code == 202, answer.text
            assert answer.json()["duplicate"] is False, (user, key)
        assert sessions.stream.stream_length() == 3


def test_an_event_id_sent_again_with_other_content_is_a_conflict(client: TestClient, small_dataset: Dataset) -> None:
    sessions = client.app.state.resources.sessions  # type: ignore[attr-defined]
    first, second = sorted(set(small_dataset.interactions["item_id"]) - seen_items(small_dataset, 4))[:2]
    event = {"session_id": "s-c", "user_id": 4, "item_id": first, "event": "click", "event_id": "c-1"}
    assert client.post("/v1/feedback", json=event).status_code == 202
    for changed in ({"item_id": second}, {"event": "purchase"}, {"session_id": "s-d"}):
        answer = client.post("/v1/feedback", json={**event, **changed})
        assert answer.status_code == 409, (changed, answer.text)
        assert "c-1" in answer.json()["detail"]
    assert client.post("/v1/feedback", json=event).json()["duplicate"] is True
    assert sessions.stream.stream_length() == 1


def test_a_full_redis_answers_503_with_retry_after_and_keeps_what_it_holds(data_dir: Path, stack: Stack,
                                                                         small_dataset: Dataset) -> None:
    if stack.name != "embedded":
        pytest.skip("the test fills the embedded Redis; the Redis 7 server is shared by the session")
    with client_for(data_dir, stack) as client:
        sessions = client.app.state.resources.sessions  # type: ignore[attr-defined]
        item = unseen(small_dataset, 4)
        event = {"session_id": "s-f", "user_id": 4, "item_id": item, "event": "click"}
        assert client.post("/v1/feedback", json={**event, "event_id": "before"}).status_code == 202
        sessions.client.config_set("maxmemory-policy", "noeviction")
        sessions.client.config_set("maxmemory", "1")  # below what it holds: every write is refused
        try:
            answer = client.post("/v1/feedback", json={**event, "event_id": "during"})
            assert answer.status_code == 503, answer.text
            assert int(answer.headers["Retry-After"]) >= 1 and "memory limit" in answer.json()["detail"]
            assert client.post("/v1/recommend", json={"user_id": 4, "k": 3}).status_code == 200
        finally:
            sessions.client.config_set("maxmemory", "0")
        assert client.post("/v1/feedback", json={**event, "event_id": "before"}).json()["duplicate"] is True
        assert client.post("/v1/feedback", json={**event, "event_id": "during"}).json()["duplicate"] is False
        assert sessions.stream.stream_length() == 2


INTEGER_ID_SPELLINGS = [" 196", "196 ", "+196", "1_96", "0196", "\u0661\u0669\u0666", "\uff11\uff19\uff16", "0x10",
                        "19\x006", "19\n6", "", "-0"]
NOT_JSON_NUMBERS_OR_BOOLEANS = ['{"user_id": 4, "k": 3, "explain": 0}', '{"user_id": 4, "k": 3, "explain": "yes"}',
                                '{"user_id": NaN, "k": 3}', '{"user_id": 4, "k": Infinity}',
                                '{"user_id": 4, "k": 1e999}', '{"user_id": 4.0, "k": 3}']


def test_an_integer_id_has_one_written_form(client: TestClient) -> None:
    assert client.post("/v1/recommend", json={"user_id": "196", "k": 3}).status_code == 200
    for raw in INTEGER_ID_SPELLINGS:
        answer = client.post("/v1/recommend", json={"user_id": raw, "k": 3})
        assert answer.status_code == 422, (raw, answer.text)
        assert answer.json()["detail"][0]["loc"][:2] == ["body", "user_id"], raw
        if raw.strip() and raw.isprintable() and "/" not in raw:  # what a URL path can carry as it is
            assert client.get(f"/v1/users/{raw}/history").status_code == 422, raw


def test_non_finite_numbers_and_non_booleans_are_422(client: TestClient) -> None:
    for body in NOT_JSON_NUMBERS_OR_BOOLEANS:
        answer = client.post("/v1/recommend", content=body, headers={**ADMIN, "Content-Type": "application/json"})
        assert answer.status_code == 422, (body, answer.text)


def test_a_non_finite_rating_is_422(client: TestClient, small_dataset: Dataset) -> None:
    item = unseen(small_dataset, 4)
    for value in ("NaN", "Infinity", "-Infinity", "1e999"):
        body = f'{{"session_id": "s", "user_id": 4, "item_id": {item}, "event": "rating", "value": {value}}}'
        answer = client.post("/v1/feedback", content=body, headers={**ADMIN, "Content-Type": "application/json"})
        assert answer.status_code == 422, (value, answer.text)


def test_event_ids_outlive_an_eviction_of_the_caches(data_dir: Path, stack: Stack, small_dataset: Dataset) -> None:
    if stack.name != "embedded":
        pytest.skip("the test fills the embedded Redis; the Redis 7 server is shared by the session")
    with client_for(data_dir, stack) as client:
        redis_client = client.app.state.resources.sessions.client  # type: ignore[attr-defined]
        event = {"session_id": "s-e", "user_id": 4, "item_id": unseen(small_dataset, 4), "event": "click",
                 "event_id": "kept"}
        assert client.post("/v1/feedback", json=event).json()["duplicate"] is False
        redis_client.config_set("maxmemory-policy", "volatile-lru")  # the compose file's policy
        redis_client.config_set("maxmemory", str(int(redis_client.info("memory")["used_memory"]) + 2**18))
        try:
            pipe = redis_client.pipeline(transaction=False)
            for n in range(5_000):  # caches arriving: about four times what fits is evicted, the oldest first
                pipe.set(f"filler:{n}", b"x" * 1_000, ex=3_600)
            pipe.execute()
            assert int(redis_client.info("stats")["evicted_keys"]) > 3_000
        finally:
            redis_client.config_set("maxmemory", "0")
        assert client.post("/v1/feedback", json=event).json()["duplicate"] is True


def compose_redis_bytes() -> int:
    compose = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text())
    command = compose["services"]["redis"]["command"]
    assert command[command.index("--maxmemory-policy") + 1] == "volatile-lru"
    value = re.fullmatch(r"\$\{REDIS_MAXMEMORY:-(\d+)gb\}", command[command.index("--maxmemory") + 1])
    assert value, command
    return int(value.group(1)) * 2**30


def test_the_stream_cap_and_event_id_lifetime_fit_the_compose_redis_with_room_for_the_caches(
        client: TestClient, small_dataset: Dataset) -> None:
    """The README's arithmetic, with each entry's and event_id's bytes measured in Redis: at the design rate of
    200 feedback events a second, all with event_ids, what is never evicted takes at most half the memory."""
    sessions = client.app.state.resources.sessions  # type: ignore[attr-defined]
    for n in range(500):
        client.post("/v1/feedback", json={"session_id": f"session-{n:06d}", "user_id": 4, "event": "rating",
                                          "item_id": unseen(small_dataset, 4), "value": 4.5,
                                          "event_id": f"client-event-{n:012d}"}).raise_for_status()
    redis_client, namespace = sessions.client, sessions.settings.redis_namespace
    # Entries delivered to the graph writer but not yet acknowledged sit in the group's pending list, which the
    # stream's memory counts too: measure once the writer has caught up, as it has in steady state.
    def caught_up() -> bool:
        stream = sessions.settings.feedback_stream
        last = redis_client.xinfo_stream(stream)["last-generated-id"]
        (group,) = [g for g in redis_client.xinfo_groups(stream) if g["name"].decode() == GROUP]
        return group["pending"] == 0 and group["last-delivered-id"] == last

    wait_for(caught_up, 30, "the graph writer did not catch up")
    entry_bytes = redis_client.memory_usage(sessions.settings.feedback_stream, samples=0) / 500
    event_keys = list(redis_client.scan_iter(f"{namespace}:event:*", count=1_000))
    event_bytes = (sum(redis_client.memory_usage(key) for key in event_keys)
                   + redis_client.memory_usage(f"{namespace}:event-expiry", samples=0)) / len(event_keys)
    defaults = ServiceSettings()
    never_evicted = (defaults.serving.feedback_stream_maxlen * entry_bytes
                     + defaults.serving.event_id_ttl_s * 200 * event_bytes)
    assert len(event_keys) == 500 and entry_bytes < 100 and event_bytes < 350, (entry_bytes, event_bytes)
    assert never_evicted <= compose_redis_bytes() / 2, (entry_bytes, event_bytes, never_evicted / 2**20)


def test_six_clicks_on_one_slate_within_a_second_count_six(client: TestClient) -> None:
    slate = client.post("/v1/recommend", json={"user_id": 30, "k": 3, "session_id": "s-six"}).json()
    item = slate["items"][0]["item_id"]
    for n in range(6):
        answer = client.post("/v1/feedback", json={"session_id": "s-six", "user_id": 30, "item_id": item,
                                                   "event": "click", "slate_id": slate["slate_id"],
                                                   "event_id": f"six-{n}"})
        assert answer.status_code == 202 and answer.json()["duplicate"] is False

    def clicks() -> int:
        history = client.get("/v1/users/30/history")
        assert history.status_code == 200, history.text
        return sum(entry["count"] for entry in history.json()["items"]
                   if entry["item_id"] == item and entry["behavior"] == "click")

    wait_for(lambda: clicks() == 6, message="the six clicks did not reach the graph as 6")
    time.sleep(0.6)  # one more writer gather: nothing is added later
    assert clicks() == 6
