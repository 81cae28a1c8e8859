"""POST /v1/feedback served lean (serving.routes.lean): the body read with the route's own model
(schemas.FeedbackRequest), the key and the slate checked as the route checks them (routes.recommend.feedback_event),
the rate counted on the event loop (dependencies.count), and the event recorded on the event loop too
(FeedbackIntake.record_on_loop) when nothing it needs blocks, else in one thread hop
(routes.recommend.record_event); the 202 is encoded once.

The route answers everything else, as before: a body, key, scope, id or slate it refuses, and an event that
cannot be recorded as it stands (a rating off the scale, an unknown item, an event_id used for another event;
nothing was written, and the request is counted once). Redis down or full is answered 503 here, with the route's
body and metrics.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import orjson
from fastapi import HTTPException
from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from graphrec.serving.access.keys import Scope as KeyScope
from graphrec.serving.resilience.guard import Unavailable
from graphrec.serving.resources import Resources
from graphrec.serving.routes.dependencies import RATE_COUNTED, admit, count
from graphrec.serving.routes.lean import api_key, read_body, replay, respond, route_of, unavailable_answer
from graphrec.serving.routes.recommend import PendingEvent, check_rating, feedback_event, record_event, router
from graphrec.serving.routes.schemas import FeedbackRequest
from graphrec.serving.state.sessions import now_ms
from graphrec.serving.state.user_records import IdempotencyConflict

PATH = "/v1/feedback"
ROUTE = route_of(router.routes, PATH, "POST")


class LeanFeedback:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        resources: Resources | None = getattr(scope["app"].state, "resources", None) \
            if scope["type"] == "http" else None
        if (resources is None or scope["path"] != PATH or scope["method"] != "POST"
                or not resources.settings.serving.lean_routes):
            await self.app(scope, receive, send)
            return
        body, pending_message = await read_body(receive)
        receive = replay(body, pending_message, receive)
        admitted = None if pending_message is not None else self.admitted(resources, scope, body)
        if admitted is None:
            await self.app(scope, receive, send)
            return
        principal, request, event = admitted
        retry_after = await count(resources, principal)
        if retry_after is not None:  # the route answers the 429, counted once
            await self.app({**scope, RATE_COUNTED: retry_after}, receive, send)
            return
        try:
            recorded = await self.on_loop(resources, request, event)
            entry, duplicate = recorded if recorded is not None else \
                await anyio.to_thread.run_sync(record_event, resources, request, event)
        except (HTTPException, IdempotencyConflict):  # nothing was written: the route answers, counted once
            await self.app({**scope, RATE_COUNTED: None}, receive, send)
            return
        except Unavailable as error:
            resources.metrics.feedback.labels(request.event, "refused").inc()
            await unavailable_answer(error)(scope, receive, send)
            return
        resources.metrics.feedback.labels(request.event, "duplicate" if duplicate else "accepted").inc()
        await respond(scope, send, ROUTE, 202, orjson.dumps({"status": "accepted", "stream_id": entry,
                                                             "duplicate": duplicate}))

    @staticmethod
    async def on_loop(resources: Resources, request: FeedbackRequest, event: PendingEvent
                      ) -> tuple[str | None, bool] | None:
        """The event recorded on the event loop when nothing it needs blocks: Redis up, the rating's scale and the
        item known in memory, the user's state in Redis; else None (record_event does it in a thread)."""
        hot, artifacts = resources.hot_reads, resources.service.artifacts
        item_id = event.content["item_id"]
        if (hot is None or not hot.up or artifacts is None or item_id not in artifacts.item_positions
                or (request.event == "rating" and not resources.feedback.rating_range_known())):
            return None
        check_rating(resources.feedback, request)
        return await resources.feedback.record_on_loop(hot, {**event.content, "ts_ms": now_ms()}, event.idempotency)

    @staticmethod
    def admitted(resources: Resources, scope: Scope, body: bytes) -> tuple[Any, FeedbackRequest, Any] | None:
        """The caller, the request and its checked event, if this layer may record it; None hands it on."""
        client = scope.get("client")
        try:
            principal = admit(resources, KeyScope.feedback, api_key(scope), client[0] if client else None)
            request = FeedbackRequest.model_validate(orjson.loads(body))
            return principal, request, feedback_event(resources.service, resources, principal, request)
        except (HTTPException, ValidationError, ValueError):  # ValueError: a body orjson cannot read
            return None
