"""The serving layer's sections of the settings, and the part of the settings the service reads.

ServingSettings holds what the request path, Redis, the API and the process need; serving.access.keys.KeySettings the
client keys; ServiceSettings puts them beside the data folder and the graph's and training's sections. The
composition root (graphrec.settings.Settings, a ServiceSettings) reads every section from the environment once and
hands it down; the service's modules read this type and no other settings class."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from graphrec.graph.settings import GraphSettings
from graphrec.serving.access.keys import KeySettings
from graphrec.training.names import ServedPolicy
from graphrec.training.settings import TrainingSettings


class ServingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    history_limit: int = Field(default=1_000, ge=1, description=(
        "Most recent interactions read per request and kept in a user's session state (its seen items, which "
        "bound the FAISS neighbours asked for)."))
    session_recent: int = Field(default=20, ge=1, description="Recent positive items that make up the session state.")
    candidate_kg_limit: int = Field(default=200, ge=1, description=(
        "Most KG candidates one request takes from the graph."))
    candidate_faiss_k: int = Field(default=100, ge=1, description=(
        "FAISS neighbours of the user's embedding per request."))
    candidate_collab: bool = Field(default=False, description=(
        "Also ask the graph for collaborative candidates (co-users' items). Off: they are the costliest query of "
        "a request on a large graph, and the FAISS neighbours carry the collaborative signal."))
    policy: ServedPolicy = Field(default=ServedPolicy.auto, description=ServedPolicy.__doc__)
    policy_session_codes: int = Field(default=10_000, ge=0, description=(
        "Sessions whose state-network code an RL policy keeps in memory (a session asking again before its "
        "history changes skips the state network)."))
    redis_url: str | None = Field(default=None, description=(
        "Redis for sessions, caches and the feedback stream (also read as REDIS_URL). Unset: an embedded Redis "
        "server under <data_dir>/redis, started by the service."))
    redis_timeout_s: float = Field(default=0.25, gt=0, description="Socket timeout of one Redis call.")
    dependency_retry_s: float = Field(default=1.0, gt=0, description=(
        "After a failure of Redis or the graph, how long requests skip it before one background trial tests it."))
    session_ttl_s: int = Field(default=86_400, ge=1, description="Lifetime of a session or user state in Redis.")
    event_id_ttl_s: int = Field(default=3_600, ge=1, description=(
        "How long a feedback event_id is remembered: a retry with the same id within it is answered as a duplicate "
        "and not counted again. Each remembered id holds a few hundred bytes of Redis that is never evicted "
        "(README: Redis memory)."))
    candidate_cache_ttl_s: int = Field(default=3_600, ge=1, description="Lifetime of a cached candidate set.")
    degraded_cache_ttl_s: int = Field(default=10, ge=1, description=(
        "Lifetime of a cached candidate set built while the graph was down or slow (no KG candidates): answers "
        "from it say `graph` in their degraded list, and it is rebuilt this soon after the graph returns."))
    title_cache_items: int = Field(default=100_000, ge=0, description="Item titles the process keeps in memory.")
    fallback_cache_users: int = Field(default=20_000, ge=0, description=(
        "Users whose state and candidates the process keeps in memory to serve from while Redis is down."))
    graph_request_deadline_s: float | None = Field(default=None, ge=0, description=(
        "Longest a recommendation waits on the graph, all its graph calls together, before it falls back to FAISS "
        "candidates; unset: 3 x the p99 graph time of a request as measured at the end of the cache warming, "
        "within 0.1-1 s; 0: no limit. A slow graph holds at most graph_request_workers threads."))
    graph_request_workers: int = Field(default=4, ge=1, description=(
        "Threads that run the graph calls of recommendations (unless graph_request_deadline_s is 0)."))
    warm_users: int = Field(default=100_000, ge=0, description=(
        "Most recently active users whose candidates the service computes into the cache at start (0: none)."))
    ready_warm_share: float = Field(default=1.0, ge=0, le=1, description=(
        "Share of those users whose candidates are cached before /readyz answers 200 (0: ready at once)."))
    redis_namespace: str = Field(default="graphrec", pattern=r"^[A-Za-z0-9_.-]+$", description=(
        "Prefix of every Redis key."))
    feedback_stream_maxlen: int = Field(default=2_000_000, ge=1_000, description=(
        "Approximate cap of the feedback event log; its entries are never evicted (README: Redis memory)."))
    feedback_to_graph: bool = Field(default=True, description=(
        "Write feedback from the stream into the graph with a background consumer (the feedback writer)."))
    max_request_bytes: int = Field(default=65_536, ge=1_024, description="Largest request body accepted (413 above).")
    explain_max_items: int = Field(default=10, ge=1, le=100, description=(
        "With explain, the top items of a slate that get reasons (each costs explanation queries); the rest get "
        "none."))
    slate_ttl_s: int = Field(default=86_400, ge=60, description=(
        "How long feedback may name a slate after it was shown."))
    rating_range: tuple[float, float] | None = Field(default=None, description=(
        "Ratings feedback may carry, as a JSON [low, high]; unset: the range of the ratings in the graph (1-5 when "
        "it has none)."))
    reload_poll_s: float = Field(default=2.0, gt=0, description=(
        "How often the service checks for a newly published version."))
    serve_host: str = Field(default="127.0.0.1", description="Address `graphrec serve` binds.")
    serve_port: int = Field(default=8000, ge=1, le=65_535, description="Port `graphrec serve` listens on.")
    lean_routes: bool = Field(default=True, description=(
        "Answer POST /v1/recommend and POST /v1/feedback through their lean layers (no FastAPI machinery: a cached "
        "recommendation on the event loop, anything else in one thread hop; what they do not answer goes on to "
        "the FastAPI routes); false sends every request through the routes."))
    feedback_similar_items: int = Field(default=10, ge=0, le=1_000, description=(
        "Items similar to a positively rated one (its FAISS neighbours) that feedback merges into the user's cached "
        "candidate set, which it then ranks again; 0 merges none."))
    access_log_every: int = Field(default=100, ge=0, description=(
        "The access log (logger graphrec.access, at INFO) writes every request answered 4xx or 5xx and one in "
        "this many of the others; 1 logs every request, 0 none of the others. A line per request costs more "
        "CPU than a cached answer."))
    serve_threads: int = Field(default=8, ge=1, le=256, description=(
        "Threads that run request handlers. Few: on a small machine more threads only queue for the GIL, and the "
        "event loop waits behind all of them."))
    serve_switch_interval_ms: float = Field(default=1.0, gt=0, le=100, description=(
        "How long a thread holding the GIL runs before a waiting one may take it (Python's default is 5 ms). A "
        "request gives the GIL up and takes it back several times, and each time it could wait a whole interval "
        "behind a busy thread."))
    malloc_arenas: int = Field(default=2, ge=0, le=64, description=(
        "glibc malloc arenas the service's threads share (0: glibc's default, 8 per core)."))
    malloc_trim_every_s: float = Field(default=10.0, ge=0, description=(
        "How often the service hands the heap memory glibc holds free back to the system (malloc_trim; 0: "
        "never). LadybugDB's checkpoints and the feedback writer's batches free large blocks that glibc would "
        "otherwise keep."))
    service_url: str = Field(default="http://127.0.0.1:8000", description="Where `graphrec refresh` finds the service.")

    @model_validator(mode="after")
    def _check_rating_range(self) -> ServingSettings:
        if self.rating_range is not None and not self.rating_range[0] < self.rating_range[1]:
            raise ValueError(f"rating_range must be [low, high] with low < high; got {list(self.rating_range)}")
        return self

    @property
    def feedback_stream(self) -> str:
        """The Redis stream of feedback events."""
        return f"{self.redis_namespace}:feedback"


def sections(model: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """The fields of ``model`` that are sections (settings models of their own), by field name."""
    return {name: field.annotation for name, field in model.model_fields.items()
            if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)}


class Sectioned(BaseModel):
    """Settings made of sections, which also take each section's fields by their own name at the top
    (``Settings(redis_url=...)`` is ``Settings(serving={"redis_url": ...})``): a field's name is unique across the
    sections, as its environment variable is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _route_fields_to_sections(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        routed: dict[str, Any] = {}
        owners = {field: name for name, section in sections(cls).items() for field in section.model_fields}
        for key, value in data.items():
            owner = owners.get(key) if key not in cls.model_fields else None
            if owner is None:
                routed[key] = value
            else:
                section = routed.setdefault(owner, dict(_as_dict(data.get(owner))))
                section[key] = value
        return routed


def _as_dict(section: Any) -> dict[str, Any]:
    if section is None:
        return {}
    return section.model_dump() if isinstance(section, BaseModel) else dict(section)


class ServiceSettings(Sectioned):
    """What the service reads: its data folder and the sections of the layers it drives."""

    data_dir: Path = Field(default=Path("var"), description=(
        "Where the embedded database, the artifacts, the embedded Redis and rejected rows live."))
    graph: GraphSettings = Field(default_factory=GraphSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    serving: ServingSettings = Field(default_factory=ServingSettings)
    keys: KeySettings = Field(default_factory=KeySettings)

    @model_validator(mode="after")
    def _place_the_graph_in_the_data_dir(self) -> ServiceSettings:
        if "ladybug_path" not in self.graph.model_fields_set:
            placed = self.graph.model_copy(update={"ladybug_path": self.data_dir / "graph.lbdb"})
            object.__setattr__(self, "graph", placed)
        return self

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "artifacts"

    @property
    def rejects_dir(self) -> Path:
        return self.data_dir / "rejects"

    @property
    def redis_dir(self) -> Path:
        return self.data_dir / "redis"

    @property
    def exports_dir(self) -> Path:
        return self.data_dir / "exports"
