"""The request path of the service, without HTTP: session -> candidates -> policy -> top k.

1. The user's state (items seen, recent positives) comes from Redis; on a miss it is rebuilt from the graph
   and cached. With Redis down it comes from the graph directly; with the graph down too, it is empty.
2. Candidates, merged and deduplicated: graph paths (Cypher: items sharing knowledge-graph entities with the
   recent positives and with any context items of the request), FAISS neighbours of the user's embedding (or
   of the mean of the recent positives for a user the model never saw), and popularity, which fills the list
   for a user with no history at all. The set is cached in Redis per user and artifact version; feedback
   invalidates it. Seen and excluded items are removed at request time.
3. The policy scores the candidates that have embeddings; the rest follow by their graph path counts.

A dependency that is down degrades the answer instead of failing it: no Redis means no session state or
cache, no graph means FAISS-only candidates (graph and Redis calls pass through serving.guard.Guard).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import numpy as np
from cachetools import LRUCache

from graphrec.graph import behaviours
from graphrec.graph.explain import Explanation
from graphrec.graph.explain import explain as explain_paths
from graphrec.graph.store import GraphError, GraphStore
from graphrec.serving import graph_budget
from graphrec.serving.artifacts import LoadedArtifacts, plain_ids
from graphrec.serving.bulkhead import Bulkhead
from graphrec.serving.candidate_pool import CandidatePool
from graphrec.serving.config import ServiceConfig
from graphrec.serving.graph_budget import GraphDeadline
from graphrec.serving.guard import Guard, Unavailable
from graphrec.serving.policy import GreedyPolicy, Policy, SessionState
from graphrec.serving.sessions import SessionStore, UserState

T = TypeVar("T")
# What "the graph is down" looks like: no database open, I/O, a Neo4j server that cannot be reached (the store
# raises GraphUnavailable for those). Other errors (a query the engine rejects) are bugs and surface as 500s
# instead of silently degrading answers.
GRAPH_FAILURES = (GraphError, OSError)
TITLE_CACHE_SIZE = 100_000

GREEDY = GreedyPolicy()


@dataclass
class Recommendation:
    item_id: Any
    score: float
    sources: list[str]
    title: str | None = None
    reasons: list[str] = field(default_factory=list)


@dataclass
class RecommendResult:
    user_id: Any
    items: list[Recommendation]
    policy: str
    artifact_version: str | None
    known_user: bool
    candidates: int
    cache: Literal["hit", "miss", "off"]
    degraded: list[str]


class RecommendationService:
    def __init__(self, settings: ServiceConfig, store: GraphStore | None, artifacts: LoadedArtifacts | None,
                 policy: Policy | None = None, sessions: SessionStore | None = None) -> None:
        self.settings = settings
        self.store = store
        self.sessions = sessions
        self.policy_override = policy  # tests pin a policy; otherwise each artifact version brings its own
        self.graph = Guard("graph", settings.dependency_retry_s, GRAPH_FAILURES,
                           trial=self.check_graph if store is not None else None)
        if store is None:
            self.graph.mark_down("no graph database is open")
        self.deadline = GraphDeadline(settings.graph_request_deadline_s)
        self._request_lane = Bulkhead("graph", settings.graph_request_workers) if self.deadline.enabled else None
        self._trial_user: Any = None  # a user served with positives: whose queries test a graph that returns
        self._artifacts = artifacts
        self._swap_lock = threading.Lock()
        self._titles: LRUCache[Any, str | None] = LRUCache(maxsize=TITLE_CACHE_SIZE)
        self._titles_lock = threading.Lock()
        self._popular: list[Any] = []
        self._id_types = self._graph_optional(lambda: self.require_store().id_types(), None)

    # -- artifacts -----------------------------------------------------------------------------------------
    @property
    def artifacts(self) -> LoadedArtifacts | None:
        return self._artifacts

    def swap(self, artifacts: LoadedArtifacts) -> None:
        """Serve from another artifact set; requests already running finish with the one they started with."""
        with self._swap_lock:
            self._artifacts = artifacts

    # -- ids -------------------------------------------------------------------------------------------------
    def coerce_id(self, raw: str | int, which: Literal["user", "item"]) -> int | str:
        """An id typed as the graph stores it (or as the artifacts do, without a graph); ValueError if it cannot be."""
        kind = getattr(self._id_types, which) if self._id_types else self._artifact_id_type(which)
        if kind == "str":
            return str(raw)
        if isinstance(raw, bool):
            raise ValueError(f"{which} ids are integers; got {raw!r}")
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise ValueError(f"{which} ids in this graph are integers; got {raw!r}") from None
        if not -(2**63) <= value < 2**63:
            raise ValueError(f"{which} id {raw!r} is out of the 64-bit integer range")
        return value

    def _artifact_id_type(self, which: str) -> str:
        artifacts = self._artifacts
        if artifacts is None:
            return "str"
        ids = artifacts.catalogue.user_ids if which == "user" else artifacts.catalogue.item_ids
        return "int" if np.issubdtype(ids.dtype, np.integer) else "str"

    # -- graph access through the guard --------------------------------------------------------------------
    def require_store(self) -> GraphStore:
        if self.store is None:
            raise GraphError("no graph database is open")
        return self.store

    def graph_call(self, call: Callable[[GraphStore], T]) -> T:
        """Run ``call`` on the graph; serving.guard.Unavailable when the graph is down (or, inside
        ``graph_budget``, too slow)."""
        return self._guarded(lambda: call(self.require_store()))

    def _graph_optional(self, call: Callable[[], T], fallback: T) -> T:
        try:
            return self._guarded(call)
        except Unavailable:
            return fallback

    def _guarded(self, call: Callable[[], T]) -> T:
        budget = graph_budget.current()
        if budget is None:
            return self.graph.call(call)
        started = time.monotonic()
        try:
            if self._request_lane is not None and budget.ends is not None:
                result = self._request_lane.call(lambda: self.graph.call(call), budget.ends - started)
            else:
                result = self.graph.call(call)
        except Unavailable:
            budget.failed = True
            raise
        budget.spent_s += time.monotonic() - started
        budget.calls += 1
        return result

    def check_graph(self) -> None:
        """Whether the graph serves requests: reachable, and, while it is marked down, answering a served user's
        request queries within the request budget (the guard's trial and /readyz's probe). A server that has
        just started accepts queries long before it answers them in time (cold plan cache, JIT, page cache): the
        trial keeps requests off it until it does, and warms it meanwhile."""
        store = self.require_store()
        store.run("meta_get")
        user, limit_s = self._trial_user, self.deadline.limit_s
        if self.graph.healthy or user is None or limit_s is None:
            return
        started = time.monotonic()
        state = self.state_from_graph(user, store)
        self.graph_candidates(store, state.positive)
        took_s = time.monotonic() - started
        if took_s > limit_s:
            raise GraphError(f"answering a request's queries in {took_s * 1_000:.0f} ms, over the request budget "
                             f"of {limit_s * 1_000:.0f} ms")

    # -- session state -----------------------------------------------------------------------------------
    def state_from_graph(self, user_id: Any, store: GraphStore | None = None) -> UserState:
        """The user's state read from the graph: through the guard, or straight from ``store`` when given."""
        params = {"user_id": user_id, "limit": self.settings.history_limit, **behaviours.query_params()}
        rows = store.run("user_state", params) if store is not None else self.graph_call(
            lambda store: store.run("user_state", params))
        items = plain_ids(rows["item_id"])
        positive = [item for item, is_positive in zip(items, rows["positive"].tolist(), strict=True)
                    if is_positive is True]
        return UserState(seen=list(dict.fromkeys(items)),
                         positive=list(dict.fromkeys(positive))[: self.settings.session_recent])

    def user_state(self, user_id: Any) -> tuple[UserState, list[str]]:
        """The user's state and what was degraded getting it."""
        degraded = []
        if self.sessions is not None:
            try:
                cached = self.sessions.user_state(user_id)
            except Unavailable:
                cached = self.sessions.fallback_user_state(user_id)
                degraded.append("redis")
            if cached is not None:
                return cached, degraded
        try:
            state = self.state_from_graph(user_id)
        except Unavailable:
            return UserState(), [*degraded, "graph"]
        if self.sessions is not None and "redis" not in degraded:
            try:
                self.sessions.put_user_state(user_id, state)
            except Unavailable:
                degraded.append("redis")
        return state, degraded

    # -- candidates ----------------------------------------------------------------------------------------
    def candidate_pool(self, user_id: Any, state: UserState, artifacts: LoadedArtifacts | None,
                       context_items: Sequence[Any], degraded: list[str],
                       policy_state: SessionState) -> tuple[CandidatePool, str]:
        """Candidates before seen items are removed, and whether they came from the cache; FAISS searches
        around the query of ``policy_state`` (the same state the policy then ranks with)."""
        version = artifacts.version if artifacts else None
        cacheable = self.sessions is not None and not context_items
        if cacheable:
            assert self.sessions is not None
            try:
                if "redis" in degraded:
                    raise Unavailable("redis unavailable")
                cached = self.sessions.candidates(user_id)
            except Unavailable:
                cached, cacheable = self.sessions.fallback_candidates(user_id), False
                degraded.append("redis")
            if cached is not None:
                degraded.extend(cached.missing)
                return cached, "hit"
        pool = CandidatePool()
        seeds = [*context_items, *(i for i in state.positive if i not in context_items)]
        if seeds:
            try:
                kg = self.graph_call(lambda store: self.graph_candidates(store, seeds))
                for item, paths in zip(kg["item_id"].tolist(), kg["paths"].tolist(), strict=True):
                    pool.add(item, "kg", int(paths))
                if state.positive:
                    self._trial_user = user_id
            except Unavailable:
                degraded.append("graph")
        if self.settings.candidate_collab and "graph" not in degraded:
            try:
                collab = self.graph_call(lambda store: store.candidates(user_id, source="collab",
                                                                        limit=self.settings.candidate_kg_limit))
                for item, paths in zip(collab["item_id"].tolist(), collab["paths"].tolist(), strict=True):
                    pool.add(item, "collab", int(paths))
            except Unavailable:
                degraded.append("graph")
        query = policy_state.query()
        if artifacts is not None and query is not None:
            # Extra neighbours make room for the seen items removed afterwards.
            for item in artifacts.neighbours(query, self.settings.candidate_faiss_k + len(state.seen)):
                pool.add(item, "faiss")
        pool.top_up(self.popular(len(state.seen) + self.settings.candidate_faiss_k), "popular", set(),
                    self.settings.candidate_faiss_k + len(state.seen))
        if cacheable:  # one without its graph candidates (pool.missing) for degraded_cache_ttl_s only
            pool.missing = ["graph"] if "graph" in degraded else []
            try:
                self.sessions.put_candidates(user_id, version, pool)  # type: ignore[union-attr]
            except Unavailable:
                degraded.append("redis")
        return pool, "miss" if cacheable else "off"

    def graph_candidates(self, store: GraphStore, seeds: Sequence[Any]) -> Any:
        """Items sharing knowledge-graph entities with the first candidate_max_seeds ``seeds``, with their path
        counts."""
        return store.run("kg_item_neighbours", {"item_ids": list(seeds)[: self.settings.candidate_max_seeds],
                                                "max_entities": self.settings.candidate_max_entities,
                                                "limit": self.settings.candidate_kg_limit})

    def popular(self, limit: int) -> list[Any]:
        """The most interacted-with items, cached in-process (the cold-start fallback; kept when the graph
        goes down)."""
        if len(self._popular) < limit:
            frame = self._graph_optional(lambda: self.require_store().popular(limit=max(limit, 1_000)), None)
            if frame is not None:
                self._popular = plain_ids(frame["item_id"])
        return self._popular[:limit]

    # -- ranking -------------------------------------------------------------------------------------------
    def session_state(self, artifacts: LoadedArtifacts | None, user_id: Any, positives: Sequence[Any]) -> SessionState:
        if artifacts is None:
            return SessionState(user_vector=None)
        rows = artifacts.item_rows(list(positives)[: self.settings.session_recent])
        return SessionState(user_vector=artifacts.user_vector(user_id),
                            recent_item_vectors=artifacts.item_vectors[rows[rows >= 0]],
                            recent_item_rows=rows[rows >= 0])

    def policy_for(self, artifacts: LoadedArtifacts | None) -> Policy:
        return self.policy_override or (artifacts.policy if artifacts is not None else GREEDY)

    def recommend(self, user_id: Any, k: int = 10, exclude: Sequence[Any] = (), explain: bool = False,
                  session_id: str | None = None, context_items: Sequence[Any] = ()) -> RecommendResult:
        with self.graph_budget():
            return self._recommend(user_id, k, exclude, explain, session_id, context_items)

    @contextmanager
    def graph_budget(self, *, limited: bool = True) -> Iterator[None]:
        """The graph calls made inside share one request's budget (serving.graph_budget), then fail as
        Unavailable; ``limited=False`` only measures them (cache warming)."""
        with self.deadline.scope(limited=limited):
            yield

    def _recommend(self, user_id: Any, k: int, exclude: Sequence[Any], explain: bool, session_id: str | None,
                   context_items: Sequence[Any]) -> RecommendResult:
        artifacts = self._artifacts  # one version for the whole request, whatever a swap does meanwhile
        state, degraded = self.user_state(user_id)
        policy_state = self.session_state(artifacts, user_id, [*context_items, *state.positive])
        pool, cache = self.candidate_pool(user_id, state, artifacts, context_items, degraded, policy_state)
        banned = set(state.seen) | set(exclude) | set(context_items)
        pool = pool.without(banned)
        if len(pool) < k:  # a heavy user can exhaust the cached pool: top up from popularity
            pool.top_up(self.popular(k + len(banned)), "popular", banned, k)
        ranked = self._rank(artifacts, policy_state, pool, k)
        titles = self.titles([pool.items[i] for i, _ in ranked])
        items = [Recommendation(pool.items[i], score, pool.sources_of(i), titles.get(pool.items[i]))
                 for i, score in ranked]
        if explain:
            for recommendation in items:
                recommendation.reasons = self._reasons(user_id, recommendation)
        if session_id and self.sessions is not None and "redis" not in degraded:
            try:
                self.sessions.record_slate(session_id, user_id, [r.item_id for r in items])
            except Unavailable:
                degraded.append("redis")
        version = artifacts.version if artifacts else None
        return RecommendResult(user_id, items, self.policy_for(artifacts).name, version,
                               known_user=policy_state.user_vector is not None, candidates=len(pool), cache=cache,
                               degraded=sorted(set(degraded)))

    def _rank(self, artifacts: LoadedArtifacts | None, state: SessionState, pool: CandidatePool,
              k: int) -> list[tuple[int, float]]:
        """The k best positions in ``pool`` with their scores."""
        scores = np.full(len(pool), -np.inf, dtype=np.float64)
        if artifacts is not None and len(pool):
            rows = artifacts.item_rows(pool.items)
            known = rows >= 0
            if known.any():
                scores[known] = self.policy_for(artifacts).score(state, artifacts.item_vectors[rows[known]],
                                                                 rows[known])
        # Items the policy cannot score (no embedding yet) follow, ordered by their graph paths.
        order = np.lexsort((-pool.path_counts(), -scores))[:k]
        return [(int(i), float(scores[i]) if np.isfinite(scores[i]) else 0.0) for i in order]

    def titles(self, items: list[Any]) -> dict[Any, str | None]:
        with self._titles_lock:
            missing = [item for item in items if item not in self._titles]
        if missing:
            rows = self._graph_optional(lambda: self.require_store().run("items_by_id", {"item_ids": missing}), None)
            if rows is not None:
                with self._titles_lock:
                    titles = rows["title"].where(rows["title"].notna(), None)
                    self._titles.update(zip(plain_ids(rows["id"]), titles, strict=True))
        with self._titles_lock:
            return {item: self._titles.get(item) for item in items}

    def _reasons(self, user_id: Any, recommendation: Recommendation) -> list[str]:
        reasons = [path.sentence for path in self._graph_optional(
            lambda: explain_paths(self.require_store(), user_id, recommendation.item_id, k=1), [])]
        if "faiss" in recommendation.sources and not reasons:
            reasons.append("Close to what you liked in the learned embedding space.")
        if recommendation.sources == ["popular"]:
            reasons.append("Popular with other users.")
        return reasons

    # -- other reads ---------------------------------------------------------------------------------------
    def explain(self, user_id: Any, item_id: Any, k: int = 3) -> list[Explanation]:
        return self.graph_call(lambda store: explain_paths(store, user_id, item_id, k))

    def item(self, item_id: Any) -> dict[str, Any] | None:
        return self.graph_call(lambda store: store.item(item_id))

    def item_is_known(self, item_id: Any) -> bool:
        """Whether the graph has the item, checked within the request's graph budget; True when the graph cannot
        tell in time (down or slow), since an event about an item it may have is kept, not refused."""
        try:
            with self.graph_budget():
                return self.item(item_id) is not None
        except Unavailable:
            return True

    # -- feedback ------------------------------------------------------------------------------------------
    def is_positive(self, event: str, value: float | None) -> bool:
        return behaviours.is_positive(event, value if event == "rating" else None)

    def record_feedback(self, event: dict[str, Any]) -> str:
        """Append the event to the stream and update the session; Unavailable (never a silent drop) when
        Redis is down."""
        if self.sessions is None:
            raise Unavailable("redis unavailable: the service runs without Redis")

        def build_state() -> UserState:
            try:
                return self.state_from_graph(event["user_id"])
            except Unavailable:
                return UserState()

        return self.sessions.record_feedback(event, self.is_positive(event["event"], event.get("value")),
                                             build_state)
