"""The real datasets of ../shared/data, when present: exact counts and idempotent re-ingest."""

from __future__ import annotations

from pathlib import Path

import pytest

from graphrec.graph.store import GraphStore
from graphrec.ingest import movielens, taobao
from graphrec.ingest.loader import ingest

pytestmark = pytest.mark.realdata

EXPECTED = {
    "movielens-100k": {"users": 943, "items": 1_682, "interactions": 100_000, "events": 100_000},
    "movielens-latest-small": {"users": 610, "items": 9_742, "interactions": 100_836, "events": 100_836},
    "taobao-userbehavior-sample": {"users": 815, "items": 55_368, "events": 84_475},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_dataset_counts_and_idempotence(store: GraphStore, shared_data: Path, name: str) -> None:
    path = shared_data / name
    if not path.exists():
        pytest.skip(f"{path} is absent")
    read = (lambda: taobao.read(path)) if name.startswith("taobao") else (lambda: movielens.read(path))
    ingest(store, read)
    stats = store.stats()
    assert {key: stats[key] for key in EXPECTED[name]} == EXPECTED[name]
    if name == "movielens-100k":
        assert stats["entities"]["Genre"] == 19
    if name.startswith("taobao"):
        assert set(store.interactions()["behavior"]) == {"pv", "cart", "fav", "buy"}
    assert ingest(store, read).rows_written == 0
    assert store.stats() == stats
