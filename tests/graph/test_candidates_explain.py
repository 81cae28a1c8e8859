"""Candidates exclude what the user has and respect their caps; explanations are real paths of the graph."""

from __future__ import annotations

from pathlib import Path

import pytest

from graphrec.graph.behaviours import POSITIVE_MIN_RATING
from graphrec.graph.explain import best_kg_paths, explain
from graphrec.graph.factory import open_store
from graphrec.graph.store import GraphStore
from graphrec.ingest.frames import Dataset
from graphrec.ingest.loader import ingest
from graphrec.settings import Settings
from tests.conftest import make_settings


@pytest.fixture
def loaded(store: GraphStore, small_dataset: Dataset) -> GraphStore:
    ingest(store, lambda: small_dataset)
    return store


def positive_recent(dataset: Dataset, user: int, n: int, settings: Settings) -> list[int]:
    rows = dataset.interactions[(dataset.interactions["user_id"] == user)
                                & (dataset.interactions["rating"] >= POSITIVE_MIN_RATING)]
    return rows.sort_values("last_ts", ascending=False)["item_id"].head(n).tolist()


@pytest.mark.parametrize(("source", "hops"), [("kg", 1), ("kg", 2), ("collab", 1)])
def test_candidates_exclude_seen_items_and_respect_limit(loaded: GraphStore, small_dataset: Dataset,
                                                         source: str, hops: int) -> None:
    for user in (1, 17, 60):
        seen = set(small_dataset.interactions.loc[small_dataset.interactions["user_id"] == user, "item_id"])
        found = loaded.candidates(user, source=source, hops=hops, limit=15)  # type: ignore[arg-type]
        assert 0 < len(found) <= 15
        assert not seen & set(found["item_id"])
        assert found["paths"].is_monotonic_decreasing and (found["paths"] > 0).all()


def test_kg_candidates_are_reached_through_entities_of_the_seeds(tmp_path: Path, backend: str,
                                                                 small_dataset: Dataset) -> None:
    settings = make_settings(tmp_path, backend, candidate_max_seeds=1)
    with open_store(settings.graph) as store:
        ingest(store, lambda: small_dataset)
        user = 5
        (seed,) = positive_recent(small_dataset, user, 1, settings)
        triples = small_dataset.triples
        entities = set(triples.loc[triples["head"] == seed, "tail"])
        reachable = set(triples.loc[triples["tail"].isin(entities), "head"])
        found = set(store.candidates(user, limit=1_000)["item_id"])
        assert found and found <= reachable


def test_collaborative_expansion_is_capped(tmp_path: Path, backend: str, small_dataset: Dataset) -> None:
    settings = make_settings(tmp_path, backend, candidate_max_rows=1, candidate_max_neighbours=1)
    with open_store(settings.graph) as store:
        ingest(store, lambda: small_dataset)
        found = store.candidates(1, source="collab", limit=1_000)
        # One co-user row at most: every candidate comes from that single neighbour, one path each.
        frame = small_dataset.interactions
        positives = frame[frame["rating"] >= POSITIVE_MIN_RATING]
        owners = {u for u, items in positives.groupby("user_id")["item_id"] if set(found["item_id"]) <= set(items)}
        assert len(found) and owners - {1}
        assert (found["paths"] == 1).all()
        # The collaborative explanation is capped the same way: one user of the item counted at most.
        collab = [p for item in store.candidates(1, source="kg", limit=20)["item_id"]
                  for p in explain(store, 1, item, k=50) if p.kind == "collab"]
        assert collab and all(p.weight == 1 for p in collab)


def test_explanations_are_real_paths(loaded: GraphStore, small_dataset: Dataset) -> None:
    interactions = small_dataset.interactions
    user_items = interactions.groupby("user_id")["item_id"].apply(set)
    triples = set(zip(small_dataset.triples["head"], small_dataset.triples["relation"],
                      small_dataset.triples["tail"], strict=True))
    checked = 0
    for user in (2, 9, 33):
        for item in loaded.candidates(user, limit=5)["item_id"]:
            paths = explain(loaded, user, item, k=3)
            assert 1 <= len(paths) <= 3
            for path in paths:
                kinds = [node.kind for node in path.nodes]
                assert path.nodes[0].id == user and path.nodes[-1].id == item and path.sentence
                via = path.nodes[1].id
                assert via in user_items[user]
                if path.kind == "kg":
                    entity, (rel1, rel2) = path.nodes[2].id, path.relationships[1:]
                    assert (via, rel1, entity) in triples and (item, rel2, entity) in triples
                    assert kinds[2] in {"Genre", "Artist", "Year"}
                else:
                    co_user = path.nodes[2].id
                    assert {via, item} <= user_items[co_user]
                checked += 1
    assert checked >= 15


def test_explain_direct_and_collab_paths(loaded: GraphStore, small_dataset: Dataset) -> None:
    interactions = small_dataset.interactions
    user = 3
    own = interactions.loc[interactions["user_id"] == user, "item_id"].iloc[0]
    direct = explain(loaded, user, own, k=1)
    assert direct[0].kind == "direct" and direct[0].relationships == ["INTERACTED"]
    collab = [p for item in loaded.candidates(user, source="collab", limit=5)["item_id"]
              for p in explain(loaded, user, item, k=50) if p.kind == "collab"]
    assert collab and all(p.weight >= 1 and "other user" in p.sentence for p in collab)
    assert all(p.nodes[2].id is None and "other user" in p.nodes[2].name for p in collab)  # nobody is named


def test_unknown_user_gets_no_candidates(loaded: GraphStore) -> None:
    assert loaded.candidates(10_000_000).empty
    assert explain(loaded, 10_000_000, 1) == []


def test_best_knowledge_graph_paths_follow_the_cypher_order() -> None:
    """Rating first (none counts as 0), then count and time with a missing one first (Cypher's ORDER BY ... DESC
    puts nulls first), then via item, entity and relation."""
    def row(via: int, rating: float | None, count: int | None, last_ts: int | None, entity: str = "e",
            relation: str = "HAS_GENRE") -> dict[str, object]:
        return {"via_item": via, "rating": rating, "count": count, "last_ts": last_ts, "entity": entity,
                "relation": relation}

    rows = [row(1, None, 1, 5), row(2, 4.0, 1, 5), row(3, 4.0, None, 5), row(4, 4.0, 2, None), row(5, 4.0, 2, 9),
            row(6, 0.0, 1, 5), row(7, 5.0, 1, 1, "b"), row(7, 5.0, 1, 1, "a", "RELEASED_IN"), row(7, 5.0, 1, 1, "a")]
    best = best_kg_paths(rows, 8)
    assert [(r["via_item"], r["entity"], r["relation"]) for r in best] == [
        (7, "a", "HAS_GENRE"), (7, "a", "RELEASED_IN"), (7, "b", "HAS_GENRE"), (3, "e", "HAS_GENRE"),
        (4, "e", "HAS_GENRE"), (5, "e", "HAS_GENRE"), (2, "e", "HAS_GENRE"), (1, "e", "HAS_GENRE")]
    assert best_kg_paths(rows, 2) == best[:2]
