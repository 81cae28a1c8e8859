"""LightGCN (He et al. 2020) on the user-item graph.

    e^(l+1) = D^-1/2 A D^-1/2 e^(l),   e = sum_l alpha_l e^(l), alpha_l = 1 / (L + 1),   s(u, i) = <e_u, e_i>

Users are nodes 0..U-1 and items U..U+I-1 of one homogeneous, undirected graph; the normalised adjacency is
computed once as a CSR matrix and multiplied by it both ways (training/graph_ops.py).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from graphrec.training.bpr import BPRConfig, BPREncoder, WarmStart, squared_norm
from graphrec.training.graph_ops import normalized_user_item_adjacency, propagate
from graphrec.training.models.base import ModelConfig
from graphrec.training.models.torch_base import TorchRecommender
from graphrec.training.train_data import TrainData


class LightGCNEncoder(BPREncoder):
    def __init__(self, data: TrainData, dim: int, layers: int) -> None:
        super().__init__()
        self.n_users, self.layers = data.n_users, layers
        self.embedding = nn.Embedding(data.n_users + data.n_items, dim)
        nn.init.xavier_uniform_(self.embedding.weight)
        # Rebuilt from the data, never saved: a state dict holds the embeddings only.
        self.register_buffer("adj_t", normalized_user_item_adjacency(data), persistent=False)

    def embed(self) -> tuple[torch.Tensor, torch.Tensor]:
        out = propagate(self.embedding.weight, self.adj_t, self.layers)
        return out[: self.n_users], out[self.n_users:]

    def ego_norm(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        weight = self.embedding.weight
        return squared_norm(weight.index_select(0, users), weight.index_select(0, positives + self.n_users),
                            weight.index_select(0, negatives + self.n_users))

    def warm_start(self, start: WarmStart) -> bool:
        previous = start.state.get("embedding.weight")
        weight = self.embedding.weight
        if previous is None or previous.shape[1] != weight.shape[1]:
            return False
        start.copy_rows(weight[: self.n_users], previous, start.user_rows)
        start.copy_rows(weight[self.n_users:], previous, start.item_rows, offset=start.previous_users)
        return True


class LightGCNConfig(BPRConfig):
    layers: int = 3


class LightGCN(TorchRecommender):
    name = "lightgcn"
    Config: ClassVar[type[ModelConfig]] = LightGCNConfig
    config: LightGCNConfig  # pyright: ignore[reportIncompatibleVariableOverride]
    # First entry: the configuration validation chose on MovieLens-100K (BENCHMARKS.md), used by `graphrec train`.
    # Batches of 16,384 with a 10x learning rate: a quarter of the propagations per epoch and fewer epochs to
    # the early stop, at the validation NDCG of batch 4,096 and lr 5e-3 (the mean over 6 MovieLens-100K splits).
    grid: ClassVar[list[dict[str, Any]]] = [
        {"dim": 64, "layers": layers, "lr": 5e-2, "l2": l2, "batch_size": 16_384}
        for layers, l2 in ((3, 1e-3), (2, 1e-4), (2, 1e-3), (3, 1e-4))]

    def build(self, data: TrainData, config: BPRConfig) -> BPREncoder:
        return LightGCNEncoder(data, config.dim, self.config.layers)
