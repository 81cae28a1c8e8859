"""The embedded backend: LadybugDB (the maintained fork of Kùzu), in-process, one database directory.

Writes go through COPY from DataFrames inside one explicit transaction: the upsert plan only ever hands COPY
keys that are not stored yet (COPY of an existing key is an error, and a crash on older releases), changed
rows go through parameterised UNWIND ... SET, and a failure rolls everything back.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import ladybug
import pandas as pd

from graphrec.graph.ids import IdTypes
from graphrec.graph.labels import ITEM, USER
from graphrec.graph.queries import query_text
from graphrec.graph.store import GraphError, GraphStore, plain_params

if TYPE_CHECKING:
    from graphrec.graph.plan import UpsertPlan
    from graphrec.graph.settings import GraphSettings

LADYBUG_TYPES = {"int": "INT64", "str": "STRING"}
UPDATE_BATCH = 5_000


class LadybugStore(GraphStore):
    dialect = "ladybug"

    def __init__(self, settings: GraphSettings, *, read_only: bool = False) -> None:
        super().__init__(settings)
        path = settings.ladybug_path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # Committed writes stay in memory until a checkpoint folds the write-ahead log into the database:
            # writes checkpoint every ladybug_checkpoint_every_s, and LadybugDB itself once the log passes
            # ladybug_checkpoint_kb (its own default, 16 MB, holds hundreds of MB between checkpoints).
            self._db = ladybug.Database(str(path), buffer_pool_size=settings.ladybug_buffer_pool_mb * 1024**2,
                                        checkpoint_threshold=settings.ladybug_checkpoint_kb * 1024,
                                        read_only=read_only)
        except RuntimeError as error:
            raise GraphError(f"cannot open the LadybugDB database at {path}: {error} "
                             "(only one read-write process may hold it)") from error
        # One connection per thread: LadybugDB runs queries on different connections in parallel (the GIL is
        # released), while an explicit transaction belongs to one connection. Writers take the write lock
        # because the database admits one write transaction at a time. Thread pools retire idle threads and start
        # new ones, so the connections of threads that have ended are closed whenever a new one opens.
        self._local = threading.local()
        self._connections: dict[threading.Thread, ladybug.Connection] = {}
        self._connections_lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._checkpointed_at = time.monotonic()
        if not read_only:
            self._execute(query_text(self.dialect, "create_meta_table"))

    def _connection(self) -> ladybug.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            with self._connections_lock:
                for thread in [thread for thread in self._connections if not thread.is_alive()]:
                    self._connections.pop(thread).close()
                connection = ladybug.Connection(self._db)
                self._connections[threading.current_thread()] = connection
            self._local.connection = connection
        return connection

    @property
    def open_connections(self) -> int:
        with self._connections_lock:
            return len(self._connections)

    def _result(self, text: str, params: dict[str, Any] | None = None) -> Any:
        result = self._connection().execute(text, params or {})
        return result[-1] if isinstance(result, list) else result  # several statements: the last one answers

    def _execute(self, text: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return self._result(text, params).get_as_df()

    def run(self, name: str, params: dict[str, Any] | None = None, *, write: bool = False,
            **identifiers: str) -> pd.DataFrame:
        text = query_text(self.dialect, name, **identifiers)
        if not write:
            return self._execute(text, plain_params(params))
        with self._write_lock:
            answer = self._execute(text, plain_params(params))
            self._checkpoint_if_due()
            return answer

    def _checkpoint_if_due(self) -> None:
        """Checkpoint after a write once the last checkpoint is older than ladybug_checkpoint_every_s. Only
        run(write=True) calls it, which no explicit transaction uses (an ingest's steps run as plain run calls and
        its commit checkpoints by the log's size)."""
        if time.monotonic() - self._checkpointed_at < self.settings.ladybug_checkpoint_every_s:
            return
        self._execute("CHECKPOINT")
        self._checkpointed_at = time.monotonic()

    def rows(self, name: str, params: dict[str, Any] | None = None, **identifiers: str) -> list[dict[str, Any]]:
        result = self._result(query_text(self.dialect, name, **identifiers), plain_params(params))
        names = result.get_column_names()
        return [dict(zip(names, row, strict=True)) for row in result.get_all()]

    def ensure_schema(self, id_types: IdTypes, kg_pairs: list[tuple[str, str]]) -> None:
        self.run("create_user_table", id_type=LADYBUG_TYPES[id_types.user])
        self.run("create_item_table", id_type=LADYBUG_TYPES[id_types.item])
        self.run("create_interacted_table")
        for relation, kind in kg_pairs:
            self.run("create_entity_table", kind=kind)
            self.run("create_relation_table", relation=relation, kind=kind)
            self.run("add_relation_pair", relation=relation, kind=kind)

    def write(self, plan: UpsertPlan, progress: Any) -> None:
        steps: list[tuple[str, dict[str, Any], dict[str, str], int]] = []

        def copy(name: str, frame: pd.DataFrame, **identifiers: str) -> None:
            if len(frame):
                steps.append((name, {"frame": _objects(frame)}, identifiers, len(frame)))

        copy("copy_nodes", plan.users, label=USER)
        copy("copy_nodes", plan.items, label=ITEM)
        for kind, ids in plan.entities.items():
            copy("copy_nodes", ids, label=kind)
        copy("copy_interactions", plan.interactions)
        for (relation, kind), edges in plan.triples.items():
            copy("copy_triples", edges, relation=relation, kind=kind)
        for name, frame in (("update_items", plan.item_updates), ("update_interactions", plan.interaction_updates)):
            for start in range(0, len(frame), UPDATE_BATCH):
                batch = frame.iloc[start:start + UPDATE_BATCH]
                rows = batch.astype(object).where(batch.notna(), None).to_dict("records")
                steps.append((name, {"rows": rows}, {}, len(batch)))

        with self._write_lock:
            self._execute("BEGIN TRANSACTION")
            try:
                # The tables inside the transaction too: a failed ingest leaves no empty table behind.
                self.ensure_schema(plan.id_types, plan.kg_pairs)
                self._refuse_stored_nodes(plan)
                for name, params, identifiers, size in steps:
                    self.run(name, params, **identifiers)
                    progress.update(size)
                for row in plan.meta_rows():
                    self.run("meta_set", row)
                self._execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    def _refuse_stored_nodes(self, plan: UpsertPlan) -> None:
        """Refuse a plan whose new nodes another writer (the feedback writer) added since it was made.

        Every write of this store holds the write lock, so the check cannot go stale before the COPY. It runs
        before the COPY because a COPY that meets a stored key and is rolled back leaves that key missing from
        LadybugDB's primary-key index (the node stays, lookups by id no longer find it).
        """
        for label, frame in ((USER, plan.users), (ITEM, plan.items), *plan.entities.items()):
            if len(frame):
                stored = self.run("existing_ids", {"ids": frame["id"].tolist()}, label=label)["id"].tolist()
                if stored:
                    raise GraphError(f"another writer added {label} {stored} while this ingest was planned; "
                                     "nothing of the ingest was written, run it again")

    def _rollback(self) -> None:
        # A failed COPY ends the transaction itself (rolled back whole); anything else leaves it open.
        try:
            self._execute("ROLLBACK")
        except RuntimeError as error:
            if "No active transaction" not in str(error):
                raise

    def close(self) -> None:
        with self._write_lock, self._connections_lock:
            for connection in self._connections.values():
                connection.close()
            self._connections.clear()
            self._db.close()


def _objects(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as plain Python objects: LadybugDB's COPY does not read pandas' string dtype."""
    out = frame.reset_index(drop=True).copy()
    for column in out.columns:
        if not pd.api.types.is_numeric_dtype(out[column].dtype):
            out[column] = out[column].astype(object)
    return out
