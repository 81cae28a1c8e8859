"""Writing an upsert plan into Neo4j: staged in small transactions, then published in one.

One transaction per source keeps a source atomic, but a million relationships in one transaction cost Neo4j
far more to commit than the same rows committed 10,000 at a time (the commit sorts and applies the whole
transaction state at once). So the new users and items are created under staging labels (graph.labels.STAGED)
that no read query matches, and every interaction with such an endpoint is created in transactions of
``neo4j_batch_size`` rows: invisible while its endpoint is staged. One last transaction then relabels the staged
nodes and writes the rest (entities, knowledge-graph edges, interactions between stored nodes, metadata), so
the source appears whole at that commit or not at all. What a failed ingest staged (the server stopped, the
publish refused) is cleared by that ingest when it can, and by the next ingest before it starts; the ingest
lock keeps that next ingest from starting while one is still running.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import TYPE_CHECKING, Any

import neo4j
import pandas as pd

from graphrec.graph.labels import INGEST_LOCK, ITEM, STAGED, USER
from graphrec.graph.queries import query_text
from graphrec.graph.store import GraphError

if TYPE_CHECKING:
    from graphrec.graph.plan import UpsertPlan

DIALECT = "neo4j"
INGEST_LOCK_ID = "ingest"
# What a transaction that timed out waiting for a lock ends with, by server version.
LOCK_WAIT_ENDED = frozenset({"Neo.ClientError.Transaction.LockClientStopped",
                             "Neo.ClientError.Transaction.TransactionTimedOut",
                             "Neo.ClientError.Transaction.TransactionTimedOutClientConfiguration"})


class PlanWriter:
    """Writes one plan through ``driver`` into ``database``, ``batch_size`` rows per statement and transaction."""

    def __init__(self, driver: neo4j.Driver, database: str, batch_size: int, progress: Any, *,
                 lock_wait_s: float) -> None:
        self.driver, self.database, self.batch_size, self.progress = driver, database, batch_size, progress
        self.lock_wait_s = lock_wait_s
        self.token = secrets.token_hex(8)

    def write(self, plan: UpsertPlan) -> None:
        with self.session() as lock_session, lock_session.begin_transaction() as lock:
            self.take_lock(lock)
            self.clear_staging()  # what a failed ingest left
            try:
                fresh = fresh_interactions(plan)
                nodes = {USER: self.stage_nodes(USER, plan.users), ITEM: self.stage_nodes(ITEM, plan.items)}
                self.stage_interactions(plan.interactions[fresh], nodes)
                self.publish(plan, plan.interactions[~fresh], {label: len(refs) for label, refs in nodes.items()})
            except BaseException:
                with contextlib.suppress(Exception):  # a server that is down keeps it for the next ingest to clear
                    self.clear_staging()
                raise
            finally:
                with contextlib.suppress(Exception):
                    lock.rollback()

    def take_lock(self, lock: neo4j.Transaction) -> None:
        """Holds the ingest lock in ``lock``; fails when another ingest holds it past ``lock_wait_s``.

        A probe transaction with that timeout tries first (a timeout on ``lock`` would end it mid-ingest).
        """
        query = query_text(DIALECT, "take_ingest_lock", label=INGEST_LOCK)
        with self.session() as session, session.begin_transaction(timeout=self.lock_wait_s) as probe:
            try:
                probe.run(query, id=INGEST_LOCK_ID, token=self.token).consume()
            except neo4j.exceptions.ClientError as error:
                if error.code not in LOCK_WAIT_ENDED:
                    raise
                raise GraphError(f"another ingest into this graph held its lock for over {self.lock_wait_s:.0f} s; "
                                 "run this one when that ingest ends") from error
        lock.run(query, id=INGEST_LOCK_ID, token=self.token).consume()

    def session(self) -> neo4j.Session:
        return self.driver.session(database=self.database,
                                   bookmark_manager=self.driver.execute_query_bookmark_manager)

    def clear_staging(self) -> None:
        with self.session() as session:
            for staged in STAGED.values():
                session.run(query_text(DIALECT, "clear_staging", staged=staged)).consume()

    def stage_nodes(self, label: str, frame: pd.DataFrame) -> pd.Series:
        """The internal node id of each staged node, by its key."""
        query = query_text(DIALECT, "stage_nodes", staged=STAGED[label])
        records: list[neo4j.Record] = []
        titles = frame["title"] if "title" in frame else pd.Series([None] * len(frame), dtype=object)
        for start in range(0, len(frame), self.batch_size):
            batch = pd.DataFrame({"id": frame["id"].iloc[start:start + self.batch_size],
                                  "title": titles.iloc[start:start + self.batch_size]})
            records += self.driver.execute_query(
                query, parameters_={**columns(batch), "token": self.token}, database_=self.database,
                routing_=neo4j.RoutingControl.WRITE).records
            self.progress.update(len(batch))
        return node_series(records)

    def stored_refs(self, label: str, ids: pd.Series) -> pd.Series:
        query = query_text(DIALECT, "node_refs", label=label)
        records: list[neo4j.Record] = []
        for start in range(0, len(ids), self.batch_size * 10):
            records += self.driver.execute_query(
                query, ids=ids.iloc[start:start + self.batch_size * 10].tolist(), database_=self.database,
                routing_=neo4j.RoutingControl.READ).records
        return node_series(records)

    def stage_interactions(self, rows: pd.DataFrame, staged: dict[str, pd.Series]) -> None:
        """Creates ``rows`` (interactions with a staged endpoint) between the ``staged`` nodes and stored ones."""
        if rows.empty:
            return
        refs = {}
        for label, column in ((USER, "user_id"), (ITEM, "item_id")):
            stored = pd.Series(pd.unique(rows.loc[~rows[column].isin(staged[label].index), column]))
            refs[label] = pd.concat([staged[label], self.stored_refs(label, stored)])
        user_node, item_node = rows["user_id"].map(refs[USER]), rows["item_id"].map(refs[ITEM])
        if user_node.isna().any() or item_node.isna().any():
            raise GraphError("a user or item this ingest expected in the graph is gone (deleted by another writer); "
                             "nothing of the ingest was committed, run it again")
        rows = rows.assign(user_node=user_node.astype("int64"), item_node=item_node.astype("int64")).sort_values(
            ["user_node", "item_node"], kind="stable")  # a user's relationships in one transaction
        query = query_text(DIALECT, "stage_interactions")
        chunk = self.batch_size * 10  # rows per request: progress between requests, transactions of batch_size
        with self.session() as session:
            for start in range(0, len(rows), chunk):
                batch = rows.iloc[start:start + chunk]
                summary = session.run(query, {**columns(batch), "rows": self.batch_size}).consume()
                if summary.counters.relationships_created != len(batch):
                    raise GraphError(
                        f"{len(batch) - summary.counters.relationships_created} staged interactions found no "
                        "endpoint: another ingest cleared this one's staging; nothing of it was committed, run it "
                        "again")
                self.progress.update(len(batch))

    def publish(self, plan: UpsertPlan, stored_interactions: pd.DataFrame, staged: dict[str, int]) -> None:
        """Relabels the ``staged`` nodes (count per label) and writes the rest of ``plan``, with
        ``stored_interactions`` (those between stored nodes), in one transaction."""
        with self.session() as session, session.begin_transaction() as transaction:
            for label, expected in staged.items():
                if expected:
                    found = transaction.run(query_text(DIALECT, "publish_nodes", staged=STAGED[label], label=label),
                                            token=self.token).single(strict=True)["n"]
                    if found != expected:
                        raise GraphError(f"{expected - found} of this ingest's staged {label} nodes are gone "
                                         "(cleared by another ingest); nothing of it was committed, run it again")
            for name, frame, identifiers in publish_statements(plan, stored_interactions):
                query = query_text(DIALECT, name, **identifiers)
                for start in range(0, len(frame), self.batch_size):
                    batch = frame.iloc[start:start + self.batch_size]
                    transaction.run(query, columns(batch)).consume()
                    self.progress.update(len(batch))
            meta = query_text(DIALECT, "meta_set")
            for row in plan.meta_rows():
                transaction.run(meta, **row).consume()
            transaction.commit()


def fresh_interactions(plan: UpsertPlan) -> pd.Series:
    """Interactions with a user or item this ingest creates: staged, since no other writer can have linked that
    node yet, so CREATE needs no MERGE's relationship scan over dense nodes."""
    interactions = plan.interactions
    return interactions["user_id"].isin(plan.users["id"]) | interactions["item_id"].isin(plan.items["id"])


