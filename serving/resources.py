"""What one service process holds: the graph, Redis, the served artifacts and the background workers.

Ownership of the embedded database: LadybugDB admits one read-write process, so the service opens it and
is its only writer while it runs (feedback consumer included); the refresh job gets a snapshot from it
instead of opening the database (serving.ops.refresh_job). Hence one worker process with the embedded graph; the
threads of that process share the database through one connection each.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphrec.graph.factory import open_store
from graphrec.graph.store import GraphError, GraphStore
from graphrec.serving.access.keys import KeyRing
from graphrec.serving.access.rate_limits import RateLimiter
from graphrec.serving.feedback.intake import FeedbackIntake
from graphrec.serving.feedback.writer import FeedbackWriter
from graphrec.serving.ops.memory import MallocTrimmer
from graphrec.serving.ops.prometheus import ServiceMetrics
from graphrec.serving.ops.refresh_job import RefreshJob
from graphrec.serving.ops.reloader import ArtifactReloader
from graphrec.serving.ops.warmer import CacheWarmer
from graphrec.serving.request.recommender import RecommendationService
from graphrec.serving.request.served_version import LoadedArtifacts, load_current
from graphrec.serving.settings import ServiceSettings
from graphrec.serving.state.embedded_redis import EmbeddedRedis
from graphrec.serving.state.hot_reads import HotReads
from graphrec.serving.state.sessions import SessionStore, connect
from graphrec.serving.state.slates import SlateSigner, slate_secret
from graphrec.training.artifacts import ArtifactError

log = logging.getLogger(__name__)
OWNER_FILE = "service.json"


def owner_file(settings: ServiceSettings) -> Path:
    """Says which running service owns the embedded graph (LadybugDB lets read-only openers in beside a writer,
    and they would read a stale database: the refresh asks the owner for a snapshot instead)."""
    return settings.data_dir / OWNER_FILE


def graph_owner(settings: ServiceSettings) -> dict[str, Any] | None:
    """The service that holds the embedded graph, if one is running."""
    path = owner_file(settings)
    try:
        owner = json.loads(path.read_text())
        os.kill(int(owner["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return None
    return owner


class ServiceConflict(RuntimeError):
    """Another running service owns this data directory's embedded graph or Redis."""


def holds_embedded_state(settings: ServiceSettings) -> bool:
    """Whether the service holds something of its data directory's that one process may hold: the embedded
    graph or the embedded Redis."""
    return settings.graph.graph_backend == "ladybug" or settings.serving.redis_url is None


def ensure_sole_owner(settings: ServiceSettings) -> None:
    """Refuse to start a service beside a running one that owns the same embedded graph or embedded Redis: the
    second would find the database locked and start a second Redis server on the first one's files. Replicas
    share a data directory only with Neo4j and an external Redis."""
    if not holds_embedded_state(settings):
        return
    owner = graph_owner(settings)
    if owner is not None and int(owner["pid"]) != os.getpid():
        raise ServiceConflict(
            f"another graphrec service (pid {owner['pid']}, {owner.get('service_url')}) serves "
            f"{settings.data_dir} with the embedded graph or Redis; stop it, or give this one its own "
            "GRAPHREC_DATA_DIR (replicas need Neo4j and an external Redis)")


@dataclass
class Resources:
    settings: ServiceSettings
    service: RecommendationService
    metrics: ServiceMetrics
    reloader: ArtifactReloader
    refresh: RefreshJob
    warmer: CacheWarmer
    keys: KeyRing
    slates: SlateSigner
    limiter: RateLimiter
    feedback: FeedbackIntake
    store: GraphStore | None = None
    sessions: SessionStore | None = None
    embedded_redis: EmbeddedRedis | None = None
    hot_reads: HotReads | None = None
    writer: FeedbackWriter | None = None
    trimmer: MallocTrimmer | None = None
    startup_problems: dict[str, str] = field(default_factory=dict)

    def close(self) -> None:
        owner = graph_owner(self.settings)
        if owner is not None and int(owner["pid"]) == os.getpid():
            owner_file(self.settings).unlink(missing_ok=True)
        self.reloader.stop()
        self.warmer.stop()
        self.refresh.stop()
        if self.writer:
            self.writer.stop()
        if self.trimmer:
            self.trimmer.stop()
        if self.hot_reads:
            self.hot_reads.close()
        if self.sessions:
            self.sessions.client.close()
        if self.embedded_redis:
            self.embedded_redis.stop()
        if self.store:
            self.store.close()


