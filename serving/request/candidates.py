"""Step 2 of the request path: candidates, merged and deduplicated.

Graph paths (Cypher: items sharing knowledge-graph entities with the recent positives and with any context
items of the request), optionally co-interacting users' items, FAISS neighbours of the session's query vector
(the user's embedding, or the mean of the recent positives for a user the model never saw), and popularity,
which fills the list for a user with no history at all. The set is cached in Redis per user, ranked by the
served policy of the version that ranked it (serving.request.candidate_pool), with the user's seen items
removed; a set ranked by another version or policy is ranked again and stored. Excluded items are removed at
request time, not here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from graphrec.graph.ids import plain_ids
from graphrec.graph.store import GraphStore
from graphrec.serving.request.candidate_pool import CandidatePool
from graphrec.serving.request.degradation import Degradation
from graphrec.serving.request.graph_access import GraphAccess
from graphrec.serving.request.served_policy import SessionState
from graphrec.serving.request.served_version import LoadedArtifacts
from graphrec.serving.resilience.guard import Unavailable
from graphrec.serving.settings import ServiceSettings
from graphrec.serving.state.sessions import SessionStore
from graphrec.serving.state.user_records import UserState

CacheResult = Literal["hit", "miss", "off"]  # from the cache, computed and cached, computed (not cacheable)
Rank = Callable[[CandidatePool], CandidatePool]  # a pool in the served policy's order (Ranker.ranked)


class CandidateSources:
    def __init__(self, settings: ServiceSettings, graph: GraphAccess, sessions: SessionStore | None) -> None:
        self.settings = settings
        self.graph = graph
        self.sessions = sessions
        self.trial_user: Any = None  # a user served with positives: whose queries test a graph that returns
        self._popular: list[Any] = []

    def pool(self, user_id: Any, state: UserState, artifacts: LoadedArtifacts | None, context_items: Sequence[Any],
             degradation: Degradation, policy_state: SessionState, rank: Rank, policy: str
             ) -> tuple[CandidatePool, CacheResult]:
        """Candidates, and whether they came from the cache; FAISS searches around the query of ``policy_state``
        (the same state the policy then ranks with). A cacheable set comes ranked by ``rank`` (the served
        ``policy``) without the seen items; one that is not (context items, no Redis) comes as built."""
        cacheable = self.sessions is not None and not context_items
        generation = 0
        version = artifacts.version if artifacts is not None else None
        if cacheable:
            cached, generation = self._cached(user_id, degradation)
            if cached is not None and ("redis" in degradation or cached.ranked_by(version, policy)):
                return cached, "hit"
            cacheable = "redis" not in degradation
            if cached is not None:  # ranked by another version or policy: ranked again, the same candidates
                return self._store(user_id, version, rank(cached.without(set(state.seen))), generation,
                                   degradation), "hit"
        pool = CandidatePool()
        seeds = [*context_items, *(i for i in state.positive if i not in context_items)]
        if seeds:
            try:
                self._add(pool, self.graph.call(lambda store: self.kg(store, seeds)), "kg")
                if state.positive:
                    self.trial_user = user_id
            except Unavailable:
                degradation.mark("graph")
        if self.settings.serving.candidate_collab and "graph" not in degradation:
            try:
                self._add(pool, self.graph.call(lambda store: store.candidates(
                    user_id, source="collab", limit=self.settings.serving.candidate_kg_limit)), "collab")
            except Unavailable:
                degradation.mark("graph")
        # Extra neighbours and popular items make room for the seen items removed afterwards.
        wanted = self.settings.serving.candidate_faiss_k + len(state.seen)
        query = policy_state.query()
        if artifacts is not None and query is not None:
            for item in artifacts.neighbours(query, wanted):
                pool.add(item, "faiss")
        pool.top_up(self.popular(wanted), "popular", set(), wanted)
        if not cacheable:
            return pool, "off"
        pool.missing = ["graph"] if "graph" in degradation else []  # cached for degraded_cache_ttl_s only
        return self._store(user_id, version, rank(pool.without(set(state.seen))), generation, degradation), "miss"

    def _store(self, user_id: Any, version: str | None, ranked: CandidatePool, generation: int,
               degradation: Degradation) -> CandidatePool:
        try:
            self.sessions.put_candidates(user_id, version, ranked, generation)  # type: ignore[union-attr]
        except Unavailable:
            degradation.mark("redis")
        return ranked

    def _cached(self, user_id: Any, degradation: Degradation) -> tuple[CandidatePool | None, int]:
        """The cached set (Redis, or the in-process copy while Redis is down) and the user's feedback generation;
        what the set lacked is marked."""
        assert self.sessions is not None
        generation = 0
        try:
            if "redis" in degradation:
                raise Unavailable("redis unavailable")
            cached, generation = self.sessions.candidates(user_id)
        except Unavailable:
            cached = self.sessions.fallback_candidates(user_id)
            degradation.mark("redis")
        if cached is not None:
            for dependency in cached.missing:
                degradation.mark(dependency)
        return cached, generation

    @staticmethod
    def _add(pool: CandidatePool, found: Any, source: str) -> None:
        for item, paths in zip(found["item_id"].tolist(), found["paths"].tolist(), strict=True):
            pool.add(item, source, int(paths))

    def kg(self, store: GraphStore, seeds: Sequence[Any]) -> Any:
        """Items sharing knowledge-graph entities with the first candidate_max_seeds ``seeds``, with their path
        counts."""
        return store.run("kg_item_neighbours", {"item_ids": list(seeds)[: self.settings.graph.candidate_max_seeds],
                                                "max_entities": self.settings.graph.candidate_max_entities,
                                                "limit": self.settings.serving.candidate_kg_limit})

    def popular(self, limit: int) -> list[Any]:
        """The most interacted-with items, cached in-process (the cold-start fallback; kept when the graph
        goes down)."""
        if len(self._popular) < limit:
            frame = self.graph.optional(lambda store: store.popular(limit=max(limit, 1_000)), None)
            if frame is not None:
                self._popular = plain_ids(frame["item_id"])
        return self._popular[:limit]
