"""Encoders on small generated data: they learn, GraphSAGE is inductive, the KG encoder uses the KG."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from torch_geometric.data import HeteroData

from graphrec.ingest.frames import Dataset
from graphrec.ingest.synthetic import generate
from graphrec.training.models.graphsage import GraphSAGE
from graphrec.training.models.registry import MODELS
from graphrec.training.models.torch_base import TorchRecommender
from graphrec.training.ranking_metrics import ranking_metrics
from graphrec.training.splits import stratified_split
from graphrec.training.topk import top_k
from graphrec.training.train_data import TrainData, build_catalogue, relevance_matrix, train_data

FAST = {"epochs": 40, "eval_every": 10, "batch_size": 1024, "lr": 1e-2, "dim": 32}


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return generate(users=240, items=160, interactions=9_000, seed=5)


def ndcg(scores: np.ndarray, seen: sp.csr_matrix, relevant: sp.csr_matrix) -> float:
    return ranking_metrics(top_k(scores, seen, 10), relevant, 10)["ndcg@10"]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_beats_random_ranking(dataset: Dataset, name: str) -> None:
    train, test = stratified_split(dataset.interactions, 0.75, seed=42)
    catalogue = build_catalogue(dataset.interactions, dataset.items, dataset.triples)
    data = train_data(catalogue, train, dataset.triples)
    relevant = relevance_matrix(catalogue, test)
    cls = MODELS[name]
    model = cls(**{**cls.grid[0], **(FAST if issubclass(cls, TorchRecommender) else {})})
    model.fit(data, relevant)
    users = np.arange(data.n_users)
    scores = model.score(users)
    assert scores.shape == (data.n_users, data.n_items) and np.isfinite(scores).all()
    random = ndcg(np.random.default_rng(0).random(scores.shape), data.matrix, relevant)
    assert ndcg(scores, data.matrix, relevant) > random * 1.5, name


def test_graphsage_embeds_unseen_users_from_their_interactions(dataset: Dataset) -> None:
    frame = dataset.interactions
    train, test = stratified_split(frame, 0.75, seed=42)
    unseen = frame["user_id"].drop_duplicates().sample(frac=0.2, random_state=1)
    graph_part = train[~train["user_id"].isin(unseen)]
    catalogue = build_catalogue(frame, dataset.items, dataset.triples)
    data = train_data(catalogue, graph_part)
    model = GraphSAGE(**{**FAST, "epochs": 60})
    model.fit(data, None)

    seen_matrix = relevance_matrix(catalogue, train)  # every user's own training items, graph or not
    relevant = relevance_matrix(catalogue, test)
    new_users = catalogue.user_index(unseen)
    known_users = np.setdiff1d(np.arange(catalogue.n_users), new_users)
    # The unseen users: vectors computed now from their interactions, with no retraining.
    new_vectors = model.embed_new_users(seen_matrix[new_users])
    new_ndcg = ndcg(new_vectors @ model.item_vectors.T, seen_matrix[new_users], relevant[new_users])
    known_ndcg = ndcg(model.score(known_users), seen_matrix[known_users], relevant[known_users])
    assert new_ndcg >= 0.9 * known_ndcg, (new_ndcg, known_ndcg)
    # Folding a trained user in again gives the vector the model already holds for them.
    refolded = model.embed_new_users(seen_matrix[known_users[:5]])
    assert np.allclose(refolded, model.user_vectors[known_users[:5]], atol=1e-5)


def test_knowledge_encoder_needs_triples(dataset: Dataset) -> None:
    catalogue = build_catalogue(dataset.interactions, dataset.items, dataset.triples.iloc[0:0])
    data = train_data(catalogue, dataset.interactions)
    with pytest.raises(ValueError, match="needs item-entity triples"):
        MODELS["kgcn"](**FAST).fit(data, None)


def test_knowledge_encoder_gives_items_without_interactions_their_entities_signal(dataset: Dataset) -> None:
    frame = dataset.interactions
    catalogue = build_catalogue(frame, dataset.items, dataset.triples)
    cold_item = frame["item_id"].value_counts().index[-1]
    data = train_data(catalogue, frame[frame["item_id"] != cold_item], dataset.triples)
    model = MODELS["kgcn"](**FAST)
    model.fit(data, None)
    # The cold item's vector moved towards items that share its entities, away from its random start.
    triples = dataset.triples
    entities = set(triples.loc[triples["head"] == cold_item, "tail"])
    siblings = pd.unique(triples.loc[triples["tail"].isin(entities) & (triples["head"] != cold_item), "head"])
    others = np.setdiff1d(catalogue.item_ids, np.append(siblings, cold_item))
    vectors = model.item_vectors / np.linalg.norm(model.item_vectors, axis=1, keepdims=True)
    cold = vectors[catalogue.item_index([cold_item])[0]]
    sibling_similarity = (vectors[catalogue.item_index(siblings)] @ cold).mean()
    assert sibling_similarity > (vectors[catalogue.item_index(others)] @ cold).mean()


def to_hetero_data(data: TrainData) -> HeteroData:
    """The training graph as PyG HeteroData: user -interacts-> item (weighted), item -RELATION-> entity for each
    knowledge-graph relation, and the reverse of every edge type, as heterogeneous PyG models expect."""
    graph = HeteroData()
    graph["user"].num_nodes = data.n_users
    graph["item"].num_nodes = data.n_items
    edges = data.edge_index()
    graph["user", "interacts", "item"].edge_index = edges
    graph["user", "interacts", "item"].edge_weight = torch.from_numpy(data.weights)
    graph["item", "rev_interacts", "user"].edge_index = edges.flip(0)
    if data.kg is not None:
        graph["entity"].num_nodes = data.kg.n_entities
        for index, relation in enumerate(data.catalogue.relations):
            chosen = data.kg.relation == index
            kg_edges = torch.from_numpy(np.vstack([data.kg.item[chosen], data.kg.entity[chosen]])).long()
            graph["item", relation, "entity"].edge_index = kg_edges
            graph["entity", f"rev_{relation}", "item"].edge_index = kg_edges.flip(0)
    return graph


def test_the_training_data_make_a_valid_hetero_graph(dataset: Dataset) -> None:
    """TrainData's edges and knowledge graph carry what a heterogeneous PyG model needs."""
    catalogue = build_catalogue(dataset.interactions, dataset.items, dataset.triples)
    data = train_data(catalogue, dataset.interactions, dataset.triples)
    graph = to_hetero_data(data)
    assert graph["user"].num_nodes == data.n_users and graph["entity"].num_nodes == data.kg.n_entities
    assert graph["user", "interacts", "item"].edge_index.shape[1] == len(dataset.interactions)
    kg_edges = sum(graph["item", r, "entity"].edge_index.shape[1] for r in catalogue.relations)
    assert kg_edges == len(dataset.triples)
    graph.validate()


