"""What every RL policy over candidate sets is built from, and the one call the service makes.

A policy is a torch module holding the artifact version's item embeddings (so a checkpoint belongs to one
version). Its ``forward(user_vectors (B, d), history_rows (B, H), candidate_rows (B, C))`` returns one score
per candidate; history rows are item rows newest first, -1 for padding, and an unknown user has a zero
vector. Scores start at the encoder's own ranking (the greedy policy) and training moves them from there.
"""

from __future__ import annotations

import logging
import threading
import warnings
from abc import abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from cachetools import LRUCache
from torch import nn

log = logging.getLogger(__name__)


class ItemTable(nn.Module):
    """The version's item embeddings and item quality (the shrunk mean reward of each item in the data the
    policy was trained beside: what a rating-aware reward can teach that the encoder's implicit ranking does not
    know), with a zero row for padding (row -1)."""

    def __init__(self, item_vectors: np.ndarray, item_quality: np.ndarray) -> None:
        super().__init__()
        table = np.vstack([item_vectors, np.zeros((1, item_vectors.shape[1]))]).astype(np.float32)
        self.register_buffer("table", torch.from_numpy(table))
        self.register_buffer("quality", torch.from_numpy(np.append(item_quality, 0.0).astype(np.float32)))

    @property
    def dim(self) -> int:
        return int(self.table.shape[1])

    def _rows(self, rows: torch.Tensor) -> torch.Tensor:
        return torch.where(rows < 0, self.table.shape[0] - 1, rows)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        return self.table[self._rows(rows)]

    def item_quality(self, rows: torch.Tensor) -> torch.Tensor:
        return self.quality[self._rows(rows)]


class DRRAveState(nn.Module):
    """DRR-ave (Liu et al. 2018): s = [u, h, u * h], h the average of the history's item vectors weighted by a
    learned weight per position (newest first)."""

    def __init__(self, history: int, dim: int) -> None:
        super().__init__()
        self.position = nn.Parameter(torch.zeros(history))
        self.out_dim = 3 * dim

    def forward(self, user: torch.Tensor, history: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        weights = nn.functional.softplus(self.position)[: history.shape[1]] * mask
        mean = (weights.unsqueeze(-1) * history).sum(1) / weights.sum(1, keepdim=True).clamp(min=1e-6)
        return torch.cat([user, mean, user * mean], dim=-1)

    def over_rows(self, user: torch.Tensor, history_rows: torch.Tensor, items: ItemTable) -> torch.Tensor:
        """The state of history rows (-1 for padding) looked up in ``items``."""
        return self(user, items(history_rows), (history_rows >= 0).float())


def mlp(inputs: int, hidden: int, outputs: int, zero_last: bool = False) -> nn.Sequential:
    last = nn.Linear(hidden, outputs)
    if zero_last:  # the residual starts at zero: the policy starts as greedy
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
    return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), last)


@dataclass(frozen=True)
class PolicyInputs:
    """One batch of states and candidates as tensors."""

    user: torch.Tensor  # (B, d)
    history_rows: torch.Tensor  # (B, H)
    candidate_rows: torch.Tensor  # (B, C)

    @classmethod
    def from_arrays(cls, user: np.ndarray, history_rows: np.ndarray, candidate_rows: np.ndarray) -> PolicyInputs:
        return cls(torch.as_tensor(user, dtype=torch.float32), torch.as_tensor(history_rows, dtype=torch.long),
                   torch.as_tensor(candidate_rows, dtype=torch.long))


