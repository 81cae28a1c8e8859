"""POST /v1/recommend served lean: the hottest route without FastAPI's per-request machinery.

For each request FastAPI resolves the dependencies, hops to the thread pool for the rate limit and again for the
sync endpoint, and validates and re-encodes the response model; on a cached answer that machinery costs more
than the answer itself. This ASGI layer answers a well-formed, admitted request on its own: the body is read
with the route's own model (schemas.RecommendRequest), the key is checked as the route's dependency checks it,
and the rest (the rate-limit count, the request path of serving.request.recommender, the slate's signature and
the answer's encoding, once, by the response model's serialiser) runs in one thread hop.

Every other request goes on to the FastAPI route: a body the model refuses, a missing or unknown key, a key
without the scope, an id the graph's type refuses, over the rate limit (counted once: the count travels in the
scope) and explain (graph queries, no hurry). So errors keep one format, the OpenAPI schema stays the route's,
and tests/serving/test_lean_recommend.py compares the two paths' answers.
"""

from __future__ import annotations

import json
from typing import Any

import anyio.to_thread
from fastapi import HTTPException
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graphrec.serving.access.keys import Principal
from graphrec.serving.access.keys import Scope as KeyScope
from graphrec.serving.resilience.guard import Unavailable
from graphrec.serving.resources import Resources
from graphrec.serving.routes.dependencies import RATE_COUNTED, admit, rate_limit
from graphrec.serving.routes.recommend import record_metrics, router, slate_response
from graphrec.serving.routes.schemas import RecommendRequest

PATH = "/v1/recommend"
API_KEY = b"x-api-key"
JSON_HEADERS = [(b"content-type", b"application/json")]
ROUTE = next(route for route in router.routes if isinstance(route, Route) and route.path == PATH
             and "POST" in (route.methods or ()))


def unavailable_answer(error: Unavailable) -> JSONResponse:
    """503 with Retry-After: a dependency the request needs is down (the app's answer to Unavailable)."""
    return JSONResponse({"detail": str(error)}, status_code=503, headers={"Retry-After": str(error.retry_after_s)})


async def read_body(receive: Receive) -> tuple[bytes, Message | None]:
    """The request body (BodyLimit, outside, bounds it), and a message that came instead of its end."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return bytes(body), message
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return bytes(body), None


def replay(body: bytes, pending: Message | None, receive: Receive) -> Receive:
    """A receive that gives the body read ahead as one message, then what the client sends next."""
    sent = False

    async def again() -> Message:
        nonlocal sent, pending
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        if pending is not None:
            message, pending = pending, None
            return message
        return await receive()

    return again


class LeanRecommend:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        resources: Resources | None = getattr(scope["app"].state, "resources", None) \
            if scope["type"] == "http" else None
        if (resources is None or scope["path"] != PATH or scope["method"] != "POST"
                or not resources.settings.serving.lean_recommend):
            await self.app(scope, receive, send)
            return
        body, pending = await read_body(receive)
        receive = replay(body, pending, receive)
        admitted = None if pending is not None else self.admitted(resources, scope, body)
        if admitted is None:
            await self.app(scope, receive, send)
            return
        principal, request, ids = admitted
        try:
            retry_after, answered = await anyio.to_thread.run_sync(self.answer, resources, principal, request, ids)
        except Unavailable as error:
            await unavailable_answer(error)(scope, receive, send)
            return
        if answered is None:  # over the limit: the route answers the 429, without counting the request again
            await self.app({**scope, RATE_COUNTED: retry_after}, receive, send)
            return
        scope["route"] = ROUTE  # the latency metrics' label, as the router would set it
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*JSON_HEADERS, (b"content-length", str(len(answered)).encode())]})
        await send({"type": "http.response.body", "body": answered})

    @staticmethod
    def admitted(resources: Resources, scope: Scope, body: bytes
                 ) -> tuple[Principal, RecommendRequest, tuple[Any, list[Any], list[Any]]] | None:
        """The caller, the request and its typed ids, if this layer may answer it; None hands it to the route."""
        key = next((value.decode("latin-1") for name, value in scope["headers"] if name.lower() == API_KEY), None)
        client = scope.get("client")
        try:
            principal = admit(resources, KeyScope.recommend, key, client[0] if client else None)
            request = RecommendRequest.model_validate(json.loads(body.decode()))
            if request.explain:
                return None
            service = resources.service
            ids = (service.coerce_id(request.user_id, "user"),
                   [service.coerce_id(item, "item") for item in request.exclude],
                   [service.coerce_id(item, "item") for item in request.context_items])
        except (HTTPException, ValidationError, ValueError):  # a body not UTF-8 or not JSON: ValueErrors too
            return None
        return principal, request, ids

    @staticmethod
    def answer(resources: Resources, principal: Principal, request: RecommendRequest,
               ids: tuple[Any, list[Any], list[Any]]) -> tuple[int | None, bytes | None]:
        """(Retry-After, None) over the rate limit, else (None, the answer's JSON)."""
        retry_after = resources.limiter.retry_after_s(principal.name, rate_limit(resources, principal))
        if retry_after is not None:
            return retry_after, None
        user_id, exclude, context = ids
        result = resources.service.recommend(user_id, k=request.k, exclude=exclude, session_id=request.session_id,
                                             context_items=context)
        record_metrics(resources, result)
        return None, slate_response(resources, result, request.session_id).model_dump_json().encode()
