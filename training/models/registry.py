"""The models of the harness by name."""

from __future__ import annotations

from graphrec.training.models.base import Recommender
from graphrec.training.models.bpr_mf import BPRMF
from graphrec.training.models.graphsage import GraphSAGE
from graphrec.training.models.kgcn import KnowledgeGCN
from graphrec.training.models.lightgcn import LightGCN
from graphrec.training.models.non_neural import EASE, DebiasedKnowledgeEASE, ItemKNN, KnowledgeEASE, Popularity, RP3beta
from graphrec.training.names import Model

MODELS: dict[str, type[Recommender]] = {
    Model(model.name): model for model in (Popularity, ItemKNN, RP3beta, EASE, KnowledgeEASE,
                                           DebiasedKnowledgeEASE, BPRMF, LightGCN, GraphSAGE, KnowledgeGCN)
}
assert set(MODELS) == set(Model), "training.names.Model names every model of the registry"


def model_class(name: str) -> type[Recommender]:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    return MODELS[name]
