"""What the service does with one feedback event before the writer sees it: whether it counts as positive, the
ratings it may carry, and its record in Redis (the user's session state and the stream, in one transaction)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from graphrec.graph import behaviours
from graphrec.serving.request.candidate_pool import CandidatePool
from graphrec.serving.request.recommender import RecommendationService
from graphrec.serving.resilience.guard import Unavailable
from graphrec.serving.state.hot_reads import HotReads
from graphrec.serving.state.user_records import IdempotencyKey, UserState

DEFAULT_RATING_RANGE = (1.0, 5.0)


def feedback_is_positive(event: str, value: float | None) -> bool:
    """graph.behaviours' rule for an API event: only a rating's value is a rating."""
    return behaviours.is_positive(event, value if event == "rating" else None)


class FeedbackIntake:
    def __init__(self, service: RecommendationService) -> None:
        self.service = service
        self._rating_range: tuple[float, float] | None = None

    def rating_range(self) -> tuple[float, float]:
        """The ratings feedback may carry: GRAPHREC_RATING_RANGE, else the range of the graph's ratings (read
        once), else 1-5, the scale the rewards assume (graph.behaviours), while the graph has none or is down."""
        configured = self.service.settings.serving.rating_range
        if configured is not None:
            return configured
        if self._rating_range is None:
            try:
                rows = self.service.graph_call(lambda store: store.run("rating_range"))
            except Unavailable:
                return DEFAULT_RATING_RANGE
            bounds = rows[["low", "high"]].dropna().astype(float).to_numpy()  # no row, or nulls: none found
            self._rating_range = (float(bounds[0, 0]), float(bounds[0, 1])) if len(bounds) else DEFAULT_RATING_RANGE
        return self._rating_range

    def record(self, event: dict[str, Any], idempotency: IdempotencyKey | None = None) -> tuple[str | None, bool]:
        """Append the event to the stream and update the session: (stream entry id, whether its idempotency key
        was recorded before, so nothing was counted again); Unavailable (never a silent drop) when Redis is down,
        IdempotencyConflict when the key was used for another event."""
        sessions = self.service.require_sessions()

        def build_state() -> UserState:
            try:
                return self.service.history.from_graph(event["user_id"])
            except Unavailable:
                return UserState()

        positive = feedback_is_positive(event["event"], event.get("value"))
        return sessions.record_feedback(event, positive, build_state, idempotency, self._updater(event, positive))

    async def record_on_loop(self, hot: HotReads, event: dict[str, Any], idempotency: IdempotencyKey | None = None,
                             limit: tuple[str, int, int] | None = None) -> tuple[str | None, bool] | None:
        """record, on the event loop (HotReads.record_feedback, which counts the request against ``limit`` too);
        None when the user's state must come from the graph, which record does in a thread."""
        positive = feedback_is_positive(event["event"], event.get("value"))
        return await hot.record_feedback(event, positive, idempotency, self._updater(event, positive), limit)

    def _updater(self, event: dict[str, Any], positive: bool) -> Callable[[CandidatePool, UserState],
                                                                          CandidatePool | None]:
        def update(pool: CandidatePool, state: UserState) -> CandidatePool | None:
            return self.updated_candidates(event["user_id"], event["item_id"], positive, pool, state)

        return update

    def rating_range_known(self) -> bool:
        """Whether rating_range answers without reading the graph."""
        return self.service.settings.serving.rating_range is not None or self._rating_range is not None

    def updated_candidates(self, user_id: Any, item_id: Any, positive: bool, pool: CandidatePool,
                           state: UserState) -> CandidatePool | None:
        """The user's cached set after an event on ``item_id``, instead of none: without the newly seen item, a
        positive event's similar items merged in (LoadedArtifacts.similar_items: the index, no graph query), and
        ranked again by the served policy from the state after the event; as large as it was, the lowest ranked
        dropped. None (the set is built again) when the set was ranked by another version or policy."""
        service = self.service
        artifacts = service.artifacts
        served = service.ranker.policy_for(artifacts)
        if not pool.ranked_by(artifacts.version if artifacts is not None else None, served.name):
            return None
        seen = set(state.seen)
        merged = pool.without(seen)
        if positive and artifacts is not None:
            for similar in artifacts.similar_items(item_id, service.settings.serving.feedback_similar_items):
                if similar not in seen:
                    merged.add(similar, "faiss")
        policy_state = service.ranker.session_state(artifacts, user_id, state.positive)
        ranked = service.ranker.ranked(artifacts, policy_state, merged, served)
        ranking = ranked.ranked
        if len(ranked) > len(pool) and ranking is not None:
            ranked = ranked.taken(list(range(len(pool))))
            ranked.ranked = replace(ranking, scores=ranking.scores[: len(pool)], counts=ranked.source_counts())
        return ranked