class CandidatePolicy(nn.Module):
    """Base of the RL policies: the item table plus a typed config.

    Scoring is two steps: ``session_code`` is what the scores need from the session (user vector and
    history) as one (B, S) tensor, and ``scores_from_code`` scores the candidates with it. A session's
    history changes only with its feedback, so the service keeps recent codes (RequestScorer) and most
    requests skip the state network (KG-DQN's GRU was half of its scoring time)."""

    name: ClassVar[str]

    config_type: ClassVar[type]

    def __init__(self, item_vectors: np.ndarray, item_quality: np.ndarray, config: Any) -> None:
        super().__init__()
        self.config = config
        self.items = ItemTable(item_vectors, item_quality)

    @abstractmethod
    def session_code(self, user: torch.Tensor, history_rows: torch.Tensor) -> torch.Tensor: ...

    @abstractmethod
    def scores_from_code(self, code: torch.Tensor, inputs: PolicyInputs) -> torch.Tensor: ...

    def scores(self, inputs: PolicyInputs) -> torch.Tensor:
        return self.scores_from_code(self.session_code(inputs.user, inputs.history_rows), inputs)

    def forward(self, inputs: PolicyInputs) -> torch.Tensor:
        return self.scores(inputs)

    def build_arguments(self) -> dict[str, Any]:
        """What ``build`` needs beyond the item table and the config to recreate this policy's shape."""
        return {}

    def greedy_scores(self, inputs: PolicyInputs) -> torch.Tensor:
        return (self.items(inputs.candidate_rows) * inputs.user.unsqueeze(1)).sum(-1)

    @torch.no_grad()
    def score_numpy(self, user: np.ndarray, history_rows: np.ndarray, candidate_rows: np.ndarray) -> np.ndarray:
        self.eval()
        return self.scores(PolicyInputs.from_arrays(user, history_rows, candidate_rows)).numpy()


class ActionPolicy(CandidatePolicy):
    """A policy whose session code is one action vector [w, w_q], the greedy action [u, 0] moved by an actor
    over the session's state; a candidate scores w . e_i + w_q q_i (DRR, PPO). Subclasses define ``state``
    and the ``actor`` network."""

    actor: nn.Module

    @abstractmethod
    def state(self, user: torch.Tensor, history_rows: torch.Tensor) -> torch.Tensor: ...

    def action(self, user: torch.Tensor, history_rows: torch.Tensor) -> torch.Tensor:
        return residual_action(user, self.actor(self.state(user, history_rows)))

    def session_code(self, user: torch.Tensor, history_rows: torch.Tensor) -> torch.Tensor:
        return self.action(user, history_rows)

    def scores_from_code(self, code: torch.Tensor, inputs: PolicyInputs) -> torch.Tensor:
        return score_action(code, self.items, inputs.candidate_rows)


def residual_action(user: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """[u, 0] + residual: the greedy action (the user's vector, no weight on quality) moved by the actor."""
    return torch.cat([user, torch.zeros_like(user[:, :1])], dim=-1) + residual


def score_action(action: torch.Tensor, items: ItemTable, candidate_rows: torch.Tensor) -> torch.Tensor:
    """(B, d + 1) action vectors against the candidates' [e_i, q_i]: (B, C) scores."""
    dim = items.dim
    vectors = (items(candidate_rows) * action[:, None, :dim]).sum(-1)
    return vectors + action[:, dim:] * items.item_quality(candidate_rows)


class _CodeModule(nn.Module):
    """``policy.session_code`` over plain tensors, the signature torch.jit.trace needs."""

    def __init__(self, policy: CandidatePolicy) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, user: torch.Tensor, history_rows: torch.Tensor) -> torch.Tensor:
        return self.policy.session_code(user, history_rows)


class _ScoreModule(_CodeModule):
    """``policy.scores_from_code`` over plain tensors."""

    def forward(self, code: torch.Tensor, user: torch.Tensor, history_rows: torch.Tensor,  # type: ignore[override]
                candidate_rows: torch.Tensor) -> torch.Tensor:
        return self.policy.scores_from_code(code, PolicyInputs(user, history_rows, candidate_rows))


