"""Matrix factorisation trained with BPR (Rendle et al. 2009): s(u, i) = <p_u, q_i>."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from graphrec.training.bpr import BPRConfig, BPREncoder, squared_norm
from graphrec.training.data import TrainData
from graphrec.training.models.torch_base import TorchRecommender


class MFEncoder(BPREncoder):
    def __init__(self, n_users: int, n_items: int, dim: int) -> None:
        super().__init__()
        self.users = nn.Embedding(n_users, dim)
        self.items = nn.Embedding(n_items, dim)
        nn.init.normal_(self.users.weight, std=0.1)
        nn.init.normal_(self.items.weight, std=0.1)

    def embed(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.users.weight, self.items.weight

    def ego_norm(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        return squared_norm(self.users(users), self.items(positives), self.items(negatives))


class BPRMF(TorchRecommender):
    name = "bpr"
    grid: ClassVar[list[dict[str, Any]]] = [
        {"dim": 64, "lr": 5e-3, "l2": l2, "batch_size": 4096} for l2 in (1e-3, 1e-2, 5e-2)]

    def build(self, data: TrainData, config: BPRConfig) -> BPREncoder:
        return MFEncoder(data.n_users, data.n_items, config.dim)
