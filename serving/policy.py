"""Policies score candidate items for a session; the service ranks by their scores.

Every policy implements one call: session state plus candidate rows of the item embedding table in, one
score per candidate out, batched and without gradients. The greedy policy is the encoder's own ranking, the
non-RL baseline that RL policies plug in beside.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass
class SessionState:
    """What a policy may know about the user at request time."""

    user_vector: np.ndarray | None  # the trained user embedding, None for a user the model never saw
    recent_item_vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))

    def query(self) -> np.ndarray | None:
        """The user's embedding, else the mean of the recent positive items (the inductive fold-in), else None."""
        if self.user_vector is not None:
            return self.user_vector
        return self.recent_item_vectors.mean(axis=0) if self.recent_item_vectors.size else None


class Policy(Protocol):
    name: str

    def score(self, state: SessionState, candidate_vectors: np.ndarray) -> np.ndarray: ...


class GreedyPolicy:
    """Inner product with the user's embedding, or with the mean of the session's recent positive items for a
    user the model never saw (the same fold-in the inductive encoder uses)."""

    name = "greedy"

    def score(self, state: SessionState, candidate_vectors: np.ndarray) -> np.ndarray:
        query = state.query()
        if query is None:
            return np.zeros(len(candidate_vectors), dtype=np.float32)
        return candidate_vectors @ query
