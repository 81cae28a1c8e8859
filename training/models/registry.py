"""The models of the harness by name."""

from __future__ import annotations

from training.models.base import Recommender
from training.models.baselines import EASE, ItemKNN, KnowledgeEASE, Popularity
from training.models.bpr_mf import BPRMF
from training.models.graphsage import GraphSAGE
from training.models.kgcn import KnowledgeGCN
from training.models.lightgcn import LightGCN

MODELS: dict[str, type[Recommender]] = {
    model.name: model for model in (Popularity, ItemKNN, EASE, KnowledgeEASE, BPRMF, LightGCN, GraphSAGE,
                                    KnowledgeGCN)
}


def model_class(name: str) -> type[Recommender]:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    return MODELS[name]
