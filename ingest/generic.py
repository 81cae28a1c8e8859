"""The generic layout, for any data: a folder with

interactions.csv  header user_id,item_id[,rating][,behavior][,count][,timestamp] (columns in any order;
                  count: events the row stands for, default 1)
triples.csv       header head,relation,tail[,tail_kind]   (optional; head is an item id)
items.csv         header item_id[,title]                  (optional)

relation is an UPPER_SNAKE name (HAS_GENRE) or one of the short names genre, artist, year, category, tag;
tail_kind is a CamelCase entity kind and defaults to the one the short relation name implies, else Entity.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from graphrec.graph.behaviours import BEHAVIOURS, RATING_SCALE
from graphrec.graph.labels import reserved_name
from graphrec.ingest.errors import IngestError
from graphrec.ingest.frames import KIND_PATTERN, RELATION_PATTERN, UNKNOWN_TS, Dataset, make_dataset
from graphrec.ingest.readers import Column, Table, TableSpec, floats, ids, ints, read_table, texts, unknown_value

BEHAVIORS = frozenset(BEHAVIOURS)
SHORT_RELATIONS = {
    "genre": ("HAS_GENRE", "Genre"), "artist": ("BY_ARTIST", "Artist"), "year": ("RELEASED_IN", "Year"),
    "category": ("IN_CATEGORY", "Category"), "tag": ("HAS_TAG", "Tag"),
}
INTERACTION_FIELDS = {"user_id": Column("user_id", "id"), "item_id": Column("item_id", "id"),
                      "rating": Column("rating", "float", optional=True, bounds=RATING_SCALE),
                      "behavior": Column("behavior", optional=True),
                      "count": Column("count", "int", optional=True),
                      "timestamp": Column("timestamp", "int", optional=True)}
TRIPLE_FIELDS = {"head": Column("head", "id"), "relation": Column("relation"), "tail": Column("tail"),
                 "tail_kind": Column("tail_kind", optional=True)}
ITEM_FIELDS = {"item_id": Column("item_id", "id"), "title": Column("title", optional=True)}


def read(path: Path) -> Dataset:
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    interactions_file = path if path.is_file() else folder / "interactions.csv"
    tables = [_read_with_header(interactions_file, INTERACTION_FIELDS, required=("user_id", "item_id"))]
    frame = tables[0].frame
    if "behavior" in frame:
        unknown_value(tables[0], "behavior", BEHAVIORS, "behaviour", optional=True)
    if "count" in frame:
        tables[0].reject((tables[0].frame["count"].fillna(1) < 1).to_numpy(), "count", "count must be at least 1")
    frame = tables[0].frame
    interactions = pd.DataFrame({
        "user_id": ids(frame["user_id"]), "item_id": ids(frame["item_id"]),
        "rating": floats(frame["rating"]) if "rating" in frame else float("nan"),
        "behavior": (frame["behavior"].astype(str).str.strip().str.lower().where(frame["behavior"].notna(), "rating")
                     if "behavior" in frame else "rating"),
        "count": ints(frame["count"].fillna(1)) if "count" in frame else 1,
        "last_ts": (ints(frame["timestamp"].fillna(UNKNOWN_TS)) if "timestamp" in frame else UNKNOWN_TS),
    })
    items = triples = None
    if (folder / "items.csv").is_file():
        table = _read_with_header(folder / "items.csv", ITEM_FIELDS, required=("item_id",))
        tables.append(table)
        items = pd.DataFrame({"item_id": ids(table.frame["item_id"]),
                              "title": texts(table.frame["title"]) if "title" in table.frame else None})
    if (folder / "triples.csv").is_file():
        table = _read_with_header(folder / "triples.csv", TRIPLE_FIELDS, required=("head", "relation", "tail"))
        tables.append(table)
        triples = _triples(table)
    return make_dataset(f"generic-{folder.name}", interactions, items, triples,
                        rows_read=sum(t.rows_read for t in tables),
                        bad_rows=[row for t in tables for row in t.bad_rows], files=[t.path for t in tables])


def _triples(table: Table) -> pd.DataFrame:
    frame = table.frame
    raw = frame["relation"].astype(str).str.strip()
    short = raw.str.lower().map(lambda r: SHORT_RELATIONS.get(r, (None, None)))
    relation = short.map(lambda pair: pair[0]).fillna(raw)
    implied_kind = short.map(lambda pair: pair[1]).fillna("Entity")
    kind = (frame["tail_kind"].astype(str).str.strip().where(frame["tail_kind"].notna(), implied_kind)
            if "tail_kind" in frame else implied_kind)
    table.reject(~relation.str.fullmatch(RELATION_PATTERN.pattern).to_numpy(), "relation",
                 "relation must be UPPER_SNAKE_CASE (or genre/artist/year/category/tag), got " + raw.str.slice(0, 40))
    keep = table.frame.index
    kind = kind.loc[keep]
    table.reject(~kind.str.fullmatch(KIND_PATTERN.pattern).to_numpy(), "tail_kind",
                 "tail_kind must be a CamelCase name, got " + kind.str.slice(0, 40))
    for column, names in (("relation", relation), ("tail_kind", kind)):
        names = names.loc[table.frame.index]
        why = names.map(reserved_name)
        table.reject(why.notna().to_numpy(), column, f"{column} " + names + " " + why.fillna(""))
    keep = table.frame.index
    return pd.DataFrame({"head": ids(table.frame["head"]), "relation": relation.loc[keep],
                         "tail": table.frame["tail"].astype(str).str.strip(), "tail_kind": kind.loc[keep]})


def _read_with_header(path: Path, fields: dict[str, Column], required: tuple[str, ...]) -> Table:
    if not path.is_file():
        raise IngestError(f"{path}: no such file")
    with path.open(encoding="utf-8-sig", errors="replace") as handle:  # a byte-order mark is no part of a name
        header = [name.strip() for name in handle.readline().rstrip("\r\n").split(",")]
    unknown = [name for name in header if name not in fields]
    missing = [name for name in required if name not in header]
    repeated = sorted({name for name in header if header.count(name) > 1})
    if unknown or missing or repeated:
        raise IngestError(f"{path}:1: field '<header>': header {header}: unknown columns {unknown}, missing "
                          f"{missing}, repeated {repeated}; allowed columns are {list(fields)}, each once")
    return read_table(path, TableSpec(tuple(fields[name] for name in header), header=True))

