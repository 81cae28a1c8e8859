"""What one service process holds: the graph, Redis, the served artifacts and the background workers.

Ownership of the embedded database: LadybugDB admits one read-write process, so the service opens it and
is its only writer while it runs (feedback consumer included); the refresh job gets a snapshot from it
instead of opening the database (serving.refresh). Hence one worker process with the embedded graph; the
threads of that process share the database through one connection each.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from graph.factory import open_store
from graph.store import GraphError, GraphStore
from graphrec.settings import Settings
from serving.artifacts import LoadedArtifacts, load_current
from serving.feedback_writer import FeedbackWriter
from serving.metrics import ServiceMetrics
from serving.recommender import RecommendationService
from serving.redis_embedded import EmbeddedRedis
from serving.refresh import RefreshJob
from serving.reloader import ArtifactReloader
from serving.sessions import SessionStore, connect
from training.artifacts import ArtifactError

log = logging.getLogger(__name__)


@dataclass
class Resources:
    settings: Settings
    service: RecommendationService
    metrics: ServiceMetrics
    reloader: ArtifactReloader
    refresh: RefreshJob
    store: GraphStore | None = None
    sessions: SessionStore | None = None
    embedded_redis: EmbeddedRedis | None = None
    writer: FeedbackWriter | None = None
    startup_problems: dict[str, str] = field(default_factory=dict)

    def close(self) -> None:
        self.reloader.stop()
        if self.writer:
            self.writer.stop()
        if self.sessions:
            self.sessions.client.close()
        if self.embedded_redis:
            self.embedded_redis.stop()
        if self.store:
            self.store.close()


def _open_graph(settings: Settings) -> tuple[GraphStore | None, str | None]:
    if settings.graph_backend == "ladybug" and not settings.ladybug_path.exists():
        return None, f"no graph database at {settings.ladybug_path}; run `graphrec ingest` first"
    try:
        return open_store(settings), None
    except GraphError as error:
        return None, str(error)


def _artifacts(settings: Settings) -> tuple[LoadedArtifacts | None, str | None]:
    try:
        return load_current(settings.artifacts_dir), None
    except (ArtifactError, OSError) as error:
        return None, str(error)


def open_resources(settings: Settings, *, background: bool = True) -> Resources:
    """Open everything the service needs. A missing graph or artifact set degrades the service (and /readyz
    says why) instead of stopping it; ``background`` starts the reloader and the feedback consumer."""
    problems: dict[str, str] = {}
    store, problem = _open_graph(settings)
    if problem:
        problems["graph"] = problem
        log.warning("serving without a graph: %s", problem)
    artifacts, problem = _artifacts(settings)
    if problem:
        problems["index"] = problem
        log.warning("serving without embeddings: %s", problem)
    embedded = None
    url = settings.redis_url
    if url is None:
        embedded = EmbeddedRedis(settings.redis_dir).start()
        url = embedded.url
    sessions = SessionStore(connect(url, settings.redis_timeout_s), settings)
    metrics = ServiceMetrics()
    service = RecommendationService(settings, store, artifacts, sessions=sessions)
    metrics.serving(artifacts.version if artifacts else None)
    reloader = ArtifactReloader(service, settings.artifacts_dir, settings.reload_poll_s, on_swap=metrics.serving)
    writer = FeedbackWriter(service) if settings.feedback_to_graph and store is not None else None
    resources = Resources(settings, service, metrics, reloader, RefreshJob(settings), store, sessions, embedded,
                          writer, problems)
    if background:
        reloader.start()
        if writer:
            writer.start()
    return resources
