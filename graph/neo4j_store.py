"""The production backend: Neo4j 5 through the official driver (with neo4j-rust-ext when installed).

Every call names the database; reads are routed as reads so a cluster can serve them from followers. Writes
are UNWIND batches that MERGE behind uniqueness constraints: idempotent, and safe to re-run after a failure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import neo4j
import pandas as pd
from neo4j.exceptions import Neo4jError, ServiceUnavailable

from graph.model import ITEM, META, USER, constraint_name
from graph.queries import query_text
from graph.store import GraphError, GraphStore, IdTypes, plain_params

if TYPE_CHECKING:
    from graph.upsert import UpsertPlan
    from graphrec.settings import Settings


class Neo4jStore(GraphStore):
    dialect = "neo4j"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        if not settings.neo4j_uri:
            raise GraphError("the neo4j backend needs NEO4J_URI (for example bolt://localhost:7687)")
        self._database = settings.neo4j_database
        self._driver = neo4j.GraphDatabase.driver(
            settings.neo4j_uri, auth=(settings.neo4j_user, settings.neo4j_password.get_secret_value()))
        try:
            self._driver.verify_connectivity()
        except (ServiceUnavailable, Neo4jError, OSError) as error:
            self._driver.close()
            raise GraphError(f"cannot reach Neo4j at {settings.neo4j_uri}: {error}") from error
        self.run("create_constraint", write=True, label=META, constraint=constraint_name(META))

    def run(self, name: str, params: dict[str, Any] | None = None, *, write: bool = False,
            **identifiers: str) -> pd.DataFrame:
        routing = neo4j.RoutingControl.WRITE if write else neo4j.RoutingControl.READ
        return self._driver.execute_query(
            query_text(self.dialect, name, **identifiers), parameters_=plain_params(params), database_=self._database,
            routing_=routing, result_transformer_=neo4j.Result.to_df)

    def ensure_schema(self, id_types: IdTypes, kg_pairs: list[tuple[str, str]]) -> None:
        for label in (USER, ITEM, *sorted({kind for _, kind in kg_pairs})):
            self.run("create_constraint", write=True, label=label, constraint=constraint_name(label))

    def write(self, plan: UpsertPlan, progress: Any) -> None:
        # Nodes before the relationships that MATCH them; each batch is its own transaction, and MERGE makes
        # a re-run after a failure complete the work without duplicating anything.
        batches: list[tuple[str, pd.DataFrame, dict[str, str]]] = [
            ("merge_nodes", plan.users, {"label": USER}),
            ("merge_items", pd.concat([plan.items, plan.item_updates], ignore_index=True), {}),
            *(("merge_nodes", ids, {"label": kind}) for kind, ids in plan.entities.items()),
            ("merge_interactions", pd.concat([plan.interactions, plan.interaction_updates], ignore_index=True), {}),
            *(("merge_triples", edges, {"relation": r, "kind": k}) for (r, k), edges in plan.triples.items()),
        ]
        size = self.settings.neo4j_batch_size
        for name, frame, identifiers in batches:
            for start in range(0, len(frame), size):
                batch = frame.iloc[start:start + size]
                rows = batch.astype(object).where(batch.notna(), None).to_dict("records")
                self.run(name, {"rows": rows}, write=True, **identifiers)
                progress.update(len(batch))
        for row in plan.meta_rows():
            self.run("meta_set", row, write=True)

    def close(self) -> None:
        self._driver.close()
