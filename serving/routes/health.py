"""GET /healthz (the process is up), /readyz (what it can serve right now) and /metrics (Prometheus)."""

from __future__ import annotations

import contextlib

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from graphrec.serving.feedback.writer import GROUP
from graphrec.serving.resilience.guard import Unavailable
from graphrec.serving.resources import Resources
from graphrec.serving.routes.dependencies import ResourcesDep
from graphrec.serving.routes.schemas import Check, Health, Readiness
from graphrec.training.artifacts import current_version

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    return Health()


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(resources: ResourcesDep, response: Response) -> Readiness:
    """ok when the graph, Redis and an index are all there; degraded (still 200, still serving) with the reason
    of each missing part otherwise; warming (503) until the share GRAPHREC_READY_WARM_SHARE of the users to warm
    have cached candidates, since a cold request costs several times a warm one and a load balancer sends the
    full rate the moment it sees 200."""
    ready = await run_in_threadpool(readiness, resources)
    if ready.status == "warming":
        response.status_code = 503
    return ready


def readiness(resources: Resources) -> Readiness:
    service, checks = resources.service, {}
    try:
        service.graph.probe(service.check_graph)
        checks["graph"] = Check(ok=True, detail=f"{resources.settings.graph.graph_backend}; graph budget per request "
                                                f"{service.deadline.describe()}")
    except Unavailable as error:
        checks["graph"] = Check(ok=False, detail=str(error))
    try:
        if resources.sessions is None:
            raise Unavailable("redis unavailable: not configured")
        resources.sessions.guard.probe(resources.sessions.client.ping)
        checks["redis"] = Check(ok=True, detail="ping ok")
    except Unavailable as error:
        checks["redis"] = Check(ok=False, detail=str(error))
    artifacts = service.artifacts
    published = current_version(resources.settings.artifacts_dir)
    refused = resources.reloader.refused.get(published) if published else None
    detail = f"version {artifacts.version}, {artifacts.index.ntotal:,} items" if artifacts else \
        resources.startup_problems.get("index", "nothing published")
    if refused:  # still serving the old version, but not the one that was published
        detail += f"; refused the published version {published}: {refused}"
    checks["index"] = Check(ok=artifacts is not None and not refused, detail=detail)
    for dependency in ("graph", "redis"):
        resources.metrics.up.labels(dependency).set(int(checks[dependency].ok))
    warmer, share = resources.warmer, resources.settings.serving.ready_warm_share
    warming = "done" if warmer.finished else f"{warmer.done}/{warmer.total if warmer.total is not None else '?'}"
    status = "ok" if all(c.ok for c in checks.values()) else "degraded"
    # Without Redis there is no cache to warm: the replica serves degraded rather than waiting on it.
    if not warmer.ready(share, can_warm=checks["redis"].ok):
        status = "warming"
        total = "?" if warmer.total is None else f"{warmer.total:,}"
        checks["warming"] = Check(ok=False, detail=f"candidates cached for {warmer.done:,} of {total} users; ready "
                                                   f"at {share:.0%} (GRAPHREC_READY_WARM_SHARE)")
    return Readiness(status=status, artifact_version=artifacts.version if artifacts else None, checks=checks,
                     access=resources.keys.describe(), cache_warming=warming)


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def metrics(resources: ResourcesDep) -> Response:
    """The Prometheus metrics; the feedback stream's and the refresh job's gauges are read at the scrape (a
    stream figure keeps its last value while Redis is down)."""
    figures = resources.metrics
    sessions = resources.service.sessions
    if sessions is not None:
        with contextlib.suppress(Unavailable):
            figures.observe_stream(sessions.stream.stream_figures(GROUP))
    figures.observe_refresh(resources.refresh.running, resources.refresh.exit_code)
    return Response(generate_latest(figures.registry), media_type=CONTENT_TYPE_LATEST)
