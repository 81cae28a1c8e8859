"""Policies score candidate items for a session; the service ranks by their scores.

Every policy implements one call: session state plus the candidates (their rows in the version's item table
and their embeddings) in, one score per candidate out, batched and without gradients. The greedy policy is
the encoder's own ranking, the non-RL baseline; TorchPolicy serves an RL policy trained by
`graphrec train-policy` (training/rl), whose checkpoint lives in the artifact version it was trained on.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from graphrec.serving.settings import ServingSettings
from graphrec.training.artifacts import ArtifactVersion

if TYPE_CHECKING:
    from graphrec.training.rl.nets import CandidatePolicy

log = logging.getLogger(__name__)


@dataclass
class SessionState:
    """What a policy may know about the user at request time."""

    user_vector: np.ndarray | None  # the trained user embedding, None for a user the model never saw
    recent_item_vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    recent_item_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # newest first

    def query(self) -> np.ndarray | None:
        """The user's embedding, else the mean of the recent positive items (the inductive fold-in), else None."""
        if self.user_vector is not None:
            return self.user_vector
        return self.recent_item_vectors.mean(axis=0) if self.recent_item_vectors.size else None

SESSION_CODES: int = ServingSettings.model_fields["policy_session_codes"].default


class Policy(Protocol):
    name: str

    def score(self, state: SessionState, candidate_vectors: np.ndarray, candidate_rows: np.ndarray) -> np.ndarray: ...


class GreedyPolicy:
    """Inner product with the user's embedding, or with the mean of the session's recent positive items for a
    user the model never saw (the same fold-in the inductive encoder uses)."""

    name = "greedy"

    def score(self, state: SessionState, candidate_vectors: np.ndarray, candidate_rows: np.ndarray) -> np.ndarray:
        query = state.query()
        if query is None:
            return np.zeros(len(candidate_vectors), dtype=np.float32)
        return candidate_vectors @ query


class TorchPolicy:
    """An RL policy checkpoint behind the service's interface: one request is a batch of one, no gradients."""

    def __init__(self, module: CandidatePolicy, history: int = 10, session_codes: int = SESSION_CODES) -> None:
        import torch

        from graphrec.training.rl.scorer import RequestScorer

        # Concurrent requests run on the service's handler threads, each scoring a batch of one: torch's own
        # intra-op threads would only compete with them for the cores.
        torch.set_num_threads(1)
        self.module = module
        self.name = module.name
        self.history = int(getattr(module.config, "history", history))
        self.scorer = RequestScorer(module, self.history, cache_size=session_codes)

    def score(self, state: SessionState, candidate_vectors: np.ndarray, candidate_rows: np.ndarray) -> np.ndarray:
        dim = self.module.items.dim
        user = state.user_vector if state.user_vector is not None else np.zeros(dim, dtype=np.float32)
        history = np.full(self.history, -1, dtype=np.int64)
        recent = state.recent_item_rows[: self.history]
        history[: len(recent)] = recent
        return self.scorer(user, history, np.asarray(candidate_rows))


def load_policy_for_version(folder: Path, name: str, session_codes: int = SESSION_CODES) -> Policy:
    """The policy to serve with the artifact version in ``folder``: ``greedy``; a policy name (its checkpoint
    in the version's policies/ folder); or ``auto``, what training.rl.choice.choose_served picks from policies.json
    (an RL policy only when it beats the best baseline ranker beyond the noise). A missing checkpoint falls
    back to greedy with a warning: a freshly trained version has none until `graphrec train-policy` runs on it."""
    if name == "greedy":
        return GreedyPolicy()
    version = ArtifactVersion(folder)
    if name == "auto":
        from graphrec.training.rl.choice import choose_served

        records = json.loads(version.policy_records.read_text()) if version.policy_records.is_file() else {}
        name, why = choose_served(records)
        log.info("policy auto for %s: %s (%s)", version.name, name, why)
        if name == "greedy":
            return GreedyPolicy()
    path = version.checkpoint(name)
    if not path.is_file():
        log.warning("no %s policy in %s; serving the greedy ranking", name, version.name)
        return GreedyPolicy()
    from graphrec.training.rl.checkpoint_files import load_policy  # torch is only imported when an RL policy is served

    return TorchPolicy(load_policy(path), session_codes=session_codes)
