"""Shared resources handed to routes through FastAPI dependencies (nothing global)."""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from graphrec.serving.recommender import RecommendationService
from graphrec.serving.resources import Resources

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The value of GRAPHREC_API_KEY.")


# Dependencies that do no blocking work are async: FastAPI would run a plain def in the thread pool, one
# more thread hop per request for nothing.
async def get_resources(request: Request) -> Resources:
    return request.app.state.resources


async def get_service(resources: Annotated[Resources, Depends(get_resources)]) -> RecommendationService:
    return resources.service


async def require_admin(resources: Annotated[Resources, Depends(get_resources)],
                  key: Annotated[str | None, Security(api_key_header)]) -> None:
    expected = resources.settings.api_key
    if expected is None:
        raise HTTPException(403, "admin routes are disabled: set GRAPHREC_API_KEY to enable them")
    if key is None or not secrets.compare_digest(key.encode(), expected.get_secret_value().encode()):
        raise HTTPException(401, "missing or wrong X-API-Key header")


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
