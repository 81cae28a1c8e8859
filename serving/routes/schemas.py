"""Request and response bodies of the API: what OpenAPI documents and what every input is validated against."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, WithJsonSchema

from graphrec.graph.behaviours import FEEDBACK_EVENTS
from graphrec.training.names import Encoder

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Ids travel as JSON integers or strings; the service turns them into the graph's id type (or answers 422).
Id = Annotated[StrictInt, Field(ge=INT64_MIN, le=INT64_MAX)] | Annotated[str, Field(min_length=1, max_length=256)]
SessionId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]

def _feedback_event(name: str) -> str:
    if name not in FEEDBACK_EVENTS:
        raise ValueError(f"event must be one of {', '.join(FEEDBACK_EVENTS)}")
    return name


# The behaviours the feedback API takes (graph.behaviours marks them), documented as an enum.
Event = Annotated[str, AfterValidator(_feedback_event),
                  WithJsonSchema({"type": "string", "enum": list(FEEDBACK_EVENTS)})]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecommendRequest(Strict):
    user_id: Id
    k: int = Field(10, ge=1, le=100, description="How many items to return.")
    session_id: SessionId | None = Field(None, description="Session whose slate and feedback to remember.")
    exclude: list[Id] = Field(default_factory=list, max_length=1_000, description="Items never to return.")
    context_items: list[Id] = Field(default_factory=list, max_length=100, description=(
        "Items the user is looking at now: they seed graph candidates (the cold-start path) and are not returned."))
    explain: StrictBool = Field(False, description=(
        "Add short reasons to the top items (GRAPHREC_EXPLAIN_MAX_ITEMS, 10)."))


class RecommendedItem(BaseModel):
    item_id: Id
    score: float
    title: str | None
    sources: list[str] = Field(description="kg (graph paths), faiss (embedding neighbours), popular, collab.")
    reasons: list[str] | None = Field(None, description="With explain, for the top items; null for the rest.")


class RecommendResponse(BaseModel):
    user_id: Id
    slate_id: str = Field(description="Names this slate (user, session, items), signed: feedback on its items sends "
                                      "it back.")
    items: list[RecommendedItem]
    policy: str
    artifact_version: str | None
    known_user: bool = Field(description="Whether the served model has an embedding of this user.")
    candidates: int
    cache: Literal["hit", "miss", "off"]
    degraded: list[str] = Field(description="Dependencies this answer was served without (redis, graph).")


PolicyName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]


class CompareRequest(Strict):
    user_id: Id
    policies: list[PolicyName] = Field(min_length=2, max_length=2, description=(
        "Two policies the served version holds (GET /v1/policies): a slate from each, from the same candidates."))
    k: int = Field(10, ge=1, le=100)
    session_id: SessionId | None = Field(None, description="Session whose slates (both are shown) to remember.")
    exclude: list[Id] = Field(default_factory=list, max_length=1_000)
    context_items: list[Id] = Field(default_factory=list, max_length=100)


class CompareResponse(BaseModel):
    user_id: Id
    slates: list[RecommendResponse] = Field(description="One per requested policy, in the request's order; each "
                                                        "slate_id takes feedback on its own items.")
    shared: list[Id] = Field(description="Items both slates hold.")


class PoliciesResponse(BaseModel):
    artifact_version: str | None
    served: str = Field(description="The policy /v1/recommend ranks with (GRAPHREC_POLICY).")
    available: list[str] = Field(description="Every policy the served version can rank with (for compare).")


class Overview(BaseModel):
    """The catalogue at a glance, what is served, and users to start from: the console's first screen."""

    users: int
    items: int
    interactions: int = Field(description="User-item pairs (one per behaviour).")
    events: int = Field(description="Events over all pairs (a pair clicked twice counts two).")
    entities: dict[str, int] = Field(description="Knowledge-graph entities by kind.")
    relations: dict[str, int] = Field(description="Knowledge-graph edges by relation.")
    artifact_version: str | None
    policy: str = Field(description="The policy /v1/recommend ranks with.")
    sample_users: list[int | str] = Field(description=(
        "The most recently active users; empty for keys without the history scope, since it names users."))


