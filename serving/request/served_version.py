"""The artifact set a running service reads: embeddings, id maps and the FAISS index of one version."""

from __future__ import annotations

import threading
from collections.abc import Set
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path

import faiss
import numpy as np

from graphrec.graph.ids import plain_id, positions
from graphrec.serving.request.served_policy import SESSION_CODES, GreedyPolicy, Policy, load_policy_for_version
from graphrec.training.artifacts import ArtifactError, ArtifactRoot, ArtifactVersion, current_version, verify
from graphrec.training.index import load_index, search
from graphrec.training.train_data import Catalogue


@dataclass(frozen=True)
class LoadedArtifacts:
    version: str
    catalogue: Catalogue
    user_vectors: np.ndarray
    item_vectors: np.ndarray
    index: faiss.Index
    user_positions: dict[object, int]  # id -> row: a dict lookup per id is cheaper than pandas' for a request's
    item_positions: dict[object, int]  # few hundred ids
    policy: Policy = field(default_factory=GreedyPolicy)  # the version's RL policy when one is configured and trained
    folder: Path | None = None  # where the version's other policies' checkpoints are (policy_named)
    session_codes: int = SESSION_CODES
    _others: dict[str, Policy] = field(default_factory=dict, compare=False, repr=False)
    _similar: dict[int, list[object]] = field(default_factory=dict, compare=False, repr=False)
    _loading: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def policy_names(self) -> list[str]:
        """Every policy this version can rank with: greedy, the served one and each checkpoint it holds."""
        stored = sorted(path.stem for path in ArtifactVersion(self.folder).policies.glob("*.pt")) \
            if self.folder is not None else []
        return list(dict.fromkeys(["greedy", self.policy.name, *stored]))

    def policy_named(self, name: str) -> Policy:
        """The policy ``name`` of this version (loaded once, then kept); KeyError when the version has none."""
        if name == self.policy.name:
            return self.policy
        if name == "greedy":
            return GreedyPolicy()
        with self._loading:
            if name not in self._others:
                if name not in self.policy_names():
                    raise KeyError(name)
                assert self.folder is not None
                self._others[name] = load_policy_for_version(self.folder, name, self.session_codes)
            return self._others[name]

    def user_vector(self, user_id: object) -> np.ndarray | None:
        position = self.user_positions.get(user_id)
        return None if position is None else self.user_vectors[position]

    def neighbours(self, query: np.ndarray, k: int, banned: Set[object] = frozenset()) -> list[object]:
        """Up to ``k`` items nearest ``query`` in the FAISS index, best first, none of ``banned``."""
        _, rows = search(self.index, query[None, :], k + len(banned))
        found = (plain_id(self.catalogue.item_ids[row]) for row in rows[0] if row >= 0)
        return [item for item in found if item not in banned][:k]

    def similar_items(self, item_id: object, k: int) -> list[object]:
        """The ``k`` items nearest ``item_id``'s embedding in the index (none for an item without one), found
        once per item and version and then kept: what feedback on the item adds to the user's candidates."""
        row = self.item_positions.get(item_id)
        if row is None:
            return []
        found = self._similar.get(row)
        if found is None or len(found) < k:
            found = self.neighbours(self.item_vectors[row], k, banned={item_id})
            self._similar[row] = found
        return found[:k]

    def item_rows(self, item_ids: list[object]) -> np.ndarray:
        """Positions of the items in the embedding table; -1 for items the version does not know."""
        return np.array(list(map(self.item_positions.get, item_ids, repeat(-1, len(item_ids)))), dtype=np.int64)


def load_current(root: Path, policy: str = "greedy", session_codes: int = SESSION_CODES) -> LoadedArtifacts:
    """The published version under ``root``, verified; ArtifactError when none is published or it is damaged."""
    version = current_version(root)
    if version is None:
        raise ArtifactError(f"{root}: nothing is published; run `graphrec train`, `index` and `publish`")
    return load_version(ArtifactRoot(root).version(version), policy, session_codes)


def load_version(folder: Path, policy: str = "greedy", session_codes: int = SESSION_CODES) -> LoadedArtifacts:
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
        policy=load_policy_for_version(folder, policy, session_codes), folder=folder, session_codes=session_codes)