def test_fanout_sampling_caps_neighbours_per_node() -> None:
    from graphrec.training.graph_ops import sample_fanout

    targets = np.array([0, 0, 0, 0, 1, 2, 2, 0])
    kept = sample_fanout(targets, 2, np.random.default_rng(0))
    assert np.bincount(targets[kept]).tolist() == [2, 1, 2]
    assert len(set(kept)) == len(kept)


def test_graphsage_trains_on_sampled_neighbourhoods(dataset: Dataset) -> None:
    train, test = stratified_split(dataset.interactions, 0.75, seed=42)
    catalogue = build_catalogue(dataset.interactions, dataset.items, dataset.triples)
    data = train_data(catalogue, train)
    relevant = relevance_matrix(catalogue, test)
    model = GraphSAGE(**FAST, fanout=5)
    model.fit(data, relevant)
    assert model.module.users_adj_t._nnz() == len(train)  # full neighbourhoods again after training
    random = ndcg(np.random.default_rng(0).random((data.n_users, data.n_items)), data.matrix, relevant)
    assert ndcg(model.score(np.arange(data.n_users)), data.matrix, relevant) > 1.5 * random


def test_a_mistyped_hyper_parameter_is_refused_with_its_name() -> None:
    with pytest.raises(ValueError, match=r"lightgcn's configuration(.|\n)*layer"):
        MODELS["lightgcn"](layer=2)
    assert MODELS["lightgcn"](layers=2).config.layers == 2
