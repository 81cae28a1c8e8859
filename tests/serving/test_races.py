"""Races between a request that rebuilds a cached value and a feedback event for the same user: the feedback
always wins, so an event answered 202 is never hidden from the user's next request."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from graphrec.ingest.frames import Dataset
from graphrec.serving.request.degradation import Degradation
from tests.serving.conftest import Stack, client_for, seen_items

USER = 4


@contextmanager
def click_lands_during(owner: Any, method: str, service: Any, item: int) -> Iterator[None]:
    """``owner.method`` runs as usual, and a click on ``item`` (another request thread's feedback) lands after it
    has read what it reads and before the caller stores what it computed."""
    original = getattr(owner, method)

    def then_click(*args: Any, **kwargs: Any) -> Any:
        found = original(*args, **kwargs)
        history = service.history  # the state as the class reads it, not through this wrapper
        service.sessions.record_feedback({"user_id": USER, "item_id": item, "event": "click"}, True,
                                         lambda: type(history).from_graph(history, USER))
        return found

    setattr(owner, method, then_click)
    try:
        yield
    finally:
        setattr(owner, method, original)


def test_a_state_rebuilt_from_the_graph_never_overwrites_feedback_written_meanwhile(
        data_dir: Path, stack: Stack, small_dataset: Dataset) -> None:
    item = min(set(small_dataset.interactions["item_id"]) - seen_items(small_dataset, USER))
    with client_for(data_dir, stack, feedback_to_graph=False) as client:
        service = client.app.state.resources.service  # type: ignore[attr-defined]
        with click_lands_during(service.history, "from_graph", service, item):
            service.history.state(USER, Degradation())  # a cache miss: rebuilt from the graph, then cached
        assert item in service.sessions.user_state(USER).seen  # the click survives the rebuild
        body = client.post("/v1/recommend", json={"user_id": USER, "k": 10}).json()
        assert item not in {entry["item_id"] for entry in body["items"]}


def test_a_candidate_set_computed_before_feedback_is_not_cached_after_it(
        data_dir: Path, stack: Stack, small_dataset: Dataset) -> None:
    item = min(set(small_dataset.interactions["item_id"]) - seen_items(small_dataset, USER))
    with client_for(data_dir, stack, feedback_to_graph=False) as client:
        service = client.app.state.resources.service  # type: ignore[attr-defined]
        sessions = service.sessions
        sessions.client.delete(sessions.candidates_key(USER))
        with click_lands_during(service.candidates, "kg", service, item):  # while the set is computed
            assert client.post("/v1/recommend", json={"user_id": USER, "k": 10}).json()["cache"] == "miss"
        assert not sessions.client.exists(sessions.candidates_key(USER))  # the stale set was not stored
        assert client.post("/v1/recommend", json={"user_id": USER, "k": 10}).json()["cache"] == "miss"
