"""From canonical frames (a graph export or a source adapter) to indexed arrays and PyG tensors.

The id maps (index <-> original id) are built once per dataset over every user and item it knows, saved
beside each model, and are the only way indices leave this package.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from graphrec.graph.ids import id_type
from graphrec.graph.store import GraphStore
from graphrec.training.artifacts import ArtifactVersion

if TYPE_CHECKING:
    import torch


@dataclass
class Catalogue:
    """Index <-> original id for users, items and knowledge-graph entities and relations."""

    user_ids: np.ndarray
    item_ids: np.ndarray
    entity_keys: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["kind", "id"]))
    relations: list[str] = field(default_factory=list)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def user_index(self, ids: pd.Series | np.ndarray) -> np.ndarray:
        return _lookup(self.user_ids, ids, "user")

    def item_index(self, ids: pd.Series | np.ndarray) -> np.ndarray:
        return _lookup(self.item_ids, ids, "item")

    def user_positions(self, ids: Sequence[object] | np.ndarray) -> np.ndarray:
        """Rows of the given users, -1 for users not in the catalogue (user_index raises instead)."""
        return pd.Index(self.user_ids).get_indexer(ids)

    def item_positions(self, ids: Sequence[object] | np.ndarray) -> np.ndarray:
        """Rows of the given items, -1 for items not in the catalogue."""
        return pd.Index(self.item_ids).get_indexer(ids)

    def save(self, folder: Path) -> None:
        """The id maps as Parquet, typed as the graph types them: a text id such as "007" or one of 19 digits
        stays text, which a CSV read back could not tell from an integer."""
        folder.mkdir(parents=True, exist_ok=True)
        version = ArtifactVersion(folder)
        pd.DataFrame({"user_id": _typed(self.user_ids)}).to_parquet(version.id_map("users"), index=False)
        pd.DataFrame({"item_id": _typed(self.item_ids)}).to_parquet(version.id_map("items"), index=False)
        self.entity_keys.to_csv(version.table("entities"), index=False)
        pd.DataFrame({"relation": self.relations}).to_csv(version.table("relations"), index=False)

    @classmethod
    def load(cls, folder: Path) -> Catalogue:
        version = ArtifactVersion(folder)

        def ids(name: str, column: str) -> np.ndarray:
            values = pd.read_parquet(version.id_map(name))[column]
            return values.to_numpy() if pd.api.types.is_integer_dtype(values) else values.to_numpy(dtype=object)

        return cls(ids("users", "user_id"), ids("items", "item_id"),
                   pd.read_csv(version.table("entities"), dtype=str),
                   pd.read_csv(version.table("relations"), dtype=str)["relation"].tolist())


def _typed(ids: np.ndarray) -> pd.Series:
    return pd.Series(ids, dtype="int64") if id_type(ids) == "int" else pd.Series(ids, dtype="string")


def _lookup(known: np.ndarray, ids: pd.Series | np.ndarray, what: str) -> np.ndarray:
    index = pd.Index(known).get_indexer(np.asarray(ids))
    if (index < 0).any():
        missing = np.asarray(ids)[index < 0][:5].tolist()
        raise KeyError(f"unknown {what} ids {missing}")
    return index.astype(np.int64)


@dataclass
class KnowledgeGraph:
    """Item -> entity edges as index arrays, one relation index per edge."""

    item: np.ndarray
    relation: np.ndarray
    entity: np.ndarray
    n_relations: int
    n_entities: int


@dataclass
class TrainData:
    """The training part of a dataset: user-item edges (one per pair) and the knowledge graph."""

    catalogue: Catalogue
    users: np.ndarray
    items: np.ndarray
    weights: np.ndarray
    kg: KnowledgeGraph | None = None

    @property
    def n_users(self) -> int:
        return self.catalogue.n_users

    @property
    def n_items(self) -> int:
        return self.catalogue.n_items

    @property
    def matrix(self) -> sp.csr_matrix:
        """Binary users x items matrix of the training edges."""
        ones = np.ones(len(self.users), dtype=np.float32)
        return sp.csr_matrix((ones, (self.users, self.items)), shape=(self.n_users, self.n_items))

    def item_counts(self) -> np.ndarray:
        return np.bincount(self.items, minlength=self.n_items)

    def edge_index(self) -> torch.Tensor:
        """Bipartite user -> item edges, shape (2, E), for PyG layers. torch is imported here, not with the
        module: the service reads this module's Catalogue and does not load torch."""
        import torch

        return torch.from_numpy(np.vstack([self.users, self.items])).long()


def collapse_pairs(interactions: pd.DataFrame) -> pd.DataFrame:
    """One row per (user, item): events summed, the best rating and the latest time kept."""
    frame = interactions
    if not frame.duplicated(["user_id", "item_id"]).any():
        return frame[["user_id", "item_id", "rating", "count", "last_ts"]].reset_index(drop=True)
    grouped = frame.groupby(["user_id", "item_id"], sort=False)
    return grouped.agg(rating=("rating", "max"), count=("count", "sum"), last_ts=("last_ts", "max")).reset_index()


def build_catalogue(interactions: pd.DataFrame, items: pd.DataFrame | None, triples: pd.DataFrame) -> Catalogue:
    item_ids = pd.unique(pd.concat([interactions["item_id"], *( [items["item_id"]] if items is not None else []),
                                    triples["head"]], ignore_index=True))
    entity_keys = triples[["tail_kind", "tail"]].drop_duplicates().sort_values(["tail_kind", "tail"])
    return Catalogue(user_ids=np.sort(pd.unique(interactions["user_id"])), item_ids=np.sort(item_ids),
                     entity_keys=entity_keys.rename(columns={"tail_kind": "kind", "tail": "id"}).reset_index(drop=True),
                     relations=sorted(pd.unique(triples["relation"]).tolist()))


def train_data(catalogue: Catalogue, interactions: pd.DataFrame, triples: pd.DataFrame | None = None) -> TrainData:
    pairs = collapse_pairs(interactions)
    weights = pairs["rating"].fillna(pairs["count"]).to_numpy(np.float32)
    kg = None
    if triples is not None and len(triples):
        entity_index = pd.MultiIndex.from_frame(catalogue.entity_keys[["kind", "id"]])
        kg = KnowledgeGraph(
            item=catalogue.item_index(triples["head"]),
            relation=pd.Index(catalogue.relations).get_indexer(triples["relation"]).astype(np.int64),
            entity=entity_index.get_indexer(pd.MultiIndex.from_frame(triples[["tail_kind", "tail"]])).astype(np.int64),
            n_relations=len(catalogue.relations), n_entities=len(entity_index))
    return TrainData(catalogue, catalogue.user_index(pairs["user_id"]), catalogue.item_index(pairs["item_id"]),
                     weights, kg)


def relevance_matrix(catalogue: Catalogue, frame: pd.DataFrame) -> sp.csr_matrix:
    """users x items, 1 where the frame has the pair: the relevant items of an evaluation split."""
    pairs = frame[["user_id", "item_id"]].drop_duplicates()
    ones = np.ones(len(pairs), dtype=np.float32)
    return sp.csr_matrix((ones, (catalogue.user_index(pairs["user_id"]), catalogue.item_index(pairs["item_id"]))),
                         shape=(catalogue.n_users, catalogue.n_items))


def graph_frames(store: GraphStore) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(interactions, items, triples) exported from the graph store, in the canonical columns."""
    items = store.items().rename(columns={"id": "item_id"})
    return store.interactions(), items, store.triples()
