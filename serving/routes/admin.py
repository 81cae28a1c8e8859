"""Admin routes, for keys with the admin scope: list the versions, reload the published one, run the refresh job,
look at and replay the feedback the graph refused."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.concurrency import run_in_threadpool

from graphrec.serving.access.keys import Scope
from graphrec.serving.routes.dependencies import AUTH_ERRORS, BODY_ERRORS, ResourcesDep, require
from graphrec.serving.routes.schemas import (
    DeadLetters,
    Problem,
    RefreshRequest,
    RefreshStatus,
    ReloadResponse,
    Replayed,
    Versions,
    VersionSummary,
)
from graphrec.training.artifacts import ArtifactRoot, current_version, oldest_first, version_summary
from graphrec.training.snapshot import write_snapshot

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require(Scope.admin))],
                   responses=AUTH_ERRORS)


@router.post("/reload", response_model=ReloadResponse)
async def reload(resources: ResourcesDep, force: bool = False) -> ReloadResponse:
    """Serve the published version now (the service also checks every GRAPHREC_RELOAD_POLL_S seconds). A
    version that fails verification is refused and the old one keeps serving; ``force`` retries a refused one."""
    result = await run_in_threadpool(resources.reloader.check, force)
    return ReloadResponse(version=result.version, changed=result.changed, error=result.error)


@router.post("/refresh", status_code=202, response_model=RefreshStatus,
             responses={**BODY_ERRORS, 409: {"model": Problem}, 503: {"model": Problem}})
async def refresh(resources: ResourcesDep, body: RefreshRequest | None = None) -> RefreshStatus:
    """Snapshot the graph and start the refresh job (retrain, index, compare on the holdout, publish if not
    worse) in a child process; the service swaps to the new version when it is published."""
    body = body or RefreshRequest()
    job = resources.refresh
    if job.running:
        raise HTTPException(409, "a refresh is already running")
    snapshot = await run_in_threadpool(
        lambda: resources.service.graph_call(lambda store: write_snapshot(store, resources.settings.exports_dir)))
    try:
        job.start(snapshot, model=body.model, epochs=body.epochs, force=body.force, warm=body.warm)
    except RuntimeError as error:
        raise HTTPException(409, str(error)) from None
    resources.metrics.refresh_runs.inc()
    return RefreshStatus(**job.status())


@router.get("/refresh", response_model=RefreshStatus)
def refresh_status(resources: ResourcesDep) -> RefreshStatus:
    return RefreshStatus(**resources.refresh.status())


@router.get("/versions", response_model=Versions)
def versions(resources: ResourcesDep,
             limit: Annotated[int, Query(ge=1, le=100, description="Most versions to list, newest first.")] = 20,
             ) -> Versions:
    """The artifact versions on disk: which is published, which this replica serves, their metrics, dataset
    fingerprints and policy records."""
    root = resources.settings.artifacts_dir
    folders = oldest_first(ArtifactRoot(root).versions)[::-1][:limit]
    published = current_version(root)
    artifacts = resources.service.artifacts
    served = artifacts.version if artifacts is not None else None
    return Versions(versions=[VersionSummary(**{**version_summary(folder), "published": folder.name == published,
                                                "served": folder.name == served}) for folder in folders])


@router.get("/dead-letters", response_model=DeadLetters, responses={503: {"model": Problem}})
def dead_letters(resources: ResourcesDep,
                 limit: Annotated[int, Query(ge=1, le=1_000)] = 100) -> DeadLetters:
    """Feedback events the graph refused (each alone, after its batch was refused ATTEMPTS times), oldest first."""
    sessions = resources.service.require_sessions()
    entries = sessions.stream.dead_letters(limit)
    return DeadLetters(total=sessions.stream.dead_letter_count(), events=[{"dead_letter_id": entry, **event}
                                                                   for entry, event in entries])


@router.post("/dead-letters/replay", response_model=Replayed, responses={503: {"model": Problem}})
def replay_dead_letters(resources: ResourcesDep,
                        limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000) -> Replayed:
    """Move the oldest ``limit`` dead-lettered events back onto the feedback stream (after fixing what the graph
    refused them for): the writer applies them again, and dead-letters again those still refused."""
    sessions = resources.service.require_sessions()
    moved = sessions.stream.replay_dead_letters(limit)
    return Replayed(replayed=moved, left=sessions.stream.dead_letter_count())
