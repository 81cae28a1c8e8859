"""A knowledge-aware encoder: relation-aware propagation over items and their KG entities (R-GCN, Schlichtkrull
et al. 2018), then LightGCN propagation over the user-item graph (in the spirit of KGAT, Wang et al. 2019).

    x_i^0 = e_i + sum_r mean_{e in N_r(i)} W_r e_e            (R-GCN: entities -> items, one W_r per relation)
    x^(l+1) = D^-1/2 A D^-1/2 x^(l) over users and items, x = mean_l x^(l),   s(u, i) = <x_u, x_i>

An item with few interactions still gets the entity part of x_i^0, learned from every item sharing its
genre, year or artist, which is what helps long-tail and cold items. With ``item_dropout`` p > 0, each training
step zeroes the item's own embedding e_i for a random share p of the items (as DropoutNet, Volkovs et al.
2017, drops preference inputs), so the model must also score items from their entities alone, the situation a
cold item is always in.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch_geometric.nn import RGCNConv

from graphrec.training.bpr import BPRConfig, BPREncoder, squared_norm
from graphrec.training.graph_ops import normalized_user_item_adjacency, propagate
from graphrec.training.models.base import ModelConfig
from graphrec.training.models.torch_base import TorchRecommender
from graphrec.training.train_data import TrainData


class KnowledgeEncoder(BPREncoder):
    def __init__(self, data: TrainData, dim: int, layers: int, item_dropout: float = 0.0) -> None:
        super().__init__()
        self.item_dropout = item_dropout
        if data.kg is None or data.kg.n_entities == 0:
            raise ValueError("the knowledge-aware encoder needs item-entity triples")
        self.n_users = data.n_users
        self.users = nn.Embedding(data.n_users, dim)
        self.items = nn.Embedding(data.n_items, dim)
        self.entities = nn.Embedding(data.kg.n_entities, dim)
        for table in (self.users, self.items, self.entities):
            nn.init.normal_(table.weight, std=0.1)
        # No root weight: the item keeps its own embedding unchanged (as in LightGCN) and gains the relation
        # messages on top, so a well-observed item trains like LightGCN and a cold one still has its entities.
        self.relational = RGCNConv((dim, dim), dim, num_relations=data.kg.n_relations, root_weight=False,
                                   bias=False)
        self.layers = layers
        kg = data.kg
        # R-GCN needs edge types, so it keeps the edge list (the KG is small); propagation uses the matrix.
        self.register_buffer("entity_to_item", torch.from_numpy(np.vstack([kg.entity, kg.item])).long())
        self.register_buffer("relation", torch.from_numpy(kg.relation).long())
        self.register_buffer("adj_t", normalized_user_item_adjacency(data), persistent=False)

    def embed(self) -> tuple[torch.Tensor, torch.Tensor]:
        own = self.items.weight
        if self.training and self.item_dropout > 0:
            keep = torch.rand(own.shape[0], 1, device=own.device) >= self.item_dropout
            own = own * keep
        # x_dst only sizes the output here (no root weight): the messages are the entities' alone.
        items = own + self.relational((self.entities.weight, own), self.entity_to_item, self.relation)
        out = propagate(torch.cat([self.users.weight, items]), self.adj_t, self.layers)
        return out[: self.n_users], out[self.n_users:]

    def ego_norm(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        return squared_norm(self.users(users), self.items(positives), self.items(negatives))


class KnowledgeGCNConfig(BPRConfig):
    layers: int = 3
    item_dropout: float = 0.0


class KnowledgeGCN(TorchRecommender):
    name = "kgcn"
    Config: ClassVar[type[ModelConfig]] = KnowledgeGCNConfig
    config: KnowledgeGCNConfig  # pyright: ignore[reportIncompatibleVariableOverride]
    grid: ClassVar[list[dict[str, Any]]] = [
        {"dim": 64, "layers": 3, "lr": 5e-3, "l2": 1e-3, "batch_size": 4096, "item_dropout": p}
        for p in (0.3, 0.0)]

    def build(self, data: TrainData, config: BPRConfig) -> BPREncoder:
        return KnowledgeEncoder(data, config.dim, self.config.layers, self.config.item_dropout)