class FeedbackRequest(Strict):
    session_id: SessionId
    user_id: Id
    item_id: Id
    event: Event
    slate_id: str | None = Field(None, min_length=1, max_length=60_000, description=(
        "The slate_id of the recommendation that showed the item; required unless the key has the ingest scope."))
    value: float | None = Field(None, ge=-1e6, le=1e6, allow_inf_nan=False, description=(
        "The rating for event=rating, on the dataset's scale (GRAPHREC_RATING_RANGE); optional otherwise."))
    event_id: str | None = Field(None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$", description=(
        "The client's idempotency key, its own (per API key, or client address when open) for this user: an "
        "event sent again with the id of one recorded in the last GRAPHREC_EVENT_ID_TTL_S is answered as a "
        "duplicate and not counted again (send one after a timeout); the same id with other content is 409."))


class FeedbackAccepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    stream_id: str | None = Field(description="The event's entry in the feedback stream (for a duplicate, the first "
                                              "one's; null if it could not be noted).")
    duplicate: bool = Field(False, description="The event_id was recorded before: this event was not counted again.")


class PathNodeOut(BaseModel):
    kind: str
    id: Id | None = Field(description="null for the other users of a collaborative path: they are counted, never "
                                      "named.")
    name: str | None


class PathOut(BaseModel):
    kind: Literal["direct", "kg", "collab"]
    sentence: str
    nodes: list[PathNodeOut]
    relationships: list[str]
    weight: int


class ExplainResponse(BaseModel):
    user_id: Id
    item_id: Id
    paths: list[PathOut]


class ItemResponse(BaseModel):
    item_id: Id
    title: str | None


class UsersFound(BaseModel):
    users: list[Id] = Field(description="Users whose id starts with the prefix, shortest id first.")


class FoundItem(BaseModel):
    item_id: Id
    title: str | None
    interactions: int = Field(description="Users who interacted with the item.")


class ItemsFound(BaseModel):
    items: list[FoundItem] = Field(description="Items whose title contains the text, most interacted-with first.")


class HistoryEntry(BaseModel):
    item_id: Id
    title: str | None
    rating: float | None
    behavior: str
    count: int
    last_ts: int


class HistoryResponse(BaseModel):
    user_id: Id
    items: list[HistoryEntry]


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Check(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    status: Literal["ok", "degraded", "warming"] = Field(description=(
        "ok: everything up; degraded: serving without a dependency (still 200, keep it in rotation); warming: "
        "the candidate cache is not warm enough to hold the request rate yet (503)."))
    artifact_version: str | None
    checks: dict[str, Check]
    access: str = Field(description="Who may call: the configured API keys, or open (no keys: loopback only).")
    cache_warming: str = Field(description="Users whose candidates are cached at start: done/total, or done.")


class ReloadResponse(BaseModel):
    version: str | None
    changed: bool
    error: str | None


class RefreshRequest(Strict):
    model: Encoder | None = None
    epochs: int | None = Field(None, ge=1, le=1_000)
    force: StrictBool = Field(False, description="Publish even if the new version scores worse on the holdout.")
    warm: StrictBool = Field(True, description="Start the users and items the current version knows from its weights "
                                         "(LightGCN, BPR-MF); false retrains from scratch.")


class RefreshStatus(BaseModel):
    running: bool
    started: str | None
    snapshot: str | None
    exit_code: int | None
    log: str = Field(description="The job's log file.")
    log_tail: str = Field("", description="Its last lines: the stages' progress.")
    last_report: dict[str, object] | None


class VersionSummary(BaseModel):
    model_config = ConfigDict(extra="allow")  # the manifest's own fields (model, dataset_fingerprint, ...)

    version: str
    published: bool = Field(description="The version the pointer names: what every replica loads.")
    served: bool = Field(description="The version this replica serves now.")
    created: str | None = None
    training: dict[str, object] | None = Field(None, description="metrics.json: validation NDCG@10, best epoch, "
                                                                 "training seconds, loss per epoch.")
    policies: dict[str, dict[str, object]] = Field(default_factory=dict, description=(
        "policies.json per policy: config, validation and evaluation returns, learning curve."))
    error: str | None = Field(None, description="Why the version could not be read.")


class Versions(BaseModel):
    versions: list[VersionSummary] = Field(description="Newest first.")


class DeadLetters(BaseModel):
    total: int = Field(description="Events in the dead-letter stream.")
    events: list[dict[str, object]] = Field(description="The oldest ones: dead_letter_id, entry (their id in the "
                                                        "feedback stream) and the event's fields.")


class Replayed(BaseModel):
    replayed: int
    left: int


class Problem(BaseModel):
    detail: str
