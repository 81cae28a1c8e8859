"""Step 3 of the request path: the policy scores the candidates that have embeddings, from the session state;
the rest follow by their graph path counts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from graphrec.serving.request.candidate_pool import CandidatePool, Ranking
from graphrec.serving.request.served_policy import GreedyPolicy, Policy, SessionState
from graphrec.serving.request.served_version import LoadedArtifacts
from graphrec.serving.settings import ServiceSettings

GREEDY = GreedyPolicy()


class Ranker:
    def __init__(self, settings: ServiceSettings, policy: Policy | None = None) -> None:
        self.settings = settings
        self.policy_override = policy  # tests pin a policy; otherwise each artifact version brings its own

    def session_state(self, artifacts: LoadedArtifacts | None, user_id: Any, positives: Sequence[Any]) -> SessionState:
        """What the policy knows of the session: the user's embedding and the recent positives' rows."""
        if artifacts is None:
            return SessionState(user_vector=None)
        rows = artifacts.item_rows(list(positives)[: self.settings.serving.session_recent])
        return SessionState(user_vector=artifacts.user_vector(user_id),
                            recent_item_vectors=artifacts.item_vectors[rows[rows >= 0]],
                            recent_item_rows=rows[rows >= 0])

    def policy_for(self, artifacts: LoadedArtifacts | None, name: str | None = None) -> Policy:
        """The served policy, or the one named ``name`` that the version holds (KeyError when it holds none)."""
        if name is None:
            return self.policy_override or (artifacts.policy if artifacts is not None else GREEDY)
        if artifacts is not None:
            return artifacts.policy_named(name)
        if name == GREEDY.name:
            return GREEDY
        raise KeyError(name)

    def rank(self, artifacts: LoadedArtifacts | None, state: SessionState, pool: CandidatePool, k: int,
             policy: Policy | None = None) -> list[tuple[int, float]]:
        """The k best positions in ``pool`` with their scores, by ``policy`` (the served one by default)."""
        order, scores = self._order(artifacts, state, pool, policy or self.policy_for(artifacts))
        order = order[:k]
        return list(zip(order.tolist(), scores[order].tolist(), strict=True))

    def ranked(self, artifacts: LoadedArtifacts | None, state: SessionState, pool: CandidatePool,
               policy: Policy | None = None) -> CandidatePool:
        """The whole ``pool`` in ``policy``'s order (the served one by default), with its scores: the cached
        form that requests walk (CandidatePool.walk)."""
        policy = policy or self.policy_for(artifacts)
        order, scores = self._order(artifacts, state, pool, policy)
        return pool.taken(order.tolist(), Ranking(artifacts.version if artifacts is not None else None, policy.name,
                                                  scores[order].tolist(), pool.source_counts()))

    @staticmethod
    def _order(artifacts: LoadedArtifacts | None, state: SessionState, pool: CandidatePool, policy: Policy
               ) -> tuple[np.ndarray, np.ndarray]:
        """Every position of ``pool``, best first, and each position's score (0 for an item without one)."""
        scores = np.full(len(pool), -np.inf, dtype=np.float64)
        if artifacts is not None and len(pool):
            rows = artifacts.item_rows(pool.items)
            known = rows >= 0
            if known.all():  # every item has an embedding (the usual case): no masks
                scores = np.asarray(policy.score(state, artifacts.item_vectors[rows], rows), dtype=np.float64)
            elif known.any():
                scores[known] = policy.score(state, artifacts.item_vectors[rows[known]], rows[known])
        # Items the policy cannot score (no embedding yet) follow, ordered by their graph paths.
        order = np.lexsort((-pool.path_counts(), -scores))
        return order, np.where(np.isfinite(scores), scores, 0.0)
