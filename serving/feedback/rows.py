"""What feedback events become in the graph: one INTERACTED row per positive event, then one per key.

The writer writes these rows; the repair of missing counts rebuilds counts from the same rows, so both count an
event alike. Skips and ratings below the positive threshold make no row: the encoders read every graph
interaction as a positive one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def graph_rows(events: Iterable[dict[str, Any]],
               is_positive: Callable[[str, float | None], bool]) -> list[dict[str, Any]]:
    """The graph rows of the positive ``events``, in stream order, one per event (merge_rows folds them)."""
    rows = []
    for event in events:
        if not is_positive(event["event"], event.get("value")):
            continue
        rows.append({"user_id": event["user_id"], "item_id": event["item_id"], "behavior": event["event"],
                     "rating": float(event["value"]) if event["event"] == "rating" and event.get("value")
                     is not None else None, "count": 1, "last_ts": int(event["ts_ms"]) // 1_000})
    return rows


def merge_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (user, item, behaviour), in order of first appearance: the counts summed, the latest time and
    the rating of the latest event that carries one kept.

    An UNWIND ... MERGE that meets one relationship twice in a statement does not see its own first write on
    LadybugDB (the second row reads no count), so a batch never holds a key twice.
    """
    merged: dict[tuple[Any, Any, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["user_id"], row["item_id"], row["behavior"])
        found = merged.get(key)
        if found is None:
            merged[key] = dict(row)
            continue
        found["count"] += row["count"]
        found["last_ts"] = max(found["last_ts"], row["last_ts"])
        if row["rating"] is not None:
            found["rating"] = row["rating"]
    return list(merged.values())