def _open_graph(settings: ServiceSettings) -> tuple[GraphStore | None, str | None]:
    if settings.graph.graph_backend == "ladybug" and not settings.graph.ladybug_path.exists():
        return None, f"no graph database at {settings.graph.ladybug_path}; run `graphrec ingest` first"
    try:
        return open_store(settings.graph), None
    except GraphError as error:
        return None, str(error)


def _artifacts(settings: ServiceSettings) -> tuple[LoadedArtifacts | None, str | None]:
    try:
        served = settings.serving
        return load_current(settings.artifacts_dir, served.policy, served.policy_session_codes), None
    except (ArtifactError, OSError) as error:
        return None, str(error)


def hot_reads(url: str, timeout_s: float, sessions: SessionStore) -> HotReads | None:
    try:
        return HotReads(url, timeout_s, sessions)
    except ValueError as error:
        log.info("cached recommendations read Redis in a thread: %s", error)
        return None


def open_resources(settings: ServiceSettings, *, background: bool = True) -> Resources:
    """Open everything the service needs. A missing graph or artifact set degrades the service (and /readyz
    says why) instead of stopping it; ``background`` starts the reloader and the feedback consumer."""
    ensure_sole_owner(settings)
    problems: dict[str, str] = {}
    store, problem = _open_graph(settings)
    if problem:
        problems["graph"] = problem
        log.warning("serving without a graph: %s", problem)
    artifacts, problem = _artifacts(settings)
    if problem:
        problems["index"] = problem
        log.warning("serving without embeddings: %s", problem)
    if holds_embedded_state(settings):
        owner_file(settings).parent.mkdir(parents=True, exist_ok=True)
        owner_file(settings).write_text(json.dumps({"pid": os.getpid(), "service_url": settings.serving.service_url}))
    embedded = None
    url = settings.serving.redis_url
    if url is None:
        embedded = EmbeddedRedis(settings.redis_dir).start()
        url = embedded.url
    sessions = SessionStore(connect(url, settings.serving.redis_timeout_s), settings.serving)
    metrics = ServiceMetrics()
    service = RecommendationService(settings, store, artifacts, sessions=sessions)
    metrics.serving(artifacts.version if artifacts else None)
    served = settings.serving
    reloader = ArtifactReloader(service, settings.artifacts_dir, served.reload_poll_s, on_swap=metrics.serving,
                                policy=served.policy, session_codes=served.policy_session_codes)
    writer = FeedbackWriter(service) if settings.serving.feedback_to_graph and store is not None else None
    sessions.trim_on_append = writer is None  # a writer trims the stream behind what it has consumed
    warmer = CacheWarmer(service, settings.serving.warm_users if store is not None else 0)
    keys = settings.keys.key_ring()
    if keys.open:
        log.warning("no API keys configured: the service is open to every client that reaches it (serve on "
                    "loopback only, or set GRAPHREC_API_KEY / GRAPHREC_API_KEYS)")
    trimmer = MallocTrimmer(settings.serving.malloc_trim_every_s)
    slates = SlateSigner(slate_secret(settings.keys.slate_secret, settings.data_dir), settings.serving.slate_ttl_s)
    resources = Resources(settings, service, metrics, reloader, RefreshJob(settings), warmer, keys, slates,
                          RateLimiter(sessions), FeedbackIntake(service), store, sessions, embedded,
                          hot_reads(url, settings.serving.redis_timeout_s, sessions), writer,
                          trimmer, startup_problems=problems)
    if background:
        trimmer.start()
        reloader.start()
        warmer.start()
        if writer:
            writer.start()
    return resources
