"""`graphrec train` and `graphrec index`: from the graph to a versioned artifact set with a FAISS index."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from graphrec.graph.ids import id_type
from graphrec.graph.store import GraphStore
from graphrec.training import distributed
from graphrec.training.artifacts import (
    ArtifactError,
    ArtifactVersion,
    current_version,
    dataset_fingerprint,
    read_manifest,
    replace_file,
    seal,
    write_version,
)
from graphrec.training.bpr import WarmStart
from graphrec.training.index import build_index, save_index
from graphrec.training.models.registry import model_class
from graphrec.training.models.torch_base import TorchRecommender
from graphrec.training.names import Encoder, IndexKind
from graphrec.training.splits import holdout_split
from graphrec.training.topk import ndcg_in_blocks
from graphrec.training.train_data import (
    Catalogue,
    build_catalogue,
    collapse_pairs,
    graph_frames,
    relevance_matrix,
    train_data,
)

log = logging.getLogger(__name__)
EMBEDDING_MODELS = tuple(Encoder)


def train_from_graph(store: GraphStore, root: Path, model_name: str = "lightgcn",
                     config: dict[str, Any] | None = None, *, refit: bool = False, seed: int = 42,
                     holdout: float = 0.1) -> Path:
    """Export the graph and train on it: see train_from_frames."""
    interactions, items, triples = graph_frames(store)
    return train_from_frames(interactions, items, triples, root, model_name, config, refit=refit, seed=seed,
                             holdout=holdout)


@dataclass
class TrainedEncoder:
    """An encoder fitted on a graph's frames, with what its artifact version records."""

    model_name: str
    model: TorchRecommender
    catalogue: Catalogue
    fingerprint: str
    valid_ndcg: float
    refit: bool
    holdout: float
    warm_start: dict[str, Any] | None


def train_from_frames(interactions: pd.DataFrame, items: pd.DataFrame, triples: pd.DataFrame, root: Path,
                      model_name: str = "lightgcn", config: dict[str, Any] | None = None, *, refit: bool = False,
                      seed: int = 42, holdout: float = 0.1, warm_from: Path | None = None) -> Path:
    """Train an encoder (fit_encoder) and write it as a new artifact version; returns its folder."""
    return write_encoder(root, fit_encoder(interactions, items, triples, model_name, config, refit=refit, seed=seed,
                                           holdout=holdout, warm_from=warm_from))


def fit_encoder(interactions: pd.DataFrame, items: pd.DataFrame, triples: pd.DataFrame,
                model_name: str = "lightgcn", config: dict[str, Any] | None = None, *, refit: bool = False,
                seed: int = 42, holdout: float = 0.1, warm_from: Path | None = None) -> TrainedEncoder:
    """Train an embedding encoder with early stopping on the stable hash holdout (training.splits.holdout_split).
    With ``refit`` the model is trained again on everything for the best epoch count: a little more data, but
    its holdout score is then optimistic, so the refresh job cannot compare later versions with it fairly.
    With ``warm_from`` (a version of the same model and size) the users and items it knew start from its
    weights."""
    if model_name not in EMBEDDING_MODELS:
        raise ValueError(f"train writes embeddings; choose one of {', '.join(EMBEDDING_MODELS)}")
    if interactions.empty:
        raise ArtifactError("the graph has no interactions: ingest a dataset first")
    # In id order: a graph exports its rows in no fixed order, and the batches must not depend on it.
    pairs = collapse_pairs(interactions).sort_values(["user_id", "item_id"], ignore_index=True)
    catalogue = build_catalogue(pairs, items, triples)
    cls = model_class(model_name)
    settings = {**cls.grid[0], **(config or {}), "seed": seed}
    fit_part, valid_part = holdout_split(pairs, holdout)
    warm = warm_start_from(warm_from, catalogue) if warm_from is not None else None
    model = cls(**settings)
    assert isinstance(model, TorchRecommender)
    model.fit(train_data(catalogue, fit_part, triples), relevance_matrix(catalogue, valid_part), warm)
    valid_ndcg = model.history.best_ndcg
    if refit:
        model = cls(**model.tuned_config())
        assert isinstance(model, TorchRecommender)
        model.fit(train_data(catalogue, pairs, triples), None, warm)
    warm_record = None if warm is None or warm_from is None else {
        "from": warm_from.name, "used": model.warm_started,
        "users_kept": int((warm.user_rows >= 0).sum()), "items_kept": int((warm.item_rows >= 0).sum())}
    return TrainedEncoder(model_name, model, catalogue, dataset_fingerprint(pairs, triples), valid_ndcg, refit,
                          holdout, warm_record)


