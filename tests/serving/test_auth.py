"""Who may do what: client keys and scopes, feedback attributed to shown slates, rating scales, rate limits."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from graphrec.ingest.frames import Dataset
from graphrec.serving.access.keys import ApiKey, KeyRing, Scope, new_key
from tests.api_stack import ADMIN, wait_for
from tests.serving.conftest import Stack, client_for, seen_items

RECOMMEND_KEY, RECOMMEND_ENTRY = new_key("web", {Scope.recommend})
APP_KEY, APP_ENTRY = new_key("app", {Scope.recommend, Scope.feedback})
INGEST_KEY, INGEST_ENTRY = new_key("pipeline", {Scope.feedback, Scope.ingest})
KEYS = [RECOMMEND_ENTRY, APP_ENTRY, INGEST_ENTRY]


def as_key(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def keyed(data_dir: Path, stack: Stack, **overrides: object) -> TestClient:
    """A service with the admin key and KEYS; its client sends no key unless a request does."""
    return client_for(data_dir, stack, headers=None, api_keys=KEYS, **overrides)


ROUTES = [("post", "/v1/recommend", {"json": {"user_id": 4, "k": 3}}),
          ("post", "/v1/feedback", {"json": {"session_id": "s", "user_id": 4, "item_id": 1, "event": "click"}}),
          ("get", "/v1/explain", {"params": {"user_id": 4, "item_id": 1}}),
          ("get", "/v1/items/1", {}),
          ("get", "/v1/users/4/history", {}),
          ("get", "/v1/users", {"params": {"prefix": "4"}}),
          ("get", "/v1/items", {"params": {"text": "item"}}),
          ("get", "/v1/overview", {}),
          ("post", "/v1/admin/reload", {}),
          ("get", "/v1/admin/versions", {}),
          ("get", "/v1/admin/refresh", {})]


def test_every_data_route_needs_a_key_with_its_scope(data_dir: Path, stack: Stack) -> None:
    with keyed(data_dir, stack) as client:
        for method, path, arguments in ROUTES:
            assert getattr(client, method)(path, **arguments).status_code == 401, path
            assert getattr(client, method)(path, headers=as_key("not-a-key"), **arguments).status_code == 401, path
            allowed = getattr(client, method)(path, headers=ADMIN, **arguments).status_code
            assert allowed not in (401, 403, 429), path
        allowed_for_recommend = {"/v1/recommend", "/v1/explain", "/v1/items/1", "/v1/items", "/v1/overview"}
        for method, path, arguments in ROUTES:
            status = getattr(client, method)(path, headers=as_key(RECOMMEND_KEY), **arguments).status_code
            assert (status == 403) == (path not in allowed_for_recommend), (path, status)
        overview = client.get("/v1/overview", headers=as_key(RECOMMEND_KEY)).json()
        assert overview["users"] > 0 and overview["sample_users"] == []  # naming users needs the history scope
        answer = client.post("/v1/feedback", headers=as_key(RECOMMEND_KEY), json=ROUTES[1][2]["json"])
        assert answer.status_code == 403 and "lacks the 'feedback' scope" in answer.json()["detail"]
        ready = client.get("/readyz").json()
        assert ready["access"].startswith("4 API key(s)") and RECOMMEND_KEY not in json.dumps(ready)
        # Health checks and metrics stay open to the platform that runs the service.
        assert client.get("/healthz").status_code == 200 and client.get("/metrics").status_code == 200


def test_feedback_counts_only_for_items_of_a_slate_shown_to_that_user_and_session(
        data_dir: Path, stack: Stack, small_dataset: Dataset) -> None:
    headers = as_key(APP_KEY)
    with keyed(data_dir, stack) as client:
        shown = client.post("/v1/recommend", headers=headers, json={"user_id": 4, "k": 5, "session_id": "s-1"}).json()
        slate, items = shown["slate_id"], [entry["item_id"] for entry in shown["items"]]
        never_shown = next(int(i) for i in small_dataset.items["item_id"]
                           if int(i) not in items and int(i) not in seen_items(small_dataset, 4))

        def send(**changes: object) -> tuple[int, str]:
            body = {"session_id": "s-1", "user_id": 4, "item_id": items[0], "event": "click", "slate_id": slate,
                    **changes}
            answer = client.post("/v1/feedback", headers=headers, json={k: v for k, v in body.items() if v is not None})
            return answer.status_code, answer.text

        forged = slate[:-2] + ("AA" if not slate.endswith("AA") else "BB")
        refusals = (({"item_id": never_shown}, "not in the slate"), ({"slate_id": None}, "needs the slate_id"),
                    ({"user_id": 5}, "another user"), ({"session_id": "s-2"}, "session 's-1'"),
                    ({"slate_id": forged}, "not one this service issued"))
        for changes, reason in refusals:
            status, text = send(**changes)
            assert status == 403 and reason in text, (changes, text)
        assert client.app.state.resources.sessions.stream.stream_length() == 0  # type: ignore[attr-defined]
        assert send()[0] == 202
        # The trusted pipeline's key sends events without a slate.
        answer = client.post("/v1/feedback", headers=as_key(INGEST_KEY), json={
            "session_id": "import", "user_id": 4, "item_id": never_shown, "event": "purchase"})
        assert answer.status_code == 202
    # The slate is signed, not stored: a service started afresh (Redis emptied) accepts it.
    with keyed(data_dir, stack) as restarted:
        answer = restarted.post("/v1/feedback", headers=headers, json={
            "session_id": "s-1", "user_id": 4, "item_id": items[1], "event": "click", "slate_id": slate})
        assert answer.status_code == 202, answer.text


def test_ratings_are_checked_against_the_dataset_scale(client: TestClient, small_dataset: Dataset) -> None:
    low, high = small_dataset.interactions["rating"].min(), small_dataset.interactions["rating"].max()
    body = {"session_id": "s", "user_id": 4, "item_id": int(small_dataset.items["item_id"].iloc[0]),
            "event": "rating"}
    for value, status in ((None, 422), (high + 1, 422), (low - 0.5, 422), (high, 202)):
        answer = client.post("/v1/feedback", json={**body, "value": value} if value is not None else body)
        assert answer.status_code == status, (value, answer.text)
        if status == 422:
            assert answer.json()["detail"][0]["loc"] == ["body", "value"]
            assert f"from {low:g} to {high:g}" in answer.json()["detail"][0]["msg"]


def test_over_the_rate_limit_is_a_429_with_retry_after_and_redis_down_lets_requests_through(
        data_dir: Path, stack: Stack) -> None:
    limited = ApiKey(**{**APP_ENTRY.model_dump(), "name": "limited", "rate_limit": "3/minute"})
    with client_for(data_dir, stack, headers=as_key(APP_KEY), api_keys=[limited]) as client:
        statuses = [client.post("/v1/recommend", json={"user_id": 4, "k": 3}) for _ in range(4)]
        assert [answer.status_code for answer in statuses] == [200, 200, 200, 429]
        assert 1 <= int(statuses[-1].headers["Retry-After"]) <= 60
        assert "3/minute" in statuses[-1].json()["detail"]
        # Another key has its own budget.
        assert client.post("/v1/recommend", headers=ADMIN, json={"user_id": 4, "k": 3}).status_code == 200
        assert 'graphrec_rate_limited_requests_total{client="limited"} 1.0' in client.get("/metrics").text
        redis = stack.redis_server(client)
        redis.stop()
        try:
            answer = client.post("/v1/recommend", json={"user_id": 4, "k": 3})
            assert answer.status_code == 200 and "redis" in answer.json()["degraded"]  # the limiter fails open
        finally:
            redis.start()
        wait_for(lambda: client.get("/readyz").json()["checks"]["redis"]["ok"], 10)
        assert client.post("/v1/recommend", json={"user_id": 4, "k": 3}).status_code == 429


def test_without_keys_the_service_is_open_but_admin_is_off(data_dir: Path, stack: Stack) -> None:
    with client_for(data_dir, stack, headers=None, api_key=None) as client:
        assert client.post("/v1/recommend", json={"user_id": 4, "k": 3}).status_code == 200
        assert client.get("/v1/users/4/history").status_code == 200
        assert client.post("/v1/admin/reload", headers=ADMIN).status_code == 403
        assert client.get("/readyz").json()["access"].startswith("open")


def test_serving_a_public_address_without_keys_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from graphrec.cli import app
    from graphrec.settings import get_settings

    monkeypatch.setenv("GRAPHREC_DATA_DIR", str(tmp_path / "var"))
    for name in ("GRAPHREC_API_KEY", "GRAPHREC_API_KEYS", "GRAPHREC_ALLOW_OPEN_BIND"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    try:
        done = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--port", "1"])
    finally:
        get_settings.cache_clear()
    assert done.exit_code == 2 and "no API keys are configured" in done.output


def test_keys_are_kept_as_digests_and_made_by_the_cli(tmp_path: Path) -> None:
    ring = KeyRing(KEYS, None)
    assert ring.identify(APP_KEY) is not None and ring.identify(APP_KEY).name == "app"  # type: ignore[union-attr]
    assert ring.identify(APP_KEY + "x") is None and APP_KEY not in json.dumps([k.model_dump(mode="json") for k in KEYS])
    with pytest.raises(ValueError, match="same key"):
        KeyRing([APP_ENTRY, ApiKey(**{**APP_ENTRY.model_dump(), "name": "copy"})], None)
    done = subprocess.run([sys.executable, "-m", "graphrec", "new-key", "--name", "web", "--scope", "recommend",
                           "--scope", "feedback", "--rate-limit", "50/second"], capture_output=True, text=True,
                          timeout=120, check=True)
    key = done.stdout.split("key (shown once): ")[1].split()[0]
    entry = ApiKey.model_validate_json(done.stdout.split("GRAPHREC_API_KEYS entry: ")[1])
    assert entry.scopes == {Scope.recommend, Scope.feedback} and entry.rate_limit == "50/second"
    assert KeyRing([entry], None).identify(key) is not None
