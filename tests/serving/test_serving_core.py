"""The recommendation path on the real embedded graph and a real published artifact set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graphrec.graph.store import GraphError, GraphStore
from graphrec.ingest import generic
from graphrec.ingest.frames import Dataset
from graphrec.ingest.loader import ingest
from graphrec.serving.feedback.intake import feedback_is_positive
from graphrec.serving.request.recommender import RecommendationService
from graphrec.serving.request.served_version import load_current
from graphrec.serving.resilience import graph_budget
from graphrec.serving.resilience.graph_budget import GraphDeadline
from graphrec.serving.state.user_records import UserState
from graphrec.settings import Settings
from graphrec.training.artifacts import ArtifactError, publish, read_manifest
from graphrec.training.pipeline import index_version, train_from_graph
from graphrec.training.rl.logreplay import LogReplayConfig, pair_rewards
from tests import fixtures


@pytest.fixture
def service(store: GraphStore, settings: Settings, small_dataset: Dataset) -> RecommendationService:
    ingest(store, lambda: small_dataset)
    folder = train_from_graph(store, settings.artifacts_dir, "lightgcn", {"epochs": 10, "dim": 16}, refit=False)
    index_version(folder)
    publish(settings.artifacts_dir, folder.name)
    return RecommendationService(settings, store, load_current(settings.artifacts_dir))


def test_known_user_gets_unseen_items_from_graph_and_embeddings(service: RecommendationService,
                                                                 small_dataset: Dataset) -> None:
    user = 4
    seen = set(small_dataset.interactions.loc[small_dataset.interactions["user_id"] == user, "item_id"])
    result = service.recommend(user, k=10)
    items = [r.item_id for r in result.items]
    assert len(items) == 10 and len(set(items)) == 10 and not seen & set(items)
    assert result.known_user and result.artifact_version and result.policy == "greedy"
    assert {"kg", "faiss"} & {source for r in result.items for source in r.sources}
    scores = [r.score for r in result.items]
    assert scores == sorted(scores, reverse=True)


def test_exclusions_and_explanations(service: RecommendationService) -> None:
    first = service.recommend(7, k=5)
    banned = [first.items[0].item_id]
    second = service.recommend(7, k=5, exclude=banned, explain=True)
    assert banned[0] not in [r.item_id for r in second.items]
    assert all(r.reasons for r in second.items)


def test_unknown_user_gets_popular_items(service: RecommendationService, small_dataset: Dataset) -> None:
    result = service.recommend(999_999, k=5)
    assert not result.known_user and len(result.items) == 5
    counts = small_dataset.interactions["item_id"].value_counts()
    popular = sorted(counts.index, key=lambda item: (-counts[item], item))[:5]  # ties by id, as the query
    assert [r.item_id for r in result.items if r.sources == ["popular"]] == popular[: len(result.items)]


def test_swap_to_a_new_version(service: RecommendationService, store: GraphStore, settings: Settings) -> None:
    old = service.artifacts.version  # type: ignore[union-attr]
    folder = train_from_graph(store, settings.artifacts_dir, "lightgcn", {"epochs": 5, "dim": 16}, refit=False)
    index_version(folder)
    publish(settings.artifacts_dir, folder.name)
    service.swap(load_current(settings.artifacts_dir))
    assert service.recommend(4, k=3).artifact_version == folder.name != old


def test_nothing_published_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="nothing is published"):
        load_current(tmp_path)


def test_a_graph_that_returns_serves_requests_only_once_it_answers_them_within_the_budget(
        service: RecommendationService) -> None:
    service.recommend(4, k=5)  # a served user with positives: whose queries the trial runs
    service.graph.mark_down("stopped")
    service.deadline.fixed_s = 1e-6  # no real query answers in a microsecond
    with pytest.raises(GraphError, match="over the request budget"):
        service.check_graph()
    assert service.recommend(4, k=5).degraded == ["graph"]  # still kept off the graph
    service.deadline.fixed_s = 5.0
    service.check_graph()
    service.graph.probe(service.check_graph)  # what /readyz runs: a trial in time marks the graph healthy
    assert service.graph.healthy and service.recommend(4, k=5).degraded == []


def test_the_request_budget_is_derived_from_measured_requests_and_then_kept() -> None:
    deadline = GraphDeadline(None)
    assert deadline.limit_s == graph_budget.CEILING_S
    for spent_s in [0.01] * (graph_budget.DERIVE_AFTER - 2) + [0.05, 0.06]:
        deadline.record(spent_s)
    p99 = float(np.percentile([0.01] * (graph_budget.DERIVE_AFTER - 2) + [0.05, 0.06], 99))
    assert deadline.limit_s == pytest.approx(max(graph_budget.FACTOR * p99, graph_budget.FLOOR_S))
    kept = deadline.limit_s
    for _ in range(graph_budget.DERIVE_AFTER):  # a slow graph later does not move it (no ratchet)
        deadline.record(0.9)
    assert deadline.limit_s == kept
    warmed = GraphDeadline(None)
    with warmed.warming():
        for spent_s in [0.5] * graph_budget.DERIVE_AFTER + [0.02] * graph_budget.DERIVE_AFTER:
            warmed.record(spent_s)  # a cold server first: only the last requests of the warming count
        assert warmed.limit_s == graph_budget.CEILING_S
    assert warmed.limit_s == graph_budget.FLOOR_S
    assert GraphDeadline(0).limit_s is None and not GraphDeadline(0).enabled
    assert GraphDeadline(0.25).limit_s == 0.25
    with deadline.scope() as budget:
        assert budget.ends is not None and graph_budget.current() is budget
    assert graph_budget.current() is None


def test_a_fav_is_positive_in_the_served_state_and_in_rl_training(service: RecommendationService,
                                                                    store: GraphStore) -> None:
    """One rule (graph.behaviours) for the graph's seeds, the service's state and RL's rewards."""
    item = int(store.items()["id"].max())
    store.run("record_feedback", {"rows": [{"user_id": 4, "item_id": item, "behavior": "fav", "rating": None,
                                            "count": 1, "last_ts": 2_000_000_000}],
                                  "applied_key": "feedback_applied/test", "applied_id": "1"}, write=True)
    assert service.history.from_graph(4).positive[0] == item and feedback_is_positive("fav", None)
    events = pd.DataFrame({"user_id": [4, 4, 4], "item_id": [item, item + 1, item + 2], "last_ts": [1, 2, 3],
                           "behavior": ["fav", "skip", "rating"], "rating": [np.nan, np.nan, 2.0]})
    rewards = pair_rewards(events).set_index("item_id")["reward"]
    assert rewards[item] >= LogReplayConfig().positive_reward > max(rewards[item + 1], rewards[item + 2])
    assert not feedback_is_positive("skip", None) and not feedback_is_positive("rating", 2.0)


