"""Matrix factorisation trained with BPR (Rendle et al. 2009): s(u, i) = <p_u, q_i>."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from graphrec.training.bpr import BPRConfig, BPREncoder, WarmStart, squared_norm
from graphrec.training.models.torch_base import TorchRecommender
from graphrec.training.train_data import TrainData


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

    def warm_start(self, start: WarmStart) -> bool:
        users, items = start.state.get("users.weight"), start.state.get("items.weight")
        if users is None or items is None or users.shape[1] != self.users.weight.shape[1]:
            return False
        start.copy_rows(self.users.weight, users, start.user_rows)
        start.copy_rows(self.items.weight, items, start.item_rows)
        return True


class BPRMF(TorchRecommender):
    name = "bpr"
    grid: ClassVar[list[dict[str, Any]]] = [
        {"dim": 64, "lr": 5e-3, "l2": l2, "batch_size": 4096} for l2 in (1e-3, 1e-2, 5e-2)]

    def build(self, data: TrainData, config: BPRConfig) -> BPREncoder:
        return MFEncoder(data.n_users, data.n_items, config.dim)
