"""What an ingest writes into the graph (the write contract both stores implement): new users, items and
entities, changed items and interactions, knowledge-graph edges, and the id types of the graph. ingest.upsert
computes it as the difference between a dataset and the graph; GraphStore.write applies it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd

from graphrec.graph.ids import IdTypes


@dataclass
class UpsertPlan:
    id_types: IdTypes
    kg_pairs: list[tuple[str, str]]
    users: pd.DataFrame  # id
    items: pd.DataFrame  # id, title
    item_updates: pd.DataFrame  # id, title
    entities: dict[str, pd.DataFrame] = field(default_factory=dict)  # kind -> id
    interactions: pd.DataFrame = field(default_factory=pd.DataFrame)
    interaction_updates: pd.DataFrame = field(default_factory=pd.DataFrame)
    triples: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)  # (relation, kind) -> head, tail

    @property
    def counts(self) -> dict[str, int]:
        return {
            "users": len(self.users), "items": len(self.items), "item_updates": len(self.item_updates),
            "entities": sum(len(f) for f in self.entities.values()), "interactions": len(self.interactions),
            "interaction_updates": len(self.interaction_updates),
            "triples": sum(len(f) for f in self.triples.values()),
        }

    @property
    def rows_written(self) -> int:
        return sum(self.counts.values())

    def meta_rows(self) -> list[dict[str, str]]:
        return [{"key": "user_id_type", "value": self.id_types.user},
                {"key": "item_id_type", "value": self.id_types.item},
                {"key": "kg_pairs", "value": json.dumps(sorted(self.kg_pairs))}]
