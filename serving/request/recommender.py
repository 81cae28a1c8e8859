"""The request path of the service, without HTTP: session -> candidates -> policy -> top k.

1. History (serving.request.history): the user's state from Redis, rebuilt from the graph on a miss.
2. Candidates (serving.request.candidates): graph paths, FAISS neighbours and popularity, cached per user.
3. Ranking (serving.request.ranking): the policy scores the candidates from the session state.
4. Explanations (serving.request.explanations): titles, and graph paths as reasons when asked.

A dependency that is down degrades the answer instead of failing it: no Redis means no session state or
cache, no graph means FAISS-only candidates (graph calls pass through serving.request.graph_access, Redis calls through
serving.state.sessions). Each part marks what it did without in the request's Degradation record, which the answer
reports.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from graphrec.graph.explain import Explanation
from graphrec.graph.ids import IdType, Which, coerce_id, id_type, plain_ids
from graphrec.graph.store import GraphError, GraphStore
from graphrec.serving.request.candidate_pool import CandidatePool
from graphrec.serving.request.candidates import CandidateSources
from graphrec.serving.request.degradation import Degradation
from graphrec.serving.request.explanations import Explanations
from graphrec.serving.request.graph_access import GraphAccess
from graphrec.serving.request.history import History
from graphrec.serving.request.ranking import Ranker
from graphrec.serving.request.served_policy import Policy
from graphrec.serving.request.served_version import LoadedArtifacts
from graphrec.serving.resilience.guard import Unavailable
from graphrec.serving.settings import ServiceSettings
from graphrec.serving.state.sessions import SessionStore

T = TypeVar("T")
FIGURES_TTL_S = 60.0
# The items per warmed user whose titles are loaded: its first slate at the default k (10) and the next one.
WARMED_TITLES = 20



@dataclass
class Recommendation:
    item_id: Any
    score: float
    sources: list[str]
    title: str | None = None
    reasons: list[str] = field(default_factory=list)
    explained: bool = False  # reasons were looked for (explain, within the top explain_max_items)


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
    sources: dict[str, int] = field(default_factory=dict)  # candidates per source (metrics)


class RecommendationService:
    def __init__(self, settings: ServiceSettings, store: GraphStore | None, artifacts: LoadedArtifacts | None,
                 policy: Policy | None = None, sessions: SessionStore | None = None) -> None:
        self.settings = settings
        self.sessions = sessions
        self.graph_access = GraphAccess(settings, store, trial=self.check_graph)
        self.graph = self.graph_access.guard  # /readyz probes it, tests mark it down
        self.deadline = self.graph_access.deadline
        self.history = History(settings, self.graph_access, sessions)
        self.candidates = CandidateSources(settings, self.graph_access, sessions)
        self.ranker = Ranker(settings, policy)
        self.explanations = Explanations(self.graph_access, settings.serving.title_cache_items)
        self._artifacts = artifacts
        self._figures: tuple[float, dict[str, Any]] | None = None  # (when, the graph's counts)
        self._swap_lock = threading.Lock()
        self._id_types = self.graph_access.optional(lambda store: store.id_types(), None)

    # -- artifacts -----------------------------------------------------------------------------------------
    @property
    def artifacts(self) -> LoadedArtifacts | None:
        return self._artifacts

    def swap(self, artifacts: LoadedArtifacts) -> None:
        """Serve from another artifact set; requests already running finish with the one they started with."""
        with self._swap_lock:
            self._artifacts = artifacts

    # -- ids -------------------------------------------------------------------------------------------------
    def coerce_id(self, raw: str | int, which: Which) -> int | str:
        """An id typed as the graph stores it (or as the artifacts do, without a graph); ValueError if it cannot be
        (graph.ids.coerce_id)."""
        kind = self._id_types.of(which) if self._id_types else self._artifact_id_type(which)
        return coerce_id(raw, kind, which)

    def _artifact_id_type(self, which: Which) -> IdType:
        artifacts = self._artifacts
        if artifacts is None:
            return "str"
        return id_type(artifacts.catalogue.user_ids if which == "user" else artifacts.catalogue.item_ids)

    # -- the graph ----------------------------------------------------------------------------------------
    def require_store(self) -> GraphStore:
        return self.graph_access.require_store()

    def graph_call(self, call: Callable[[GraphStore], T]) -> T:
        """Run ``call`` on the graph; serving.resilience.guard.Unavailable when the graph is down (or, inside
        ``graph_budget``, too slow)."""
        return self.graph_access.call(call)

    @contextmanager
    def graph_budget(self, *, limited: bool = True) -> Iterator[None]:
        """The graph calls made inside share one request's budget (serving.resilience.graph_budget), then fail as
        Unavailable; ``limited=False`` only measures them (cache warming)."""
        with self.graph_access.budget(limited=limited):
            yield

    def check_graph(self) -> None:
        """Whether the graph serves requests: reachable, and, while it is marked down, answering a served user's
        request queries within the request budget (the guard's trial and /readyz's probe). A server that has
        just started accepts queries long before it answers them in time (cold plan cache, JIT, page cache): the
        trial keeps requests off it until it does, and warms it meanwhile."""
        store = self.require_store()
        store.run("meta_get")
        user, limit_s = self.candidates.trial_user, self.deadline.limit_s
        if self.graph.healthy or user is None or limit_s is None:
            return
        started = time.monotonic()
        state = self.history.from_graph(user, store)
        self.candidates.kg(store, state.positive)
        took_s = time.monotonic() - started
        if took_s > limit_s:
            raise GraphError(f"answering a request's queries in {took_s * 1_000:.0f} ms, over the request budget "
                             f"of {limit_s * 1_000:.0f} ms")

    # -- recommendations -----------------------------------------------------------------------------------
    def recommend(self, user_id: Any, k: int = 10, exclude: Sequence[Any] = (), explain: bool = False,
                  session_id: str | None = None, context_items: Sequence[Any] = ()) -> RecommendResult:
        with self.graph_budget():
            return self._slates(user_id, k, exclude, explain, session_id, context_items, [None])[0]

    def compare(self, user_id: Any, policies: Sequence[str], k: int = 10, exclude: Sequence[Any] = (),
                session_id: str | None = None, context_items: Sequence[Any] = ()) -> list[RecommendResult]:
        """One slate per policy the served version holds (LoadedArtifacts.policy_named), from the same
        candidates and session state; every item of every slate is recorded as shown."""
        with self.graph_budget():
            return self._slates(user_id, k, exclude, False, session_id, context_items, list(policies))

    def available_policies(self) -> tuple[str | None, str, list[str]]:
        """(the served version, its served policy's name, every policy it can rank with)."""
        artifacts = self._artifacts
        served = self.ranker.policy_for(artifacts).name
        if artifacts is None:
            return None, served, list(dict.fromkeys([served, "greedy"]))
        return artifacts.version, served, artifacts.policy_names()

    def _slates(self, user_id: Any, k: int, exclude: Sequence[Any], explain: bool, session_id: str | None,
                context_items: Sequence[Any], policies: list[str | None]) -> list[RecommendResult]:
        artifacts = self._artifacts  # one version for the whole request, whatever a swap does meanwhile
        degradation = Degradation()
        state = self.history.state(user_id, degradation)
        policy_state = self.ranker.session_state(artifacts, user_id, [*context_items, *state.positive])
        served = self.ranker.policy_for(artifacts)
        pool, cache = self.candidates.pool(user_id, state, artifacts, context_items, degradation, policy_state,
                                           lambda built: self.ranker.ranked(artifacts, policy_state, built, served),
                                           served.name)
        banned = set(state.seen) | set(exclude) | set(context_items)
        version = artifacts.version if artifacts else None
        walked = pool.walk(k, banned) if policies == [None] and pool.ranked_by(version, served.name) else None
        if walked is not None:  # the cached order of the served policy: no scoring
            ranking = pool.ranked
            assert ranking is not None
            chosen, candidates, sources = [served], pool.count_without(banned), ranking.counts
            slates = [self._slate(pool, [(i, ranking.scores[i]) for i in walked])]
        else:
            pool = pool.without(banned)
            if len(pool) < k:  # a heavy user can exhaust the cached pool: top up from popularity
                pool.top_up(self.candidates.popular(k + len(banned)), "popular", banned, k)
            chosen = [self.ranker.policy_for(artifacts, name) for name in policies]
            candidates, sources = len(pool), pool.source_counts()
            slates = []
            for policy in chosen:
                slates.append(self._slate(pool, self.ranker.rank(artifacts, policy_state, pool, k, policy)))
        if explain:  # each costs explanation queries: the top of the slate only
            for slate in slates:
                for recommendation in slate[: self.settings.serving.explain_max_items]:
                    recommendation.reasons = self.explanations.reasons(user_id, recommendation.item_id,
                                                                       recommendation.sources)
                    recommendation.explained = True
        if session_id and self.sessions is not None and "redis" not in degradation:
            shown = list(dict.fromkeys(r.item_id for items in slates for r in items))
            try:
                self.sessions.record_slate(session_id, user_id, shown)
            except Unavailable:
                degradation.mark("redis")
        return [RecommendResult(user_id, items, policy.name, version,
                                known_user=policy_state.user_vector is not None, candidates=candidates, cache=cache,
                                degraded=degradation.names(), sources=sources)
                for policy, items in zip(chosen, slates, strict=True)]

    def from_ranked(self, user_id: Any, pool: CandidatePool, total: int, k: int,
                    exclude: Sequence[Any]) -> RecommendResult | None:
        """The answer from a cached set ``pool`` that Redis just returned, if it needs nothing else: ranked by the
        served policy and version, holding k items not excluded, and every title in this process (the lean
        route's cached answer, on the event loop). None when any of that fails; the full path then answers.
        ``total``: the cached set's size, of which ``pool`` may hold only the first items (CandidatePool.cached_head,
        all of them when the request excludes items)."""
        artifacts = self._artifacts
        served = self.ranker.policy_for(artifacts)
        version = artifacts.version if artifacts is not None else None
        ranking = pool.ranked
        if ranking is None or not pool.ranked_by(version, served.name):
            return None
        banned = set(exclude)
        walked = pool.walk(k, banned)
        if walked is None:
            return None
        titles = self.explanations.cached_titles([pool.items[i] for i in walked])
        if titles is None:
            return None
        items = [Recommendation(pool.items[i], ranking.scores[i], pool.sources_of(i), title)
                 for i, title in zip(walked, titles, strict=True)]
        return RecommendResult(user_id, items, served.name, version,
                               known_user=artifacts is not None and user_id in artifacts.user_positions,
                               candidates=total - (len(pool) - pool.count_without(banned)), cache="hit",
                               degraded=sorted(pool.missing), sources=ranking.counts)

    def _slate(self, pool: CandidatePool, ranked: list[tuple[int, float]]) -> list[Recommendation]:
        """The recommendations at the (position, score) pairs of ``pool``, with their titles."""
        titles = self.explanations.titles([pool.items[i] for i, _ in ranked])
        return [Recommendation(pool.items[i], score, pool.sources_of(i), titles.get(pool.items[i]))
                for i, score in ranked]

    def warm(self, user_id: Any) -> list[Any]:
        """Cache the user's candidate set as their first request would (the cache warming at start); the items of
        its first slates, whose titles the warming loads next."""
        artifacts = self._artifacts
        degradation = Degradation()
        state = self.history.state(user_id, degradation)
        policy_state = self.ranker.session_state(artifacts, user_id, state.positive)
        served = self.ranker.policy_for(artifacts)
        pool, _ = self.candidates.pool(user_id, state, artifacts, (), degradation, policy_state,
                                       lambda built: self.ranker.ranked(artifacts, policy_state, built, served),
                                       served.name)
        return pool.items[:WARMED_TITLES]

    # -- other reads ---------------------------------------------------------------------------------------
    def explain(self, user_id: Any, item_id: Any, k: int = 3) -> list[Explanation]:
        return self.explanations.paths(user_id, item_id, k, self._interacted(user_id, item_id))

    def _interacted(self, user_id: Any, item_id: Any) -> bool | None:
        """Whether the user interacted with the item, by their state in Redis when it holds their whole history
        (fewer items than history_limit); None when it cannot tell."""
        if self.sessions is None or not self.sessions.guard.healthy:
            return None
        try:
            state = self.sessions.user_state(user_id)
        except Unavailable:
            return None
        if state is None or len(state.seen) >= self.settings.serving.history_limit:
            return None
        return item_id in state.seen

    def item(self, item_id: Any) -> dict[str, Any] | None:
        return self.graph_call(lambda store: store.item(item_id))

    def overview(self, sample_users: int) -> dict[str, Any]:
        """The graph's counts (computed at most once a minute: they scan the graph) and its most recently active
        users."""
        now = time.monotonic()
        if self._figures is None or now - self._figures[0] > FIGURES_TTL_S:
            self._figures = (now, self.graph_call(lambda store: store.stats()))
        users = self.graph_call(lambda store: store.run("active_users", {"limit": sample_users}))["user_id"] \
            if sample_users else []
        return {**self._figures[1], "sample_users": plain_ids(users)}

    def item_is_known(self, item_id: Any) -> bool:
        """Whether the graph has the item: at once for an item of the served version (the graph keeps every item
        it ever had), else checked within the request's graph budget; True when the graph cannot tell in time
        (down or slow), since an event about an item it may have is kept, not refused."""
        artifacts = self._artifacts
        if artifacts is not None and item_id in artifacts.item_positions:
            return True
        try:
            with self.graph_budget():
                return self.item(item_id) is not None
        except Unavailable:
            return True

    def require_sessions(self) -> SessionStore:
        if self.sessions is None:
            raise Unavailable("redis unavailable: the service runs without Redis")
        return self.sessions
