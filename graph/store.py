"""The graph store interface: named Cypher queries plus the operations built on them.

Backends (LadybugDB embedded, Neo4j) implement only query execution, schema creation and the bulk write of an
upsert plan; candidates, explanations, stats and export are written once here on top of the named queries.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from graphrec.graph import behaviours
from graphrec.graph.graph_errors import CandidateSource as CandidateSource
from graphrec.graph.graph_errors import GraphError as GraphError
from graphrec.graph.graph_errors import GraphUnavailable as GraphUnavailable
from graphrec.graph.ids import IdTypes, Which, coerce_id, plain_id
from graphrec.graph.labels import ITEM, STAGED_IDENTIFIERS, USER
from graphrec.graph.plan import UpsertPlan

if TYPE_CHECKING:
    from graphrec.graph.settings import GraphSettings

def plain_params(params: dict[str, Any] | None) -> dict[str, Any]:
    """Parameters with NumPy scalars turned into Python ones: neither driver accepts NumPy types."""
    return {key: plain_id(value) for key, value in (params or {}).items()}


class GraphStore(ABC):
    dialect: str

    def __init__(self, settings: GraphSettings) -> None:
        self.settings = settings

    # -- what a backend provides -------------------------------------------------------------------------
    @abstractmethod
    def run(self, name: str, params: dict[str, Any] | None = None, *, write: bool = False,
            **identifiers: str) -> pd.DataFrame:
        """Run the named query from cypher/ and return its rows as a DataFrame."""

    @abstractmethod
    def rows(self, name: str, params: dict[str, Any] | None = None, **identifiers: str) -> list[dict[str, Any]]:
        """Run the named read query and return its rows as dicts: a request's few rows without the cost of a
        DataFrame."""

    @abstractmethod
    def ensure_schema(self, id_types: IdTypes, kg_pairs: list[tuple[str, str]]) -> None:
        """Create (idempotently) what the graph needs to hold users, items, these entity kinds and relations."""

    @abstractmethod
    def write(self, plan: UpsertPlan, progress: Any) -> None:
        """Create what the plan needs (ensure_schema) and write it; on any failure nothing of it stays written."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- metadata ------------------------------------------------------------------------------------------
    def meta(self) -> dict[str, str]:
        rows = self.run("meta_get")
        return dict(zip(rows["key"], rows["value"], strict=True)) if len(rows) else {}

    def id_types(self) -> IdTypes | None:
        meta = self.meta()
        if "user_id_type" not in meta:
            return None
        return IdTypes(user=meta["user_id_type"], item=meta["item_id_type"])  # type: ignore[arg-type]

    def kg_pairs(self) -> list[tuple[str, str]]:
        """(relation, entity kind) pairs present in the graph."""
        return [tuple(pair) for pair in json.loads(self.meta().get("kg_pairs", "[]"))]  # type: ignore[misc]

    def coerce_id(self, raw: str | int, which: Which) -> int | str:
        """A user or item id typed as the graph stores it (the command line hands ids over as text)."""
        types = self.id_types()
        if types is None:
            raise GraphError("the graph is empty: ingest a dataset first")
        try:
            return coerce_id(raw, types.of(which), which)
        except ValueError as error:
            raise GraphError(str(error)) from None

    # -- reads ---------------------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        if self.id_types() is None:
            return {"users": 0, "items": 0, "interactions": 0, "events": 0, "entities": {}, "relations": {}}
        counts = self.run("count_interactions").iloc[0]
        kinds = {kind for _, kind in self.kg_pairs()}
        entity_rows = self.run("stats_entities")
        relation_rows = self.run("stats_relations", **STAGED_IDENTIFIERS)
        return {
            "users": int(self.run("count_nodes", label=USER)["n"].iloc[0]),
            "items": int(self.run("count_nodes", label=ITEM)["n"].iloc[0]),
            "interactions": int(counts["interactions"]),
            "events": int(counts["events"]),
            "entities": {str(k): int(n) for k, n in zip(entity_rows["kind"], entity_rows["n"], strict=True)
                         if k in kinds},
            "relations": {str(t): int(n) for t, n in zip(relation_rows["type"], relation_rows["n"], strict=True)},
        }

    def candidates(self, user_id: int | str, *, source: CandidateSource = "kg", hops: int = 1,
                   limit: int = 100) -> pd.DataFrame:
        """Candidate items for a user with the number of graph paths reaching each; seen items excluded."""
        s = self.settings
        params: dict[str, Any] = {"user_id": user_id, "limit": limit, "max_seeds": s.candidate_max_seeds,
                                  **behaviours.query_params()}
        if source == "kg":
            if hops not in (1, 2):
                raise ValueError("hops must be 1 or 2 (entity hops between items)")
            params["max_entities"] = s.candidate_max_entities
            if hops == 2:
                params["max_frontier"] = s.candidate_max_frontier
            found = self.run(f"kg_candidates_{hops}", params)
        elif source == "collab":
            params.update(max_neighbours=s.candidate_max_neighbours, max_rows=s.candidate_max_rows)
            found = self.run("collab_candidates", params)
        else:
            raise ValueError(f"unknown candidate source {source!r}")
        return found.astype({"paths": np.int64})

    def popular(self, limit: int = 100) -> pd.DataFrame:
        return self.run("popular_items", {"limit": limit}) if self.id_types() else pd.DataFrame(
            columns=["item_id", "interactions"])

    def history(self, user_id: int | str, limit: int = 100) -> pd.DataFrame:
        return self.run("user_history", {"user_id": user_id, "limit": limit})

    def search_users(self, prefix: str, limit: int = 10) -> list[Any]:
        """Ids of users whose id, as text, starts with ``prefix``, shortest first."""
        if self.id_types() is None:
            return []
        return self.run("search_users", {"prefix": prefix, "limit": limit})["user_id"].tolist()

    def search_items(self, text: str, limit: int = 10) -> pd.DataFrame:
        """(item_id, title, interactions) of items whose title contains ``text`` in any case, most
        interacted-with first."""
        if self.id_types() is None:
            return pd.DataFrame(columns=["item_id", "title", "interactions"])
        return self.run("search_items", {"text": text, "limit": limit})

    def item(self, item_id: int | str) -> dict[str, Any] | None:
        rows = self.run("item", {"item_id": item_id})
        return rows.iloc[0].to_dict() if len(rows) else None

    # -- export --------------------------------------------------------------------------------------------
    def iter_interactions(self, users_per_page: int = 2_000) -> Iterator[pd.DataFrame]:
        """User-item edges, a page of users at a time, so memory stays bounded on large graphs."""
        if self.id_types() is None:
            return
        user_ids = self.run("user_ids")["id"].tolist()
        for start in range(0, len(user_ids), users_per_page):
            page = self.interaction_page(user_ids[start:start + users_per_page])
            if len(page):
                yield page

    def interaction_page(self, user_ids: list[Any]) -> pd.DataFrame:
        """The interactions of ``user_ids``, a row per user-item edge."""
        return self.run("export_interactions", {"user_ids": user_ids})

    def interactions(self) -> pd.DataFrame:
        pages = list(self.iter_interactions())
        if not pages:
            return pd.DataFrame({c: pd.Series(dtype=t) for c, t in (
                ("user_id", object), ("item_id", object), ("rating", np.float64), ("behavior", object),
                ("count", np.int64), ("last_ts", np.int64))})
        frame = pd.concat(pages, ignore_index=True)
        frame["rating"] = frame["rating"].astype(np.float64)
        return frame

    def triples(self) -> pd.DataFrame:
        """Item-entity edges as (head, relation, tail, tail_kind)."""
        parts = [self.run("export_triples", relation=relation, kind=kind).assign(relation=relation, tail_kind=kind)
                 for relation, kind in self.kg_pairs()]
        if not parts:
            return pd.DataFrame(columns=["head", "relation", "tail", "tail_kind"])
        return pd.concat(parts, ignore_index=True)[["head", "relation", "tail", "tail_kind"]]

    def items(self) -> pd.DataFrame:
        return self.run("item_titles") if self.id_types() else pd.DataFrame(columns=["id", "title"])
