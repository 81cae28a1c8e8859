"""The columnar candidate pool: merging proposals, removing banned items, and its cached form."""

from __future__ import annotations

import json

from graphrec.serving.request.candidate_pool import CandidatePool


def test_an_item_proposed_twice_keeps_one_entry_with_both_sources_and_the_paths_summed() -> None:
    pool = CandidatePool()
    pool.add(7, "kg", 2)
    pool.add("x", "faiss")
    pool.add(7, "faiss")
    pool.add(7, "kg", 3)
    assert pool.items == [7, "x"] and pool.paths == [5, 0]
    assert pool.sources_of(0) == ["kg", "faiss"] and pool.sources_of(1) == ["faiss"]


def test_without_and_top_up_skip_banned_items_and_stop_at_the_size() -> None:
    pool = CandidatePool([1, 2, 3], ["kg", "faiss", "kg+faiss"], [1, 0, 2])
    kept = pool.without({2})
    assert kept.items == [1, 3] and kept.sources == ["kg", "kg+faiss"] and pool.items == [1, 2, 3]
    kept.top_up([3, 2, 4, 5, 6], "popular", banned={2}, size=4)
    assert kept.items == [1, 3, 4, 5] and kept.sources_of(1) == ["kg", "faiss", "popular"]
    assert kept.path_counts().tolist() == [1.0, 2.0, 0.0, 0.0]


def test_the_cached_form_round_trips_and_an_older_layout_reads_as_a_miss() -> None:
    pool = CandidatePool(["a", "b"], ["kg", "popular"], [3, 0])
    assert CandidatePool.from_json(pool.to_json("v1")) == pool
    older = json.dumps({"version": "v1", "items": [["a", ["kg"], 3], ["b", ["popular"], 0]]})
    assert CandidatePool.from_json(older) is None
    ragged = json.dumps({"version": "v1", "items": ["a"], "sources": ["kg", "kg"], "paths": [1]})
    assert CandidatePool.from_json(ragged) is None
