"""The columnar candidate pool: merging proposals, removing banned items, and its cached form."""

from __future__ import annotations

import json

from graphrec.serving.request.candidate_pool import CandidatePool, Ranking


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
    for items in (["a", "b", "c"], [3, -7, 2**62]):
        pool = CandidatePool(items, ["kg", "popular", "kg"], [3, 0, 1], ["graph"])
        assert CandidatePool.from_bytes(pool.to_bytes("v1")) == pool
        ranked = pool.taken([2, 0, 1], Ranking("v1", "greedy", [0.5, 0.25, -1.0], {"kg": 2, "popular": 1}))
        back = CandidatePool.from_bytes(ranked.to_bytes("v1"))
        assert back == ranked and back is not None and back.ranked_by("v1", "greedy")
        assert not back.ranked_by("v2", "greedy") and not back.ranked_by("v1", "ppo")
    older = json.dumps({"version": "v1", "items": ["a"], "sources": ["kg"], "paths": [1]}).encode()
    assert CandidatePool.from_bytes(older) is None


def test_a_ranked_pool_walks_to_the_first_k_items_not_excluded() -> None:
    pool = CandidatePool([5, 6, 7, 8], ["kg"] * 4, [0] * 4, [], Ranking("v1", "greedy", [4.0, 3.0, 2.0, 1.0], {}))
    assert pool.walk(2, set()) == [0, 1] and pool.walk(2, {6}) == [0, 2] and pool.walk(4, {6}) is None
    assert pool.count_without({6, 99}) == 3


def test_the_head_of_the_cached_form_is_the_first_items_and_knows_the_whole_size() -> None:
    for items in (["a", "b", "c", "d"], [4, 3, 2, 1]):
        pool = CandidatePool(items, ["kg", "popular", "kg+faiss", "kg"], [3, 0, 1, 2], ["graph"],
                             Ranking("v1", "greedy", [0.5, 0.25, 0.0, -1.0], {"kg": 3, "popular": 1}))
        raw = pool.to_bytes("v1")
        read = CandidatePool.cached_head(raw, 2)
        assert read is not None and read[1] == 4
        assert read[0] == pool.taken([0, 1], Ranking("v1", "greedy", [0.5, 0.25], {"kg": 3, "popular": 1}))
        assert CandidatePool.cached_head(raw, 9) == (pool, 4) and CandidatePool.cached_head(raw[:-1], 2) is None
