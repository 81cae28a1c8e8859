"""The lean POST /v1/recommend (serving.routes.lean_recommend) against the FastAPI route it stands in for: the same
answers, and every request it does not answer handed on, with the route's errors and one rate-limit count."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from graphrec.serving.access.keys import Scope, new_key
from graphrec.serving.resources import Resources
from graphrec.serving.routes.lean_recommend import LeanRecommend
from tests.api_stack import ADMIN
from tests.serving.conftest import Stack, client_for

LIMITED_KEY, LIMITED_ENTRY = new_key("limited", {Scope.recommend}, rate_limit="6/minute")
FEEDBACK_ONLY_KEY, FEEDBACK_ONLY_ENTRY = new_key("feedback-only", {Scope.feedback})
KEYS = [LIMITED_ENTRY.model_dump(mode="json"), FEEDBACK_ONLY_ENTRY.model_dump(mode="json")]
BODIES: list[dict[str, Any]] = [
    {"user_id": 4, "k": 5},
    {"user_id": 7, "k": 10, "session_id": "s-lean"},
    {"user_id": 4, "k": 3, "exclude": [1, 2, 3]},
    {"user_id": 9, "k": 4, "context_items": [5]},
    {"user_id": 123456, "k": 5},  # a user the graph does not know: cold start
]


@pytest.fixture
def client(data_dir: Path) -> Any:
    with client_for(data_dir, Stack("embedded"), api_keys=KEYS) as opened:
        yield opened


def lean_answers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Which way the lean path answered each request it saw: "loop" (a cached answer on the event loop),
    "thread" (the request path in a thread hop), "handed on" (over the limit: to the route)."""
    answered: list[str] = []
    hot, answer = LeanRecommend.hot, LeanRecommend.answer

    async def on_the_loop(*args: Any) -> Any:
        found = await hot(*args)
        if isinstance(found, bytes):
            answered.append("loop")
        elif found is not None and found.retry_after_s is not None:
            answered.append("handed on")
        return found

    def in_a_thread(*args: Any) -> tuple[int | None, bytes | None]:
        retry_after, answered_with = answer(*args)
        answered.append("thread" if answered_with is not None else "handed on")
        return retry_after, answered_with

    monkeypatch.setattr(LeanRecommend, "hot", staticmethod(on_the_loop))
    monkeypatch.setattr(LeanRecommend, "answer", staticmethod(in_a_thread))
    return answered


def route_only(resources: Resources) -> None:
    serving = resources.settings.serving.model_copy(update={"lean_routes": False})
    resources.settings = resources.settings.model_copy(update={"serving": serving})


def without_slate_id(answer: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in answer.items() if key != "slate_id"}


def test_the_lean_path_answers_what_the_route_answers(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    answered = lean_answers(monkeypatch)
    for body in BODIES:  # the first answer of a user builds the candidate set: compare cached answers
        assert client.post("/v1/recommend", json=body).status_code == 200
    assert answered == ["thread", "thread", "loop", "thread", "thread"]  # the third is the first one's user
    lean = [client.post("/v1/recommend", json=body) for body in BODIES]
    # context items make a set of their own, never cached: the request path answers them
    assert answered[len(BODIES):] == ["loop", "loop", "loop", "thread", "loop"]
    route_only(client.app.state.resources)  # type: ignore[attr-defined]
    route = [client.post("/v1/recommend", json=body) for body in BODIES]
    assert len(answered) == 2 * len(BODIES)
    for ours, theirs in zip(lean, route, strict=True):
        assert ours.status_code == theirs.status_code == 200
        assert ours.headers["content-type"] == theirs.headers["content-type"]
        assert without_slate_id(ours.json()) == without_slate_id(theirs.json())
    # Each slate_id the lean path signed names its slate for feedback.
    answer = lean[1].json()
    feedback = client.post("/v1/feedback", json={"session_id": "s-lean", "user_id": 7, "event": "click",
                                                 "item_id": answer["items"][0]["item_id"],
                                                 "slate_id": answer["slate_id"]})
    assert feedback.status_code == 202, feedback.text


@pytest.mark.parametrize(("body", "headers", "status"), [
    ({"user_id": 4, "k": 0}, ADMIN, 422),
    ({"user_id": 4, "k": 5, "colour": "red"}, ADMIN, 422),
    ({"user_id": "four", "k": 5}, ADMIN, 422),  # the graph's user ids are integers
    ({"user_id": 4, "exclude": ["x"]}, ADMIN, 422),
    (b'{"user_id": 4', ADMIN, 422),
    (b'{"user_id": "\xff"}', ADMIN, 400),
    ({"user_id": 4}, None, 401),  # no key at all
    ({"user_id": 4}, {"X-API-Key": "not-a-key"}, 401),
    ({"user_id": 4}, {"X-API-Key": FEEDBACK_ONLY_KEY}, 403),
    ({"user_id": 4, "explain": True}, ADMIN, 200),
])
def test_what_the_lean_path_does_not_answer_the_route_answers_as_before(
        client: TestClient, monkeypatch: pytest.MonkeyPatch, body: Any, headers: dict[str, str] | None,
        status: int) -> None:
    answered = lean_answers(monkeypatch)
    if headers is None:
        del client.headers["X-API-Key"]
        headers = {}
    send = {"content": body, "headers": {**headers, "content-type": "application/json"}} \
        if isinstance(body, bytes) else {"json": body, "headers": headers}
    ours = client.post("/v1/recommend", **send)
    route_only(client.app.state.resources)  # type: ignore[attr-defined]
    theirs = client.post("/v1/recommend", **send)
    assert answered == []
    assert ours.status_code == theirs.status_code == status, ours.text
    if status != 200:
        assert ours.json() == theirs.json() and ours.headers.get("www-authenticate") == \
            theirs.headers.get("www-authenticate")


def test_over_the_rate_limit_the_route_answers_429_and_each_request_counts_once(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    answered = lean_answers(monkeypatch)
    headers = {"X-API-Key": LIMITED_KEY}
    assert [client.post("/v1/recommend", json={"user_id": 4}, headers=headers).status_code
            for _ in range(5)] == [200] * 5
    # explain goes to the route, which counts it: the sixth of six a minute
    assert client.post("/v1/recommend", json={"user_id": 4, "explain": True}, headers=headers).status_code == 200
    over = client.post("/v1/recommend", json={"user_id": 4}, headers=headers)
    assert over.status_code == 429 and int(over.headers["retry-after"]) >= 1
    assert over.json() == {"detail": "over the rate limit of 6/minute for limited"}
    assert answered == ["thread"] + ["loop"] * 4 + ["handed on"]
    limiter = client.app.state.resources.limiter  # type: ignore[attr-defined]
    from graphrec.serving.access.rate_limits import rate

    item = rate("6/minute")
    assert limiter.limiter.storage.get(item.key_for("limited")) == 7