def test_text_ids_that_look_like_integers_round_trip_through_training_and_serving(
        store: GraphStore, settings: Settings, tmp_path: Path) -> None:
    """"007" stays "007" and a 19-digit text id stays text from ingest through the artifacts to a request."""
    long_id = "1234567890123456789"  # 19 digits: text for the ingest, beyond what an int64 holds from there on
    users = ["007", long_id, *(f"u{n}" for n in range(8))]
    rows = [f"{user},{item:03d},{1 + (n + item) % 5},rating,{n * 10 + item}"
            for n, user in enumerate(users) for item in range(n % 3, 12, 2)]
    header = "user_id,item_id,rating,behavior,timestamp\n"
    fixtures.write(tmp_path / "d" / "interactions.csv", header + "\n".join(rows) + "\n")
    ingest(store, lambda: generic.read(tmp_path / "d"))
    folder = train_from_graph(store, settings.artifacts_dir, "lightgcn", {"epochs": 2, "dim": 8}, refit=False)
    index_version(folder)
    publish(settings.artifacts_dir, folder.name)
    artifacts = load_current(settings.artifacts_dir)
    assert {"007", long_id} <= set(artifacts.catalogue.user_ids.tolist())
    assert "001" in artifacts.catalogue.item_ids.tolist()
    assert read_manifest(folder)["id_types"] == {"user": "str", "item": "str"}
    service = RecommendationService(settings, store, artifacts)
    for user in ("007", long_id):
        result = service.recommend(service.coerce_id(user, "user"), k=3)
        assert result.known_user and len(result.items) == 3


def test_a_session_state_keeps_its_newest_items_within_its_bounds() -> None:
    state = UserState(seen=[3, 2, 1], positive=[3])  # newest first, as the graph reads it
    for item in (4, 5):
        state.add(item, True, keep=2, keep_seen=3)
    assert state.seen == [5, 4, 3] and state.positive == [5, 4]
    state.add(3, False, keep=2, keep_seen=3)
    assert state.seen == [3, 5, 4] and state.positive == [5, 4]
