"""Shared resources handed to routes through FastAPI dependencies (nothing global), and who may call them."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Literal

from fastapi import Depends, HTTPException, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader

from graphrec.serving.access.keys import OPEN_SCOPES, Principal, Scope
from graphrec.serving.request.recommender import RecommendationService
from graphrec.serving.resources import Resources
from graphrec.serving.routes.schemas import Problem

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description=(
    "A client key (GRAPHREC_API_KEYS, or GRAPHREC_API_KEY for the admin key); not needed when the service runs "
    "open, without keys."))


# Dependencies that do no blocking work are async: FastAPI would run a plain def in the thread pool, one
# more thread hop per request for nothing.
async def get_resources(request: Request) -> Resources:
    return request.app.state.resources


async def get_service(resources: Annotated[Resources, Depends(get_resources)]) -> RecommendationService:
    return resources.service


# The lean /v1/recommend (serving.routes.lean_recommend) counts a request's rate itself and, when it hands the
# request on to the FastAPI route after all, leaves the result here so that the request is not counted twice.
RATE_COUNTED = "graphrec.retry_after_s"


def admit(resources: Resources, scope: Scope, key: str | None, address: str | None) -> Principal:
    """The caller, if their key has ``scope``: HTTPException 401 without a valid key, 403 without the scope."""
    keys = resources.keys
    if keys.open:
        if scope is Scope.admin:
            raise HTTPException(403, "admin routes are disabled: configure a key with the admin scope "
                                     "(GRAPHREC_API_KEY or GRAPHREC_API_KEYS)")
        return Principal(f"address:{address or 'unknown'}", OPEN_SCOPES)
    if key is None:
        raise HTTPException(401, "missing X-API-Key header", headers={"WWW-Authenticate": "X-API-Key"})
    found = keys.identify(key)
    if found is None:
        raise HTTPException(401, "unknown API key", headers={"WWW-Authenticate": "X-API-Key"})
    if not found.allows(scope):
        raise HTTPException(403, f"the key {found.name!r} lacks the {scope.value!r} scope")
    return found


def rate_limit(resources: Resources, principal: Principal) -> str:
    return principal.rate_limit or resources.settings.keys.rate_limit


async def count(resources: Resources, principal: Principal) -> int | None:
    """Count one request of ``principal``: None within its limit, else its Retry-After. On the event loop through
    serving.state.hot_reads; through the limiter's blocking client (in the thread pool) when that cannot."""
    limit = rate_limit(resources, principal)
    if resources.hot_reads is not None:
        counted = await resources.hot_reads.count(*resources.limiter.counter(principal.name, limit))
        if counted is not None:
            return counted.retry_after_s
    return await run_in_threadpool(resources.limiter.retry_after_s, principal.name, limit)


def require(scope: Scope) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency that lets through callers whose key has ``scope`` (401 without a valid key, 403 without the
    scope) and within their rate limit (429 with Retry-After), and answers who they are."""

    async def check(request: Request, resources: Annotated[Resources, Depends(get_resources)],
                    key: Annotated[str | None, Security(api_key_header)]) -> Principal:
        principal = admit(resources, scope, key, request.client.host if request.client else None)
        if RATE_COUNTED in request.scope:
            retry_after = request.scope[RATE_COUNTED]
        else:
            retry_after = await count(resources, principal)
        if retry_after is not None:
            resources.metrics.rate_limited.labels("open" if resources.keys.open else principal.name).inc()
            raise HTTPException(429, f"over the rate limit of {rate_limit(resources, principal)} for "
                                     f"{principal.name}", headers={"Retry-After": str(retry_after)})
        return principal

    return check


def typed_id(service: RecommendationService, raw: Any, which: Literal["user", "item"],
             loc: tuple[str | int, ...]) -> int | str:
    """The id in the graph's type, or a 422 shaped like FastAPI's own validation errors (one format for
    clients), saying where and why."""
    try:
        return service.coerce_id(raw, which)
    except ValueError as error:
        raise HTTPException(422, [{"type": "value_error", "loc": list(loc), "msg": str(error), "input": raw}]) from None


Service = Annotated[RecommendationService, Depends(get_service)]
ResourcesDep = Annotated[Resources, Depends(get_resources)]
MayRecommend = Annotated[Principal, Depends(require(Scope.recommend))]
MaySendFeedback = Annotated[Principal, Depends(require(Scope.feedback))]
MayReadHistory = Annotated[Principal, Depends(require(Scope.history))]
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Missing or unknown X-API-Key"},
    403: {"model": Problem, "description": "The key lacks the route's scope"},
    429: {"model": Problem, "description": "Over the key's rate limit; Retry-After says when to try again"}}
BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "The request body is not readable (not UTF-8 JSON)"},
    413: {"model": Problem, "description": "The request body is over GRAPHREC_MAX_REQUEST_BYTES"}}
