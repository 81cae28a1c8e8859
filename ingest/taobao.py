"""Taobao / Tianchi UserBehavior: user,item,category,behavior,timestamp (no header); behaviours pv, cart, fav,
buy are all kept. KG: item -> category. GRAPPLE's filters (date window, minimum interactions per user and per
item) are options, applied once, in that order, to the rows read."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd

from graphrec.graph.behaviours import known
from graphrec.ingest.frames import Dataset, make_dataset
from graphrec.ingest.readers import Column, TableSpec, ids, ints, read_table, unknown_value

BEHAVIORS = known("pv", "cart", "fav", "buy")
SPEC = TableSpec((Column("user_id", "id"), Column("item_id", "id"), Column("category", "id"),
                  Column("behavior"), Column("timestamp", "int")))


def read(path: Path, *, start: datetime | None = None, end: datetime | None = None,
         min_user_interactions: int = 0, min_item_interactions: int = 0) -> Dataset:
    path = Path(path)
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    tables = [read_table(file, SPEC) for file in files]
    for table in tables:
        unknown_value(table, "behavior", BEHAVIORS, "behaviour")
    frame = pd.concat([t.frame for t in tables], ignore_index=True)
    events = pd.DataFrame({"user_id": ids(frame["user_id"]), "item_id": ids(frame["item_id"]),
                           "category": frame["category"].astype(str).str.strip(),
                           "behavior": frame["behavior"].astype(str).str.strip().str.lower(),
                           "last_ts": ints(frame["timestamp"])})
    if start is not None:
        events = events[events["last_ts"] >= int(start.timestamp())]
    if end is not None:
        events = events[events["last_ts"] < int(end.timestamp())]
    if min_item_interactions:
        counts = events["item_id"].value_counts()
        events = events[events["item_id"].isin(counts.index[counts >= min_item_interactions])]
    if min_user_interactions:
        counts = events["user_id"].value_counts()
        events = events[events["user_id"].isin(counts.index[counts >= min_user_interactions])]
    categories = events[["item_id", "category"]].drop_duplicates()
    triples = pd.DataFrame({"head": categories["item_id"], "relation": "IN_CATEGORY",
                            "tail": categories["category"], "tail_kind": "Category"})
    return make_dataset("taobao", events.drop(columns="category"), None, triples,
                        rows_read=sum(t.rows_read for t in tables),
                        bad_rows=[row for t in tables for row in t.bad_rows], files=files)
