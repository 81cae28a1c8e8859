"""POST /v1/recommend served lean: the hottest route without FastAPI's per-request machinery.

For each request FastAPI resolves the dependencies, hops to the thread pool for the rate limit and again for the
sync endpoint, and validates and re-encodes the response model; on a cached answer that machinery costs more
than the answer itself. This ASGI layer answers a well-formed, admitted request on its own: the body is read
with the route's own model (schemas.RecommendRequest), and the key is checked as the route's dependency checks it.

A cached answer is served on the event loop, without a thread hop: one Redis round trip counts the request against
its rate limit and reads the user's ranked candidate set (serving.state.hot_reads), the service decodes the top of
the set only (CandidatePool.cached_head) and walks it (RecommendationService.from_ranked), a second round trip
records the slate of a session, and the answer is signed and encoded once (routes.recommend.slate_json). Anything
that would need more (no cached set, one ranked by another version, too few items left, a title not in memory, Redis
down) runs the request path of serving.request.recommender in one thread hop instead, with the count already taken.

Every other request goes on to the FastAPI route: a body the model refuses, a missing or unknown key, a key
without the scope, an id the graph's type refuses, over the rate limit (counted once: the count travels in the
scope) and explain (graph queries, no hurry). So errors keep one format, the OpenAPI schema stays the route's,
and tests/serving/test_lean_recommend.py compares the two paths' answers.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import orjson
from fastapi import HTTPException
from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from graphrec.serving.access.keys import Principal
from graphrec.serving.access.keys import Scope as KeyScope
from graphrec.serving.request.candidate_pool import CandidatePool
from graphrec.serving.resilience.guard import Unavailable
from graphrec.serving.resources import Resources
from graphrec.serving.routes.dependencies import RATE_COUNTED, admit, rate_limit
from graphrec.serving.routes.lean import api_key, read_body, replay, respond, route_of, unavailable_answer
from graphrec.serving.routes.recommend import record_metrics, router, slate_json
from graphrec.serving.routes.schemas import RecommendRequest
from graphrec.serving.state.hot_reads import Counted

PATH = "/v1/recommend"
ROUTE = route_of(router.routes, PATH, "POST")


class LeanRecommend:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        resources: Resources | None = getattr(scope["app"].state, "resources", None) \
            if scope["type"] == "http" else None
        if (resources is None or scope["path"] != PATH or scope["method"] != "POST"
                or not resources.settings.serving.lean_routes):
            await self.app(scope, receive, send)
            return
        body, pending = await read_body(receive)
        receive = replay(body, pending, receive)
        admitted = None if pending is not None else self.admitted(resources, scope, body)
        if admitted is None:
            await self.app(scope, receive, send)
            return
        principal, request, ids = admitted
        hot = await self.hot(resources, principal, request, ids)
        if isinstance(hot, bytes):
            await respond(scope, send, ROUTE, 200, hot)
            return
        if hot is not None and hot.retry_after_s is not None:  # the route answers the 429, counted once
            await self.app({**scope, RATE_COUNTED: hot.retry_after_s}, receive, send)
            return
        try:
            retry_after, answered = await anyio.to_thread.run_sync(self.answer, resources, principal, request, ids,
                                                                   hot is not None)
        except Unavailable as error:
            await unavailable_answer(error)(scope, receive, send)
            return
        if answered is None:  # over the limit: the route answers the 429, without counting the request again
            await self.app({**scope, RATE_COUNTED: retry_after}, receive, send)
            return
        await respond(scope, send, ROUTE, 200, answered)

    @staticmethod
    async def hot(resources: Resources, principal: Principal, request: RecommendRequest,
                  ids: tuple[Any, list[Any], list[Any]]) -> bytes | Counted | None:
        """The cached answer, served on the event loop; else how the request was counted (None: not yet)."""
        reads = resources.hot_reads
        user_id, exclude, context = ids
        if reads is None or context or not reads.up:
            return None
        limit = resources.limiter.counter(principal.name, rate_limit(resources, principal))
        counted = await reads.count_and_read(*limit, user_id)
        if counted is None or counted.candidates is None:
            return counted
        # Excluded items may be anywhere in the set, and the answer counts the candidates left: the whole set then.
        read = CandidatePool.cached_head(counted.candidates, None if exclude else request.k)
        result = None if read is None else resources.service.from_ranked(user_id, *read, request.k, exclude)
        if result is None:
            return counted
        if request.session_id and not await reads.record_slate(request.session_id, user_id,
                                                               [r.item_id for r in result.items]):
            result.degraded = sorted({*result.degraded, "redis"})
        record_metrics(resources, result)
        return slate_json(resources, result, request.session_id)

    @staticmethod
    def admitted(resources: Resources, scope: Scope, body: bytes
                 ) -> tuple[Principal, RecommendRequest, tuple[Any, list[Any], list[Any]]] | None:
        """The caller, the request and its typed ids, if this layer may answer it; None hands it to the route."""
        client = scope.get("client")
        try:
            principal = admit(resources, KeyScope.recommend, api_key(scope), client[0] if client else None)
            request = RecommendRequest.model_validate(orjson.loads(body))
            if request.explain:
                return None
            service = resources.service
            ids = (service.coerce_id(request.user_id, "user"),
                   [service.coerce_id(item, "item") for item in request.exclude],
                   [service.coerce_id(item, "item") for item in request.context_items])
        except (HTTPException, ValidationError, ValueError):  # a body not UTF-8 or not JSON (or beyond orjson: NaN,
            # integers over 64 bits): ValueErrors too
            return None
        return principal, request, ids

    @staticmethod
    def answer(resources: Resources, principal: Principal, request: RecommendRequest,
               ids: tuple[Any, list[Any], list[Any]], counted: bool) -> tuple[int | None, bytes | None]:
        """(Retry-After, None) over the rate limit, else (None, the answer's JSON); ``counted``: the request was
        counted within its limit already."""
        if not counted:
            retry_after = resources.limiter.retry_after_s(principal.name, rate_limit(resources, principal))
            if retry_after is not None:
                return retry_after, None
        user_id, exclude, context = ids
        result = resources.service.recommend(user_id, k=request.k, exclude=exclude, session_id=request.session_id,
                                             context_items=context)
        record_metrics(resources, result)
        return None, slate_json(resources, result, request.session_id)
