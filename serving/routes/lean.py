"""What the lean routes share (serving.routes.lean_recommend, serving.routes.lean_feedback): ASGI layers that answer
a hot route's well-formed, admitted requests without FastAPI's per-request machinery (dependency resolution,
thread hops, response models) and hand every other request on to the FastAPI route, which answers it as before."""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.routing import BaseRoute, Route
from starlette.types import Message, Receive, Scope, Send

from graphrec.serving.resilience.guard import Unavailable

API_KEY = b"x-api-key"
JSON_HEADERS = [(b"content-type", b"application/json")]


def route_of(routes: list[BaseRoute], path: str, method: str) -> Route:
    """The FastAPI route a lean layer stands in for (its latency metrics' label)."""
    return next(route for route in routes if isinstance(route, Route) and route.path == path
                and method in (route.methods or ()))


def api_key(scope: Scope) -> str | None:
    return next((value.decode("latin-1") for name, value in scope["headers"] if name.lower() == API_KEY), None)


async def respond(scope: Scope, send: Send, route: Route, status: int, answer: bytes) -> None:
    """Send ``answer`` (JSON) with ``status``, labelled as the FastAPI ``route`` would be."""
    scope["route"] = route
    await send({"type": "http.response.start", "status": status,
                "headers": [*JSON_HEADERS, (b"content-length", str(len(answer)).encode())]})
    await send({"type": "http.response.body", "body": answer})


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
