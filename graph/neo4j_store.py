"""The production backend: Neo4j 5 through the official driver (with neo4j-rust-ext when installed).

Every call names the database and goes through the driver's bookmark manager, so a read sees every write this
process committed before it, on a single server or a cluster. Reads are routed as reads. Connection,
acquisition and retry budgets are about a second and every query has a server-side timeout, so a graph that is
down shows as GraphUnavailable quickly instead of blocking callers.

An ingest is one transaction per source: UNWIND batches of column lists behind uniqueness constraints, creating
what the upsert plan found new and merging the rest, committed together, so a failure in the middle (a bad
batch, the server stopped, another writer racing it) leaves nothing of the source visible and a re-run starts
from the same graph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import neo4j
import pandas as pd
from neo4j.exceptions import AuthError, ConstraintError, DriverError, ServiceUnavailable, SessionExpired, TransientError

from graph.model import ITEM, META, USER, constraint_name
from graph.queries import query_text
from graph.store import GraphError, GraphStore, GraphUnavailable, IdTypes, plain_params

if TYPE_CHECKING:
    from graph.upsert import UpsertPlan
    from graphrec.settings import Settings

# Failures that mean "the graph is down for now", not "this query is wrong".
DOWN = (ServiceUnavailable, SessionExpired, TransientError, DriverError, OSError)


class Neo4jStore(GraphStore):
    dialect = "neo4j"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        if not settings.neo4j_uri:
            raise GraphError("the neo4j backend needs NEO4J_URI (for example bolt://localhost:7687)")
        self._database = settings.neo4j_database
        self._driver = neo4j.GraphDatabase.driver(
            settings.neo4j_uri, auth=(settings.neo4j_user, settings.neo4j_password.get_secret_value()),
            connection_timeout=settings.neo4j_connect_timeout_s,
            connection_acquisition_timeout=settings.neo4j_acquire_timeout_s,
            max_transaction_retry_time=settings.neo4j_retry_s, max_connection_pool_size=settings.neo4j_pool_size,
            liveness_check_timeout=30.0,
            # Queries over a graph that lacks a property or label yet (an empty graph) are valid here: no warnings.
            notifications_min_severity="OFF")
        # No connection is made here: the driver connects on the first query, so a store opened while the server
        # is down (a service starting before its graph) works as soon as the server answers.

    def run(self, name: str, params: dict[str, Any] | None = None, *, write: bool = False,
            **identifiers: str) -> pd.DataFrame:
        query = neo4j.Query(query_text(self.dialect, name, **identifiers),  # type: ignore[arg-type]
                            timeout=self.settings.neo4j_query_timeout_s)
        try:
            if write:  # retried by the driver within neo4j_retry_s
                return self._driver.execute_query(
                    query, parameters_=plain_params(params), database_=self._database,
                    routing_=neo4j.RoutingControl.WRITE, result_transformer_=neo4j.Result.to_df)
            # Reads are tried once: the callers (a request, with its fallbacks) fail fast, and the service's
            # guard (serving.guard) retries in the background instead of every request waiting on a retry.
            with self._driver.session(database=self._database, default_access_mode=neo4j.READ_ACCESS,
                                      bookmark_manager=self._driver.execute_query_bookmark_manager) as session:
                return session.run(query, plain_params(params)).to_df()
        except DOWN as error:
            raise GraphUnavailable(f"Neo4j unavailable during {name}: {error}") from error
        except AuthError as error:
            raise GraphError(f"Neo4j at {self.settings.neo4j_uri} refused user {self.settings.neo4j_user!r}: "
                             f"{error.message}") from error

    def ensure_schema(self, id_types: IdTypes, kg_pairs: list[tuple[str, str]]) -> None:
        self.run("create_constraint", write=True, label=META, key="key", constraint=constraint_name(META, "key"))
        for label in (USER, ITEM, *sorted({kind for _, kind in kg_pairs})):
            self.run("create_constraint", write=True, label=label, key="id", constraint=constraint_name(label))

    def write(self, plan: UpsertPlan, progress: Any) -> None:
        # Nodes before the relationships that MATCH them, all in one transaction: it commits whole or not at all.
        size = self.settings.neo4j_batch_size
        try:
            with self._driver.session(database=self._database,
                                      bookmark_manager=self._driver.execute_query_bookmark_manager) as session, \
                    session.begin_transaction() as transaction:
                for name, frame, identifiers in write_statements(plan):
                    query = query_text(self.dialect, name, **identifiers)
                    for start in range(0, len(frame), size):
                        batch = frame.iloc[start:start + size]
                        transaction.run(query, columns(batch)).consume()
                        progress.update(len(batch))
                meta = query_text(self.dialect, "meta_set")
                for row in plan.meta_rows():
                    transaction.run(meta, **row).consume()
                transaction.commit()
        except ConstraintError as error:
            raise GraphError("another writer added a node of this ingest while it ran; nothing of the ingest was "
                             f"committed, run it again: {error.message}") from error
        except DOWN as error:
            raise GraphUnavailable(f"Neo4j unavailable during the ingest, nothing of it was committed: {error}") \
                from error

    def close(self) -> None:
        self._driver.close()


def write_statements(plan: UpsertPlan) -> list[tuple[str, pd.DataFrame, dict[str, str]]]:
    """The statements of an ingest in order: query name, rows, identifiers.

    Nodes the plan found absent are created, and so is every relationship with such an endpoint: that node is
    locked by this transaction until it commits, so no other writer can have linked it, and CREATE skips the
    relationship scan a MERGE does on dense nodes. Relationships between nodes that existed are merged.
    """
    new_items = plan.items["id"]
    new_users = plan.users["id"]
    interactions = plan.interactions
    fresh = (interactions["user_id"].isin(new_users) | interactions["item_id"].isin(new_items)).to_numpy()
    statements = [
        ("create_nodes", plan.users, {"label": USER}),
        ("create_items", plan.items, {}),
        ("merge_items", plan.item_updates, {}),
        *(("create_nodes", ids, {"label": kind}) for kind, ids in plan.entities.items()),
        ("create_interactions", interactions[fresh], {}),
        ("merge_interactions", pd.concat([interactions[~fresh], plan.interaction_updates], ignore_index=True), {}),
    ]
    for (relation, kind), edges in plan.triples.items():
        new_tails = plan.entities[kind]["id"] if kind in plan.entities else pd.Series([], dtype=object)
        fresh = (edges["head"].isin(new_items) | edges["tail"].isin(new_tails)).to_numpy()
        identifiers = {"relation": relation, "kind": kind}
        statements += [("create_triples", edges[fresh], identifiers), ("merge_triples", edges[~fresh], identifiers)]
    return [statement for statement in statements if len(statement[1])]


def columns(batch: pd.DataFrame) -> dict[str, list[Any]]:
    """One list per column, with None for missing values: a far smaller Bolt message than a map per row."""
    return {str(name): (values.tolist() if not values.isna().any()
                        else values.astype(object).where(values.notna(), None).tolist())
            for name, values in batch.items()}
