"""The artifact set a running service reads: embeddings, id maps and the FAISS index of one version."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np
import pandas as pd

from serving.policy import GreedyPolicy, Policy, load_policy_for_version
from training.artifacts import ArtifactError, current_version, verify
from training.data import Catalogue
from training.index import load_index


@dataclass(frozen=True)
class LoadedArtifacts:
    version: str
    catalogue: Catalogue
    user_vectors: np.ndarray
    item_vectors: np.ndarray
    index: faiss.Index
    user_positions: pd.Index
    item_positions: pd.Index
    policy: Policy = field(default_factory=GreedyPolicy)  # the version's RL policy when one is configured and trained

    def user_vector(self, user_id: object) -> np.ndarray | None:
        position = self.user_positions.get_indexer([user_id])[0]
        return None if position < 0 else self.user_vectors[position]

    def item_rows(self, item_ids: list[object]) -> np.ndarray:
        """Positions of the items in the embedding table; -1 for items the version does not know."""
        return self.item_positions.get_indexer(item_ids)


def load_current(root: Path, policy: str = "greedy") -> LoadedArtifacts:
    """The published version under ``root``, verified; ArtifactError when none is published or it is damaged."""
    version = current_version(root)
    if version is None:
        raise ArtifactError(f"{root}: nothing is published; run `graphrec train`, `index` and `publish`")
    return load_version(root / "versions" / version, policy)


def load_version(folder: Path, policy: str = "greedy") -> LoadedArtifacts:
    verify(folder)
    if not (folder / "index.faiss").is_file():
        raise ArtifactError(f"{folder}: no index.faiss; run `graphrec index` before publishing")
    catalogue = Catalogue.load(folder)
    return LoadedArtifacts(
        version=folder.name, catalogue=catalogue,
        user_vectors=np.load(folder / "user_embeddings.npy"), item_vectors=np.load(folder / "item_embeddings.npy"),
        index=load_index(folder / "index.faiss"),
        user_positions=pd.Index(catalogue.user_ids), item_positions=pd.Index(catalogue.item_ids),
        policy=load_policy_for_version(folder, policy))
