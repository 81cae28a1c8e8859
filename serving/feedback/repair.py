"""A one-off repair of interactions whose count or time is missing.

Before the writer merged each batch to one row per (user, item, behaviour), a LadybugDB batch that met a new
key twice wrote it with no count and no time, and every later event on it added nothing. The count of such an
interaction is rebuilt from the feedback stream's entries that the writer has acknowledged, while the stream
still holds them; otherwise it is set to 1 (the interaction exists, so at least one event made it) and its time
to -1 (unknown). The writer runs the repair before it first reads the stream, so no event it writes later is
counted twice, and logs what it did; the graph notes that it was checked, so later starts skip the scan.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from graphrec.graph.store import GraphStore
from graphrec.serving.feedback.rows import graph_rows, merge_rows

log = logging.getLogger(__name__)
# Set once the graph has been checked (to the number repaired): the writer no longer writes what needs repair, so
# a graph is scanned once, not at every start.
REPAIRED_KEY = "feedback_counts_repaired"
Key = tuple[Any, Any, str]


@dataclass(frozen=True)
class RepairReport:
    found: int = 0  # interactions without a count or time
    from_stream: int = 0  # rebuilt from acknowledged stream entries
    set_to_one: int = 0  # no entry left in the stream: count 1, time -1
    repaired: int = 0  # what the graph changed (those given a count since are left alone)

    def summary(self) -> str:
        return (f"{self.found} interactions had no count or time: {self.from_stream} rebuilt from the feedback "
                f"stream, {self.set_to_one} set to count 1 and time -1 (their events are no longer in the stream); "
                f"{self.repaired} repaired")


def repair_rows(missing: list[Key], events: Iterable[dict[str, Any]],
                is_positive: Callable[[str, float | None], bool]) -> list[dict[str, Any]]:
    """The repaired count, latest time and latest rating of each key of ``missing``, from the positive
    ``events`` (stream order) that name it, counted as the writer counts them."""
    wanted = set(missing)
    named = (event for event in events if (event["user_id"], event["item_id"], event["event"]) in wanted)
    found = {(row["user_id"], row["item_id"], row["behavior"]): row
             for row in merge_rows(graph_rows(named, is_positive))}
    return [found.get((user, item, behavior), {"user_id": user, "item_id": item, "behavior": behavior,  # graph_rows'
                                               "rating": None, "count": 1, "last_ts": -1})  # order: one row type
            for user, item, behavior in missing]


def repair_missing_counts(run: Callable[[Callable[[GraphStore], Any]], Any], events: Callable[[], Iterable[dict]],
                          is_positive: Callable[[str, float | None], bool]) -> RepairReport:
    """Find the interactions without a count or time through ``run`` (a graph call), rebuild them from
    ``events`` (the acknowledged stream entries, read only when there is something to repair) and write them."""
    done = run(lambda store: store.run("meta_value", {"key": REPAIRED_KEY}))
    if len(done):
        return RepairReport()
    frame = run(lambda store: store.run("interactions_without_count"))
    if not len(frame):
        run(lambda store: store.run("meta_set", {"key": REPAIRED_KEY, "value": "0"}, write=True))
        return RepairReport()
    missing = [(user, item, str(behavior)) for user, item, behavior in
               zip(frame["user_id"].tolist(), frame["item_id"].tolist(), frame["behavior"].tolist(), strict=True)]
    rows = repair_rows(missing, events(), is_positive)
    rebuilt = sum(1 for row in rows if row["last_ts"] >= 0)
    written = run(lambda store: store.run("repair_interactions", {"rows": rows}, write=True))
    run(lambda store: store.run("meta_set", {"key": REPAIRED_KEY, "value": str(len(rows))}, write=True))
    report = RepairReport(found=len(rows), from_stream=rebuilt, set_to_one=len(rows) - rebuilt,
                          repaired=int(written["repaired"].iloc[0]) if len(written) else 0)
    log.warning("feedback repair: %s", report.summary())
    return report
