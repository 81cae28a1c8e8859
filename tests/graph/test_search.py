"""The console's lookups: users by id prefix, items by title text, on both backends."""

from __future__ import annotations

from graphrec.graph.store import GraphStore
from graphrec.ingest.frames import Dataset
from graphrec.ingest.loader import ingest


def test_users_are_found_by_id_prefix_shortest_first(store: GraphStore, small_dataset: Dataset) -> None:
    assert store.search_users("1") == []  # an empty graph finds nothing, without an error
    ingest(store, lambda: small_dataset)
    users = sorted(small_dataset.interactions["user_id"].unique().tolist())
    found = store.search_users("1", limit=5)
    expected = sorted((u for u in users if str(u).startswith("1")), key=lambda u: (len(str(u)), str(u)))[:5]
    assert found == expected
    assert store.search_users("no such user") == []
    # The prefix is a parameter, never query text.
    assert store.search_users("1' OR true //") == []


def test_items_are_found_by_title_text_in_any_case_most_interacted_first(store: GraphStore,
                                                                         small_dataset: Dataset) -> None:
    ingest(store, lambda: small_dataset)
    text = str(small_dataset.items["title"].dropna().iloc[0])[:6]  # "Item 1": Item 1, Item 10, ...
    found = store.search_items(text.swapcase(), limit=50)
    assert len(found) > 1 and found["title"].str.lower().str.contains(text.lower(), regex=False).all()
    counts = small_dataset.interactions.drop_duplicates(["user_id", "item_id"])["item_id"].value_counts()
    expected = [counts.get(item, 0) for item in found["item_id"]]
    assert found["interactions"].tolist() == expected and expected == sorted(expected, reverse=True)
    assert store.search_items("no title has this text").empty