class RequestScorer:
    """One request's scores (a batch of one) from TorchScript traces of the policy, for the service.

    The service scores from several handler threads. An eager forward gives up and retakes the GIL around each
    of its ~100 small ops, and each retake can wait a switch interval (Python's default is 5 ms) behind another
    thread's Python: at 200 requests/s the KG-DQN's p99 went to seconds. A traced graph runs in C++ and takes
    the GIL once per call. A trace records one batch size and no Python branches, so the traces are checked
    against the eager policy on varied histories and candidate counts; if they disagree the eager policy scores
    (``traced`` is False), with a warning.

    The session codes of the last ``cache_size`` (user vector, history) pairs are kept: a session asks again
    and again with the same history until its feedback changes it, and the state network is the larger part
    of the work for KG-DQN. The key is the exact input bytes, so a hit returns what the network would."""

    def __init__(self, policy: CandidatePolicy, history: int, checks: int = 8, cache_size: int = 10_000) -> None:
        policy.eval()
        self.policy = policy
        self.history = history
        self.cache_size = cache_size
        self._codes: LRUCache[bytes, torch.Tensor] = LRUCache(maxsize=cache_size)
        self._codes_lock = threading.Lock()
        rng = np.random.default_rng(0)
        examples = [self._example(rng, filled, count) for filled, count in
                    zip(np.linspace(0, history, checks).astype(int), np.linspace(1, 300, checks).astype(int),
                        strict=True)]
        # eager until the traces are recorded and agree with it
        self.code: nn.Module = _CodeModule(policy)
        self.score: nn.Module = _ScoreModule(policy)
        self.traced = False
        with torch.no_grad(), warnings.catch_warnings():
            # deprecation and tracer warnings: the traces are checked below instead
            warnings.simplefilter("ignore")
            # eager first: what a policy caches while scoring (KG-DQN's item table) enters the trace as a constant
            expected = [policy.scores(PolicyInputs(*example)) for example in examples]
            try:
                session = examples[-1][:2]
                code = torch.jit.trace(self.code, session, check_trace=False)
                score = torch.jit.trace(self.score, (code(*session), *examples[-1]), check_trace=False)
                agree = all(torch.allclose(score(code(*example[:2]), *example), scores, atol=1e-4)
                            for example, scores in zip(examples, expected, strict=True))
            except RuntimeError as error:  # an op the tracer cannot record: slower, still right
                log.warning("the %s policy cannot be traced (%s); scoring eagerly", policy.name, error)
                return
        if agree:
            self.code, self.score, self.traced = code, score, True
        else:
            log.warning("the traced %s policy disagrees with the eager one; scoring eagerly", policy.name)

    @property
    def cached_codes(self) -> int:
        return len(self._codes)

    def _example(self, rng: np.random.Generator, filled: int, count: int) -> tuple[torch.Tensor, ...]:
        items = self.policy.items.table.shape[0] - 1
        history = np.full((1, self.history), -1, dtype=np.int64)
        history[0, :filled] = rng.integers(0, items, filled)
        user = rng.normal(size=(1, self.policy.items.dim)).astype(np.float32)
        return (torch.from_numpy(user), torch.from_numpy(history),
                torch.from_numpy(rng.integers(0, items, (1, count))))

    @torch.no_grad()
    def __call__(self, user: np.ndarray, history_rows: np.ndarray, candidate_rows: np.ndarray) -> np.ndarray:
        """Scores (C,) for one user vector (d,), history rows (H,) newest first and candidate rows (C,)."""
        # Shaped in NumPy and wrapped without copies: every torch op called from Python gives up the GIL once.
        user = np.ascontiguousarray(user[None], dtype=np.float32)
        history_rows = np.ascontiguousarray(history_rows[None], dtype=np.int64)
        session = torch.from_numpy(user), torch.from_numpy(history_rows)
        key = user.tobytes() + history_rows.tobytes()
        with self._codes_lock:
            code = self._codes.get(key)
        if code is None:
            code = self.code(*session)
            with self._codes_lock:
                self._codes[key] = code
        candidates = torch.from_numpy(np.ascontiguousarray(candidate_rows[None], dtype=np.int64))
        return self.score(code, *session, candidates).numpy()[0]


def save_policy(policy: CandidatePolicy, path: Path) -> None:
    """Tensors and plain values only, so that loading needs no pickled code (torch.load(weights_only=True))."""
    torch.save({"name": policy.name, "config": asdict(policy.config), "state": policy.state_dict(),
                "item_vectors": policy.items.table[:-1].clone(), "item_quality": policy.items.quality[:-1].clone(),
                "extra": policy.build_arguments()}, path)


def soft_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """Polyak averaging of ``source`` into ``target`` (the target networks of DDPG and DQN)."""
    with torch.no_grad():
        for t, s in zip(target.parameters(), source.parameters(), strict=True):
            t.mul_(1 - tau).add_(s, alpha=tau)
