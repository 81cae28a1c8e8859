"""GraphSAGE over the user-item graph (Hamilton et al. 2017), GRAPPLE's encoder, inductive for users.

Users have no parameters of their own: every user vector is computed from the user's items,

    h_u = ReLU(W1 mean_{i in N(u)} x_i)                  (items -> users)
    h_i = W2 x_i + W3 mean_{u in N(i)} h_u               (users -> items, with the item's own embedding)
    z_u = W4 mean_{i in N(u)} h_i                        (items -> users)
    s(u, i) = <z_u, h_i>

so a user the model never trained on is embedded from its interactions with the trained h_i, no retraining.
With ``fanout`` set, each epoch trains on a resampled graph keeping at most ``fanout`` neighbours per node
(GraphSAGE's neighbour sampling), which bounds the cost of an epoch on large graphs; evaluation and the final
embeddings use every neighbour.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn
from torch_geometric.nn import SAGEConv

from graphrec.training.bpr import BPRConfig, BPREncoder, squared_norm
from graphrec.training.graph_ops import adjacency, sample_fanout
from graphrec.training.models.base import ModelConfig
from graphrec.training.models.torch_base import TorchRecommender
from graphrec.training.train_data import TrainData


class SAGEEncoder(BPREncoder):
    def __init__(self, data: TrainData, dim: int, fanout: int | None = None) -> None:
        super().__init__()
        self.fanout = fanout
        self.edges = (data.users, data.items)
        self.n_users, self.n_items = data.n_users, data.n_items
        self.items = nn.Embedding(data.n_items, dim)
        nn.init.normal_(self.items.weight, std=0.1)
        self.items_to_users = SAGEConv((dim, dim), dim, root_weight=False)
        self.users_to_items = SAGEConv((dim, dim), dim)
        self.readout = SAGEConv((dim, dim), dim, root_weight=False)
        self.register_buffer("users_adj_t", torch.empty(0))
        self.register_buffer("items_adj_t", torch.empty(0))
        self.use_edges(np.arange(len(data.users)), np.arange(len(data.users)))

    def use_edges(self, to_users: np.ndarray, to_items: np.ndarray) -> None:
        """Propagate over the given edge positions: those feeding users and those feeding items."""
        users, items = (torch.from_numpy(a).long() for a in self.edges)
        device = self.items.weight.device
        self.users_adj_t = adjacency(items[to_users], users[to_users], self.n_items, self.n_users).to(device)
        self.items_adj_t = adjacency(users[to_items], items[to_items], self.n_users, self.n_items).to(device)

    def start_epoch(self, rng: np.random.Generator) -> None:
        if self.fanout:
            users, items = self.edges
            self.use_edges(sample_fanout(users, self.fanout, rng), sample_fanout(items, self.fanout, rng))

    def end_training(self) -> None:
        if self.fanout:
            everything = np.arange(len(self.edges[0]))
            self.use_edges(everything, everything)

    def item_states(self) -> torch.Tensor:
        x = self.items.weight
        h_users = torch.relu(self.items_to_users((x, None), self.users_adj_t))
        return self.users_to_items((h_users, x), self.items_adj_t)

    def users_from(self, item_states: torch.Tensor, users_adj_t: torch.Tensor) -> torch.Tensor:
        """User vectors from their items; ``users_adj_t`` is (users x items) with a 1 per interaction."""
        return self.readout((item_states, None), users_adj_t)

    def embed(self) -> tuple[torch.Tensor, torch.Tensor]:
        items = self.item_states()
        return self.users_from(items, self.users_adj_t), items

    def ego_norm(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        return squared_norm(self.items(positives), self.items(negatives))


class GraphSAGEConfig(BPRConfig):
    fanout: int | None = None  # neighbours sampled per node and layer; None: all


class GraphSAGE(TorchRecommender):
    name = "graphsage"
    Config: ClassVar[type[ModelConfig]] = GraphSAGEConfig
    config: GraphSAGEConfig  # pyright: ignore[reportIncompatibleVariableOverride]
    grid: ClassVar[list[dict[str, Any]]] = [
        {"dim": 64, "lr": lr, "l2": l2, "batch_size": 4096} for lr in (1e-3, 3e-3) for l2 in (1e-4, 1e-3)]

    def build(self, data: TrainData, config: BPRConfig) -> BPREncoder:
        fanout = self.config.fanout
        return SAGEEncoder(data, config.dim, int(fanout) if fanout else None)

    @torch.no_grad()
    def embed_new_users(self, interactions: sp.csr_matrix) -> np.ndarray:
        """Vectors for users given only by their items (rows of ``interactions``): the inductive path."""
        module = self.module
        assert isinstance(module, SAGEEncoder)
        module.eval()
        rows, cols = interactions.nonzero()
        users_adj_t = adjacency(torch.from_numpy(cols).long(), torch.from_numpy(rows).long(),
                                module.n_items, interactions.shape[0]).to(module.items.weight.device)
        return module.users_from(module.item_states(), users_adj_t).cpu().numpy()
