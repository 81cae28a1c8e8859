"""Idempotent upserts: diff a canonical dataset against the graph, then write only what is new or changed.

Computing the difference here, once for both backends, lets LadybugDB use COPY (its fast path, which must
never see a stored key) and makes a re-run of the same input write nothing at all.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from graphrec.graph.ids import IdTypes, id_type
from graphrec.graph.labels import USER, name_clash
from graphrec.graph.plan import UpsertPlan
from graphrec.graph.store import GraphError, GraphStore
from graphrec.ingest.errors import IngestError
from graphrec.ingest.frames import INTERACTION_COLUMNS, Dataset

INTERACTION_KEY = ["user_id", "item_id", "behavior"]


def plan_upsert(store: GraphStore, dataset: Dataset) -> UpsertPlan:
    stored_types = store.id_types()
    data_types = IdTypes(user=id_type(dataset.interactions["user_id"]), item=id_type(dataset.items["item_id"]))
    id_types = stored_types or data_types
    interactions = dataset.interactions.copy()
    items = dataset.items.copy()
    triples = dataset.triples.copy()
    interactions["user_id"] = _coerce(interactions["user_id"], id_types.user, "user")
    interactions["item_id"] = _coerce(interactions["item_id"], id_types.item, "item")
    items["item_id"] = _coerce(items["item_id"], id_types.item, "item")
    triples["head"] = _coerce(triples["head"], id_types.item, "item")

    fresh = stored_types is None
    stored_pairs = [] if fresh else store.kg_pairs()
    new_pairs = sorted({(r, k) for r, k in triples[["relation", "tail_kind"]].drop_duplicates().itertuples(
        index=False)} - set(stored_pairs))
    kg_pairs = sorted(set(stored_pairs) | set(new_pairs))
    if clash := name_clash(new_pairs, stored_pairs):
        role, name, other = clash
        raise IngestError(f"{where_named(dataset.files, name)}: field '{role}': {name} clashes with {other}: "
                          "the graph's table names ignore case, so one would be taken for the other; nothing was "
                          "written (rename one of them)")

    users = pd.DataFrame({"id": pd.unique(interactions["user_id"])})
    if not fresh:
        users = users[~users["id"].isin(store.run("node_ids", label=USER)["id"])]

    items = items.rename(columns={"item_id": "id"})
    item_updates = items.iloc[0:0]
    if not fresh:
        stored_items = store.run("item_titles")
        known = items["id"].isin(stored_items["id"])
        merged = items[known].merge(stored_items, on="id", suffixes=("", "_stored"))
        changed = merged["title"].notna() & (merged["title"] != merged["title_stored"])
        item_updates = merged.loc[changed, ["id", "title"]]
        items = items[~known]

    entities: dict[str, pd.DataFrame] = {}
    stored_kinds = {k for _, k in stored_pairs}
    for kind, group in triples.groupby("tail_kind", sort=True):
        ids = pd.DataFrame({"id": pd.unique(group["tail"]).astype(object)})
        if kind in stored_kinds:
            ids = ids[~ids["id"].isin(store.run("node_ids", label=kind)["id"])]
        if len(ids):
            entities[str(kind)] = ids.reset_index(drop=True)

    new_triples: dict[tuple[str, str], pd.DataFrame] = {}
    for (relation, kind), group in triples.groupby(["relation", "tail_kind"], sort=True):
        edges = group[["head", "tail"]].reset_index(drop=True)
        if (relation, kind) in stored_pairs:
            stored = store.run("export_triples", relation=relation, kind=kind)
            edges = edges.merge(stored, on=["head", "tail"], how="left", indicator=True)
            edges = edges.loc[edges["_merge"] == "left_only", ["head", "tail"]]
        if len(edges):
            new_triples[(str(relation), str(kind))] = edges.astype({"tail": object}).reset_index(drop=True)

    new_interactions, interaction_updates = _diff_interactions(
        interactions, None if fresh else store.interactions())
    return UpsertPlan(id_types=id_types, kg_pairs=kg_pairs, users=users.reset_index(drop=True),
                      items=items.reset_index(drop=True), item_updates=item_updates.reset_index(drop=True),
                      entities=entities, interactions=new_interactions, interaction_updates=interaction_updates,
                      triples=new_triples)


def where_named(files: list[Path], name: str) -> str:
    """"file:line" of the first line of ``files`` that holds ``name`` as a whole CSV field (the file alone, or
    the source, when none does)."""
    field = re.compile(rf"(^|[,\t]){re.escape(name)}($|[,\t\r])")
    for path in files:
        with path.open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                if field.search(line.rstrip("\n")):
                    return f"{path}:{number}"
    return str(files[-1]) if files else "the source"


def _diff_interactions(incoming: pd.DataFrame, stored: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    if stored is None or stored.empty:
        return incoming.reset_index(drop=True), incoming.iloc[0:0]
    stored = stored.astype({"user_id": incoming["user_id"].dtype, "item_id": incoming["item_id"].dtype})
    merged = incoming.merge(stored, on=INTERACTION_KEY, how="left", suffixes=("", "_stored"), indicator=True)
    is_new = (merged["_merge"] == "left_only").to_numpy()
    same_rating = (merged["rating"] == merged["rating_stored"]) | (
        merged["rating"].isna() & merged["rating_stored"].isna())
    # Only what moves a stored interaction forward is a change: a higher count, a later time, or another rating
    # at least as recent. Feedback adds to counts and times after an ingest, and re-ingesting keeps it.
    changed = ~is_new & ((merged["count"] > merged["count_stored"]) | (merged["last_ts"] > merged["last_ts_stored"])
                         | (~same_rating & (merged["last_ts"] >= merged["last_ts_stored"]))).to_numpy()
    columns = list(INTERACTION_COLUMNS)
    return merged.loc[is_new, columns].reset_index(drop=True), merged.loc[changed, columns].reset_index(drop=True)


def _coerce(ids: pd.Series, stored: str, which: str) -> pd.Series:
    if stored == "str":
        return ids if ids.dtype == object else ids.map(str).astype(object)
    if pd.api.types.is_integer_dtype(ids.dtype) or len(ids) == 0:
        return ids.astype(np.int64)
    example = ids.iloc[0] if len(ids) else "?"
    raise GraphError(f"this graph stores integer {which} ids, but the input has text ids such as {example!r}; "
                     "use a separate data directory for this dataset")
