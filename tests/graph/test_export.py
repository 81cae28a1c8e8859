"""Export: id arrays that match the graph, and CSVs that re-ingest into the same graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from graphrec.graph.export import export
from graphrec.graph.factory import open_store
from graphrec.graph.store import GraphStore
from graphrec.ingest import generic, taobao
from graphrec.ingest.frames import Dataset
from graphrec.ingest.loader import ingest
from tests import fixtures
from tests.conftest import make_settings


def test_round_trip_through_generic_layout(store: GraphStore, small_dataset: Dataset, tmp_path: Path) -> None:
    ingest(store, lambda: small_dataset)
    counts = export(store, tmp_path / "out")
    assert counts["interactions"] == 2_500
    # The copy is embedded on either backend: Neo4j's round trip is also a check of parity with LadybugDB.
    with open_store(make_settings(tmp_path / "copy", "ladybug").graph) as copy:
        ingest(copy, lambda: generic.read(tmp_path / "out"))
        assert copy.stats() == store.stats()
        original = store.interactions().sort_values(["user_id", "item_id"]).reset_index(drop=True)
        copied = copy.interactions().sort_values(["user_id", "item_id"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(original, copied, check_dtype=False)


def test_arrays_index_the_id_maps(store: GraphStore, tmp_path: Path) -> None:
    ingest(store, lambda: taobao.read(fixtures.taobao(tmp_path / "t")))
    export(store, tmp_path / "out")
    arrays = np.load(tmp_path / "out" / "edges.npz")
    users = pd.read_parquet(tmp_path / "out" / "users.parquet")["user_id"].to_numpy()
    items = pd.read_parquet(tmp_path / "out" / "items.parquet")["item_id"].to_numpy()
    entities = pd.read_parquet(tmp_path / "out" / "entities.parquet")
    edges = set(zip(users[arrays["user_index"]], items[arrays["item_index"]], arrays["count"], strict=True))
    assert edges == {(1, 100, 2), (1, 100, 1), (2, 101, 1), (2, 100, 1)}
    kg = set(zip(items[arrays["kg_item_index"]], entities["id"].to_numpy()[arrays["kg_entity_index"]], strict=True))
    assert kg == {(100, "7"), (101, "8")}
    assert (arrays["user_index"] >= 0).all() and (arrays["item_index"] >= 0).all()


def test_export_of_text_ids(store: GraphStore, tmp_path: Path) -> None:
    ingest(store, lambda: generic.read(fixtures.generic(tmp_path / "g")))
    counts = export(store, tmp_path / "out")
    assert counts == {"users": 2, "items": 2, "interactions": 3, "entities": 2, "triples": 2}  # i3's triple skipped
    users = pd.read_parquet(tmp_path / "out" / "users.parquet")["user_id"]
    items = pd.read_parquet(tmp_path / "out" / "items.parquet")
    assert users.tolist() == ["u1", "u2"] and items["item_id"].tolist() == ["i1", "i2"]
    assert items.set_index("item_id")["title"].get("i1") == "So What"
