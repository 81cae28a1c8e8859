"""What every RL policy over candidate sets is built from: the item table, the DRR-ave state, the policy base
classes and the pieces they share (the serving scorer is training.rl.scorer, checkpoints training.rl.checkpoint_files).

A policy is a torch module holding the artifact version's item embeddings (so a checkpoint belongs to one
version). Its ``forward(user_vectors (B, d), history_rows (B, H), candidate_rows (B, C))`` returns one score
per candidate; history rows are item rows newest first, -1 for padding, and an unknown user has a zero
vector. Scores start as the strongest tuned blend ranks (training.rl.reference_rankers: the user vector plus
``fold_start`` times the mean of the history's item vectors, dotted with each candidate, plus ``quality_start``
times the item-quality prior; both 0 is greedy) and training moves them from there.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn


class ItemTable(nn.Module):
    """The version's item embeddings and item quality (the shrunk mean reward of each item in the data the
    policy was trained beside: what a rating-aware reward can teach that the encoder's implicit ranking does not
    know), with a zero row for padding (row -1)."""

    table: torch.Tensor
    quality: torch.Tensor

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

    def history_mean(self, history_rows: torch.Tensor) -> torch.Tensor:
        """(B, d): the mean item vector of each history (padding left out; zero for an empty one)."""
        mask = (history_rows >= 0).float().unsqueeze(-1)
        return (self.items(history_rows) * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def blend_action(self, user: torch.Tensor, history_rows: torch.Tensor, fold: float,
                     quality: float) -> torch.Tensor:
        """(B, d + 1) [u + fold * h, quality], h the history's mean item vector: the action of a tuned blend
        (training.rl.reference_rankers), scored against the candidates' [e_i, q_i] by score_action."""
        folded = user if fold == 0.0 else user + fold * self.history_mean(history_rows)
        return torch.cat([folded, torch.full_like(user[:, :1], quality)], dim=-1)

    def start_action(self, user: torch.Tensor, history_rows: torch.Tensor) -> torch.Tensor:
        """The action of the blend the policy starts as (fold_start, quality_start; both 0 is greedy)."""
        return self.blend_action(user, history_rows, float(getattr(self.config, "fold_start", 0.0)),
                                 float(getattr(self.config, "quality_start", 0.0)))

    def start_scores(self, inputs: PolicyInputs) -> torch.Tensor:
        """(B, C): the starting ranking's scores, the strongest tuned blend's (see the module docstring)."""
        return score_action(self.start_action(inputs.user, inputs.history_rows), self.items, inputs.candidate_rows)

    @torch.no_grad()
    def score_numpy(self, user: np.ndarray, history_rows: np.ndarray, candidate_rows: np.ndarray) -> np.ndarray:
        self.eval()
        return self.scores(PolicyInputs.from_arrays(user, history_rows, candidate_rows)).numpy()


class ActionPolicy(CandidatePolicy):
    """A policy whose session code is one action vector [w, w_q], the start action [u, q0] moved by an actor
    over the session's state; a candidate scores w . e_i + w_q q_i (DRR, PPO). Subclasses define ``state``
    and the ``actor`` network."""

    actor: nn.Module

    @abstractmethod
    def state(self, user: torch.Tensor, history_rows: torch.Tensor) -> torch.Tensor: ...

    def action(self, user: torch.Tensor, history_rows: torch.Tensor) -> torch.Tensor:
        """The start action moved by the actor's residual. Residual policy learning (Silver et al. 2018,
        "Residual Policy Learning"): the policy starts as the strongest tuned blend ranks, so what training adds
        is measured against it, and checkpoint selection can always fall back to it (iteration 0)."""
        return self.start_action(user, history_rows) + self.actor(self.state(user, history_rows))

    def session_code(self, user: torch.Tensor, history_rows: torch.Tensor) -> torch.Tensor:
        return self.action(user, history_rows)

    def scores_from_code(self, code: torch.Tensor, inputs: PolicyInputs) -> torch.Tensor:
        return score_action(code, self.items, inputs.candidate_rows)


def score_action(action: torch.Tensor, items: ItemTable, candidate_rows: torch.Tensor) -> torch.Tensor:
    """(B, d + 1) action vectors against the candidates' [e_i, q_i]: (B, C) scores."""
    dim = items.dim
    if covers_table(candidate_rows, items.table):  # score every row once, then pick each user's candidates
        rows = torch.where(candidate_rows < 0, items.table.shape[0] - 1, candidate_rows)
        return (action[:, :dim] @ items.table.T + action[:, dim:] * items.quality).gather(1, rows)
    vectors = (items(candidate_rows) * action[:, None, :dim]).sum(-1)
    return vectors + action[:, dim:] * items.item_quality(candidate_rows)


def covers_table(candidate_rows: torch.Tensor, table: torch.Tensor) -> bool:
    """Whether each user's candidates are as many as the table's rows (a simulator's whole catalogue): then one
    product against the table costs no more than gathering the candidates' vectors, and far less memory traffic."""
    return candidate_rows.shape[1] >= table.shape[0] - 1


def soft_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """Polyak averaging of ``source`` into ``target`` (the target networks of DDPG and DQN)."""
    with torch.no_grad():
        for t, s in zip(target.parameters(), source.parameters(), strict=True):
            t.mul_(1 - tau).add_(s, alpha=tau)
