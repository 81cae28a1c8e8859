"""The FastAPI application, built by a factory from settings (the environment by default).

    graphrec serve     (uvicorn --factory graphrec.asgi:create_app, the app of the environment's settings)

Routes are sync functions where they do CPU or blocking work, so FastAPI runs them in its thread pool and
the event loop stays free; the graph (one connection per thread), Redis (a connection pool) and the model are
opened once per process in the lifespan, never per request.
"""

from __future__ import annotations

import gc
import logging
import math
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import metadata
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graphrec.serving.ops.memory import limit_malloc_arenas
from graphrec.serving.resilience.guard import Unavailable
from graphrec.serving.resources import Resources, open_resources
from graphrec.serving.routes import admin, catalogue, console, health, recommend
from graphrec.serving.routes.lean import replay, unavailable_answer
from graphrec.serving.routes.lean_feedback import LeanFeedback
from graphrec.serving.routes.lean_recommend import LeanRecommend
from graphrec.serving.settings import ServiceSettings

log = logging.getLogger(__name__)
access_log = logging.getLogger("graphrec.access")


def create_app(settings: ServiceSettings | None = None, resources: Resources | None = None) -> FastAPI:
    """The app of ``settings``; with ``resources`` it serves those (and leaves closing them to the caller)."""
    if resources is not None:
        settings = resources.settings
    elif settings is None:
        raise ValueError("create_app needs the service's settings or its opened resources")
    limit_malloc_arenas(settings.serving.malloc_arenas)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = resources is None
        app.state.resources = resources or open_resources(settings)
        served = app.state.resources.settings
        anyio.to_thread.current_default_thread_limiter().total_tokens = served.serving.serve_threads
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(served.serving.serve_switch_interval_ms / 1000)
        # The libraries loaded by now (torch, pandas, FAISS) leave hundreds of thousands of long-lived objects; a
        # full collection walking them holds the GIL long enough to stall every request in flight. Frozen
        # objects are not scanned again.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            sys.setswitchinterval(switch_interval)
            if owned:
                app.state.resources.close()

    app = GraphrecAPI(settings, title="graphrec", version=metadata.version("graphrec"), lifespan=lifespan,
                  description="Recommendations from a knowledge graph, GNN embeddings and a FAISS index, with "
                              "sessions in Redis and explanations as graph paths.")
    if resources is not None:  # available even to clients that do not run the lifespan
        app.state.resources = resources
    for module in (recommend, catalogue, health, admin, console):
        app.include_router(module.router)

    @app.exception_handler(Unavailable)
    async def unavailable(_: Request, error: Unavailable) -> JSONResponse:
        return unavailable_answer(error)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        # FastAPI's own answer, with the inputs JSON cannot carry (NaN, Infinity, 1e999) written as text.
        return JSONResponse({"detail": finite(jsonable_encoder(error.errors()))}, status_code=422)

    return app


class GraphrecAPI(FastAPI):
    """FastAPI with the service's own ASGI layers outside its middleware stack: uvicorn reaches the latency metric,
    the body limit and the lean routes first, so a lean answer does not pass FastAPI's error, telemetry and body
    layers (routes.lean). Everything else goes on through FastAPI's stack as before; an error a lean layer raises
    is uvicorn's 500, the same plain-text answer as Starlette's."""

    def __init__(self, settings: ServiceSettings, **fastapi: Any) -> None:
        # The service's metrics are Prometheus' (serving.ops.prometheus): FastAPI's native OpenTelemetry stays off,
        # and so does its check for a configured provider on every request.
        super().__init__(telemetry={"tracing": False, "metrics": False, "logs": False}, **fastapi)
        self.outer_settings = settings.serving

    def build_middleware_stack(self) -> ASGIApp:
        stack = LeanRecommend(LeanFeedback(super().build_middleware_stack()))
        return LatencyMetrics(BodyLimit(stack, max_bytes=self.outer_settings.max_request_bytes),
                              every=self.outer_settings.access_log_every)


def finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by its text, so that it renders as strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value


class BodyLimit:
    """Answers 413 to a request body over ``max_bytes``: by its Content-Length before reading it, or, for a body
    sent in chunks without one, as soon as what was read passes the limit. Bounds what one request can make the
    service hold."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((value for name, value in scope["headers"] if name == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self.too_large()(scope, receive, send)
            return
        if declared is not None or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        # A body sent in chunks, with no length: read it here, up to the limit, and hand it on whole.
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, replay(bytes(body), message, receive), send)
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self.too_large()(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, replay(bytes(body), None, receive), send)

    def too_large(self) -> JSONResponse:
        return JSONResponse({"detail": f"the request body is over {self.max_bytes:,} bytes"}, status_code=413)


class LatencyMetrics:
    """Request latency per route template and status, and the access log (errors, and one in access_log_every
    of the others), as a plain ASGI middleware (Starlette's BaseHTTPMiddleware costs a task and a stream per
    request). `graphrec serve` turns uvicorn's own access log off: it writes a line per request."""

    def __init__(self, app: ASGIApp, every: int) -> None:
        self.app = app
        self.every = every
        self.answered = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            took_s = time.perf_counter() - started
            resources = getattr(scope["app"].state, "resources", None)
            if resources is not None:
                route = getattr(scope.get("route"), "path", "unmatched")
                metrics = resources.metrics
                metrics.child(metrics.latency, route, scope["method"], str(status)).observe(took_s)
            self.answered += 1
            if status >= 400 or (self.every and self.answered % self.every == 0):
                client = scope.get("client")
                access_log.info('%s - "%s %s HTTP/%s" %d %.1f ms', f"{client[0]}:{client[1]}" if client else "-",
                                scope["method"], scope["path"], scope.get("http_version", "1.1"), status,
                                took_s * 1_000)
