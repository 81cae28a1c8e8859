"""Races between a request that rebuilds a cached value and a feedback event for the same user: the feedback
always wins, so an event answered 202 is never hidden from the user's next request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graphrec.graph.store import GraphStore
from graphrec.ingest.frames import Dataset
from graphrec.serving.degradation import Degradation
from graphrec.serving.sessions import UserState
from tests.serving.conftest import Stack, client_for, seen_items

USER = 4


def unseen_item(dataset: Dataset, user: int) -> int:
    return int(sorted(set(dataset.interactions["item_id"]) - seen_items(dataset, user))[0])


def click(sessions: Any, item: int, build_state: Any) -> None:
    sessions.record_feedback({"user_id": USER, "item_id": item, "event": "click"}, True, build_state)


def test_a_state_rebuilt_from_the_graph_never_overwrites_feedback_written_meanwhile(
        data_dir: Path, stack: Stack, small_dataset: Dataset) -> None:
    item = unseen_item(small_dataset, USER)
    with client_for(data_dir, stack, feedback_to_graph=False) as client:
        service = client.app.state.resources.service  # type: ignore[attr-defined]
        sessions, history = service.sessions, service.history
        read_graph = history.from_graph

        def graph_read_then_feedback(user_id: Any, store: GraphStore | None = None) -> UserState:
            state = read_graph(user_id, store)  # the graph as it was before the click
            click(sessions, item, lambda: read_graph(user_id))  # another thread's feedback lands now
            return state

        history.from_graph = graph_read_then_feedback
        history.state(USER, Degradation())  # a cache miss: rebuilt from the graph, then cached
        history.from_graph = read_graph
        assert item in sessions.user_state(USER).seen  # the click survives the rebuild
        body = client.post("/v1/recommend", json={"user_id": USER, "k": 10}).json()
        assert item not in {entry["item_id"] for entry in body["items"]}


def test_a_candidate_set_computed_before_feedback_is_not_cached_after_it(
        data_dir: Path, stack: Stack, small_dataset: Dataset) -> None:
    item = unseen_item(small_dataset, USER)
    with client_for(data_dir, stack, feedback_to_graph=False) as client:
        service = client.app.state.resources.service  # type: ignore[attr-defined]
        sessions, candidates = service.sessions, service.candidates
        sessions.client.delete(sessions._candidates_key(USER))
        expand = candidates.kg

        def expand_then_feedback(store: GraphStore, seeds: Any) -> Any:
            found = expand(store, seeds)
            click(sessions, item, lambda: service.history.from_graph(USER))  # lands while the set is computed
            return found

        candidates.kg = expand_then_feedback
        assert client.post("/v1/recommend", json={"user_id": USER, "k": 10}).json()["cache"] == "miss"
        candidates.kg = expand
        assert not sessions.client.exists(sessions._candidates_key(USER))  # the stale set was not stored
        again = client.post("/v1/recommend", json={"user_id": USER, "k": 10}).json()
        assert again["cache"] == "miss"  # computed anew, after the click
