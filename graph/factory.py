"""Opens the configured graph backend."""

from __future__ import annotations

from graphrec.graph.settings import GraphSettings
from graphrec.graph.store import GraphStore


def open_store(settings: GraphSettings, *, read_only: bool = False) -> GraphStore:
    if settings.graph_backend == "neo4j":
        from graphrec.graph.neo4j_store import Neo4jStore

        return Neo4jStore(settings)
    from graphrec.graph.ladybug_store import LadybugStore

    return LadybugStore(settings, read_only=read_only)