def publish_statements(plan: UpsertPlan,
                       stored_interactions: pd.DataFrame) -> list[tuple[str, pd.DataFrame, dict[str, str]]]:
    """The publishing transaction's statements in order: query name, rows, identifiers.

    Entities are created and knowledge-graph edges with a new endpoint too; relationships between nodes that
    existed are merged, since the feedback writer may add the same (user, item, behavior) at any time.
    """
    new_items = plan.items["id"]
    statements = [
        ("merge_items", plan.item_updates, {}),
        *(("create_nodes", ids, {"label": kind}) for kind, ids in plan.entities.items()),
        ("merge_interactions", pd.concat([stored_interactions, plan.interaction_updates], ignore_index=True), {}),
    ]
    for (relation, kind), edges in plan.triples.items():
        new_tails = plan.entities[kind]["id"] if kind in plan.entities else pd.Series([], dtype=object)
        fresh = (edges["head"].isin(new_items) | edges["tail"].isin(new_tails)).to_numpy()
        identifiers = {"relation": relation, "kind": kind}
        statements += [("create_triples", edges[fresh], identifiers), ("merge_triples", edges[~fresh], identifiers)]
    return [statement for statement in statements if len(statement[1])]


def node_series(records: list[neo4j.Record]) -> pd.Series:
    """Internal node ids by key, from (id, node) records."""
    return pd.Series([record["node"] for record in records], index=[record["id"] for record in records],
                     dtype="int64")


def columns(batch: pd.DataFrame) -> dict[str, list[Any]]:
    """One list per column, with None for missing values: a far smaller Bolt message than a map per row."""
    return {str(name): (values.tolist() if not values.isna().any()
                        else values.astype(object).where(values.notna(), None).tolist())
            for name, values in batch.items()}
