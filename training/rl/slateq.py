"""SlateQ (Ie et al., IJCAI 2019, "SlateQ: A Tractable Decomposition for Reinforcement Learning with
Recommendation Sets"): the value of a slate decomposed through the user's choice model into per-item values,

    Q(s, A) = sum_{i in A} P(i | s, A) Qbar(s, i)
    Qbar(s, i) = r(s, i) + gamma sum_{j in A'} P(j | s', A') Qbar(s', j)

where Qbar(s, i) is the long-term value of the user consuming item i, learned by TD only from items the user
clicked, and A' is the slate the policy would show next. The choice model is learned beside it: P(i | s, A) is a
per-item click probability sigma(c(s, i)) fitted to the clicks on shown items (the paper's conditional-logit
form assumes one choice per slate; SARDINE's users click several). A slate is the k items of best
sigma(c(s, i)) Qbar(s, i), the top-k slate optimisation of the paper. With gamma 0, Qbar is the immediate reward
of a click and the policy is a learned myopic click-value maximiser: the ablation that isolates what the
long-term term adds.

Both heads are bilinear in the item's vector given the state (phi(s) . [e_i, 1]), so a slate over 1,000
candidates costs one matrix product; the state is DRR-ave over the recent clicks (training.rl.nets).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from graphrec.training.rl.nets import CandidatePolicy, DRRAveState, PolicyInputs, mlp


@dataclass(frozen=True)
class SlateQConfig:
    """Every knob of a SlateQ result (``graphrec train-policy --set name=value``)."""

    history: int = 10  # recent clicks (newest first) the state averages
    hidden: int = 128  # width of the state network's two hidden layers
    gamma: float = 0.9  # discount of the next slates' value in Qbar's TD target (0: myopic)
    lr: float = 1e-3  # Adam step of the value and choice heads
    tau: float = 0.01  # soft update rate of the target network
    epsilon: float = 0.1  # chance that a training slate is drawn at random (exploration)
    buffer: int = 100_000  # transitions kept for replay (uniform)
    batch_size: int = 256  # transitions per update
    updates_per_step: int = 1  # updates per batch of environment steps
    click_weight: float = 1.0  # weight of the choice model's cross-entropy beside the TD loss
    seed: int = 0  # torch and NumPy seed of initialisation, exploration and replay


class SlateQPolicy(CandidatePolicy):
    name = "slateq"
    config_type = SlateQConfig

    def __init__(self, item_vectors: np.ndarray, item_quality: np.ndarray, config: SlateQConfig) -> None:
        super().__init__(item_vectors, item_quality, config)
        dim = self.items.dim
        self.state_module = DRRAveState(config.history, dim)
        self.heads = mlp(self.state_module.out_dim, config.hidden, 2 * (dim + 1))

    @classmethod
    def build(cls, item_vectors: np.ndarray, item_quality: np.ndarray, config: SlateQConfig,
              **_: Any) -> SlateQPolicy:
        return cls(item_vectors, item_quality, config)

    def session_code(self, user: torch.Tensor, history_rows: torch.Tensor) -> torch.Tensor:
        """[phi_Q(s), phi_c(s)]: each (d + 1)."""
        return self.heads(self.state_module.over_rows(user, history_rows, self.items))

    def values_and_clicks(self, code: torch.Tensor, candidate_rows: torch.Tensor) -> tuple[
            torch.Tensor, torch.Tensor]:
        """(B, C) Qbar(s, i) and the click logits c(s, i) of each candidate."""
        dim = self.items.dim
        q_head, click_head = code[:, : dim + 1], code[:, dim + 1:]
        # Both heads against every item row at once, then each user's candidates picked: in a simulator the
        # catalogue is no larger than a batch's candidates, and one product beats gathering their vectors.
        heads = torch.cat([q_head[:, :dim], click_head[:, :dim]]) @ self.items.table.T
        rows = torch.where(candidate_rows < 0, self.items.table.shape[0] - 1, candidate_rows)
        q = heads[: len(code)].gather(1, rows) + q_head[:, dim:]
        clicks = heads[len(code):].gather(1, rows) + click_head[:, dim:]
        return q, clicks

    def scores_from_code(self, code: torch.Tensor, inputs: PolicyInputs) -> torch.Tensor:
        q, clicks = self.values_and_clicks(code, inputs.candidate_rows)
        return torch.sigmoid(clicks) * q


def slateq_loss(policy: SlateQPolicy, target: SlateQPolicy, batch: dict[str, torch.Tensor], gamma: float,
                k: int, click_weight: float) -> tuple[torch.Tensor, dict[str, float]]:
    """The TD loss of the clicked items' Qbar plus the choice model's cross-entropy on every shown item.
    ``batch``: user, history, shown (B, k) rows, clicks (B, k), rewards (B, k) per item, next_user,
    next_history, next_candidates (B, C), done (B,)."""
    with torch.no_grad():
        next_code = policy.session_code(batch["next_user"], batch["next_history"])
        inputs = PolicyInputs(batch["next_user"], batch["next_history"], batch["next_candidates"])
        chosen = policy.scores_from_code(next_code, inputs).topk(k, dim=1).indices  # online picks, target values
        next_q, next_clicks = target.values_and_clicks(
            target.session_code(batch["next_user"], batch["next_history"]), batch["next_candidates"])
        next_value = (torch.sigmoid(next_clicks) * next_q).gather(1, chosen).sum(1)
        y = batch["rewards"] + gamma * ((1 - batch["done"]) * next_value).unsqueeze(1)
    q, clicks = policy.values_and_clicks(policy.session_code(batch["user"], batch["history"]), batch["shown"])
    clicked = batch["clicks"]
    td = ((q - y).pow(2) * clicked).sum() / clicked.sum().clamp(min=1.0)
    choice = nn.functional.binary_cross_entropy_with_logits(clicks, clicked)
    metrics = {"td_loss": float(td.detach()), "choice_loss": float(choice.detach()),
               "mean_q": float((q.detach() * clicked).sum() / clicked.sum().clamp(min=1.0)),
               "click_probability": float(torch.sigmoid(clicks.detach()).mean())}
    return td + click_weight * choice, metrics
