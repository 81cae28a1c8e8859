"""The request path of /v1/recommend, without HTTP: history -> candidates -> policy -> top k.

Candidates come from three sources, merged and deduplicated, the user's items and any excluded ids removed:
graph paths (Cypher k-hop over the knowledge graph), FAISS neighbours of the user's embedding (or of the mean
of their recent positive items for a user the model never saw), and popularity, which fills the list for a
user with no history at all. The policy scores the candidates that have embeddings; the rest follow by their
graph path counts.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graph.explain import explain as explain_paths
from graph.store import GraphStore
from graphrec.settings import Settings
from serving.artifacts import LoadedArtifacts
from serving.policy import GreedyPolicy, Policy, SessionState
from training.index import search


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


@dataclass
class History:
    seen: set[Any]
    recent_positive: list[Any]


class RecommendationService:
    def __init__(self, settings: Settings, store: GraphStore, artifacts: LoadedArtifacts | None,
                 policy: Policy | None = None) -> None:
        self.settings = settings
        self.store = store
        self.policy = policy or GreedyPolicy()
        self._artifacts = artifacts
        self._swap_lock = threading.Lock()

    @property
    def artifacts(self) -> LoadedArtifacts | None:
        return self._artifacts

    def swap(self, artifacts: LoadedArtifacts) -> None:
        """Serve from another artifact set; requests already running finish with the one they started with."""
        with self._swap_lock:
            self._artifacts = artifacts

    def history(self, user_id: Any) -> History:
        rows = self.store.history(user_id, limit=self.settings.history_limit)
        positive = (rows["rating"].fillna(-math.inf) >= self.settings.positive_min_rating) | rows["behavior"].isin(
            self.settings.positive_behaviors)
        recent = rows.loc[positive].sort_values("last_ts", ascending=False)["item_id"]
        return History(seen=set(rows["item_id"]), recent_positive=recent.head(self.settings.session_recent).tolist())

    def recommend(self, user_id: Any, k: int = 10, exclude: list[Any] | None = None,
                  explain: bool = False) -> RecommendResult:
        artifacts = self._artifacts  # one version for the whole request, whatever a swap does meanwhile
        history = self.history(user_id)
        banned = history.seen | set(exclude or [])
        found: dict[Any, dict[str, Any]] = {}

        def add(item: Any, source: str, paths: int = 0) -> None:
            if item in banned:
                return
            entry = found.setdefault(item, {"sources": [], "paths": 0})
            if source not in entry["sources"]:
                entry["sources"].append(source)
            entry["paths"] += paths

        if history.recent_positive:
            kg = self.store.candidates(user_id, source="kg", limit=self.settings.candidate_kg_limit)
            for item, paths in zip(kg["item_id"], kg["paths"], strict=True):
                add(item, "kg", int(paths))
        state = self._state(artifacts, user_id, history)
        query = state.query()
        if artifacts is not None and query is not None:
            _, rows = search(artifacts.index, query[None, :], self.settings.candidate_faiss_k + len(banned))
            for row in rows[0]:
                if row >= 0:
                    add(artifacts.catalogue.item_ids[row], "faiss")
        if len(found) < k:
            for item in self.store.popular(limit=k + len(banned))["item_id"]:
                add(item, "popular")
        ranked = self._rank(artifacts, state, found)[:k]
        titles = self._titles([item for item, _ in ranked])
        items = [Recommendation(item, score, found[item]["sources"], titles.get(item)) for item, score in ranked]
        if explain:
            for recommendation in items:
                recommendation.reasons = self._reasons(user_id, recommendation)
        return RecommendResult(user_id, items, self.policy.name, artifacts.version if artifacts else None,
                               known_user=state.user_vector is not None, candidates=len(found))

    def _state(self, artifacts: LoadedArtifacts | None, user_id: Any, history: History) -> SessionState:
        if artifacts is None:
            return SessionState(user_vector=None)
        rows = artifacts.item_rows(history.recent_positive)
        return SessionState(user_vector=artifacts.user_vector(user_id),
                            recent_item_vectors=artifacts.item_vectors[rows[rows >= 0]])

    def _rank(self, artifacts: LoadedArtifacts | None, state: SessionState,
              found: dict[Any, dict[str, Any]]) -> list[tuple[Any, float]]:
        items = list(found)
        scores = np.full(len(items), -np.inf, dtype=np.float64)
        if artifacts is not None and items:
            rows = artifacts.item_rows(items)
            known = rows >= 0
            if known.any():
                scores[known] = self.policy.score(state, artifacts.item_vectors[rows[known]])
        paths = np.array([found[item]["paths"] for item in items], dtype=np.float64)
        # Items the policy cannot score (no embedding yet) follow, ordered by their graph paths.
        order = np.lexsort((-paths, -scores))
        return [(items[i], float(scores[i]) if np.isfinite(scores[i]) else 0.0) for i in order]

    def _titles(self, items: list[Any]) -> dict[Any, str | None]:
        titles = {}
        for item in items:
            row = self.store.item(item)
            titles[item] = row["title"] if row else None
        return titles

    def _reasons(self, user_id: Any, recommendation: Recommendation) -> list[str]:
        reasons = [path.sentence for path in explain_paths(self.store, user_id, recommendation.item_id, k=1)]
        if "faiss" in recommendation.sources and not reasons:
            reasons.append("Close to what you liked in the learned embedding space.")
        if recommendation.sources == ["popular"]:
            reasons.append("Popular with other users.")
        return reasons

