"""The lean POST /v1/feedback (serving.routes.lean_feedback) against the FastAPI route it stands in for: the same
202s, and every request it does not record handed on, with the route's errors and one rate-limit count."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from graphrec.serving.access.keys import Scope, new_key
from graphrec.serving.feedback.intake import FeedbackIntake
from graphrec.serving.routes import lean_feedback
from tests.api_stack import ADMIN
from tests.serving.conftest import Stack, client_for
from tests.serving.test_lean_recommend import route_only

LIMITED_KEY, LIMITED_ENTRY = new_key("limited", {Scope.recommend, Scope.feedback}, rate_limit="4/minute")
RECOMMEND_ONLY_KEY, RECOMMEND_ONLY_ENTRY = new_key("recommend-only", {Scope.recommend})
KEYS = [LIMITED_ENTRY.model_dump(mode="json"), RECOMMEND_ONLY_ENTRY.model_dump(mode="json")]


@pytest.fixture
def client(data_dir: Path) -> Any:
    with client_for(data_dir, Stack("embedded"), api_keys=KEYS) as opened:
        yield opened


def recorded_here(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Where the lean layer recorded each event it recorded: "loop" (on the event loop) or "thread"."""
    recorded: list[str] = []
    in_a_thread, on_the_loop = lean_feedback.record_event, FeedbackIntake.record_on_loop

    def thread(*args: Any) -> tuple[str | None, bool]:
        answer = in_a_thread(*args)
        recorded.append("thread")
        return answer

    async def loop(*args: Any) -> tuple[str | None, bool] | None:
        answer = await on_the_loop(*args)
        if answer is not None:
            recorded.append("loop")
        return answer

    monkeypatch.setattr(lean_feedback, "record_event", thread)
    monkeypatch.setattr(FeedbackIntake, "record_on_loop", loop)
    return recorded


def slate(client: TestClient, user: int, session: str, headers: dict[str, str] = ADMIN) -> dict[str, Any]:
    answer = client.post("/v1/recommend", json={"user_id": user, "k": 5, "session_id": session}, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_lean_layer_records_what_the_route_records(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = recorded_here(monkeypatch)
    shown = slate(client, 4, "s-lean")
    event = {"session_id": "s-lean", "user_id": 4, "item_id": shown["items"][0]["item_id"], "event": "click",
             "slate_id": shown["slate_id"], "event_id": "lean-1"}
    lean = client.post("/v1/feedback", json=event)
    again = client.post("/v1/feedback", json=event)
    rated = client.post("/v1/feedback", json={**event, "event": "rating", "value": 4.0, "event_id": "lean-2"})
    assert rated.status_code == 202
    # the first rating reads the scale from the graph, in a thread; the rest needs Redis only
    assert recorded == ["loop", "loop", "thread"]
    route_only(client.app.state.resources)  # type: ignore[attr-defined]
    route = client.post("/v1/feedback", json={**event, "item_id": shown["items"][1]["item_id"], "event_id": "r-1"})
    duplicate = client.post("/v1/feedback", json=event)
    assert recorded == ["loop", "loop", "thread"]
    assert lean.status_code == route.status_code == again.status_code == duplicate.status_code == 202
    assert lean.headers["content-type"] == route.headers["content-type"]
    assert set(lean.json()) == set(route.json()) and not lean.json()["duplicate"] and not route.json()["duplicate"]
    assert again.json() == duplicate.json() == {**lean.json(), "duplicate": True}
    resources = client.app.state.resources  # type: ignore[attr-defined]
    assert resources.sessions.stream.stream_length() == 3


@pytest.mark.parametrize(("change", "headers", "status"), [
    ({"event": "purchase!"}, ADMIN, 422),
    ({"colour": "red"}, ADMIN, 422),
    ({"user_id": "four"}, ADMIN, 422),
    ({"slate_id": "forged.slate"}, ADMIN, 403),
    ({"user_id": 5}, ADMIN, 403),  # the slate was shown to user 4
    ({"item_id": 10_000_000}, ADMIN, 403),  # not in the slate
    ({"event": "rating", "value": 99.0}, ADMIN, 422),  # off the scale
    ({}, None, 401),
    ({}, {"X-API-Key": RECOMMEND_ONLY_KEY}, 403),
])
def test_what_the_lean_layer_does_not_record_the_route_answers_as_before(
        client: TestClient, monkeypatch: pytest.MonkeyPatch, change: dict[str, Any], headers: dict[str, str] | None,
        status: int) -> None:
    shown = slate(client, 4, "s-h")
    event = {"session_id": "s-h", "user_id": 4, "item_id": shown["items"][0]["item_id"], "event": "click",
             "slate_id": shown["slate_id"], **change}
    if headers is None:
        del client.headers["X-API-Key"]
        headers = {}
    ours = client.post("/v1/feedback", json=event, headers=headers)
    route_only(client.app.state.resources)  # type: ignore[attr-defined]
    theirs = client.post("/v1/feedback", json=event, headers=headers)
    assert ours.status_code == theirs.status_code == status, ours.text
    assert ours.json() == theirs.json()
    assert client.app.state.resources.sessions.stream.stream_length() == 0  # type: ignore[attr-defined]


def test_an_event_id_conflict_and_the_rate_limit_are_the_routes_answers_counted_once(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    headers = {"X-API-Key": LIMITED_KEY}
    shown = slate(client, 4, "s-c", headers)  # 1 of 4
    event = {"session_id": "s-c", "user_id": 4, "item_id": shown["items"][0]["item_id"], "event": "click",
             "slate_id": shown["slate_id"], "event_id": "same"}
    assert client.post("/v1/feedback", json=event, headers=headers).status_code == 202  # 2
    other = {**event, "item_id": shown["items"][1]["item_id"]}
    conflict = client.post("/v1/feedback", json=other, headers=headers)  # 3
    assert conflict.status_code == 409 and "other content" in conflict.json()["detail"]
    assert client.post("/v1/feedback", json={**other, "event_id": "new"}, headers=headers).status_code == 202  # 4
    over = client.post("/v1/feedback", json={**other, "event_id": "newer"}, headers=headers)
    assert over.status_code == 429 and over.json() == {"detail": "over the rate limit of 4/minute for limited"}
    from graphrec.serving.access.rate_limits import rate

    limiter = client.app.state.resources.limiter  # type: ignore[attr-defined]
    assert limiter.limiter.storage.get(rate("4/minute").key_for("limited")) == 5
