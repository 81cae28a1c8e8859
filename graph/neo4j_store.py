"""The production backend: Neo4j 5 through the official driver (with neo4j-rust-ext when installed).

Every call names the database and goes through the driver's bookmark manager, so a read sees every write this
process committed before it, on a single server or a cluster. Reads are routed as reads. Connection,
acquisition and retry budgets are about a second and every query has a server-side timeout, so a graph that is
down shows as GraphUnavailable quickly instead of blocking callers.

An ingest is atomic per source (graph.neo4j_ingest): staged in small transactions under labels no query matches,
then published in one, so a failure in the middle (a bad batch, the server stopped, another writer racing it)
leaves nothing of the source visible and a re-run starts from the same graph.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import neo4j
import pandas as pd
from neo4j.exceptions import AuthError, ConstraintError, DriverError, ServiceUnavailable, SessionExpired, TransientError

from graphrec.graph.ids import IdTypes
from graphrec.graph.labels import INGEST_LOCK, ITEM, META, STAGED, USER, constraint_name
from graphrec.graph.neo4j_ingest import INGEST_LOCK_ID, PlanWriter
from graphrec.graph.queries import query_text
from graphrec.graph.store import GraphError, GraphStore, GraphUnavailable, plain_params

T = TypeVar("T")

if TYPE_CHECKING:
    from graphrec.graph.plan import UpsertPlan
    from graphrec.graph.settings import GraphSettings

# Failures that mean "the graph is down for now", not "this query is wrong".
DOWN = (ServiceUnavailable, SessionExpired, TransientError, DriverError, OSError)


class Neo4jStore(GraphStore):
    dialect = "neo4j"

    def __init__(self, settings: GraphSettings) -> None:
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
        return self._query(name, params, write, identifiers, neo4j.Result.to_df)

    def rows(self, name: str, params: dict[str, Any] | None = None, **identifiers: str) -> list[dict[str, Any]]:
        return self._query(name, params, False, identifiers, neo4j.Result.data)

    def _query(self, name: str, params: dict[str, Any] | None, write: bool, identifiers: dict[str, str],
               transform: Callable[[neo4j.Result], T]) -> T:
        query = neo4j.Query(query_text(self.dialect, name, **identifiers),  # type: ignore[arg-type]
                            timeout=self.settings.neo4j_query_timeout_s)
        try:
            if write:  # retried by the driver within neo4j_retry_s
                return self._driver.execute_query(
                    query, parameters_=plain_params(params), database_=self._database,
                    routing_=neo4j.RoutingControl.WRITE, result_transformer_=transform)
            # Reads are tried once: the callers (a request, with its fallbacks) fail fast, and the service's
            # guard (serving.resilience.guard) retries in the background instead of every request waiting on a retry.
            with self._driver.session(database=self._database, default_access_mode=neo4j.READ_ACCESS,
                                      bookmark_manager=self._driver.execute_query_bookmark_manager) as session:
                return transform(session.run(query, plain_params(params)))
        except DOWN as error:
            raise GraphUnavailable(f"Neo4j unavailable during {name}: {error}") from error
        except AuthError as error:
            raise GraphError(f"Neo4j at {self.settings.neo4j_uri} refused user {self.settings.neo4j_user!r}: "
                             f"{error.message}") from error

    def ensure_schema(self, id_types: IdTypes, kg_pairs: list[tuple[str, str]]) -> None:
        if reserved := sorted({kind for _, kind in kg_pairs} & set(STAGED.values())):
            raise GraphError(f"entity kind {reserved[0]!r} is a label the Neo4j ingest reserves for staging; "
                             "rename that kind in the triples")
        self.run("create_constraint", write=True, label=META, key="key", constraint=constraint_name(META, "key"))
        for label in (USER, ITEM, *STAGED.values(), INGEST_LOCK, *sorted({kind for _, kind in kg_pairs})):
            self.run("create_constraint", write=True, label=label, key="id", constraint=constraint_name(label))
        self.run("ingest_lock_node", {"id": INGEST_LOCK_ID}, write=True, label=INGEST_LOCK)

    def write(self, plan: UpsertPlan, progress: Any) -> None:
        # Neo4j takes no schema change in a transaction that writes data: the constraints come first (they hold
        # nothing, so a failed ingest leaves nothing visible).
        self.ensure_schema(plan.id_types, plan.kg_pairs)
        try:
            PlanWriter(self._driver, self._database, self.settings.neo4j_batch_size, progress,
                       lock_wait_s=self.settings.neo4j_query_timeout_s).write(plan)
        except ConstraintError as error:
            raise GraphError("another writer added a node of this ingest while it ran; nothing of the ingest was "
                             f"committed, run it again: {error.message}") from error
        except DOWN as error:
            raise GraphUnavailable(f"Neo4j unavailable during the ingest, nothing of it was committed: {error}") \
                from error

    def interaction_page(self, user_ids: list[Any]) -> pd.DataFrame:
        # One record of column lists: a few large lists decode far faster than a record per relationship.
        record = self.run("export_interaction_columns", {"user_ids": user_ids})
        return pd.DataFrame({name: record[name].iloc[0] for name in record.columns})

    def close(self) -> None:
        self._driver.close()
