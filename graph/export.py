"""Export of the graph for training and for moving data: id arrays plus the generic CSV layout.

out/edges.npz      user_index, item_index, rating, count, last_ts (user-item edges) and
                   kg_item_index, kg_relation_index, kg_entity_index (item-entity edges), all int/float arrays
out/users.parquet, out/items.parquet, out/entities.parquet, out/relations.parquet
                   the id maps: row n of each file is index n in the arrays. Parquet keeps each id's type, so a
                   text id such as "007" stays text, which a CSV read back could not tell from an integer
out/interactions.csv, out/items.csv, out/triples.csv
                   the same edges and titles in the generic ingest layout, so `graphrec ingest generic` reloads
                   them
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from graphrec.graph.store import GraphStore


def export(store: GraphStore, out: Path) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    # Sorted, so the same graph exports the same files whatever order a backend returns its rows in.
    interactions = store.interactions().sort_values(["user_id", "item_id", "behavior"], ignore_index=True)
    items = store.items().rename(columns={"id": "item_id"}).sort_values("item_id", kind="stable")
    triples = store.triples().sort_values(["relation", "tail_kind", "head", "tail"], ignore_index=True)
    users = pd.Index(np.sort(pd.unique(interactions["user_id"])), name="user_id")
    item_index = pd.Index(items["item_id"], name="item_id")
    entity_keys = triples[["tail_kind", "tail"]].drop_duplicates().sort_values(["tail_kind", "tail"])
    entity_index = pd.MultiIndex.from_frame(entity_keys)
    relation_index = pd.Index(sorted(pd.unique(triples["relation"])), name="relation")

    np.savez_compressed(
        out / "edges.npz",
        user_index=users.get_indexer(interactions["user_id"]).astype(np.int64),
        item_index=item_index.get_indexer(interactions["item_id"]).astype(np.int64),
        rating=interactions["rating"].to_numpy(np.float64),
        count=interactions["count"].to_numpy(np.int64),
        last_ts=interactions["last_ts"].to_numpy(np.int64),
        kg_item_index=item_index.get_indexer(triples["head"]).astype(np.int64),
        kg_relation_index=relation_index.get_indexer(triples["relation"]).astype(np.int64),
        kg_entity_index=entity_index.get_indexer(pd.MultiIndex.from_frame(triples[["tail_kind", "tail"]])),
    )
    users.to_frame(index=False).to_parquet(out / "users.parquet", index=False)
    items.to_parquet(out / "items.parquet", index=False)
    entity_keys.rename(columns={"tail_kind": "kind", "tail": "id"}).to_parquet(out / "entities.parquet", index=False)
    relation_index.to_frame(index=False).to_parquet(out / "relations.parquet", index=False)
    items.to_csv(out / "items.csv", index=False)
    generic_columns = ["user_id", "item_id", "rating", "behavior", "count", "timestamp"]
    interactions.rename(columns={"last_ts": "timestamp"})[generic_columns].to_csv(
        out / "interactions.csv", index=False)
    triples.to_csv(out / "triples.csv", index=False)
    return {"users": len(users), "items": len(item_index), "interactions": len(interactions),
            "entities": len(entity_keys), "triples": len(triples)}
