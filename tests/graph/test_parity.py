"""Parity: one dataset ingested into LadybugDB and into Neo4j gives the same graph to every reader.

Stats, KG candidate lists (ties broken by id), explanation paths and the export files must be identical, on
generated data always and on MovieLens-100K when ../shared/data has it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graphrec.graph.explain import explain
from graphrec.graph.export import export
from graphrec.graph.factory import open_store
from graphrec.graph.store import GraphStore
from graphrec.ingest import movielens
from graphrec.ingest.frames import Dataset
from graphrec.ingest.loader import ingest
from tests.conftest import make_settings, wipe_neo4j

pytestmark = pytest.mark.neo4j


def compare_backends(tmp_path: Path, read: Callable[[], Dataset], users: int) -> None:
    wipe_neo4j()
    with open_store(make_settings(tmp_path / "embedded", "ladybug").graph) as embedded, \
            open_store(make_settings(tmp_path / "server", "neo4j").graph) as server:
        for store in (embedded, server):
            ingest(store, read)
        assert embedded.stats() == server.stats()
        sample = embedded.run("user_ids")["id"].sample(n=users, random_state=3).tolist()
        for user in sample:
            for hops in (1, 2):
                pd.testing.assert_frame_equal(embedded.candidates(user, hops=hops, limit=50),
                                              server.candidates(user, hops=hops, limit=50), check_dtype=False)
            for item in embedded.candidates(user, limit=3)["item_id"]:
                assert paths(embedded, user, item) == paths(server, user, item), (user, item)
        for prefix in ("1", "2", "99"):
            assert embedded.search_users(prefix, limit=20) == server.search_users(prefix, limit=20)
        for text in ("a", "the", "199"):
            pd.testing.assert_frame_equal(embedded.search_items(text, limit=20), server.search_items(text, limit=20),
                                          check_dtype=False)
        assert_same_exports(embedded, server, tmp_path)


def paths(store: GraphStore, user: object, item: object) -> list[dict]:
    return [dataclasses.asdict(path) for path in explain(store, user, item, k=3)]


def assert_same_exports(embedded: GraphStore, server: GraphStore, tmp_path: Path) -> None:
    assert export(embedded, tmp_path / "out-embedded") == export(server, tmp_path / "out-server")
    left_dir, right_dir = tmp_path / "out-embedded", tmp_path / "out-server"
    for name in ("items.csv", "interactions.csv", "triples.csv"):
        assert (left_dir / name).read_bytes() == (right_dir / name).read_bytes(), name
    for name in ("users", "items", "entities", "relations"):
        pd.testing.assert_frame_equal(pd.read_parquet(left_dir / f"{name}.parquet"),
                                      pd.read_parquet(right_dir / f"{name}.parquet"), obj=name)
    with np.load(left_dir / "edges.npz") as left, np.load(right_dir / "edges.npz") as right:
        assert sorted(left.files) == sorted(right.files)
        for array in left.files:
            np.testing.assert_array_equal(left[array], right[array], err_msg=array)


def test_generated_data_reads_the_same_on_both_backends(tmp_path: Path, neo4j_server: object,
                                                        small_dataset: Dataset) -> None:
    compare_backends(tmp_path, lambda: small_dataset, users=20)


@pytest.mark.realdata
def test_movielens_100k_reads_the_same_on_both_backends(tmp_path: Path, neo4j_server: object,
                                                        shared_data: Path) -> None:
    compare_backends(tmp_path, lambda: movielens.read(shared_data / "movielens-100k"), users=50)
