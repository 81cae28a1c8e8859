"""The canonical frames every source adapter produces, and the one place they are normalised.

interactions: user_id, item_id, rating (float, NaN when the source has none), behavior (str), count (int >= 1),
              last_ts (int seconds, -1 when unknown); one row per (user_id, item_id, behavior) after
              normalisation, with counts summed, the latest rating kept and the latest timestamp.
items:        item_id, title (str or None); every item seen in interactions or triples is present.
triples:      head (an item id), relation (UPPER_SNAKE identifier), tail (entity name, str),
              tail_kind (CamelCase identifier such as Genre, Artist, Year).
Ids stay as the source gave them: int64 when every id of a column is a plain integer, str otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from graphrec.graph.ids import INTEGER_ID
from graphrec.graph.labels import reserved_name
from graphrec.ingest.errors import BadRow, IngestError

INTERACTION_COLUMNS = ("user_id", "item_id", "rating", "behavior", "count", "last_ts")
ITEM_COLUMNS = ("item_id", "title")
TRIPLE_COLUMNS = ("head", "relation", "tail", "tail_kind")
UNKNOWN_TS = -1

KIND_PATTERN = re.compile(r"[A-Z][A-Za-z0-9]{0,47}")  # matched whole (fullmatch), as every identifier is
RELATION_PATTERN = re.compile(r"[A-Z][A-Z0-9_]{0,47}")


@dataclass
class Dataset:
    """One source's data in canonical form, plus what reading it cost and rejected."""

    name: str
    interactions: pd.DataFrame
    items: pd.DataFrame
    triples: pd.DataFrame
    rows_read: int = 0
    bad_rows: list[BadRow] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    # Knowledge-graph rows (tags, triples) naming an item that neither the source's item table nor its
    # interactions have: skipped, since they would create items nobody can interact with, and reported.
    unknown_item_rows: int = 0


def make_dataset(
    name: str,
    interactions: pd.DataFrame,
    items: pd.DataFrame | None = None,
    triples: pd.DataFrame | None = None,
    *,
    rows_read: int | None = None,
    bad_rows: list[BadRow] | None = None,
    files: list[Path] | None = None,
) -> Dataset:
    """Normalise adapter output: column order, dtypes, aggregation per key, items implied by the interactions;
    knowledge-graph rows of items the source does not have are dropped and counted."""
    interactions = _normalise_interactions(interactions)
    triples = _normalise_triples(triples)
    items = _normalise_items(items, interactions["item_id"])
    triples["head"] = _cast_like(triples["head"], items["item_id"])
    interactions["item_id"] = _cast_like(interactions["item_id"], items["item_id"])
    known = triples["head"].isin(items["item_id"]).to_numpy() if len(items) else np.zeros(len(triples), bool)
    unknown_item_rows = int((~known).sum())
    triples = triples.loc[known].reset_index(drop=True)
    return Dataset(
        name=name,
        interactions=interactions,
        items=items,
        triples=triples,
        rows_read=len(interactions) if rows_read is None else rows_read,
        bad_rows=list(bad_rows or []),
        files=list(files or []),
        unknown_item_rows=unknown_item_rows,
    )


def canonical_ids(values: pd.Series) -> pd.Series:
    """Ids as int64 when every one is a plain integer (no sign tricks, no leading zeros), else as str."""
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.astype(np.int64)
    as_text = values.astype("str")
    if len(as_text) and as_text.str.fullmatch(INTEGER_ID.pattern).all():
        return as_text.astype(np.int64)
    return as_text.astype(object)


def _normalise_interactions(frame: pd.DataFrame) -> pd.DataFrame:
    missing = {"user_id", "item_id"} - set(frame.columns)
    if missing:
        raise IngestError(f"interactions frame lacks columns {sorted(missing)}")
    out = pd.DataFrame({
        "user_id": canonical_ids(frame["user_id"]),
        "item_id": canonical_ids(frame["item_id"]),
        "rating": frame["rating"].astype(np.float64) if "rating" in frame else np.nan,
        "behavior": frame["behavior"].astype(object) if "behavior" in frame else "rating",
        "count": frame["count"].astype(np.int64) if "count" in frame else 1,
        "last_ts": frame["last_ts"].fillna(UNKNOWN_TS).astype(np.int64) if "last_ts" in frame else UNKNOWN_TS,
    })
    key = ["user_id", "item_id", "behavior"]
    if not out.duplicated(key).any():
        return out.reset_index(drop=True)
    # Several events of one key: sum the counts, keep the latest timestamp and the latest rating.
    out = out.sort_values("last_ts", kind="stable")
    grouped = out.groupby(key, sort=False, dropna=False)
    return pd.DataFrame({
        "rating": grouped["rating"].last(),
        "count": grouped["count"].sum(),
        "last_ts": grouped["last_ts"].max(),
    }).reset_index()[list(INTERACTION_COLUMNS)]


def _normalise_triples(frame: pd.DataFrame | None) -> pd.DataFrame:
    if frame is None or frame.empty:
        return pd.DataFrame({"head": pd.Series([], dtype=object), "relation": pd.Series([], dtype=object),
                             "tail": pd.Series([], dtype=object), "tail_kind": pd.Series([], dtype=object)})
    out = pd.DataFrame({
        "head": canonical_ids(frame["head"]),
        "relation": frame["relation"].astype(object),
        "tail": frame["tail"].astype(object).map(str),
        "tail_kind": frame["tail_kind"].astype(object),
    })
    for column, pattern, what in (("relation", RELATION_PATTERN, "UPPER_SNAKE_CASE"),
                                  ("tail_kind", KIND_PATTERN, "CamelCase")):
        names = pd.unique(out[column])
        bad = [n for n in names if not isinstance(n, str) or not pattern.fullmatch(n)]
        if bad:
            raise IngestError(f"{column} names must be {what} identifiers; got {bad[:5]}")
        for name in sorted(names):
            if why := reserved_name(name):
                raise IngestError(f"{column} {name!r} {why}; nothing was written")
    return out.drop_duplicates(["head", "relation", "tail", "tail_kind"]).reset_index(drop=True)


def _normalise_items(frame: pd.DataFrame | None, *implied: pd.Series) -> pd.DataFrame:
    parts = []
    if frame is not None and not frame.empty:
        titles = frame["title"].astype(object) if "title" in frame else None
        parts.append(pd.DataFrame({"item_id": canonical_ids(frame["item_id"]), "title": titles}))
    id_series = [canonical_ids(s) for s in implied if len(s)]
    if id_series:
        parts.append(pd.DataFrame({"item_id": pd.concat(id_series, ignore_index=True), "title": None}))
    if not parts:
        return pd.DataFrame({"item_id": pd.Series([], dtype=np.int64), "title": pd.Series([], dtype=object)})
    if len({str(p["item_id"].dtype) for p in parts}) > 1:
        parts = [p.assign(item_id=p["item_id"].map(str)) for p in parts]
    items = pd.concat(parts, ignore_index=True).drop_duplicates("item_id", keep="first")
    items["title"] = items["title"].astype(object).where(items["title"].notna(), None)
    return items.reset_index(drop=True)


def _cast_like(values: pd.Series, reference: pd.Series) -> pd.Series:
    """Give ``values`` the id dtype of ``reference`` (str wins when the sources disagree)."""
    if len(values) == 0 or values.dtype == reference.dtype:
        return values
    return values.map(str).astype(object)
