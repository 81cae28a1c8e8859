"""Explanations: the shortest graph paths from a user to an item, as structured paths and as sentences.

In this graph a user reaches an item in one hop (the user already has it) or in three: through an item the user
has and a knowledge-graph entity both items link to, or through that item and users who have both. Asking for
those patterns directly is far cheaper than a general shortest-path search, and it is exactly the set of
shortest paths whenever one of them exists.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from graphrec.graph import behaviours
from graphrec.graph.labels import INTERACTED, ITEM, RELATION_PHRASES, USER
from graphrec.graph.store import GraphStore


@dataclass
class PathNode:
    kind: str
    id: Any  # None for the co-users of a collaborative path, who are counted and never named
    name: str | None = None


@dataclass
class Explanation:
    kind: str  # direct | kg | collab
    sentence: str
    nodes: list[PathNode] = field(default_factory=list)
    relationships: list[str] = field(default_factory=list)
    weight: int = 1  # how many parallel paths this one stands for (co-users for collab)


def explain(store: GraphStore, user_id: Any, item_id: Any, k: int = 3, interacted: bool | None = None
            ) -> list[Explanation]:
    """Up to ``k`` paths connecting the user to the item, shortest first, knowledge-graph paths before co-users.
    ``interacted=False``: the caller knows the user never interacted with the item (the service's complete user
    state says so), and the one-hop query, which would find nothing, is not run."""
    params = {"user_id": user_id, "item_id": item_id, "k": k}
    found: list[Explanation] = []
    for row in store.rows("explain_direct", params) if interacted is not False else []:
        title = _name(row["title"], item_id)
        found.append(Explanation(
            kind="direct", sentence=f"You {_did(row, title)}{_count(row)}.",
            nodes=[PathNode(USER, user_id), PathNode(ITEM, item_id, row["title"])], relationships=[INTERACTED]))
    if len(found) < k:
        for row in best_kg_paths(store.rows("explain_kg", params), k - len(found)):
            via, title = _name(row["via_title"], row["via_item"]), _name(row["title"], item_id)
            phrase = RELATION_PHRASES.get(row["relation"], "are both linked to the {kind} {entity}").format(
                entity=row["entity"], kind=str(row["entity_kind"]).lower())
            found.append(Explanation(
                kind="kg", sentence=f"You {_did(row, via)}; {via} and {title} {phrase}.",
                nodes=[PathNode(USER, user_id), PathNode(ITEM, row["via_item"], row["via_title"]),
                       PathNode(row["entity_kind"], row["entity"], str(row["entity"])),
                       PathNode(ITEM, item_id, row["title"])],
                relationships=[INTERACTED, row["via_relation"], row["relation"]]))
    if len(found) < k:
        params["k"] = k - len(found)
        params["max_rows"] = store.settings.candidate_max_rows  # the cap of the collaborative expansion too
        for row in store.rows("explain_collab", params):
            via, title = _name(row["via_title"], row["via_item"]), _name(row["title"], item_id)
            users = int(row["co_users"])
            who = "1 other user" if users == 1 else f"{users} other users"
            found.append(Explanation(
                kind="collab", sentence=f"You {_did(row, via)}; {who} who have {via} also have {title}.",
                nodes=[PathNode(USER, user_id), PathNode(ITEM, row["via_item"], row["via_title"]),
                       PathNode(USER, None, who), PathNode(ITEM, item_id, row["title"])],
                relationships=[INTERACTED, INTERACTED, INTERACTED], weight=users))
    return found[:k]


def best_kg_paths(rows: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """The ``k`` best knowledge-graph paths: the via item the user rated highest first (no rating counts as 0),
    then the one used most often and most recently (a missing count or time first, as Cypher's ORDER BY ...
    DESC puts nulls), then by via item, entity and relation."""
    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        rating, count, last_ts = row["rating"], row["count"], row["last_ts"]
        return (-(0.0 if rating is None or math.isnan(rating) else float(rating)),
                count is not None, -(count or 0), last_ts is not None, -(last_ts or 0),
                row["via_item"], row["entity"], row["relation"])

    return sorted(rows, key=key)[:k]


def _name(title: Any, item_id: Any) -> str:
    return str(title) if isinstance(title, str) and title else f"item {item_id}"


def _did(row: dict[str, Any], title: str) -> str:
    """What the user did with an item: 'rated Heat (1995) 5', 'bought item 7'."""
    behavior, rating = row.get("behavior"), row.get("rating")
    if rating is not None and not math.isnan(float(rating)):
        return f"rated {title} {float(rating):g}"
    return f"{behaviours.verb(behavior)} {title}"


def _count(row: dict[str, Any]) -> str:
    count = row.get("count")
    return f" ({int(count)} times)" if count is not None and not math.isnan(float(count)) and count > 1 else ""
