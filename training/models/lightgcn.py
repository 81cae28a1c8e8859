"""LightGCN (He et al. 2020) on the user-item graph, with PyTorch Geometric's implementation.

    e^(l+1) = D^-1/2 A D^-1/2 e^(l),   e = sum_l alpha_l e^(l), alpha_l = 1 / (L + 1),   s(u, i) = <e_u, e_i>

Users are nodes 0..U-1 and items U..U+I-1 of one homogeneous, undirected graph; the normalised adjacency is
computed once and handed to the layers as a sparse matrix (see training/graph_ops.py).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch_geometric.nn import LightGCN as PygLightGCN

from graphrec.training.bpr import BPRConfig, BPREncoder, squared_norm
from graphrec.training.data import TrainData
from graphrec.training.graph_ops import normalized_user_item_adjacency
from graphrec.training.models.torch_base import TorchRecommender


class LightGCNEncoder(BPREncoder):
    def __init__(self, data: TrainData, dim: int, layers: int) -> None:
        super().__init__()
        self.n_users = data.n_users
        self.gcn = PygLightGCN(data.n_users + data.n_items, dim, layers, normalize=False)
        self.register_buffer("adj_t", normalized_user_item_adjacency(data))

    def embed(self) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.gcn.get_embedding(self.adj_t)
        return out[: self.n_users], out[self.n_users:]

    def ego_norm(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        weight = self.gcn.embedding.weight
        return squared_norm(weight[users], weight[positives + self.n_users], weight[negatives + self.n_users])


class LightGCN(TorchRecommender):
    name = "lightgcn"
    # First entry: the configuration validation chose on MovieLens-100K (BENCHMARKS.md), used by `graphrec train`.
    grid: ClassVar[list[dict[str, Any]]] = [
        {"dim": 64, "layers": layers, "lr": 5e-3, "l2": l2, "batch_size": 4096}
        for layers, l2 in ((3, 1e-3), (2, 1e-4), (2, 1e-3), (3, 1e-4))]

    def build(self, data: TrainData, config: BPRConfig) -> BPREncoder:
        return LightGCNEncoder(data, config.dim, int(self.config.get("layers", 3)))
