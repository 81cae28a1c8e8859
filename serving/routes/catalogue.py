"""Reads of the graph: GET /v1/overview (the console's first screen), /v1/explain, /v1/items/{id},
/v1/users/{id}/history, and the console's lookups GET /v1/users (by id prefix, for keys with the history scope: it
names users) and GET /v1/items (by title)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from graphrec.serving.access.keys import Scope
from graphrec.serving.routes.dependencies import AUTH_ERRORS, MayReadHistory, MayRecommend, Service, typed_id
from graphrec.serving.routes.schemas import (
    ExplainResponse,
    FoundItem,
    HistoryEntry,
    HistoryResponse,
    ItemResponse,
    ItemsFound,
    Overview,
    PathOut,
    Problem,
    UsersFound,
)

router = APIRouter(prefix="/v1", tags=["graph"],
                   responses=AUTH_ERRORS)
GRAPH_DOWN: dict[int | str, dict[str, Any]] = {
    503: {"model": Problem, "description": "The graph database is unavailable"}}
IdText = Annotated[str, Query(min_length=1, max_length=256)]
Limit = Annotated[int, Query(ge=1, le=50, description="Most results to return.")]


@router.get("/overview", response_model=Overview, responses=GRAPH_DOWN)
def overview(service: Service, principal: MayRecommend,
             sample: Annotated[int, Query(ge=0, le=20, description="Most recently active users to list.")] = 6,
             ) -> Overview:
    """The catalogue at a glance (users, items, interactions, entities by kind), the served version and policy,
    and the most recently active users to open (for keys with the history scope: it names users)."""
    figures = service.overview(sample if principal.allows(Scope.history) else 0)
    version, policy, _ = service.available_policies()
    return Overview(**figures, artifact_version=version, policy=policy)


@router.get("/explain", response_model=ExplainResponse, responses=GRAPH_DOWN)
def explain(user_id: IdText, item_id: IdText, service: Service, _: MayRecommend,
            k: Annotated[int, Query(ge=1, le=20, description="Most paths to return.")] = 3) -> ExplainResponse:
    """The graph paths that connect the user to the item (shortest first), as nodes and as sentences. Other users
    on a collaborative path are counted, never named."""
    user = typed_id(service, user_id, "user", ("query", "user_id"))
    item = typed_id(service, item_id, "item", ("query", "item_id"))
    paths = service.explain(user, item, k)
    return ExplainResponse(user_id=user, item_id=item, paths=[PathOut(**asdict(path)) for path in paths])


@router.get("/items/{item_id}", response_model=ItemResponse,
            responses={**GRAPH_DOWN, 404: {"model": Problem}})
def item(item_id: str, service: Service, _: MayRecommend) -> ItemResponse:
    typed = typed_id(service, item_id, "item", ("path", "item_id"))
    found = service.item(typed)
    if found is None:
        raise HTTPException(404, f"no item {typed!r}")
    return ItemResponse(item_id=typed, title=found["title"])


@router.get("/users/{user_id}/history", response_model=HistoryResponse, operation_id="history",
            responses={**GRAPH_DOWN, 404: {"model": Problem}})
def history(user_id: str, service: Service, _: MayReadHistory,
            limit: Annotated[int, Query(ge=1, le=1_000)] = 100) -> HistoryResponse:
    """The user's interactions in the graph, newest first: for keys with the history scope, since they name any
    user's items."""
    typed = typed_id(service, user_id, "user", ("path", "user_id"))
    rows = service.graph_call(lambda store: store.history(typed, limit=limit))
    if rows.empty:
        raise HTTPException(404, f"no user {typed!r} in the graph")
    rows = rows.astype(object).where(rows.notna(), None)
    return HistoryResponse(user_id=typed, items=[HistoryEntry(**row) for row in rows.to_dict("records")])


@router.get("/users", response_model=UsersFound, responses=GRAPH_DOWN)
def search_users(service: Service, _: MayReadHistory,
                 prefix: Annotated[str, Query(min_length=1, max_length=256, description="Start of the user id.")],
                 limit: Limit = 10) -> UsersFound:
    """Users whose id, as text, starts with ``prefix`` (the console's suggestions)."""
    return UsersFound(users=service.graph_call(lambda store: store.search_users(prefix, limit)))


@router.get("/items", response_model=ItemsFound, responses=GRAPH_DOWN)
def search_items(service: Service, _: MayRecommend,
                 text: Annotated[str, Query(min_length=1, max_length=256, description="Part of the title.")],
                 limit: Limit = 10) -> ItemsFound:
    """Items whose title contains ``text`` in any case, most interacted-with first (the console's item picker)."""
    rows = service.graph_call(lambda store: store.search_items(text, limit))
    rows = rows.astype(object).where(rows.notna(), None)
    return ItemsFound(items=[FoundItem(**row) for row in rows.to_dict("records")])
