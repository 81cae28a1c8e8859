"""Step 1 of the request path: the user's state (items seen, recent positives). It comes from Redis; on a miss
it is rebuilt from the graph and cached. With Redis down it comes from the graph directly; with the graph down
too, it is empty."""

from __future__ import annotations

from typing import Any

from graphrec.graph import behaviours
from graphrec.graph.ids import plain_ids
from graphrec.graph.store import GraphStore
from graphrec.serving.request.degradation import Degradation
from graphrec.serving.request.graph_access import GraphAccess
from graphrec.serving.resilience.guard import Unavailable
from graphrec.serving.settings import ServiceSettings
from graphrec.serving.state.sessions import SessionStore
from graphrec.serving.state.user_records import UserState


class History:
    def __init__(self, settings: ServiceSettings, graph: GraphAccess, sessions: SessionStore | None) -> None:
        self.settings = settings
        self.graph = graph
        self.sessions = sessions

    def from_graph(self, user_id: Any, store: GraphStore | None = None) -> UserState:
        """The user's state read from the graph: through the guard, or straight from ``store`` when given."""
        params = {"user_id": user_id, "limit": self.settings.serving.history_limit, **behaviours.query_params()}
        rows = store.run("user_state", params) if store is not None else self.graph.call(
            lambda store: store.run("user_state", params))
        items = plain_ids(rows["item_id"])
        positive = [item for item, is_positive in zip(items, rows["positive"].tolist(), strict=True)
                    if is_positive is True]
        return UserState(seen=list(dict.fromkeys(items)),
                         positive=list(dict.fromkeys(positive))[: self.settings.serving.session_recent])

    def state(self, user_id: Any, degradation: Degradation) -> UserState:
        """The user's state; what it had to do without is marked in ``degradation``."""
        if self.sessions is not None:
            try:
                cached = self.sessions.user_state(user_id)
            except Unavailable:
                cached = self.sessions.fallback_user_state(user_id)
                degradation.mark("redis")
            if cached is not None:
                return cached
        try:
            state = self.from_graph(user_id)
        except Unavailable:
            degradation.mark("graph")
            return UserState()
        if self.sessions is not None and "redis" not in degradation:
            try:
                self.sessions.put_user_state(user_id, state)
            except Unavailable:
                degradation.mark("redis")
        return state
