"""`graphrec train` and `graphrec index`: from the graph to a versioned artifact set with a FAISS index."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graph.store import GraphStore
from training.artifacts import ArtifactError, current_version, dataset_fingerprint, read_manifest, seal, write_version
from training.data import build_catalogue, collapse_pairs, graph_frames, relevance_matrix, train_data
from training.index import IndexKind, build_index, save_index
from training.models.registry import model_class
from training.models.torch_base import TorchRecommender
from training.splits import stratified_split

log = logging.getLogger(__name__)
EMBEDDING_MODELS = ("lightgcn", "graphsage", "kgcn", "bpr")


def train_from_graph(store: GraphStore, root: Path, model_name: str = "lightgcn",
                     config: dict[str, Any] | None = None, *, refit: bool = True, seed: int = 42) -> Path:
    """Export the graph, train an embedding encoder (early stopping on a 10% validation carve-out, then a refit
    on everything for the best epoch count) and write a new artifact version. Returns its folder."""
    if model_name not in EMBEDDING_MODELS:
        raise ValueError(f"train writes embeddings; choose one of {', '.join(EMBEDDING_MODELS)}")
    interactions, items, triples = graph_frames(store)
    if interactions.empty:
        raise ArtifactError("the graph has no interactions: ingest a dataset first")
    pairs = collapse_pairs(interactions)
    catalogue = build_catalogue(pairs, items, triples)
    cls = model_class(model_name)
    settings = {**cls.grid[0], **(config or {}), "seed": seed}
    fit_part, valid_part = stratified_split(pairs, 0.9, seed=seed)
    model = cls(**settings)
    model.fit(train_data(catalogue, fit_part, triples), relevance_matrix(catalogue, valid_part))
    assert isinstance(model, TorchRecommender)
    valid_ndcg = model.history.best_ndcg
    if refit:
        model = cls(**model.tuned_config())
        model.fit(train_data(catalogue, pairs, triples), None)
    assert isinstance(model, TorchRecommender)

    def write(folder: Path) -> None:
        catalogue.save(folder)
        np.save(folder / "user_embeddings.npy", model.user_vectors.astype(np.float32))
        np.save(folder / "item_embeddings.npy", model.item_vectors.astype(np.float32))
        torch.save(model.module.state_dict(), folder / "weights.pt")
        (folder / "config.json").write_text(json.dumps({"model": model_name, **model.tuned_config()}, indent=2))
        (folder / "metrics.json").write_text(json.dumps(
            {"valid_ndcg@10": valid_ndcg, "best_epoch": model.tuned_config().get("epochs"),
             "train_seconds": model.history.seconds, "losses": model.history.losses}, indent=2))

    return write_version(root, write, {
        "model": model_name, "dataset_fingerprint": dataset_fingerprint(pairs, triples),
        "users": catalogue.n_users, "items": catalogue.n_items, "dim": int(model.item_vectors.shape[1]),
        "valid_ndcg@10": valid_ndcg, "refit": refit})


def index_version(folder: Path, kind: IndexKind = "auto") -> dict[str, Any]:
    """Build the FAISS index of a version's item embeddings and add it to the version (before publishing)."""
    root = folder.parent.parent
    if current_version(root) == folder.name:
        raise ArtifactError(f"{folder.name} is published; index a new version and publish that instead")
    manifest = read_manifest(folder)
    vectors = np.load(folder / "item_embeddings.npy")
    index, info = build_index(vectors, kind)
    save_index(index, folder / "index.faiss")
    details = {"index": info.__dict__}
    (folder / "index.json").write_text(json.dumps(details, indent=2))
    seal(folder, {k: v for k, v in manifest.items() if k != "files"} | details)
    return details["index"]
