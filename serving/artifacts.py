"""The artifact set a running service reads: embeddings, id maps and the FAISS index of one version."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np

from graphrec.serving.policy import GreedyPolicy, Policy, load_policy_for_version
from graphrec.training.artifacts import ArtifactError, ArtifactVersion, current_version, verify
from graphrec.training.data import Catalogue
from graphrec.training.index import load_index


@dataclass(frozen=True)
class LoadedArtifacts:
    version: str
    catalogue: Catalogue
    user_vectors: np.ndarray
    item_vectors: np.ndarray
    index: faiss.Index
    user_positions: dict[object, int]  # id -> row: a dict lookup per id is cheaper than pandas' for a request's
    item_positions: dict[object, int]  # few hundred ids, by 4x for integer ids and 10x for strings
    policy: Policy = field(default_factory=GreedyPolicy)  # the version's RL policy when one is configured and trained

    def user_vector(self, user_id: object) -> np.ndarray | None:
        position = self.user_positions.get(user_id)
        return None if position is None else self.user_vectors[position]

    def item_rows(self, item_ids: list[object]) -> np.ndarray:
        """Positions of the items in the embedding table; -1 for items the version does not know."""
        rows = self.item_positions.get
        return np.fromiter((rows(item, -1) for item in item_ids), dtype=np.int64, count=len(item_ids))


def load_current(root: Path, policy: str = "greedy") -> LoadedArtifacts:
    """The published version under ``root``, verified; ArtifactError when none is published or it is damaged."""
    version = current_version(root)
    if version is None:
        raise ArtifactError(f"{root}: nothing is published; run `graphrec train`, `index` and `publish`")
    return load_version(root / "versions" / version, policy)


def load_version(folder: Path, policy: str = "greedy") -> LoadedArtifacts:
    verify(folder)
    version = ArtifactVersion(folder)
    if not version.index.is_file():
        raise ArtifactError(f"{folder}: no {version.index.name}; run `graphrec index` before publishing")
    catalogue = Catalogue.load(folder)
    return LoadedArtifacts(
        version=version.name, catalogue=catalogue,
        user_vectors=np.load(version.user_embeddings), item_vectors=np.load(version.item_embeddings),
        index=load_index(version.index),
        user_positions=positions(catalogue.user_ids), item_positions=positions(catalogue.item_ids),
        policy=load_policy_for_version(folder, policy))


def positions(ids: np.ndarray) -> dict[object, int]:
    """Plain Python ids (what requests carry) -> rows."""
    return {identifier: row for row, identifier in enumerate(ids.tolist())}
