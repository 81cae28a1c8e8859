"""POST /v1/recommend and POST /v1/feedback."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool

from graphrec.graph.ids import plain_ids
from graphrec.serving.access.keys import Principal, Scope
from graphrec.serving.feedback.intake import FeedbackIntake
from graphrec.serving.request.recommender import RecommendationService, RecommendResult
from graphrec.serving.resilience.guard import Unavailable
from graphrec.serving.routes.dependencies import (
    AUTH_ERRORS,
    BODY_ERRORS,
    MayRecommend,
    MaySendFeedback,
    ResourcesDep,
    Service,
    typed_id,
)
from graphrec.serving.routes.schemas import (
    CompareRequest,
    CompareResponse,
    FeedbackAccepted,
    FeedbackRequest,
    PoliciesResponse,
    Problem,
    RecommendedItem,
    RecommendRequest,
    RecommendResponse,
)
from graphrec.serving.state.sessions import now_ms
from graphrec.serving.state.slates import InvalidSlate
from graphrec.serving.state.user_records import IdempotencyConflict, IdempotencyKey

router = APIRouter(prefix="/v1", tags=["recommendations"], responses={**AUTH_ERRORS, **BODY_ERRORS})


# OpenAPI links: how a client goes on from a slate (and how schemathesis' stateful tests chain the calls). The
# feedback's session is a constant: a slate recommended without a session accepts feedback from any session.
SLATE_LINKS = {
    "FeedbackOnTheTopItem": {"operationId": "feedback", "requestBody": {
        "session_id": "linked", "user_id": "$response.body#/user_id",
        "item_id": "$response.body#/items/0/item_id", "slate_id": "$response.body#/slate_id", "event": "click"}},
    "HistoryOfTheUser": {"operationId": "history", "parameters": {"path.user_id": "$response.body#/user_id"}},
}


@router.post("/recommend", response_model=RecommendResponse, operation_id="recommend",
             responses={200: {"links": SLATE_LINKS}})
def recommend(body: RecommendRequest, service: Service, resources: ResourcesDep, _: MayRecommend) -> RecommendResponse:
    # Requests this route would answer 200 without explanations are answered by serving.routes.lean_recommend,
    # which follows it.
    """The top k unseen items for a user, with the policy and artifact version that chose them.

    A user the graph or the model does not know gets the cold-start path (popularity, plus graph neighbours of
    the request's context items and of the session's positive feedback), never an error."""
    user_id = typed_id(service, body.user_id, "user", ("body", "user_id"))
    exclude = [typed_id(service, item, "item", ("body", "exclude", i)) for i, item in enumerate(body.exclude)]
    context = [typed_id(service, item, "item", ("body", "context_items", i))
               for i, item in enumerate(body.context_items)]
    result = service.recommend(user_id, k=body.k, exclude=exclude, explain=body.explain,
                               session_id=body.session_id, context_items=context)
    record_metrics(resources, result)
    return slate_response(resources, result, body.session_id)


def record_metrics(resources: ResourcesDep, result: RecommendResult) -> None:
    metrics = resources.metrics
    metrics.record_cache(result.cache)
    metrics.candidates.observe(result.candidates)
    metrics.record_sources(result.sources)
    for dependency in result.degraded:
        metrics.degraded.labels(dependency).inc()


def slate_response(resources: ResourcesDep, result: RecommendResult, session_id: str | None) -> RecommendResponse:
    """The answer for one slate, signed so that feedback on its items can name it."""
    slate_id = resources.slates.sign(result.user_id, session_id, plain_ids([r.item_id for r in result.items]))
    return RecommendResponse(
        user_id=result.user_id, slate_id=slate_id, policy=result.policy, artifact_version=result.artifact_version,
        known_user=result.known_user, candidates=result.candidates, cache=result.cache, degraded=result.degraded,
        items=[RecommendedItem(item_id=r.item_id, score=r.score, title=r.title, sources=r.sources,
                               reasons=r.reasons if r.explained else None) for r in result.items])


def slate_json(resources: ResourcesDep, result: RecommendResult, session_id: str | None) -> bytes:
    """slate_response's answer as JSON, encoded once without building the models (the lean route's answer;
    tests/serving/test_lean_recommend.py holds the two equal)."""
    items = [{"item_id": r.item_id, "score": r.score, "title": r.title, "sources": r.sources,
              "reasons": r.reasons if r.explained else None} for r in result.items]
    slate_id = resources.slates.sign(result.user_id, session_id, plain_ids([item["item_id"] for item in items]))
    return orjson.dumps({"user_id": result.user_id, "slate_id": slate_id, "items": items, "policy": result.policy,
                         "artifact_version": result.artifact_version, "known_user": result.known_user,
                         "candidates": result.candidates, "cache": result.cache, "degraded": result.degraded},
                        option=orjson.OPT_SERIALIZE_NUMPY)


@router.post("/recommend/compare", response_model=CompareResponse, responses={
    409: {"model": Problem, "description": "The served version changed during the request"}})
def compare(body: CompareRequest, service: Service, resources: ResourcesDep, _: MayRecommend) -> CompareResponse:
    """The same user's slate from two policies the served version holds, side by side (the console's compare
    view): the same candidates and session state, each slate signed for feedback, both recorded as shown."""
    user_id = typed_id(service, body.user_id, "user", ("body", "user_id"))
    exclude = [typed_id(service, item, "item", ("body", "exclude", i)) for i, item in enumerate(body.exclude)]
    context = [typed_id(service, item, "item", ("body", "context_items", i))
               for i, item in enumerate(body.context_items)]
    _, _, available = service.available_policies()
    for i, name in enumerate(body.policies):
        if name not in available:
            raise HTTPException(422, [{"type": "value_error", "loc": ["body", "policies", i], "input": name,
                                       "msg": f"the served version has no policy {name!r}; it has "
                                              f"{', '.join(available)}"}])
    try:
        results = service.compare(user_id, body.policies, k=body.k, exclude=exclude, session_id=body.session_id,
                                  context_items=context)
    except KeyError as error:  # the served version changed between the check and the call
        raise HTTPException(409, f"the served version changed and has no policy {error}; ask again") from None
    slates = [slate_response(resources, result, body.session_id) for result in results]
    first = {item.item_id for item in slates[0].items}
    return CompareResponse(user_id=user_id, slates=slates,
                           shared=[item.item_id for item in slates[1].items if item.item_id in first])


@router.get("/policies", response_model=PoliciesResponse)
def policies(service: Service, _: MayRecommend) -> PoliciesResponse:
    """The policy the service ranks with and every other one the served version holds."""
    version, served, available = service.available_policies()
    return PoliciesResponse(artifact_version=version, served=served, available=available)


@router.post("/feedback", status_code=202, response_model=FeedbackAccepted, operation_id="feedback",
             responses={
    403: {"model": Problem, "description": "The item is not in the slate_id's slate for this user and session (or "
                                           "the slate_id is missing, forged or expired)"},
    404: {"model": Problem, "description": "No such item"},
    409: {"model": Problem, "description": "The event_id was sent before, by this sender for this user, with other "
                                           "content"},
    503: {"model": Problem, "description": "Redis is down or full: the event was NOT recorded; send it again later "
                                           "(Retry-After)"}})
async def feedback(body: FeedbackRequest, service: Service, resources: ResourcesDep,
                   principal: MaySendFeedback) -> FeedbackAccepted:
    """Record one event: it updates the session in Redis and is appended to the feedback stream (the log that
    training consumes; positive events are also written into the graph). 202 means it is stored in Redis;
    when Redis is down the answer is 503 and nothing is kept, so the client knows to retry. With an ``event_id``,
    a retry of an event that was recorded after all is answered 202 as a duplicate and not counted again. An
    ``event_id`` is the sender's own (its API key, or its address when the service runs open) for that user; the
    same one with other content is answered 409.

    The event names the ``slate_id`` of the recommendation that showed the item to this user in this session;
    only keys with the ingest scope may send feedback without one. Items a client picks itself (cold start) go
    to /v1/recommend as ``context_items`` instead."""
    pending = feedback_event(service, resources, principal, body)
    try:
        entry, duplicate = await run_in_threadpool(record_event, resources, body, pending)
    except IdempotencyConflict as error:
        resources.metrics.feedback.labels(body.event, "conflict").inc()
        raise HTTPException(409, str(error)) from None
    except Unavailable:
        resources.metrics.feedback.labels(body.event, "refused").inc()
        raise
    resources.metrics.feedback.labels(body.event, "duplicate" if duplicate else "accepted").inc()
    return FeedbackAccepted(stream_id=entry, duplicate=duplicate)


@dataclass(frozen=True)
class PendingEvent:
    """A feedback event checked as far as needs no I/O: its typed content and its idempotency key."""

    content: dict[str, Any]
    idempotency: IdempotencyKey | None


def feedback_event(service: RecommendationService, resources: ResourcesDep, principal: Principal,
                   body: FeedbackRequest) -> PendingEvent:
    """The event of ``body``, with typed ids and checked against its slate; HTTPException (422, 403) if not."""
    user_id = typed_id(service, body.user_id, "user", ("body", "user_id"))
    item_id = typed_id(service, body.item_id, "item", ("body", "item_id"))
    check_attribution(resources, principal, body, user_id, item_id)
    content = {"user_id": user_id, "item_id": item_id, "event": body.event, "value": body.value,
               "session_id": body.session_id}
    idempotency = IdempotencyKey.of(principal.name, body.event_id, {**content, "slate_id": body.slate_id}) \
        if body.event_id else None
    return PendingEvent(content, idempotency)


def record_event(resources: ResourcesDep, body: FeedbackRequest, pending: PendingEvent) -> tuple[str | None, bool]:
    """Check the rating and the item, then record the event (FeedbackIntake.record; blocking): (stream entry,
    duplicate). HTTPException (422, 404), IdempotencyConflict or Unavailable when it cannot be recorded."""
    check_rating(resources.feedback, body)
    item_id = pending.content["item_id"]
    if not resources.service.item_is_known(item_id):
        raise HTTPException(404, f"no item {item_id!r} in the graph")
    return resources.feedback.record({**pending.content, "ts_ms": now_ms()}, pending.idempotency)


def check_attribution(resources: ResourcesDep, principal: Principal, body: FeedbackRequest, user_id: object,
                      item_id: object) -> None:
    """403 unless the event's slate showed the item to its user in its session (a slate_id is checked whenever
    one is sent; only the ingest scope may leave it out)."""
    if body.slate_id is None:
        if principal.allows(Scope.ingest):
            return
        raise HTTPException(403, "feedback needs the slate_id of the recommendation that showed the item (only keys "
                                 "with the ingest scope may send feedback without one)")
    try:
        resources.slates.check_feedback(body.slate_id, user_id, body.session_id, item_id)
    except InvalidSlate as error:
        raise HTTPException(403, f"slate_id: {error}") from None


def check_rating(feedback: FeedbackIntake, body: FeedbackRequest) -> None:
    """422 for a rating without a value or off the dataset's scale."""
    if body.event != "rating":
        return
    low, high = feedback.rating_range()
    if body.value is None or not low <= body.value <= high:
        raise HTTPException(422, [{"type": "value_error", "loc": ["body", "value"], "input": body.value,
                                   "msg": f"a rating needs a value from {low:g} to {high:g} (the dataset's scale)"}])
