"""The graph layer's section of the settings: which backend, how to reach it, and the caps of one candidate query.

graphrec.settings reads it from the environment (GRAPHREC_<FIELD>; the Neo4j fields also as NEO4J_<FIELD>) with the
other layers' sections; the graph layer reads this type and no other settings class."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class GraphSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    graph_backend: Literal["ladybug", "neo4j"] = Field(default="ladybug", description=(
        "The graph database: embedded LadybugDB (no server) or a Neo4j server at neo4j_uri."))
    ladybug_path: Path = Field(default=Path("var/graph.lbdb"), description="The embedded database's folder.",
                               json_schema_extra={"shown_default": "<data_dir>/graph.lbdb"})
    ladybug_buffer_pool_mb: int = Field(default=1024, ge=64, description=(
        "LadybugDB's buffer pool. Its own default is 80% of the machine's memory; a fixed size keeps a laptop "
        "usable."))
    ladybug_checkpoint_kb: int = Field(default=1024, ge=64, description=(
        "Write-ahead log size at which a commit checkpoints (folds the log into the database files), whatever "
        "the time: a bound for bursts of writes. Committed writes hold memory until the next checkpoint."))
    ladybug_checkpoint_every_s: float = Field(default=10.0, ge=0, description=(
        "A write checkpoints when the last checkpoint is older than this. A checkpoint rewrites the interaction "
        "table and holds back new queries while it runs, at a cost that hardly depends on how much log it "
        "folds, so a stream of feedback pays one every this many seconds rather than one per batch."))
    neo4j_uri: str | None = Field(default=None, description="The Neo4j server, e.g. bolt://localhost:7687.")
    neo4j_user: str = Field(default="neo4j", description="The Neo4j user.")
    neo4j_password: SecretStr = Field(default=SecretStr("neo4j"), description="The Neo4j user's password.")
    neo4j_database: str = Field(default="neo4j", description="The Neo4j database.")
    neo4j_batch_size: int = Field(default=10_000, ge=1, description=(
        "Rows per UNWIND statement and per staging transaction when an ingest writes to Neo4j."))
    neo4j_connect_timeout_s: float = Field(default=1.0, gt=0, description=(
        "Opening one Bolt connection. About a second, so that a service whose graph is down answers from FAISS "
        "at once instead of holding its threads through the driver's retries."))
    neo4j_acquire_timeout_s: float = Field(default=1.0, gt=0, description="Waiting for a pooled connection.")
    neo4j_retry_s: float = Field(default=1.0, ge=0, description="Retrying a query after a transient failure.")
    neo4j_query_timeout_s: float = Field(default=10.0, gt=0, description=(
        "Server-side limit of one read or write query (an ingest's statements have none), and how long an ingest "
        "waits for another one's lock."))
    neo4j_pool_size: int = Field(default=32, ge=1, description="Bolt connections one process keeps at most.")
    candidate_max_seeds: int = Field(default=20, ge=1, description=(
        "Most recent positive items a candidate query starts from."))
    candidate_max_entities: int = Field(default=50, ge=1, description="Entities kept per KG hop, most shared first.")
    candidate_max_frontier: int = Field(default=200, ge=1, description="Intermediate items kept in a 2-hop expansion.")
    candidate_max_neighbours: int = Field(default=50, ge=1, description="Co-users kept by overlap.")
    candidate_max_rows: int = Field(default=20_000, ge=1, description="Rows one collaborative expansion may touch.")
