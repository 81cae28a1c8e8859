"""POST /v1/feedback served lean (serving.routes.lean): the body read with the route's own model
(schemas.FeedbackRequest), the key and the slate checked as the route checks them (routes.recommend.feedback_event),
and the event recorded on the event loop (FeedbackIntake.record_on_loop) when nothing it needs blocks, the rate
counted in the same round trip as the event's first read; else the rate counted on the event loop
(dependencies.count) and the event recorded in one thread hop (routes.recommend.record_event). The 202 is encoded
once.

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
from graphrec.serving.routes.dependencies import RATE_COUNTED, admit, count, rate_limit
from graphrec.serving.routes.lean import api_key, read_body, replay, respond, route_of, unavailable_answer
from graphrec.serving.routes.recommend import PendingEvent, check_rating, feedback_event, record_event, router
from graphrec.serving.routes.schemas import FeedbackRequest
from graphrec.serving.state.hot_reads import OverLimit
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
        limit = resources.limiter.counter(principal.name, rate_limit(resources, principal))
        counted, recorded = False, None
        try:
            hot = resources.hot_reads
            if hot is not None and self.on_loop_possible(resources, request, event):
                check_rating(resources.feedback, request)
                counted = True  # from here the request is counted, or Redis failed (the limiter then fails open)
                recorded = await resources.feedback.record_on_loop(
                    hot, {**event.content, "ts_ms": now_ms()}, event.idempotency, limit)
            if recorded is None:
                if not counted:
                    counted = True
                    retry_after = await count(resources, principal)
                    if retry_after is not None:  # the route answers the 429, counted once
                        await self.app({**scope, RATE_COUNTED: retry_after}, receive, send)
                        return
                recorded = await anyio.to_thread.run_sync(record_event, resources, request, event)
            entry, duplicate = recorded
        except OverLimit as over:  # the route answers the 429, counted once
            await self.app({**scope, RATE_COUNTED: over.retry_after_s}, receive, send)
            return
        except (HTTPException, IdempotencyConflict):  # nothing was written: the route answers, counted once
            await self.app({**scope, RATE_COUNTED: None if counted else await count(resources, principal)},
                           receive, send)
            return
        except Unavailable as error:
            resources.metrics.feedback.labels(request.event, "refused").inc()
            await unavailable_answer(error)(scope, receive, send)
            return
        resources.metrics.feedback.labels(request.event, "duplicate" if duplicate else "accepted").inc()
        await respond(scope, send, ROUTE, 202, orjson.dumps({"status": "accepted", "stream_id": entry,
                                                             "duplicate": duplicate}))

    @staticmethod
    def on_loop_possible(resources: Resources, request: FeedbackRequest, event: PendingEvent) -> bool:
        """Whether nothing the event needs blocks: Redis up, the rating's scale and the item known in memory (the
        user's state in Redis is found out by reading it; else record_event records it in a thread)."""
        hot, artifacts = resources.hot_reads, resources.service.artifacts
        return not (hot is None or not hot.up or artifacts is None
                    or event.content["item_id"] not in artifacts.item_positions
                    or (request.event == "rating" and not resources.feedback.rating_range_known()))

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