def write_encoder(root: Path, trained: TrainedEncoder) -> Path:
    """A new artifact version holding the encoder's embeddings, weights, id maps and training record."""
    model, catalogue = trained.model, trained.catalogue

    def write(folder: Path) -> None:
        version = ArtifactVersion(folder)
        catalogue.save(folder)
        np.save(version.user_embeddings, model.user_vectors.astype(np.float32))
        np.save(version.item_embeddings, model.item_vectors.astype(np.float32))
        torch.save(model.module.state_dict(), version.weights)
        version.model_config.write_text(json.dumps({"model": trained.model_name, **model.tuned_config()},
                                                   indent=2))
        version.metrics.write_text(json.dumps(
            {"valid_ndcg@10": trained.valid_ndcg, "best_epoch": model.tuned_config().get("epochs"),
             "train_seconds": model.history.seconds, "losses": model.history.losses,
             "processes": distributed.world_size(), "warm_start": trained.warm_start}, indent=2))

    return write_version(root, write, {
        "model": trained.model_name, "dataset_fingerprint": trained.fingerprint,
        "users": catalogue.n_users, "items": catalogue.n_items, "dim": int(model.item_vectors.shape[1]),
        "valid_ndcg@10": trained.valid_ndcg, "refit": trained.refit, "holdout": trained.holdout,
        "id_types": {"user": id_type(catalogue.user_ids), "item": id_type(catalogue.item_ids)}})


def warm_start_from(folder: Path, catalogue: Catalogue) -> WarmStart:
    """A previous version's weights, with each current user and item mapped to its row there (by id)."""
    version = ArtifactVersion(folder)
    previous = Catalogue.load(folder)
    state = torch.load(version.weights, map_location="cpu", weights_only=True)
    return WarmStart(state, previous.user_positions(catalogue.user_ids), previous.item_positions(catalogue.item_ids),
                     previous.n_users)


def holdout_ndcg(folder: Path, interactions: pd.DataFrame, holdout: float = 0.1, k: int = 10) -> float | None:
    """NDCG@k of a version's embeddings on the holdout pairs of ``interactions`` (the current graph), items of
    the fit part removed; users or items the version never saw score as it would serve them (no vector: 0,
    unknown item: never ranked). None when the holdout is empty."""
    pairs = collapse_pairs(interactions)
    fit_part, held = holdout_split(pairs, holdout)
    if held.empty:
        return None
    catalogue = Catalogue.load(folder)
    users = np.sort(pd.unique(held["user_id"]))
    items = np.sort(pd.unique(pairs["item_id"]))
    user_rows = catalogue.user_positions(users)
    item_rows = catalogue.item_positions(items)
    version = ArtifactVersion(folder)
    user_vectors = np.load(version.user_embeddings)
    item_vectors = np.load(version.item_embeddings)
    queries = np.where((user_rows >= 0)[:, None], user_vectors[np.maximum(user_rows, 0)], 0.0).astype(np.float32)
    candidates = item_vectors[np.maximum(item_rows, 0)].T
    local = Catalogue(user_ids=users, item_ids=items, entity_keys=catalogue.entity_keys.iloc[0:0],
                      relations=[])
    seen = relevance_matrix(local, fit_part[fit_part["user_id"].isin(users)])
    relevant = relevance_matrix(local, held)

    def scores(start: int, stop: int) -> np.ndarray:
        block = queries[start:stop] @ candidates
        block[:, item_rows < 0] = -np.inf
        return block

    return ndcg_in_blocks(len(users), scores, seen, relevant, k)


def index_version(folder: Path, kind: IndexKind = "auto") -> dict[str, Any]:
    """Build the FAISS index of a version's item embeddings and add it to the version (before publishing)."""
    version = ArtifactVersion(folder)
    if current_version(version.root) == version.name:
        raise ArtifactError(f"{version.name} is published; index a new version and publish that instead")
    manifest = read_manifest(folder)
    vectors = np.load(version.item_embeddings)
    index, info = build_index(vectors, kind)
    replace_file(version.index, lambda path: save_index(index, path))
    details = {"index": info.__dict__}
    replace_file(version.index_info, lambda path: path.write_text(json.dumps(details, indent=2)))
    seal(folder, {k: v for k, v in manifest.items() if k != "files"} | details)
    return details["index"]
